/**
 * Helpers for the fault and security e2e tests (test/e2e/faults.test.ts,
 * test/e2e/security.test.ts) and the soak script's ideas, on top of
 * test/helpers.ts and test/hook-helpers.ts:
 *
 *  - `Supervised`: hookinit started from any command line (under setpriv, with
 *    /proc unmounted, inside a read-only bind mount...), where
 *    hook-helpers' Hookinit always runs `unshare ... hookinit`. It can count
 *    lines instead of keeping them, for floods of a million lines.
 *  - `rssKb` / `RssWatch`: the supervisor's VmRSS from the host's /proc.
 *  - `talk`: one raw connection to the control socket, with a verdict
 *    (answered, refused, closed, hung) instead of an exception.
 *
 * Black box: nothing here imports from src/.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { dirname } from "node:path";
import { afterEach } from "vitest";
import { findHookinit, processTree } from "./helpers.js";
import {
  cleanEnv,
  HOOKINIT,
  hookinitRecord,
  LineReader,
  type LogRecord,
  sleep,
  WAIT_MS,
  waitFor,
  waitForItem,
} from "./hook-helpers.js";

export { HOOKINIT };

// ---- memory ------------------------------------------------------------------

/** VmRSS of a process in KiB, from /proc/PID/status; undefined when it is gone. */
export function rssKb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

export const MB = 1024;

/** Samples a process's RSS every `everyMs` until stopped; keeps the maximum. */
export class RssWatch {
  maxKb = 0;
  lastKb = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    everyMs = 100,
  ) {
    const sample = () => {
      const kb = rssKb(pid);
      if (kb === undefined) return;
      this.samples++;
      this.lastKb = kb;
      if (kb > this.maxKb) this.maxKb = kb;
    };
    sample();
    this.timer = setInterval(sample, everyMs);
  }

  stop(): this {
    clearInterval(this.timer);
    return this;
  }

  get maxMb(): number {
    return Math.round(this.maxKb / 102.4) / 10;
  }
}

// ---- raw socket clients ------------------------------------------------------

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

// ---- a supervisor started from any command line ------------------------------

export interface SupervisedOptions {
  env?: Record<string, string>;
  /** Keep every stdout line (default); false: only count and pass them to onLine. */
  keepLines?: boolean;
  /** Called for each stdout line with its parsed record (if it is a hookinit log line). */
  onLine?: (line: string, record: LogRecord | undefined) => void;
  /** Pipe stdin (for a wrapper that waits for a go-ahead). */
  stdin?: boolean;
  /** Working directory (hookinit and its hooks inherit it). */
  cwd?: string;
}

const started = new Set<Supervised>();

/**
 * A process tree with hookinit somewhere in it (unshare, setpriv and sh
 * wrappers allowed), its stdout split into lines and hookinit's records.
 */
export class Supervised {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly records: LogRecord[] = [];
  lineCount = 0;
  stderr = "";
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Socket directories to remove at the end (default paths live in the host's /dev/shm). */
  readonly cleanup: string[] = [];
  private readonly reader = new LineReader((line) => this.pushLine(line));
  private hostPidCache: number | undefined;

  constructor(
    readonly argv: readonly string[],
    readonly options: SupervisedOptions = {},
  ) {
    const [file = "", ...args] = argv;
    this.child = spawn(file, args, {
      env: cleanEnv(options.env),
      stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
      ...(options.cwd !== undefined && { cwd: options.cwd }),
    });
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => this.reader.push(chunk));
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.once("close", (code, signal) => {
        this.reader.end();
        this.exit = { code, signal };
        started.delete(this);
        this.removeSocketDirs();
        resolve(this.exit);
      });
    });
    started.add(this);
  }

  private pushLine(line: string): void {
    this.lineCount++;
    const record = hookinitRecord(line);
    this.options.onLine?.(line, record);
    if (this.options.keepLines === false) {
      // Keep hookinit's own events (not hook output) so waitForLog still works.
      if (record !== undefined && record.stream === undefined) this.records.push(record);
      return;
    }
    this.lines.push(line);
    if (record !== undefined) this.records.push(record);
  }

  /** hookinit's pid as the host sees it (the process running the hookinit executable). */
  async hostPid(timeoutMs = WAIT_MS): Promise<number> {
    if (this.hostPidCache !== undefined) return this.hostPidCache;
    const pid = await waitFor(
      "the hookinit process",
      () => {
        if (this.exit !== undefined)
          throw new Error(`exited before hookinit ran: ${this.describe()}`);
        return this.child.pid === undefined ? undefined : findHookinit(this.child.pid);
      },
      timeoutMs,
      () => this.describe(),
    );
    this.hostPidCache = pid;
    return pid;
  }

  waitForLog(match: (record: LogRecord) => boolean, timeoutMs = WAIT_MS): Promise<LogRecord> {
    return waitForItem("a log record", this.records, match, this, timeoutMs);
  }

  waitForLine(match: (line: string) => boolean, timeoutMs = WAIT_MS): Promise<string> {
    return waitForItem("a line on stdout", this.lines, match, this, timeoutMs);
  }

  /** Waits for "control socket ready"; returns the socket path. */
  async socketReady(timeoutMs = WAIT_MS): Promise<string> {
    const record = await this.waitForLog((r) => r.msg === "control socket ready", timeoutMs);
    const path = String(record.socket);
    if (/^\/dev\/shm\/hookinit-\d+-\d+(\.\d)?\/control\.sock$/.test(path))
      this.cleanup.push(dirname(path));
    return path;
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    process.kill(await this.hostPid(), signal);
  }

  async waitForExit(
    timeoutMs = 60_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const exit = await Promise.race([this.exited, sleep(timeoutMs).then(() => undefined)]);
    if (exit === undefined) throw new Error(`did not exit in ${timeoutMs} ms: ${this.describe()}`);
    return exit;
  }

  /** SIGKILL to the whole tree (PID 1 of a namespace takes the namespace with it). */
  async kill(): Promise<void> {
    if (this.exit !== undefined) return;
    const pid = this.child.pid;
    if (pid !== undefined) {
      for (const p of processTree(pid).reverse()) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // gone
        }
      }
    }
    await Promise.race([this.exited, sleep(10_000)]);
  }

  private removeSocketDirs(): void {
    for (const dir of this.cleanup)
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }

  describe(): string {
    const tail = this.lines.slice(-30).join("\n");
    return `argv: ${JSON.stringify(this.argv)}\nexit: ${JSON.stringify(this.exit)}\nstdout (${this.lineCount} lines, last 30 kept):\n${tail}${this.reader.pending}\nstderr:\n${this.stderr}`;
  }
}

/** After each test, kill whatever Supervised trees are still running. */
export function cleanupSupervised(): void {
  afterEach(async () => {
    await Promise.all([...started].map((s) => s.kill()));
  });
}

/** `nsenter` into hookinit's pid and mount namespaces, as a runtime's exec does. */
export function nsenterArgs(hostPid: number, command: readonly string[]): string[] {
  return ["nsenter", "--target", String(hostPid), "--pid", "--mount", ...command];
}

/** Runs a command as another user: setpriv with a uid, gid and no supplementary groups. */
export function asUser(uid: number, command: readonly string[]): string[] {
  return ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", ...command];
}
