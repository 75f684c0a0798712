/**
 * The control socket protocol, version 1.
 *
 * One request per connection: the client sends one JSON object on one line
 * (at most MAX_REQUEST_BYTES), the server answers with JSON lines and closes.
 * A request names a configured hook or asks for the status; there is no way
 * to send a command, an environment or a handler definition (BRIEF rule 15).
 *
 *   -> {"v":1,"op":"hook","hook":"preStop"}
 *   <- {"type":"output","stream":"stdout","line":"draining"}     (0..n)
 *   <- {"type":"result","hook":"preStop","exitCode":0,"durationMs":812}
 *
 *   -> {"v":1,"op":"status"}
 *   <- {"type":"status", ...Status}
 *
 *   any bad request
 *   <- {"type":"error","code":"bad_request","message":"..."}
 */
export const PROTOCOL_VERSION = 1;
export const MAX_REQUEST_BYTES = 4096;

export const HOOK_NAMES = ["postStart", "preStop", "postStop"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** Hooks a client may trigger. postStop runs only after the program exits. */
export const CALLABLE_HOOKS: readonly HookName[] = ["postStart", "preStop"];

export type Request = { v: 1; op: "hook"; hook: HookName } | { v: 1; op: "status" };

export interface OutputEvent {
  type: "output";
  stream: "stdout" | "stderr";
  line: string;
  /** The line was longer than we keep whole; it continues in the next event. */
  partial?: true;
}

export interface ResultEvent {
  type: "result";
  hook: HookName;
  exitCode: number;
  durationMs: number;
  error?: string;
}

export interface HookStatus {
  state: "not-configured" | "pending" | "running" | "succeeded" | "failed";
  handler?: string;
  trigger?: string;
  exitCode?: number;
  durationMs?: number;
  error?: string;
}

export interface Status {
  version: string;
  phase: string;
  ready: boolean;
  program: { pid: number; running: boolean; exitCode?: number };
  hooks: Record<HookName, HookStatus>;
  stop?: { trigger: string; graceSeconds: number; secondsLeft: number };
}

export interface StatusEvent extends Status {
  type: "status";
}

export type ErrorCode =
  | "bad_request"
  | "unsupported_version"
  | "unknown_hook"
  | "not_configured"
  | "refused";

export interface ErrorEvent {
  type: "error";
  code: ErrorCode;
  message: string;
}

export type ServerEvent = OutputEvent | ResultEvent | StatusEvent | ErrorEvent;

export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Accepts the names users write in pod specs and on the command line. */
export function normalizeHookName(name: string): HookName | undefined {
  const key = name.replaceAll(/[-_]/g, "").toLowerCase();
  return HOOK_NAMES.find((hook) => hook.toLowerCase() === key);
}

/** Parses one request line. Throws ProtocolError with a message fit to send back. */
export function parseRequest(line: string): Request {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
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

/** Parses one line from the server; undefined when it is not an event we know. */
export function parseServerEvent(line: string): ServerEvent | undefined {
  try {
    const value = JSON.parse(line) as { type?: unknown };
    return typeof value === "object" && value !== null && typeof value.type === "string"
      ? (value as ServerEvent)
      : undefined;
  } catch {
    return undefined;
  }
}
