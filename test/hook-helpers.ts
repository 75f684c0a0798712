/**
 * Helpers for the lifecycle-hook e2e tests (test/e2e/hooks-*.test.ts).
 *
 * Every test runs the built executable as PID 1 of a fresh pid namespace,
 * `unshare --pid --fork --mount-proc dist/hookinit ...`, and calls the
 * client the way a runtime runs an exec hook: `nsenter --target <hookinit's
 * host pid> --pid --mount dist/hookinit hook preStop`.
 *
 * Everything is polled with generous limits: the tests must hold on a loaded
 * two-core machine, so they never assert an upper bound on time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach } from "vitest";

export const ROOT = join(import.meta.dirname, "..");
export const HOOKINIT = join(ROOT, "dist", "hookinit");

/** The default limit for waiting on a condition. */
export const WAIT_MS = 30_000;

/** Our environment without HOOKINIT_* variables, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("HOOKINIT_")) env[key] = value;
  }
  return { ...env, ...extra };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns something other than undefined/false. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = WAIT_MS,
  describe: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      const detail = describe();
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail}` : ""}`,
      );
    }
    await sleep(20);
  }
}

/** Temporary directories, removed after the file's tests. */
const tempDirs: string[] = [];
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hookinit-hooks-"));
  tempDirs.push(dir);
  return dir;
}

/** Writes a config file: an object as JSON, a string as it is (YAML). */
export function writeConfig(dir: string, config: unknown, name?: string): string {
  const isText = typeof config === "string";
  const file = join(dir, name ?? (isText ? "hooks.yaml" : "hooks.json"));
  writeFileSync(file, isText ? config : JSON.stringify(config, null, 2));
  return file;
}

/** A line of hookinit's own log (pino JSON). */
export interface LogRecord {
  level: string;
  time: string;
  name: string;
  msg: string;
  hook?: string;
  stream?: string;
  [field: string]: unknown;
}

export interface ClientResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  elapsedMs: number;
}

/** Runs a command to completion, collecting its output. */
export function run(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ClientResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `${file} ${args.join(" ")} did not finish in ${options.timeoutMs ?? WAIT_MS} ms; stderr: ${Buffer.concat(err)}`,
        ),
      );
    }, options.timeoutMs ?? WAIT_MS);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        elapsedMs: performance.now() - started,
      });
    });
  });
}

/** Lines of a text, without the empty string after a final newline. */
export function linesOf(text: string): string[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

export interface StartOptions {
  /** A config object (written as JSON) or YAML text; omitted: no --config. */
  config?: unknown;
  /** Where to write the config; a fresh temp dir by default. */
  dir?: string;
  grace?: number;
  /** More hookinit options, before `--`. */
  args?: readonly string[];
  program: readonly string[];
  env?: Record<string, string>;
  /** hookinit's (and so the program's) working directory. */
  cwd?: string;
  /** Wait for the "control socket ready" log line (default true). */
  waitReady?: boolean;
}

/**
 * Splits a process's stdout into lines as chunks arrive; `end()` hands over
 * a last line that had no newline.
 */
export class LineReader {
  private partial = "";

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) this.onLine(line);
  }

  end(): void {
    if (this.partial !== "") this.onLine(this.partial);
    this.partial = "";
  }

  /** What came after the last newline so far. */
  get pending(): string {
    return this.partial;
  }
}

/** The parsed record when `line` is one of hookinit's own JSON log lines. */
export function hookinitRecord(line: string): LogRecord | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(line) as LogRecord;
    return value !== null && typeof value === "object" && value.name === "hookinit"
      ? value
      : undefined;
  } catch {
    return undefined; // The program's own output.
  }
}

/** A process whose output the waiters below scan. */
interface Watched {
  exit: unknown;
  describe(): string;
}

/**
 * Waits until `items` (which keeps growing) holds one that matches, scanning
 * each item once; fails fast if the process exited first.
 */
export function waitForItem<T>(
  what: string,
  items: readonly T[],
  match: (item: T) => boolean,
  owner: Watched,
  timeoutMs = WAIT_MS,
): Promise<T> {
  let checked = 0;
  return waitFor(
    what,
    () => {
      for (; checked < items.length; checked++) {
        const item = items[checked] as T;
        if (match(item)) return item;
      }
      if (owner.exit !== undefined)
        throw new Error(`exited before ${what} came: ${owner.describe()}`);
      return undefined;
    },
    timeoutMs,
    () => owner.describe(),
  );
}

const running = new Set<Hookinit>();

/** One hookinit as PID 1 of its own pid namespace. */
export class Hookinit {
  /** Every complete line hookinit's stdout (shared with the program) carried, in order. */
  readonly lines: string[] = [];
  /** For each of `lines`, the parsed record if it is one of hookinit's JSON log lines. */
  readonly records: (LogRecord | undefined)[] = [];
  stderr = "";
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** hookinit's pid in the host's pid namespace. */
  hostPid = 0;
  socketPath = "";
  readonly configFile: string | undefined;
  private readonly reader = new LineReader((line) => {
    this.lines.push(line);
    this.records.push(hookinitRecord(line));
  });

  private constructor(
    readonly unshare: ChildProcess,
    configFile: string | undefined,
  ) {
    this.configFile = configFile;
    unshare.stdout?.setEncoding("utf8");
    unshare.stdout?.on("data", (chunk: string) => this.reader.push(chunk));
    unshare.stderr?.setEncoding("utf8");
    unshare.stderr?.on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      unshare.once("close", (code, signal) => {
        this.reader.end();
        this.exit = { code, signal };
        running.delete(this);
        this.removeSocketDir();
        resolve(this.exit);
      });
    });
  }

  static async start(options: StartOptions): Promise<Hookinit> {
    const args: string[] = ["--pid", "--fork", "--mount-proc", HOOKINIT];
    let configFile: string | undefined;
    if (options.config !== undefined) {
      configFile = writeConfig(options.dir ?? tempDir(), options.config);
      args.push("--config", configFile);
    }
    if (options.grace !== undefined) args.push("--grace", String(options.grace));
    args.push(...(options.args ?? []), "--", ...options.program);
    const child = spawn("unshare", args, {
      env: cleanEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.cwd !== undefined && { cwd: options.cwd }),
    });
    const hookinit = new Hookinit(child, configFile);
    running.add(hookinit);
    hookinit.hostPid = await waitFor(
      "hookinit's host pid",
      () => (hookinit.exit === undefined ? childPid(child.pid ?? 0) : -1),
      WAIT_MS,
      () => hookinit.describe(),
    );
    if (hookinit.hostPid === -1) {
      throw new Error(`hookinit exited at once: ${hookinit.describe()}`);
    }
    if (options.waitReady ?? true) {
      const ready = await hookinit.waitForLog((r) => r.msg === "control socket ready");
      hookinit.socketPath = String(ready.socket);
    }
    return hookinit;
  }

  /** hookinit's JSON log records, in order. */
  logs(): LogRecord[] {
    return this.records.filter((r): r is LogRecord => r !== undefined);
  }

  /** The first log record matching; throws (with hookinit's output) when there is none. */
  logRecord(match: (record: LogRecord) => boolean): LogRecord {
    const record = this.logs().find(match);
    if (record === undefined) throw new Error(`no such log record: ${match}\n${this.describe()}`);
    return record;
  }

  /** The lines a hook wrote to a stream, as they appear in hookinit's log. */
  hookOutput(hook: string, stream?: "stdout" | "stderr"): string[] {
    return this.logs()
      .filter((r) => r.hook === hook && r.stream !== undefined)
      .filter((r) => stream === undefined || r.stream === stream)
      .map((r) => r.msg);
  }

  /** Index in `lines` of the first line matching, or -1. */
  indexOf(match: (line: string, record: LogRecord | undefined) => boolean): number {
    return this.lines.findIndex((line, i) => match(line, this.records[i]));
  }

  waitForLine(match: (line: string) => boolean, timeoutMs = WAIT_MS): Promise<string> {
    return waitForItem("a line on hookinit's stdout", this.lines, match, this, timeoutMs);
  }

  async waitForLog(match: (record: LogRecord) => boolean, timeoutMs = WAIT_MS): Promise<LogRecord> {
    const found = (record: LogRecord | undefined) => record !== undefined && match(record);
    return (await waitForItem("a log record", this.records, found, this, timeoutMs)) as LogRecord;
  }

  /** Sends a signal to hookinit (PID 1 inside, hostPid outside). */
  signal(signal: NodeJS.Signals): void {
    process.kill(this.hostPid, signal);
  }

  /** `hookinit ARGS` inside the namespace, as a runtime's exec hook runs it. */
  client(args: readonly string[], env: Record<string, string> = {}): Promise<ClientResult> {
    return run(
      "nsenter",
      ["--target", String(this.hostPid), "--pid", "--mount", HOOKINIT, ...args],
      { env: cleanEnv(env), timeoutMs: 120_000 },
    );
  }

  /** Any command inside the namespace. */
  nsenter(args: readonly string[]): Promise<ClientResult> {
    return run("nsenter", ["--target", String(this.hostPid), "--pid", "--mount", ...args]);
  }

  /** `hookinit status`, parsed. */
  async status(): Promise<StatusJson> {
    const result = await this.client(["status"]);
    if (result.code !== 0) {
      throw new Error(`hookinit status exited ${result.code}: ${result.stderr}`);
    }
    return JSON.parse(result.stdout) as StatusJson;
  }

  /** Waits for hookinit (and so the whole namespace) to exit; returns unshare's exit. */
  async waitForExit(
    timeoutMs = 60_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = sleep(timeoutMs).then(() => undefined);
    const exit = await Promise.race([this.exited, timer]);
    if (exit === undefined) {
      throw new Error(`hookinit did not exit in ${timeoutMs} ms: ${this.describe()}`);
    }
    return exit;
  }

  /** Pids (host view) of the processes in hookinit's pid namespace, with their argv. */
  namespaceProcesses(): { pid: number; argv: string[] }[] {
    let ns: string;
    try {
      ns = readlinkSync(`/proc/${this.hostPid}/ns/pid`);
    } catch {
      return [];
    }
    const found: { pid: number; argv: string[] }[] = [];
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readlinkSync(`/proc/${entry}/ns/pid`) !== ns) continue;
        const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
        if (argv.at(-1) === "") argv.pop();
        found.push({ pid: Number(entry), argv });
      } catch {
        // Gone meanwhile.
      }
    }
    return found;
  }

  /** SIGKILL to PID 1 ends the namespace; then wait for unshare. */
  async kill(): Promise<void> {
    if (this.exit !== undefined) return;
    try {
      if (this.hostPid > 0) process.kill(this.hostPid, "SIGKILL");
    } catch {
      // Already gone.
    }
    try {
      this.unshare.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await Promise.race([this.exited, sleep(10_000)]);
  }

  /** The tail of what hookinit wrote, for failure messages. */
  describe(): string {
    const tail = this.lines.slice(-30).join("\n");
    return `exit: ${JSON.stringify(this.exit)}\nstdout (last 30 lines):\n${tail}${this.reader.pending}\nstderr:\n${this.stderr}`;
  }

  /** The socket's directory is per mount namespace, in the host's /dev/shm: tidy up. */
  private removeSocketDir(): void {
    const dir = dirname(this.socketPath);
    if (/^\/dev\/shm\/hookinit-\d+-\d+(\.\d)?$/.test(dir) && existsSync(dir)) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** The pid of the (single) child of `pid`, or undefined. */
function childPid(pid: number): number | undefined {
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (children !== "") return Number(children.split(/\s+/)[0]);
    }
  } catch {
    // unshare is gone.
  }
  return undefined;
}

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

/**
 * A program that waits for SIGTERM and then says whether `marker` exists:
 * "TERM marker=yes" or "TERM marker=no", then exits 0. It prints
 * "program-up" first. `sh -c SCRIPT sh MARKER`.
 */
export function termReporter(marker: string): string[] {
  return [
    "sh",
    "-c",
    [
      `trap 'if [ -e "$1" ]; then echo "TERM marker=yes"; else echo "TERM marker=no"; fi; exit 0' TERM`,
      "echo program-up",
      "sleep 100000 & wait",
    ].join("\n"),
    "sh",
    marker,
  ];
}

/** A program that waits for SIGTERM, then exits 0 (prints "program-up" first). */
export const WAIT_FOR_TERM = [
  "sh",
  "-c",
  "trap 'exit 0' TERM; echo program-up; sleep 100000 & wait",
];

/**
 * Registers the cleanup every hooks e2e file needs: after each test, kill
 * whatever hookinit is still running; after the file, remove temp dirs.
 */
export function cleanupHookinits(): void {
  afterEach(async () => {
    await Promise.all([...running].map((h) => h.kill()));
  });
  afterAll(() => {
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
}

/** Milliseconds since the epoch of a log record. */
export function timeOf(record: LogRecord): number {
  return Date.parse(record.time);
}
