/**
 * The one process wrapper: hookinit started from a command line (plain,
 * under unshare as PID 1 of a fresh pid namespace, or inside setpriv, sh,
 * nsenter... wrappers), its stdout split into lines and hookinit's own log
 * records, and the ways a test talks to it: signals from the host, clients
 * run inside its namespaces as a runtime's exec hook runs them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, afterEach } from "vitest";
import type { StatusJson } from "./client.js";
import { removeTempDirs, tempDir, writeConfig } from "./files.js";
import { cleanEnv, HOOKINIT, nsenterArgs, ROOT, shellQuote, UNSHARE } from "./hookinit.js";
import { LineReader, type LogRecord, parseLogLine } from "./logs.js";
import {
  findHookinit,
  isHookinit,
  killAll,
  namespaceProcesses,
  processTree,
  procStatus,
  signalBit,
} from "./proc.js";
import { sleep, WAIT_MS, waitFor, waitForItem } from "./wait.js";

/** How a process ended, with everything it wrote. */
export interface Exit {
  /** Exit code of the spawned command (unshare passes hookinit's through). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit, for lower-bound checks only. */
  elapsedMs: number;
}

export interface SpawnOptions {
  /** Extra environment; HOOKINIT_* from the test's own environment is never passed on. */
  env?: Record<string, string>;
  /** hookinit's (and so the program's and the hooks') working directory; the checkout by default. */
  cwd?: string;
  /** Pipe stdin (for a wrapper that waits for a go-ahead). */
  stdin?: boolean;
  /** Keep every stdout line (default); false: only count them, for floods of a million lines. */
  keepLines?: boolean;
  /** Called for each stdout line with its parsed record (if it is a hookinit log line). */
  onLine?: (line: string, record: LogRecord | undefined) => void;
}

/** Anything a test started that cleanupAfterEach must not leave behind. */
interface Killable {
  kill(): void | Promise<void>;
}
const running = new Set<Killable>();

/**
 * Kills, after each test, whatever the file's tests left running, and
 * removes the temporary directories after the file. Call once per e2e file.
 */
export function cleanupAfterEach(): void {
  afterEach(async () => {
    await Promise.all([...running].map((process) => process.kill()));
    running.clear();
  });
  afterAll(removeTempDirs);
}

/** A process tree with hookinit somewhere in it. */
export class Hookinit {
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  /** Every complete stdout line (shared with the program), in order; empty with keepLines false. */
  readonly lines: string[] = [];
  /** For each of `lines`, its record when it is one of hookinit's log lines. */
  readonly records: (LogRecord | undefined)[] = [];
  /** stdout lines seen, kept or not. */
  lineCount = 0;
  stderr = "";
  exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  /** Set by socketReady(). */
  socketPath = "";
  /** The config file Hookinit.start() wrote, if any. */
  configFile: string | undefined;
  /** hookinit's log records; with keepLines false, its own events only (no hook output). */
  private readonly events: LogRecord[] = [];
  /** stdout as it came, byte for byte (with keepLines false: nothing). */
  private raw = "";
  private readonly reader = new LineReader((line) => this.pushLine(line));
  private pid: number | undefined;
  /** Default socket directories live in the host's /dev/shm: removed when we are done. */
  private readonly socketDirs: string[] = [];

  constructor(
    readonly argv: readonly string[],
    readonly options: SpawnOptions = {},
  ) {
    const [file = "", ...args] = argv;
    this.child = spawn(file, args, {
      env: cleanEnv(options.env),
      stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
      cwd: options.cwd ?? ROOT,
    });
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      if (options.keepLines !== false) this.raw += chunk;
      this.reader.push(chunk);
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise<Exit>((resolve, reject) => {
      this.child.once("error", reject);
      // "close": the process exited and its stdout and stderr are drained.
      this.child.once("close", (code, signal) => {
        this.reader.end();
        this.exit = {
          code,
          signal,
          stdout: this.stdout,
          stderr: this.stderr,
          elapsedMs: Date.now() - this.startedAt,
        };
        running.delete(this);
        for (const dir of this.socketDirs) {
          if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
        }
        resolve(this.exit);
      });
    });
    running.add(this);
  }

  /**
   * hookinit as PID 1 of a fresh pid namespace with a config and a program,
   * the way the hook tests run it; resolves once its control socket is ready
   * (unless `waitReady` is false).
   */
  static async start(options: StartOptions): Promise<Hookinit> {
    const args: string[] = [...UNSHARE, HOOKINIT];
    let configFile: string | undefined;
    if (options.config !== undefined) {
      configFile = writeConfig(options.dir ?? tempDir(), options.config);
      args.push("--config", configFile);
    }
    if (options.grace !== undefined) args.push("--grace", String(options.grace));
    args.push(...(options.args ?? []), "--", ...options.program);
    const hookinit = new Hookinit(args, {
      ...(options.env !== undefined && { env: options.env }),
      ...(options.cwd !== undefined && { cwd: options.cwd }),
    });
    hookinit.configFile = configFile;
    await hookinit.hostPid();
    if (options.waitReady ?? true) await hookinit.socketReady();
    return hookinit;
  }

  /** Everything on stdout so far, hookinit's log lines and the program's output. */
  get stdout(): string {
    return this.raw;
  }

  private pushLine(line: string): void {
    this.lineCount++;
    const record = parseLogLine(line);
    this.options.onLine?.(line, record);
    if (this.options.keepLines === false) {
      if (record !== undefined && record.stream === undefined) this.events.push(record);
      return;
    }
    this.lines.push(line);
    this.records.push(record);
    if (record !== undefined) this.events.push(record);
  }

  /** hookinit's pid as the host sees it (the process running the hookinit executable). */
  async hostPid(timeoutMs = WAIT_MS): Promise<number> {
    if (this.pid !== undefined) return this.pid;
    this.pid = await waitFor(
      "the hookinit process",
      () => {
        if (this.exit !== undefined) {
          throw new Error(`exited before hookinit ran: ${this.describe()}`);
        }
        return this.child.pid === undefined ? undefined : findHookinit(this.child.pid);
      },
      timeoutMs,
      () => this.describe(),
    );
    return this.pid;
  }

  /**
   * Waits until hookinit listens for signals (SIGHUP and SIGTERM caught).
   * As PID 1 a signal that arrives before that would be dropped by the kernel.
   */
  async handlersInstalled(timeoutMs = WAIT_MS): Promise<number> {
    const pid = await this.hostPid(timeoutMs);
    const wanted = signalBit("SIGHUP") | signalBit("SIGTERM");
    await waitFor(
      "hookinit's signal handlers",
      () => ((procStatus(pid)?.sigCgt ?? 0n) & wanted) === wanted,
      timeoutMs,
      () => this.describe(),
    );
    return pid;
  }

  /** Waits for "control socket ready"; returns the socket path. */
  async socketReady(timeoutMs = WAIT_MS): Promise<string> {
    const record = await this.waitForLog("control socket ready", timeoutMs);
    this.socketPath = String(record.socket);
    if (/^\/dev\/shm\/hookinit-[^/]+\/control\.sock$/.test(this.socketPath)) {
      this.socketDirs.push(dirname(this.socketPath));
    }
    return this.socketPath;
  }

  /** hookinit's JSON log records, in order. */
  logs(): LogRecord[] {
    return this.events;
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
    return waitForItem("a line on stdout", this.lines, match, this, timeoutMs);
  }

  /** Waits for a log record: its msg (a string or a pattern), or any test of the record. */
  waitForLog(
    match: string | RegExp | ((record: LogRecord) => boolean),
    timeoutMs = WAIT_MS,
  ): Promise<LogRecord> {
    const test =
      typeof match === "function"
        ? match
        : typeof match === "string"
          ? (r: LogRecord) => r.msg === match
          : (r: LogRecord) => match.test(r.msg);
    return waitForItem(`log record ${String(match)}`, this.events, test, this, timeoutMs);
  }

  /** Waits until stdout matches. */
  output(pattern: RegExp, timeoutMs = WAIT_MS): Promise<RegExpExecArray> {
    return waitFor(
      `stdout matching ${pattern}`,
      () => {
        const match = pattern.exec(this.stdout);
        if (!match && this.exit) throw new Error(`hookinit exited first: ${this.describe()}`);
        return match;
      },
      timeoutMs,
      () => this.describe(),
    );
  }

  /** Sends a signal to hookinit itself, from outside its namespace. */
  async signal(signal: NodeJS.Signals | number): Promise<void> {
    process.kill(this.pid ?? (await this.hostPid()), signal);
  }

  /**
   * Sends a signal and waits until the kernel handed it to hookinit (no
   * longer pending): a signal sent after that is handled after this one.
   */
  async signalDelivered(signal: NodeJS.Signals): Promise<void> {
    const pid = await this.hostPid();
    process.kill(pid, signal);
    await waitFor(
      `${signal} to be delivered to hookinit`,
      () => ((procStatus(pid)?.shdPnd ?? 0n) & signalBit(signal)) === 0n,
      WAIT_MS,
      () => this.describe(),
    );
  }

  /** `hookinit ARGS` inside the namespace, as a runtime's exec hook runs it. */
  async client(args: readonly string[], env: Record<string, string> = {}): Promise<RunResult> {
    const [file = "", ...rest] = nsenterArgs(await this.hostPid(), [HOOKINIT, ...args]);
    return run(file, rest, { env: cleanEnv(env), timeoutMs: 120_000 });
  }

  /** Any command inside the namespace. */
  async nsenter(args: readonly string[]): Promise<RunResult> {
    const [file = "", ...rest] = nsenterArgs(await this.hostPid(), args);
    return run(file, rest);
  }

  /** `hookinit status`, parsed. */
  async status(): Promise<StatusJson> {
    const result = await this.client(["status"]);
    if (result.code !== 0) {
      throw new Error(`hookinit status exited ${result.code}: ${result.stderr}`);
    }
    return JSON.parse(result.stdout) as StatusJson;
  }

  /** Pids (host view) of the processes in hookinit's pid namespace, with their argv. */
  namespaceProcesses(): { pid: number; argv: string[] }[] {
    return this.pid === undefined ? [] : namespaceProcesses(this.pid);
  }

  /** Waits for the exit; kills everything and throws if it takes longer than `timeoutMs`. */
  async wait(timeoutMs = 60_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const detail = this.describe();
        void this.kill();
        reject(new Error(`did not exit within ${timeoutMs} ms: ${detail}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL to the whole tree (PID 1 of a namespace takes the namespace with it). */
  async kill(): Promise<void> {
    if (this.exit !== undefined || this.child.pid === undefined) return;
    killAll(processTree(this.child.pid).reverse());
    await Promise.race([this.exited.catch(() => undefined), sleep(10_000)]);
  }

  /** The command line, the tail of stdout, stderr and the exit, for failure messages. */
  describe(): string {
    const tail = this.lines.slice(-30).join("\n");
    return `argv: ${JSON.stringify(this.argv)}\nexit: ${JSON.stringify(this.exit && { code: this.exit.code, signal: this.exit.signal })}\nstdout (${this.lineCount} lines, last 30 kept):\n${tail}${this.reader.pending}\nstderr:\n${this.stderr}`;
  }
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

export interface StartHookinitOptions extends SpawnOptions {
  /** Run as PID 1 of a fresh pid namespace (default), or directly as a child of the test. */
  pid1?: boolean;
  /** Wrap the whole command line (e.g. in a shell pipeline); receives the argv, returns the argv to spawn. */
  wrap?: (argv: string[]) => string[];
}

/** Starts hookinit with these arguments, as PID 1 unless `pid1: false`. */
export function startHookinit(
  args: readonly string[],
  options: StartHookinitOptions = {},
): Hookinit {
  const { pid1 = true, wrap, ...spawnOptions } = options;
  let argv = pid1 ? [...UNSHARE, HOOKINIT, ...args] : [HOOKINIT, ...args];
  if (wrap) argv = wrap(argv);
  return new Hookinit(argv, spawnOptions);
}

/** Runs hookinit to its exit. */
export function runHookinit(
  args: readonly string[],
  options: StartHookinitOptions & { timeoutMs?: number } = {},
): Promise<Exit> {
  const { timeoutMs, ...rest } = options;
  return startHookinit(args, rest).wait(timeoutMs);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, ms. */
  elapsedMs: number;
}

/** Runs a command to completion (`input` on its stdin), collecting its output; kills it and fails after `timeoutMs`. */
export function run(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? WAIT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? cleanEnv(),
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr?.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `${file} ${args.join(" ")} did not finish in ${timeoutMs} ms; stderr: ${Buffer.concat(err)}`,
        ),
      );
    }, timeoutMs);
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

/**
 * A command on a pseudo-terminal: `script -qfec COMMAND /dev/null`, with
 * script's stdin a pipe we type into and its output collected. expect()
 * consumes the output, so each pattern is looked for after the last match.
 */
export class TerminalSession {
  readonly child: ChildProcess;
  output = "";
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly finished: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private cursor = 0;
  /** hookinit pids seen under script: they may outlive it. */
  private readonly hookinits = new Set<number>();

  constructor(
    readonly argv: readonly string[],
    env: Record<string, string> = {},
  ) {
    this.child = spawn("script", ["-qfec", shellQuote(argv), "/dev/null"], {
      stdio: ["pipe", "pipe", "pipe"],
      env: cleanEnv({ TERM: process.env.TERM ?? "dumb", ...env }),
      cwd: ROOT,
    });
    const collect = (chunk: string) => {
      this.output += chunk;
    };
    this.child.stdout?.setEncoding("utf8").on("data", collect);
    this.child.stderr?.setEncoding("utf8").on("data", collect);
    this.finished = new Promise((resolve, reject) => {
      this.child.on("error", reject);
      this.child.on("close", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    // Stays registered after script exits: hookinit may outlive it.
    running.add(this);
  }

  type(text: string): void {
    this.child.stdin?.write(text);
  }

  /** Waits for `pattern` in the output after the previous match. */
  async expect(pattern: RegExp, timeoutMs = WAIT_MS): Promise<RegExpExecArray> {
    const match = await waitFor(
      `terminal output matching ${pattern}`,
      () => {
        const found = new RegExp(pattern.source, pattern.flags.replace("g", "")).exec(
          this.output.slice(this.cursor),
        );
        if (!found && this.exit) throw new Error(`the terminal closed first:\n${this.describe()}`);
        return found;
      },
      timeoutMs,
      () => this.describe(),
    );
    this.cursor += match.index + match[0].length;
    return match;
  }

  /** Processes under script (script itself first). */
  tree(): number[] {
    const pids = this.child.pid === undefined || this.exit ? [] : processTree(this.child.pid);
    for (const pid of pids) if (isHookinit(pid)) this.hookinits.add(pid);
    return pids;
  }

  async hookinitPid(timeoutMs = WAIT_MS): Promise<number> {
    return waitFor(
      "hookinit on the terminal",
      () => this.tree().find(isHookinit),
      timeoutMs,
      () => this.describe(),
    );
  }

  /** Waits for the session to end; kills it and throws after `timeoutMs`. */
  async wait(timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const detail = this.describe();
        this.kill();
        reject(new Error(`the terminal session did not end within ${timeoutMs} ms:\n${detail}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.finished, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL to script and everything under it, and to a hookinit that outlived it. */
  kill(): void {
    const pids = [...this.tree()];
    for (const pid of this.hookinits) if (isHookinit(pid)) pids.push(...processTree(pid));
    killAll([...new Set(pids)]);
  }

  describe(): string {
    return `${JSON.stringify(this.argv)}\n--- terminal ---\n${JSON.stringify(this.output)}\n--- exit --- ${JSON.stringify(this.exit)}`;
  }
}
