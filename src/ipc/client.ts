import { closeSync, readSync, writeSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { getSystemErrorName } from "node:util";
import { EXIT } from "../core/exit-codes.js";
import type { HookName, Status } from "../core/hooks.js";
import { loadNativeHelper } from "../native/helper.js";
import {
  type ErrorCode,
  encode,
  PROTOCOL_VERSION,
  parseServerEvent,
  type Request,
  type ServerEvent,
} from "./protocol.js";
import { findSocket } from "./socket-path.js";

/**
 * How long the client keeps trying to reach the supervisor. The kubelet runs
 * postStart right after the container starts, and the supervisor opens its
 * socket a few milliseconds after it has started the program.
 */
const CONNECT_PATIENCE_MS = 5000;

/**
 * How long each command waits for a supervisor that is not there (yet).
 * `hook` waits: the kubelet may run postStart before the socket exists.
 * `ready` never waits: it is a readiness probe (default timeoutSeconds 1), and
 * "nobody answers" is simply "not ready", said at once.
 */
export type Patience = "wait" | "once";
const RETRY_MS = 50;
const READ_CHUNK_BYTES = 64 * 1024;

export class Unreachable extends Error {}

function write(fd: 1 | 2, text: string): void {
  try {
    writeSync(fd, text);
  } catch {
    // Our caller went away; nothing to do.
  }
}

/** `hookinit hook NAME`: streams the hook's output, returns its exit code. */
export async function callHook(hook: HookName, socketPath: string | undefined): Promise<number> {
  let exitCode: number | undefined;
  await exchange({ v: PROTOCOL_VERSION, op: "hook", hook }, socketPath, "wait", (events) => {
    // Runs of output on one stream go out in one write, in order.
    let run: { fd: 1 | 2; text: string } | undefined;
    const flush = () => {
      if (run !== undefined) write(run.fd, run.text);
      run = undefined;
    };
    for (const event of events) {
      if (event.type === "output") {
        const fd = event.stream === "stdout" ? 1 : 2;
        if (run !== undefined && run.fd !== fd) flush();
        run ??= { fd, text: "" };
        run.text += event.partial ? event.line : `${event.line}\n`;
        continue;
      }
      flush();
      if (event.type === "result") {
        if (event.error !== undefined) write(2, `hookinit: ${hook} failed: ${event.error}\n`);
        exitCode = event.exitCode;
      } else if (event.type === "error") {
        write(2, `hookinit: the supervisor refused: ${event.message}\n`);
        exitCode = exitCodeForRefusal(event.code);
      }
    }
    flush();
  });
  if (exitCode === undefined) {
    throw new Unreachable(
      `the supervisor closed the connection before ${hook} finished (did the container stop, or hookinit crash?)`,
    );
  }
  return exitCode;
}

/** A refused caller cannot reach the supervisor; a failure inside it is its bug; the rest are bad requests. */
function exitCodeForRefusal(code: ErrorCode): number {
  if (code === "refused") return EXIT.UNREACHABLE;
  if (code === "internal") return EXIT.INTERNAL;
  return EXIT.USAGE;
}

export async function fetchStatus(
  socketPath: string | undefined,
  patience: Patience = "wait",
): Promise<Status> {
  let status: Status | undefined;
  let refusal: string | undefined;
  await exchange({ v: PROTOCOL_VERSION, op: "status" }, socketPath, patience, (events) => {
    for (const event of events) {
      if (event.type === "status") {
        const { type: _type, ...rest } = event;
        status = rest;
      } else if (event.type === "error") {
        refusal = event.message;
      }
    }
  });
  if (status === undefined) throw new Unreachable(refusal ?? "the supervisor sent no status");
  return status;
}

/** Called with the events of each chunk read from the socket, in order. */
type EventHandler = (events: ServerEvent[]) => void;

/** Sends one request and feeds every event of the answer to `onEvent`. */
async function exchange(
  request: Request,
  socketPath: string | undefined,
  patience: Patience,
  onEvent: EventHandler,
): Promise<void> {
  const connectUnix = loadConnect();
  const deadline = patience === "once" ? 0 : Date.now() + CONNECT_PATIENCE_MS;
  for (;;) {
    const { path, searched, forbidden } = findSocket(socketPath);
    if (path !== undefined) {
      const outcome = tryExchange(connectUnix, path, request, onEvent);
      if (outcome === "done") return;
      if (Date.now() >= deadline) throw new Unreachable(describe(outcome, path));
    } else if (forbidden.length > 0) {
      const places = forbidden
        .map((place) => `${place.path} belongs to uid ${place.uid}`)
        .join(", ");
      throw new Unreachable(
        `permission denied: ${places}, and we are uid ${process.getuid?.()}; ` +
          `run the hook as the same user as hookinit (the container's user) or as root`,
      );
    } else if (Date.now() >= deadline) {
      throw new Unreachable(
        `no control socket at ${searched.join(", ")}: is hookinit this container's ENTRYPOINT, ` +
          `and does this command run inside the same container? (set HOOKINIT_SOCKET if the supervisor uses --socket)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

/** A missing native helper is a broken installation (NativeHelperError), not an unreachable supervisor. */
function loadConnect(): (path: string) => number {
  const native = loadNativeHelper();
  return (path) => native.connectUnix(path);
}

/** A connect that failed, with its errno name (ECONNREFUSED, ENOENT, EACCES...). */
interface ConnectFailure {
  code: string;
}

/**
 * One blocking exchange: connect, write the request, read event lines until
 * the server closes. Synchronous on purpose: the client has nothing else to
 * do, and plain read(2)/write(2) start faster than node:net in a cold process.
 */
function tryExchange(
  connectUnix: (path: string) => number,
  path: string,
  request: Request,
  onEvent: EventHandler,
): "done" | ConnectFailure {
  let fd: number;
  try {
    fd = connectUnix(path);
  } catch (error) {
    const errno = (error as { errno?: number }).errno;
    return { code: errno === undefined ? (error as Error).message : getSystemErrorName(-errno) };
  }
  try {
    writeSync(fd, encode(request));
    const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    const decoder = new StringDecoder("utf8");
    let pending = "";
    for (;;) {
      const bytes = readSync(fd, buffer);
      if (bytes === 0) break;
      const lines = (pending + decoder.write(buffer.subarray(0, bytes))).split("\n");
      pending = lines.pop() ?? "";
      const events: ServerEvent[] = [];
      for (const line of lines) {
        const event = parseServerEvent(line);
        if (event !== undefined) events.push(event);
      }
      if (events.length > 0) onEvent(events);
    }
  } catch {
    // The supervisor went away mid-answer (ECONNRESET): what we got is what there is.
  } finally {
    closeSync(fd);
  }
  return "done";
}

function describe(error: ConnectFailure, path: string): string {
  switch (error.code) {
    case "EACCES":
      return `permission denied on ${path}: run the hook as the same user as hookinit (the container's user)`;
    case "ECONNREFUSED":
      return `nobody answers on ${path}: the supervisor is not running (a stale socket from an earlier run?)`;
    default:
      return `cannot connect to ${path}: ${error.code}`;
  }
}
