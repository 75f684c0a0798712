/**
 * The domain types that the supervisor, the hook machinery and the control
 * socket protocol share: hook names, a run's output and result, the status.
 * Declared once here; nothing in src/core imports from another folder.
 */

export const HOOK_NAMES = ["postStart", "preStop", "postStop"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

/** Hooks a client may trigger. postStop runs only after the program exits. */
export const CALLABLE_HOOKS: readonly HookName[] = ["postStart", "preStop"];

/** Accepts the names users write in pod specs and on the command line. */
export function normalizeHookName(name: string): HookName | undefined {
  const key = name.replaceAll(/[-_]/g, "").toLowerCase();
  return HOOK_NAMES.find((hook) => hook.toLowerCase() === key);
}

/** Which of a handler's output streams a line came from. */
export type OutputStream = "stdout" | "stderr";

/** One line (or piece of a long line) of a hook's output. */
export interface OutputEvent {
  type: "output";
  stream: OutputStream;
  line: string;
  /** The line was longer than we keep whole; it continues in the next event. */
  partial?: true;
}

/** How one run of a hook ended. */
export interface ResultEvent {
  type: "result";
  hook: HookName;
  exitCode: number;
  durationMs: number;
  error?: string;
}

/** Where a caller's copy of a hook's output goes (a socket, in practice). */
export interface OutputSubscriber {
  /** Events in order. Returns false when this subscriber is backed up. */
  send(events: readonly OutputEvent[]): boolean;
  drained(): Promise<void>;
}

/** A hook run's state; before its first run a hook is pending or not configured. */
export type HookRunState = "running" | "succeeded" | "failed";

export interface HookStatus {
  state: "not-configured" | "pending" | HookRunState;
  handler?: string;
  trigger?: string;
  exitCode?: number;
  durationMs?: number;
  error?: string;
}

/** What `hookinit status` prints. */
export interface Status {
  version: string;
  phase: string;
  ready: boolean;
  program: { pid: number; running: boolean; exitCode?: number };
  hooks: Record<HookName, HookStatus>;
  stop?: { trigger: string; graceSeconds: number; secondsLeft: number };
}
