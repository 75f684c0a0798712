import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { EXIT, ExitError } from "../core/exit-codes.js";
import type { ReadyAddress } from "./ready-address.js";

/**
 * The readiness endpoint: `GET /ready` answers 200 while `hookinit ready`
 * would exit 0, and 503 otherwise. It lets a pod use an httpGet
 * readinessProbe, which the kubelet sends itself: no process is started in
 * the container for each probe.
 *
 * It says ready or not and nothing else (no phase, no hook states, no
 * version, no Server header): the address may be reachable from the whole
 * cluster network, the control socket is owner-only.
 *
 * Loaded with import() only when --ready-address is given, so node:http
 * costs nothing when it is off.
 */

/** A client that has not sent its request head by then is dropped (the control socket's limit too). */
const HEADERS_TIMEOUT_MS = 5000;
/** How often Node checks that limit (its default, 30 s, would let idle clients pile up). */
const CHECK_INTERVAL_MS = 1000;
/**
 * The kubelet's probe request is about 150 bytes plus the probe's own
 * httpHeaders; a longer head is not a probe.
 */
const MAX_HEADER_BYTES = 8 * 1024;
/** Beyond this many connections Node closes new ones at once; memory stays bounded. */
const MAX_CONNECTIONS = 1024;

const READY_BODY = "ready\n";
const NOT_READY_BODY = "not ready\n";

export interface ReadyServer {
  close(): void;
  /** The port it listens on (for --ready-address :0 in tests). */
  readonly port: number;
}

/**
 * Listens, or rejects with a one-line reason (the address is in use, not
 * ours, or needs privileges). `isReady` is asked on every request.
 */
export function listenReady(address: ReadyAddress, isReady: () => boolean): Promise<ReadyServer> {
  const server = createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: CHECK_INTERVAL_MS,
      keepAliveTimeout: HEADERS_TIMEOUT_MS,
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    (request, response) => answer(request, response, isReady),
  );
  server.maxConnections = MAX_CONNECTIONS;
  // The kubelet sends each probe on a new connection; a client that keeps
  // one open gets a bounded number of answers on it.
  server.maxRequestsPerSocket = 100;
  // A malformed request, an oversized head or a client too slow to send one:
  // Node's own clientError handling answers 400, 431 or 408 and destroys the
  // socket at once, whether or not the client reads.
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new ExitError(
          `--ready-address ${address.text}: cannot listen: ${describe(error)}`,
          EXIT.USAGE,
        ),
      ),
    );
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
      server.removeAllListeners("error");
      server.on("error", () => {}); // Accept errors (EMFILE...) are the client's loss, not ours.
      resolve(handle(server));
    });
  });
}

function handle(server: Server): ReadyServer {
  const bound = server.address();
  return {
    port: typeof bound === "object" && bound !== null ? bound.port : 0,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

function answer(request: IncomingMessage, response: ServerResponse, isReady: () => boolean): void {
  request.resume(); // Any body is read and dropped.
  const path = (request.url ?? "").split("?")[0];
  let status: number;
  let body: string;
  if (path !== "/ready") {
    status = 404;
    body = "not found\n";
  } else if (request.method !== "GET" && request.method !== "HEAD") {
    status = 405;
    body = "method not allowed\n";
    response.setHeader("Allow", "GET, HEAD");
  } else {
    let ready = false;
    try {
      ready = isReady();
    } catch (error) {
      // Not knowing is not ready. No error is expected here: it is raised
      // again outside the request, where the supervisor's uncaught-error
      // handler logs it and carries on.
      setImmediate(() => {
        throw error;
      });
    }
    status = ready ? 200 : 503;
    body = ready ? READY_BODY : NOT_READY_BODY;
  }
  response.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
  });
  response.end(request.method === "HEAD" ? undefined : body);
}

function describe(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "EADDRINUSE":
      return "the address is already in use";
    case "EADDRNOTAVAIL":
      return "no interface of this container has that address";
    case "EACCES":
      return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    default:
      return error.code ?? error.message.split("\n")[0] ?? "unknown error";
  }
}
