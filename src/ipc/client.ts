import { accessSync, closeSync, constants, readSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { getSystemErrorName } from "node:util";
import { EXIT } from "../core/exit-codes.js";
import type { HookName, Status } from "../core/hooks.js";
import { loadNativeHelper, type NativeHelper } from "../native/helper.js";
import {
  type ErrorCode,
  encode,
  PROTOCOL_VERSION,
  parseServerEvent,
  type Request,
  type ServerEvent,
} from "./protocol.js";
import { candidateSocketPaths, type Debug, isOwnSupervisor, SOCKET_BASES } from "./socket-path.js";

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

/** Unexpected errors the client passes over; written to stderr with --log-level debug|trace. */
let debug: Debug | undefined;

export function setClientLogLevel(level: string): void {
  debug =
    level === "debug" || level === "trace"
      ? (error, what) => write(2, `hookinit: debug: ${what}: ${String(error)}\n`)
      : undefined;
}

function write(fd: 1 | 2, text: string): void {
  try {
    writeSync(fd, text);
  } catch (error) {
    // Our caller went away (EPIPE) or closed the fd (EBADF): nowhere to write,
    // not even the debug line.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPIPE" && code !== "EBADF" && fd === 1) debug?.(error, "write to stdout");
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
  const native = loadNative();
  const deadline = patience === "once" ? 0 : Date.now() + CONNECT_PATIENCE_MS;
  for (;;) {
    const found = connectSupervisor(native, socketPath);
    if (typeof found === "number") {
      exchangeOn(found, request, onEvent);
      return;
    }
    if (Date.now() >= deadline) throw new Unreachable(explain(found, socketPath));
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

type Native = Pick<NativeHelper, "connectUnix" | "peerCredentials">;

/** A missing native helper is a broken installation (NativeHelperError), not an unreachable supervisor. */
function loadNative(): Native {
  return loadNativeHelper();
}

/**
 * What one candidate gave: an errno name from connect (ENOENT, EACCES,
 * ECONNREFUSED...), or "FOREIGN" for a server in another container.
 */
interface Finding {
  path: string;
  code: string;
}

/**
 * One pass over the places the socket can be (socket-path.ts): the fd of
 * the first connection to this container's supervisor, or what each place
 * gave. A leftover or a sibling's socket never stops the pass.
 */
function connectSupervisor(native: Native, explicit: string | undefined): number | Finding[] {
  const findings: Finding[] = [];
  for (const path of explicit === undefined ? candidateSocketPaths(debug) : [explicit]) {
    let fd: number;
    try {
      fd = native.connectUnix(path);
    } catch (error) {
      const errno = (error as { errno?: number }).errno;
      findings.push({
        path,
        code: errno === undefined ? (error as Error).message : getSystemErrorName(-errno),
      });
      continue;
    }
    if (explicit !== undefined || isOwnSupervisor(peerPid(native, fd), debug)) return fd;
    closeSync(fd);
    findings.push({ path, code: "FOREIGN" });
  }
  return findings;
}

/** SO_PEERCRED's pid; -1 (unknown, so not rejected) if the kernel would not say. */
function peerPid(native: Native, fd: number): number {
  try {
    return native.peerCredentials(fd).pid;
  } catch (error) {
    debug?.(error, "SO_PEERCRED");
    return -1;
  }
}

/**
 * One blocking exchange on a connected fd: write the request, read event
 * lines until the server closes. Synchronous on purpose: the client has
 * nothing else to do, and plain read(2)/write(2) start faster than node:net
 * in a cold process.
 */
function exchangeOn(fd: number, request: Request, onEvent: EventHandler): void {
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
  } catch (error) {
    // The supervisor went away mid-answer (ECONNRESET, EPIPE): what we got is
    // what there is; the caller reports a missing result.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ECONNRESET" && code !== "EPIPE") debug?.(error, "socket exchange");
  } finally {
    closeSync(fd);
  }
}

/** Why no supervisor was reached, from what the last pass found. */
function explain(findings: Finding[], explicit: string | undefined): string {
  const uid = process.getuid?.() ?? 0;
  if (explicit !== undefined) return describe(findings[0]?.code ?? "ENOENT", explicit);
  const seen = findings.filter((finding) => finding.code !== "ENOENT");
  if (seen.length === 0) {
    // Nothing anywhere. If no base is writable, the supervisor (same user, same
    // container) could not have made its socket either: say that, not "is
    // hookinit the ENTRYPOINT?".
    const unwritable = SOCKET_BASES.map((base) => [base, notWritable(base)] as const);
    if (unwritable.every(([, code]) => code !== undefined)) {
      const why = unwritable.map(([base, code]) => `${base} ${errnoWords(code ?? "")}`).join(", ");
      return (
        `the supervisor cannot have created its socket: no default place is writable ` +
        `(${why}; we are uid ${uid}). Give the container a writable /dev/shm, or a writable volume ` +
        `and HOOKINIT_SOCKET pointing into it, for the supervisor and its clients alike`
      );
    }
    const first = findings[0]?.path ?? "";
    return (
      `no control socket at ${first} (nor at the ${findings.length - 1} other default places): ` +
      `is hookinit this container's ENTRYPOINT, and does this command run inside the same container? ` +
      `(set HOOKINIT_SOCKET if the supervisor uses --socket; its log says why it has no socket)`
    );
  }
  const what = seen.map((finding) => {
    switch (finding.code) {
      case "EACCES": {
        const owner = ownerOf(dirname(finding.path));
        return `${dirname(finding.path)} belongs to uid ${owner}`;
      }
      case "FOREIGN":
        return `${finding.path} is served by another container's supervisor`;
      case "ECONNREFUSED":
        return `nobody answers on ${finding.path} (left by a supervisor that is gone)`;
      default:
        return `${finding.path}: ${finding.code}`;
    }
  });
  const foreignOwner = seen.some((finding) => finding.code === "EACCES");
  return (
    `no supervisor of this container answers at the default places; found: ${what.join("; ")}` +
    (foreignOwner
      ? `. We are uid ${uid}: if hookinit runs as another user, run the hook as that user or as root; ` +
        `otherwise these are leftovers of other containers, and the supervisor's log says where it went`
      : `; the supervisor's log says why it has no socket`)
  );
}

/** The uid that owns `path`, or "?" when it cannot be seen (gone, ENOENT; unsearchable parent, EACCES). */
function ownerOf(path: string): number | string {
  try {
    return statSync(path).uid;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "EACCES") debug?.(error, `stat ${path}`);
    return "?";
  }
}

/** access(W_OK): undefined when writable, else the errno name (EROFS, EACCES, ENOENT...). */
function notWritable(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? "EIO";
  }
}

function errnoWords(code: string): string {
  switch (code) {
    case "EROFS":
      return "is read-only";
    case "EACCES":
      return "is not writable by us";
    case "ENOENT":
      return "does not exist";
    default:
      return `is not usable (${code})`;
  }
}

function describe(code: string, path: string): string {
  switch (code) {
    case "EACCES":
      return `permission denied on ${path}: run the hook as the same user as hookinit (the container's user)`;
    case "ECONNREFUSED":
      return `nobody answers on ${path}: the supervisor is not running (a stale socket from an earlier run?)`;
    default:
      return `cannot connect to ${path}: ${code}`;
  }
}
