/**
 * `hookinit webhook`: a mutating admission webhook (admission.k8s.io/v1)
 * that does for a whole namespace what `hookinit inject` does for a file.
 *
 * Opt-in is one key, `hookinit-inject`: a namespace labelled
 * `hookinit-inject: enabled`, or a pod labelled so (the
 * MutatingWebhookConfiguration's namespaceSelector and objectSelector,
 * docker/examples/webhook.yaml, decide which pods reach us); a pod labelled
 * or annotated `hookinit-inject: disabled` is left alone.
 *
 * It never fails closed by accident: a pod it cannot inject (no command,
 * a lifecycle hookinit refuses) is admitted unchanged, with a warning in the
 * AdmissionReview response (kubectl prints it) and in the log. Only a
 * request that is not an AdmissionReview gets an HTTP error; with
 * `failurePolicy: Ignore` the API server admits the pod anyway.
 *
 * Pods without `command` are common (the image's ENTRYPOINT runs); the
 * annotation `hookinit-inject/command.NAME` gives container NAME's command
 * (a JSON list or words), as `--command NAME=...` does for inject.
 *
 * The certificate and key are read from files and reloaded when they change
 * (a Secret volume swaps a symlink, cert-manager rotates): checked on every
 * change event of their directories and every --cert-check seconds.
 */
import { type FSWatcher, readFileSync, statSync, watch } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Server } from "node:net";
import { dirname } from "node:path";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { parseCommands } from "./command.js";
import { InjectError, type InjectOptions, injectObject } from "./manifest.js";

export const OPT_IN_KEY = "hookinit-inject";
export const COMMAND_ANNOTATION = `${OPT_IN_KEY}/command.`;
const DEFAULT_MAX_BODY = 3 * 1024 * 1024;

export class WebhookConfigError extends Error {}

export function webhookUsage(): string {
  return `Usage: hookinit webhook --cert FILE --key FILE --image IMAGE [OPTIONS]

A mutating admission webhook (admission.k8s.io/v1, HTTPS) that injects hookinit
into Pods as they are created, as hookinit inject does to a file.
Opt in with the label ${OPT_IN_KEY}=enabled on a namespace or a pod; opt a pod out
with the label or annotation ${OPT_IN_KEY}: disabled. Give a container's command
with the annotation ${COMMAND_ANNOTATION}NAME when the manifest has none.
Manifests to deploy it: docker/examples/webhook.yaml.

Options:
  --cert FILE            TLS certificate (PEM), reloaded when it changes
  --key FILE             TLS private key (PEM), reloaded when it changes
  --listen ADDR          where to listen (default :8443)
  --image IMAGE          image with /hookinit/ in it, for the init container (required)
  --container NAME       only this container (repeatable); sidecars only when named
  --command NAME=CMD     the command of container NAME when a pod has none
  --readiness            add readinessProbe: exec hookinit ready, where there is none
  --max-body-bytes N     largest request accepted (default ${DEFAULT_MAX_BODY})
  --cert-check SECONDS   how often to look for a new certificate (default 10)
  -h, --help             this help

Endpoints: POST /mutate (any path but /healthz), GET /healthz.
`;
}

export interface WebhookSettings {
  cert: string;
  key: string;
  host: string | undefined;
  port: number;
  maxBodyBytes: number;
  certCheckSeconds: number;
  inject: InjectOptions;
}

/** One JSON line on stdout per event, like hookinit's own log. */
export type WebhookLog = (level: "info" | "warn" | "error", msg: string, fields?: object) => void;

const defaultLog: WebhookLog = (level, msg, fields) => {
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), msg, ...fields })}\n`);
};

export function webhookSettings(
  values: Record<string, unknown>,
  inject: InjectOptions,
): WebhookSettings {
  const cert = values.cert;
  const key = values.key;
  if (typeof cert !== "string" || typeof key !== "string") {
    throw new WebhookConfigError(
      "--cert FILE and --key FILE are required (PEM files; see hookinit webhook --help)",
    );
  }
  if (inject.image === undefined || inject.image === "") {
    throw new WebhookConfigError("--image IMAGE is required (the image with /hookinit/ in it)");
  }
  const listen = typeof values.listen === "string" ? values.listen : ":8443";
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new WebhookConfigError(
      `--listen ${JSON.stringify(listen)}: expected [HOST]:PORT, e.g. :8443`,
    );
  }
  const host = match[1] ?? (match[2] === "" ? undefined : match[2]);
  const positive = (name: string, fallback: number) => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) {
      throw new WebhookConfigError(`--${name} ${JSON.stringify(raw)}: expected a positive number`);
    }
    return n;
  };
  return {
    cert,
    key,
    host,
    port,
    maxBodyBytes: Math.floor(positive("max-body-bytes", DEFAULT_MAX_BODY)),
    certCheckSeconds: positive("cert-check", 10),
    inject,
  };
}

export interface RunningWebhook {
  server: Server;
  /** The port it listens on (useful with port 0 in tests). */
  port: number;
  /** Resolves with the exit code once the server has closed (SIGTERM, SIGINT, close()). */
  closed: Promise<number>;
  close(): void;
}

export async function startWebhook(
  values: Record<string, unknown>,
  inject: InjectOptions,
  log: WebhookLog = defaultLog,
  handleSignals = true,
): Promise<RunningWebhook> {
  const settings = webhookSettings(values, inject);
  const tls = new CertFiles(settings.cert, settings.key);
  let context = tls.load(); // a bad pair at start is a configuration error

  // TLS is terminated by hand, each connection with the context current when
  // it arrives, and handed to an HTTP server: a renewed certificate applies
  // to the next connection. (https.Server.setSecureContext and SNICallback
  // would do, but Bun's node:https has neither.)
  const http = createHttpServer({ requestTimeout: 10_000, headersTimeout: 10_000 });
  const server = createTcpServer((socket) => {
    socket.on("error", (error) => log("info", "connection error", { error: error.message }));
    const secure = new TLSSocket(socket, { isServer: true, secureContext: context.secure });
    // A client that never finishes its handshake (or sends no TLS) loses its connection, nothing else.
    const handshake = setTimeout(() => secure.destroy(), 10_000);
    secure.once("secure", () => clearTimeout(handshake));
    secure.once("close", () => clearTimeout(handshake));
    secure.on("error", (error) => {
      clearTimeout(handshake);
      log("info", "TLS connection failed", { error: error.message });
      secure.destroy();
    });
    http.emit("connection", secure);
  });
  http.on("request", (request, response) => {
    handle(request, response, settings, log).catch((error: unknown) => {
      log("error", "request failed", { error: String((error as Error)?.stack ?? error) });
      if (!response.headersSent) reply(response, 500, { error: "internal error" });
      else response.destroy();
    });
  });
  http.on("clientError", (error, socket) => {
    log("info", "bad request", { error: error.message });
    socket.destroy();
  });

  const reload = () => {
    if (!tls.changed()) return;
    try {
      context = tls.load();
      log("info", "certificate reloaded", { cert: settings.cert, notAfter: context.notAfter });
    } catch (error) {
      log("warn", "certificate not reloaded, keeping the previous one", {
        error: (error as Error).message,
      });
    }
  };
  const timer = setInterval(reload, settings.certCheckSeconds * 1000);
  timer.unref();
  const watchers: FSWatcher[] = [];
  for (const dir of new Set([dirname(settings.cert), dirname(settings.key)])) {
    try {
      watchers.push(watch(dir, { persistent: false }, () => reload()));
    } catch (error) {
      // The periodic check still runs. ENOSPC/EMFILE: out of inotify watches;
      // ENOENT/EACCES/EPERM: a directory we cannot watch.
      const code = (error as NodeJS.ErrnoException).code ?? "";
      if (!["ENOSPC", "EMFILE", "ENOENT", "EACCES", "EPERM"].includes(code))
        log("warn", "cannot watch the certificate's directory", { dir, error: String(error) });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) =>
      reject(new WebhookConfigError(`--listen: ${(error as Error).message}`)),
    );
    server.listen(settings.port, settings.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : settings.port;

  let closing = false;
  let resolveClosed: (code: number) => void = () => {};
  const closed = new Promise<number>((resolve) => {
    resolveClosed = resolve;
  });
  const close = () => {
    if (closing) return;
    closing = true;
    clearInterval(timer);
    for (const watcher of watchers) watcher.close();
    server.close(() => resolveClosed(0));
    http.closeIdleConnections();
  };
  if (handleSignals) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.on(signal, () => {
        log("info", "stopping", { signal });
        close();
      });
    }
  }
  // Last, once a stop signal is handled: whoever waits for this line may stop us.
  log("info", "webhook listening", { port, cert: settings.cert, image: settings.inject.image });
  return { server, port, closed, close };
}

/** The certificate and key files, and whether they changed since the last load. */
class CertFiles {
  private stamp = "";
  constructor(
    private readonly cert: string,
    private readonly key: string,
  ) {}

  private currentStamp(): string {
    return [this.cert, this.key]
      .map((file) => {
        const s = statSync(file, { throwIfNoEntry: false }); // follows symlinks, as a Secret volume uses
        return s === undefined ? "missing" : `${s.ino}:${s.size}:${s.mtimeMs}`;
      })
      .join("|");
  }

  changed(): boolean {
    return this.currentStamp() !== this.stamp;
  }

  load(): { secure: SecureContext; notAfter: string | undefined } {
    const stamp = this.currentStamp();
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = readFileSync(this.cert);
      key = readFileSync(this.key);
    } catch (error) {
      throw new WebhookConfigError(
        `cannot read the certificate or key: ${(error as Error).message}`,
      );
    }
    let secure: SecureContext;
    try {
      secure = createSecureContext({ cert, key }); // refuses a key that does not match the certificate
    } catch (error) {
      throw new WebhookConfigError(
        `${this.cert} and ${this.key} are not a usable certificate and key: ${(error as Error).message}`,
      );
    }
    this.stamp = stamp;
    let notAfter: string | undefined;
    try {
      const { X509Certificate } = require("node:crypto") as typeof import("node:crypto");
      notAfter = new X509Certificate(cert).validTo;
    } catch (error) {
      // Only for the log: a chain TLS accepted but X509Certificate cannot
      // read (or a runtime without it) must not stop the server.
      notAfter = `unknown (${(error as Error)?.message ?? String(error)})`;
    }
    return { secure, notAfter };
  }
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  response.end(text);
}

/** Reads the body up to `limit` bytes; undefined when it is larger. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      resolve(undefined);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(undefined);
        request.removeAllListeners("data");
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  resource?: { resource?: string };
  subResource?: string;
  operation?: string;
  namespace?: string;
  name?: string;
  dryRun?: boolean;
  object?: unknown;
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  settings: WebhookSettings,
  log: WebhookLog,
): Promise<void> {
  const path = (request.url ?? "/").split("?")[0];
  if (path === "/healthz" || path === "/readyz") {
    response.writeHead(200, { "content-type": "text/plain" });
    response.end("ok\n");
    return;
  }
  if (request.method !== "POST") {
    reply(response, 405, { error: "POST an admission.k8s.io/v1 AdmissionReview" });
    return;
  }
  const body = await readBody(request, settings.maxBodyBytes);
  if (body === undefined) {
    log("warn", "request refused: body too large", { limit: settings.maxBodyBytes });
    response.setHeader("connection", "close");
    reply(response, 413, { error: `request body larger than ${settings.maxBodyBytes} bytes` });
    return;
  }
  let review: { apiVersion?: unknown; kind?: unknown; request?: AdmissionRequest };
  try {
    review = JSON.parse(body.toString("utf8"));
  } catch (error) {
    log("warn", "request refused: not JSON", { error: (error as Error).message });
    reply(response, 400, { error: `not JSON: ${(error as Error).message}` });
    return;
  }
  const admission = review?.request;
  if (
    typeof review !== "object" ||
    review === null ||
    review.kind !== "AdmissionReview" ||
    typeof admission !== "object" ||
    admission === null ||
    typeof admission.uid !== "string"
  ) {
    log("warn", "request refused: not an AdmissionReview with request.uid");
    reply(response, 400, {
      error: "expected an admission.k8s.io/v1 AdmissionReview with request.uid",
    });
    return;
  }
  const answer = decide(admission, settings, log);
  reply(response, 200, {
    apiVersion: typeof review.apiVersion === "string" ? review.apiVersion : "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: { uid: admission.uid, allowed: true, ...answer },
  });
}

export interface Answer {
  patchType?: "JSONPatch";
  patch?: string;
  warnings?: string[];
}

/** The decision for one AdmissionReview request: always allowed, with a patch or a warning. */
export function decide(
  admission: AdmissionRequest,
  settings: WebhookSettings,
  log: WebhookLog,
): Answer {
  const pod = admission.object as
    | { metadata?: Record<string, unknown>; spec?: Record<string, unknown> }
    | undefined;
  const meta = pod?.metadata ?? {};
  const name = String(meta.name ?? meta.generateName ?? admission.name ?? "");
  const fields = {
    uid: admission.uid,
    namespace: admission.namespace,
    pod: name,
    dryRun: admission.dryRun === true,
  };
  const isPod =
    admission.kind?.kind === "Pod" &&
    (admission.kind.group ?? "") === "" &&
    (admission.subResource ?? "") === "" &&
    typeof pod === "object" &&
    pod !== null;
  if (!isPod || (admission.operation ?? "CREATE") !== "CREATE") {
    log("info", "not a pod creation: admitted unchanged", {
      ...fields,
      kind: admission.kind?.kind,
      operation: admission.operation,
    });
    return {};
  }
  const labels = (meta.labels ?? {}) as Record<string, unknown>;
  const annotations = (meta.annotations ?? {}) as Record<string, unknown>;
  if (labels[OPT_IN_KEY] === "disabled" || annotations[OPT_IN_KEY] === "disabled") {
    log("info", `opted out (${OPT_IN_KEY}: disabled): admitted unchanged`, fields);
    return {};
  }
  try {
    const options = podOptions(settings.inject, annotations);
    const where = `pod ${admission.namespace ? `${admission.namespace}/` : ""}${name}`;
    const report = { changed: [] as string[], skipped: [] as string[] };
    const { object, changed } = injectObject(pod, where, options, report);
    if (!changed) {
      log("info", "nothing to inject: admitted unchanged", fields);
      return {};
    }
    const patch = jsonPatch(pod as Record<string, unknown>, object as Record<string, unknown>);
    log("info", admission.dryRun ? "injected (dry run)" : "injected", {
      ...fields,
      containers: report.changed.map((c) => c.replace(/^.*container /, "")),
    });
    return { patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(patch)).toString("base64") };
  } catch (error) {
    if (!(error instanceof InjectError)) throw error;
    const warning = `hookinit: not injected: ${error.message}`;
    log("warn", "not injected: admitted unchanged", { ...fields, reason: error.message });
    return { warnings: [warning] };
  }
}

/** The webhook's options, with the pod's `hookinit-inject/command.NAME` annotations. */
function podOptions(base: InjectOptions, annotations: Record<string, unknown>): InjectOptions {
  const values: string[] = [];
  for (const [key, value] of Object.entries(annotations)) {
    if (key.startsWith(COMMAND_ANNOTATION) && typeof value === "string") {
      values.push(`${key.slice(COMMAND_ANNOTATION.length)}=${value}`);
    }
  }
  if (values.length === 0) return base;
  const commands = new Map(base.commands);
  for (const [name, command] of parseCommands(values)) commands.set(name, command);
  return { ...base, commands };
}

export type PatchOp = { op: "add" | "replace"; path: string; value: unknown };

/**
 * A JSONPatch (RFC 6902) from `before` to `after`: one add or replace per
 * top-level field of spec that changed (inject only touches the pod spec).
 * Coarse on purpose: fewer operations to get wrong, and a later webhook sees
 * the whole result anyway.
 */
export function jsonPatch(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): PatchOp[] {
  const ops: PatchOp[] = [];
  const walk = (from: unknown, to: unknown, path: string, depth: number) => {
    if (JSON.stringify(from) === JSON.stringify(to)) return;
    if (
      depth < 2 &&
      typeof from === "object" &&
      from !== null &&
      !Array.isArray(from) &&
      typeof to === "object" &&
      to !== null &&
      !Array.isArray(to)
    ) {
      for (const key of Object.keys(to)) {
        const child = `${path}/${key.replaceAll("~", "~0").replaceAll("/", "~1")}`;
        const a = (from as Record<string, unknown>)[key];
        const b = (to as Record<string, unknown>)[key];
        if (a === undefined) ops.push({ op: "add", path: child, value: b });
        else walk(a, b, child, depth + 1);
      }
      return;
    }
    ops.push({ op: "replace", path, value: to });
  };
  walk(before, after, "", 0);
  return ops;
}
