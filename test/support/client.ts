/**
 * The control socket from the test's side: raw connections with a verdict
 * instead of an exception, the request lines of protocol version 1, and the
 * shape of `hookinit status`. (The `hookinit hook|status|ready` client itself
 * runs through Hookinit.client() in process.ts.)
 */
import { connect } from "node:net";
import { sleep } from "./wait.js";

export interface Talk {
  /** What happened: the server answered and closed, closed without a word, refused, or never closed. */
  verdict: "answered" | "closed" | "refused" | "hung";
  /** JSON lines the server sent (unparseable lines are kept as {unparsed}). */
  events: Record<string, unknown>[];
  /** connect(2) failed (EAGAIN when the backlog is full, ECONNREFUSED, EACCES, ...). */
  connectError?: string;
  /** From connect to close, ms. */
  closedAfterMs?: number;
}

export interface TalkOptions {
  /** After writing: half-close ("end"), keep the writing side open ("keep"), or reset ("destroy"). */
  after?: "end" | "keep" | "destroy";
  /** Pause between chunks, ms. */
  gapMs?: number;
  /** Give up (verdict "hung") after this long. */
  timeoutMs?: number;
}

/** One connection: writes the chunks, collects the answer until the server closes. */
export function talk(
  path: string,
  chunks: string | Buffer | readonly (string | Buffer)[],
  options: TalkOptions = {},
): Promise<Talk> {
  const { after = "keep", gapMs = 0, timeoutMs = 60_000 } = options;
  const parts = typeof chunks === "string" || Buffer.isBuffer(chunks) ? [chunks] : chunks;
  return new Promise((resolve) => {
    const socket = connect(path);
    let raw = "";
    let connected = false;
    let connectedAt = 0;
    let settled = false;
    const finish = (result: Omit<Talk, "events">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const events = raw
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => {
          try {
            return JSON.parse(line) as Record<string, unknown>;
          } catch {
            return { unparsed: line };
          }
        });
      resolve({ ...result, events });
    };
    const timer = setTimeout(() => finish({ verdict: "hung" }), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      raw += chunk;
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (!connected) finish({ verdict: "refused", connectError: error.code ?? error.message });
      // After connecting: EPIPE/ECONNRESET when the server closes while we write; "close" follows.
    });
    socket.once("close", () => {
      if (!connected) return;
      finish({
        verdict: raw === "" ? "closed" : "answered",
        closedAfterMs: performance.now() - connectedAt,
      });
    });
    socket.once("connect", async () => {
      connected = true;
      connectedAt = performance.now();
      for (const [i, part] of parts.entries()) {
        if (socket.destroyed) return;
        if (part.length > 0) socket.write(part);
        if (gapMs > 0 && i < parts.length - 1) await sleep(gapMs);
      }
      if (after === "end") socket.end();
      if (after === "destroy") socket.destroy();
    });
  });
}

/** The request lines of protocol version 1. */
export const STATUS = '{"v":1,"op":"status"}\n';
export const PRESTOP = '{"v":1,"op":"hook","hook":"preStop"}\n';
export const POSTSTART = '{"v":1,"op":"hook","hook":"postStart"}\n';

/** The JSON `hookinit status` prints. */
export interface StatusJson {
  version: string;
  phase: string;
  ready: boolean;
  program: { pid: number; running: boolean; exitCode?: number };
  hooks: Record<
    "postStart" | "preStop" | "postStop",
    {
      state: string;
      handler?: string;
      trigger?: string;
      exitCode?: number;
      durationMs?: number;
      error?: string;
    }
  >;
  stop?: { trigger: string; graceSeconds: number; secondsLeft: number };
}
