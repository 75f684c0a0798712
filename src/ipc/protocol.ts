/**
 * The control socket protocol, version 1.
 *
 * One request per connection: the client sends one JSON object on one line
 * (at most MAX_REQUEST_BYTES), the server answers with JSON lines and closes.
 * A request names a configured hook or asks for the status; there is no way
 * to send a command, an environment or a handler definition: whoever can
 * reach the socket can only run what the configuration already declares.
 *
 *   -> {"v":1,"op":"hook","hook":"preStop"}
 *   <- {"type":"output","stream":"stdout","line":"draining"}     (0..n)
 *   <- {"type":"result","hook":"preStop","exitCode":0,"durationMs":812}
 *
 *   -> {"v":1,"op":"status"}
 *   <- {"type":"status", ...Status}
 *
 *   a request refused
 *   <- {"type":"error","code":"bad_request","message":"..."}
 *
 * Error codes: bad_request (not one JSON line of a known shape, or over the
 * size limit), unsupported_version, unknown_hook (not a hook a client may
 * call), refused (the caller's uid may not call), internal (the supervisor
 * failed answering: a bug). A call for a hook the configuration does not
 * define is not an error: it gets a result with exit code 0 and a line on
 * stderr saying so, as a pod without that hook would simply go on.
 */
import {
  CALLABLE_HOOKS,
  type HookName,
  normalizeHookName,
  type OutputEvent,
  type ResultEvent,
  type Status,
} from "../core/hooks.js";

export const PROTOCOL_VERSION = 1;
export const MAX_REQUEST_BYTES = 4096;

export type Request = { v: 1; op: "hook"; hook: HookName } | { v: 1; op: "status" };

export interface StatusEvent extends Status {
  type: "status";
}

export type ErrorCode =
  | "bad_request"
  | "unsupported_version"
  | "unknown_hook"
  | "refused"
  /** The supervisor failed answering (a bug in hookinit); the message says what failed. */
  | "internal";

export interface ErrorEvent {
  type: "error";
  code: ErrorCode;
  message: string;
}

export type ServerEvent = OutputEvent | ResultEvent | StatusEvent | ErrorEvent;

/** Why parseRequest refused a request line; the server sends it back as an error event. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Parses one request line. Throws ProtocolError with a message fit to send back. */
export function parseRequest(line: string): Request {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new ProtocolError("bad_request", "request is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolError("bad_request", "request is not a JSON object");
  }
  const { v, op, hook, ...rest } = value as Record<string, unknown>;
  if (v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      "unsupported_version",
      `protocol version ${JSON.stringify(v)} is not supported; this supervisor speaks ${PROTOCOL_VERSION}`,
    );
  }
  const extra = Object.keys(rest);
  if (extra.length > 0)
    throw new ProtocolError("bad_request", `unexpected field ${JSON.stringify(extra[0])}`);
  if (op === "status") {
    if (hook !== undefined) throw new ProtocolError("bad_request", `"status" takes no hook`);
    return { v: PROTOCOL_VERSION, op };
  }
  if (op !== "hook") throw new ProtocolError("bad_request", `unknown op ${JSON.stringify(op)}`);
  const name = typeof hook === "string" ? normalizeHookName(hook) : undefined;
  if (name === undefined || !CALLABLE_HOOKS.includes(name)) {
    throw new ProtocolError(
      "unknown_hook",
      `unknown hook ${JSON.stringify(hook)}; a client can call ${CALLABLE_HOOKS.join(" or ")}`,
    );
  }
  return { v: PROTOCOL_VERSION, op, hook: name };
}

export function encode(message: Request | ServerEvent): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Parses one line from the server; undefined when it is not an event we know
 * or its fields do not have the types the client relies on. A malformed line
 * is skipped, never fatal. The C client (native/client.c) applies the same
 * rules; test/fixtures/protocol-vectors.json holds both to them.
 * - output: stream "stdout" or "stderr", line a string, partial absent or boolean;
 * - result: exitCode an integer from 0 to 255, error absent or a string;
 * - status: any object (printed as sent; `ready` reads only what it needs);
 * - error: code and message strings.
 */
export function parseServerEvent(line: string): ServerEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    // SyntaxError: not a line of ours (skipped, like a newer server's extras).
    if (!(error instanceof SyntaxError)) throw error;
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const event = value as Record<string, unknown>;
  switch (event.type) {
    case "output":
      return (event.stream === "stdout" || event.stream === "stderr") &&
        typeof event.line === "string" &&
        (event.partial === undefined || typeof event.partial === "boolean")
        ? (event as unknown as OutputEvent)
        : undefined;
    case "result":
      return Number.isInteger(event.exitCode) &&
        (event.exitCode as number) >= 0 &&
        (event.exitCode as number) <= 255 &&
        (event.error === undefined || typeof event.error === "string")
        ? (event as unknown as ResultEvent)
        : undefined;
    case "status":
      return event as unknown as StatusEvent;
    case "error":
      return typeof event.code === "string" && typeof event.message === "string"
        ? (event as unknown as ErrorEvent)
        : undefined;
    default:
      return undefined;
  }
}
