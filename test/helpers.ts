/**
 * Shared helpers for the end-to-end tests. They drive the built executable
 * (dist/hookinit) as a black box: no import from src/.
 *
 * Everything here waits by polling with generous timeouts; nothing sleeps a
 * fixed time or measures how fast hookinit is.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
} from "node:fs";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..");

/** The executable under test; E2E_HOOKINIT points the suite at another build. */
export const HOOKINIT = process.env.E2E_HOOKINIT ?? join(ROOT, "dist", "hookinit");

/** The C fixtures, compiled by test/global-setup.ts. */
export function fixture(name: string): string {
  return join(ROOT, "test", "fixtures", "bin", name);
}

/** How `unshare` makes hookinit PID 1 of a fresh pid namespace. */
export const UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"] as const;

export const SIGNALS = constants.signals;

export function signalNumber(name: NodeJS.Signals): number {
  return SIGNALS[name];
}

/** The bit for a signal in a /proc/PID/status signal mask. */
export function signalBit(name: NodeJS.Signals): bigint {
  return 1n << BigInt(signalNumber(name) - 1);
}

// ---- waiting ---------------------------------------------------------------

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `probe` until it returns something other than undefined, null or
 * false, and returns that. Throws after `timeoutMs` with `what` (and the
 * optional `explain()` output) in the message.
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 20_000,
  explain?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) {
      const detail = explain ? `\n${explain()}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(25);
  }
}

// ---- /proc -----------------------------------------------------------------

export interface ProcStatus {
  pid: number;
  name: string;
  /** One letter: R, S, D, T, Z, ... */
  state: string;
  ppid: number;
  /** Caught signals, as a bit mask (bit N-1 for signal N). */
  sigCgt: bigint;
  /** Signals pending for the whole process (kill(2) puts them here). */
  shdPnd: bigint;
}

/** /proc/PID/status as the test sees it; undefined when the process is gone. */
export function procStatus(pid: number, proc = "/proc"): ProcStatus | undefined {
  let text: string;
  try {
    text = readFileSync(join(proc, String(pid), "status"), "utf8");
  } catch {
    return undefined;
  }
  const field = (key: string) => new RegExp(`^${key}:\\s*(.*)$`, "m").exec(text)?.[1] ?? "";
  return {
    pid,
    name: field("Name"),
    state: field("State").charAt(0),
    ppid: Number(field("PPid")),
    sigCgt: BigInt(`0x${field("SigCgt") || "0"}`),
    shdPnd: BigInt(`0x${field("ShdPnd") || "0"}`),
  };
}

/** Every process in /proc (threads excluded). */
export function allProcesses(): ProcStatus[] {
  const result: ProcStatus[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const status = procStatus(Number(entry));
    if (status) result.push(status);
  }
  return result;
}

/** Processes whose parent is `ppid`, zombies included. */
export function childrenOf(ppid: number): ProcStatus[] {
  return allProcesses().filter((p) => p.ppid === ppid);
}

/** Zombies whose parent is `ppid`. */
export function zombieChildrenOf(ppid: number): ProcStatus[] {
  return childrenOf(ppid).filter((p) => p.state === "Z");
}

/** Whether `pid` still exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const status = procStatus(pid);
  return status !== undefined && status.state !== "Z";
}

/** The children of `pid` as /proc/PID/task/TID/children lists them. */
export function directChildren(pid: number): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const task of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
      for (const word of text.split(/\s+/)) if (word !== "") pids.push(Number(word));
    } catch {
      // the thread ended meanwhile
    }
  }
  return pids;
}

/** `pid` and all its descendants, breadth first (parents before children). */
export function processTree(pid: number): number[] {
  const seen: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    if (seen.includes(next)) continue;
    seen.push(next);
    queue.push(...directChildren(next));
  }
  return seen;
}

function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
  } catch {
    return undefined;
  }
}

let hookinitReal: string | undefined;
function hookinitPath(): string {
  hookinitReal ??= realpathSync(HOOKINIT);
  return hookinitReal;
}

/** Whether `pid` runs the hookinit executable. */
export function isHookinit(pid: number): boolean {
  // The executable under test, or a copy of it (the non-root tests run one
  // from a directory their user can reach).
  const exe = exeOf(pid);
  return exe === hookinitPath() || exe?.endsWith("/hookinit") === true;
}

/** The first process in the tree under `root` that runs the hookinit executable. */
export function findHookinit(root: number): number | undefined {
  return processTree(root).find(isHookinit);
}

/** Counts `State: Z` in the /proc of hookinit's pid namespace, the way a runtime's exec would. */
export function zombiesInNamespace(hookinitHostPid: number): number {
  const out = execFileSync(
    "nsenter",
    [
      "--target",
      String(hookinitHostPid),
      "--pid",
      "--mount",
      "sh",
      "-c",
      "cat /proc/[0-9]*/status 2>/dev/null | grep -c '^State:[[:space:]]*Z' || true",
    ],
    { encoding: "utf8" },
  );
  return Number(out.trim());
}

// ---- logs ------------------------------------------------------------------

/** One of hookinit's own JSON log lines. */
export interface LogRecord {
  level: string;
  time: string;
  name: string;
  msg: string;
  [key: string]: unknown;
}

/** Parses one stdout line as a hookinit log record; undefined for the program's own lines. */
export function parseLogLine(line: string): LogRecord | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const record = JSON.parse(line) as LogRecord | null;
    return record !== null && typeof record === "object" && record.name === "hookinit"
      ? record
      : undefined;
  } catch {
    return undefined;
  }
}

/** hookinit's JSON log lines in `stdout`, in order; the program's own lines are skipped. */
export function parseLogLines(stdout: string): LogRecord[] {
  return stdout
    .split(/\r?\n/)
    .map(parseLogLine)
    .filter((record): record is LogRecord => record !== undefined);
}

/** The stdout lines that are not hookinit's JSON log lines. */
export function programLines(stdout: string): string[] {
  return stdout.split(/\r?\n/).filter((line) => line !== "" && parseLogLine(line) === undefined);
}

// ---- running hookinit ------------------------------------------------------

export interface StartOptions {
  /** Run as PID 1 of a fresh pid namespace (default), or directly as a child of the test. */
  pid1?: boolean;
  /** Extra environment; HOOKINIT_* from the test's own environment is never passed on. */
  env?: Record<string, string>;
  cwd?: string;
  /** Wrap the whole command line (e.g. in a shell pipeline); receives the argv, returns the argv to spawn. */
  wrap?: (argv: string[]) => string[];
}

export interface Finished {
  /** Exit code of the spawned command (unshare passes hookinit's through). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit, for lower-bound checks only. */
  elapsedMs: number;
}

/** Anything a test started that afterEach must not leave behind. */
interface Killable {
  kill(): void;
}
const running = new Set<Killable>();

/** A started hookinit (under unshare unless pid1 is false). */
export class Hookinit {
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  stdout = "";
  stderr = "";
  exit: Finished | undefined;
  readonly finished: Promise<Finished>;
  private hostPidCache: number | undefined;

  constructor(
    readonly args: readonly string[],
    readonly options: StartOptions = {},
  ) {
    const pid1 = options.pid1 ?? true;
    let argv = pid1 ? [...UNSHARE, HOOKINIT, ...args] : [HOOKINIT, ...args];
    if (options.wrap) argv = options.wrap(argv);
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("HOOKINIT_")) env[key] = value;
    }
    Object.assign(env, options.env);
    const [file = "", ...rest] = argv;
    this.child = spawn(file, rest, {
      stdio: ["ignore", "pipe", "pipe"],
      env,
      cwd: options.cwd ?? ROOT,
    });
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stdout += chunk;
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
    });
    this.finished = new Promise<Finished>((resolve, reject) => {
      this.child.on("error", reject);
      // "close": the process exited and its stdout and stderr are drained.
      this.child.on("close", (code, signal) => {
        this.exit = {
          code,
          signal,
          stdout: this.stdout,
          stderr: this.stderr,
          elapsedMs: Date.now() - this.startedAt,
        };
        running.delete(this);
        resolve(this.exit);
      });
    });
    running.add(this);
  }

  /** hookinit's pid as the test (the host) sees it. */
  async hostPid(timeoutMs = 20_000): Promise<number> {
    if (this.hostPidCache !== undefined) return this.hostPidCache;
    const pid = await waitFor(
      () => {
        if (this.exit) throw new Error(`hookinit exited before it was found: ${this.describe()}`);
        return this.child.pid === undefined ? undefined : findHookinit(this.child.pid);
      },
      "the hookinit process",
      timeoutMs,
      () => this.describe(),
    );
    this.hostPidCache = pid;
    return pid;
  }

  /**
   * Waits until hookinit listens for signals (SIGHUP and SIGTERM caught).
   * As PID 1 a signal that arrives before that would be dropped by the kernel.
   */
  async handlersInstalled(timeoutMs = 20_000): Promise<number> {
    const pid = await this.hostPid(timeoutMs);
    const wanted = signalBit("SIGHUP") | signalBit("SIGTERM");
    await waitFor(
      () => ((procStatus(pid)?.sigCgt ?? 0n) & wanted) === wanted,
      "hookinit's signal handlers",
      timeoutMs,
      () => this.describe(),
    );
    return pid;
  }

  /** Waits for hookinit's JSON log line with this msg; returns it. */
  async logLine(msg: string | RegExp, timeoutMs = 20_000): Promise<LogRecord> {
    return waitFor(
      () => {
        const found = this.logs().find((r) =>
          typeof msg === "string" ? r.msg === msg : msg.test(r.msg),
        );
        if (!found && this.exit) throw new Error(`hookinit exited first: ${this.describe()}`);
        return found;
      },
      `log line ${String(msg)}`,
      timeoutMs,
      () => this.describe(),
    );
  }

  /** Waits until stdout matches. */
  async output(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
    return waitFor(
      () => {
        const match = pattern.exec(this.stdout);
        if (!match && this.exit) throw new Error(`hookinit exited first: ${this.describe()}`);
        return match;
      },
      `stdout matching ${pattern}`,
      timeoutMs,
      () => this.describe(),
    );
  }

  logs(): LogRecord[] {
    return parseLogLines(this.stdout);
  }

  /** Sends a signal to hookinit itself, from outside its namespace. */
  async signal(signal: NodeJS.Signals | number): Promise<void> {
    process.kill(await this.hostPid(), signal);
  }

  /**
   * Sends a signal and waits until the kernel handed it to hookinit (no
   * longer pending): a signal sent after that is handled after this one.
   */
  async signalDelivered(signal: NodeJS.Signals): Promise<void> {
    const pid = await this.hostPid();
    process.kill(pid, signal);
    await waitFor(
      () => ((procStatus(pid)?.shdPnd ?? 0n) & signalBit(signal)) === 0n,
      `${signal} to be delivered to hookinit`,
      20_000,
      () => this.describe(),
    );
  }

  /** Waits for the exit; kills everything and throws if it takes longer than `timeoutMs`. */
  async wait(timeoutMs = 30_000): Promise<Finished> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const detail = this.describe();
        this.kill();
        reject(new Error(`hookinit did not exit within ${timeoutMs} ms: ${detail}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.finished, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL to hookinit and everything under it (a pid namespace dies with its PID 1). */
  kill(): void {
    if (this.child.pid === undefined || this.exit) return;
    killAll(processTree(this.child.pid));
  }

  describe(): string {
    return `${JSON.stringify(this.args)}\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}\n--- exit --- ${JSON.stringify(this.exit && { code: this.exit.code, signal: this.exit.signal })}`;
  }
}

/** Starts hookinit with these arguments, as PID 1 unless `pid1: false`. */
export function startHookinit(args: readonly string[], options: StartOptions = {}): Hookinit {
  return new Hookinit(args, options);
}

/** Runs hookinit to its exit. */
export async function runHookinit(
  args: readonly string[],
  options: StartOptions & { timeoutMs?: number } = {},
): Promise<Finished> {
  const { timeoutMs, ...rest } = options;
  return startHookinit(args, rest).wait(timeoutMs);
}

/** Kills whatever a test left running; call from afterEach. */
export function killLeftovers(): void {
  for (const process of running) process.kill();
  running.clear();
}

/** SIGKILL to every pid in the list that still exists. */
function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

// ---- a terminal ------------------------------------------------------------

/** Quotes words for sh -c. */
export function shellQuote(words: readonly string[]): string {
  return words
    .map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`))
    .join(" ");
}

/** Fields of /proc/PID/stat after the command name: state, ppid, pgrp, session, tty, tpgid. */
export function procStat(
  pid: number,
): { state: string; ppid: number; pgrp: number; tpgid: number; comm: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(")");
  const comm = text.slice(text.indexOf("(") + 1, close);
  const [state = "", ppid, pgrp, , , tpgid] = text.slice(close + 2).split(" ");
  return { state, comm, ppid: Number(ppid), pgrp: Number(pgrp), tpgid: Number(tpgid) };
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
    const childEnv: NodeJS.ProcessEnv = { TERM: "dumb" };
    for (const [key, value] of Object.entries(process.env)) {
      if (!key.startsWith("HOOKINIT_")) childEnv[key] = value;
    }
    Object.assign(childEnv, env);
    this.child = spawn("script", ["-qfec", shellQuote(argv), "/dev/null"], {
      stdio: ["pipe", "pipe", "pipe"],
      env: childEnv,
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
  async expect(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
    const match = await waitFor(
      () => {
        const found = new RegExp(pattern.source, pattern.flags.replace("g", "")).exec(
          this.output.slice(this.cursor),
        );
        if (!found && this.exit) throw new Error(`the terminal closed first:\n${this.describe()}`);
        return found;
      },
      `terminal output matching ${pattern}`,
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

  async hookinitPid(timeoutMs = 20_000): Promise<number> {
    return waitFor(
      () => this.tree().find(isHookinit),
      "hookinit on the terminal",
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

// ---- files -----------------------------------------------------------------

const tempDirs: string[] = [];

/** A fresh temporary directory, removed by removeTempDirs(). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hookinit-e2e-"));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The lines of a file, or none while it does not exist. */
export function readLines(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** Lines of stderr, without the final empty one. */
export function lines(text: string): string[] {
  return text.split("\n").filter((line, i, all) => !(line === "" && i === all.length - 1));
}
