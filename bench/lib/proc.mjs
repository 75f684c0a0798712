// Starting, timing and stopping processes for the benchmark.
//
// Every init runs under our `launch` helper (bench/c/launch.c): as PID 1 of
// a fresh pid namespace with its own /proc (what `unshare --pid --fork
// --mount-proc` does), or exec'd in place as a plain child.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOOKINIT, helper, hookinitExe, isHookinit, PEERS } from "./config.mjs";

/** A scratch directory for FIFOs, sockets, stamps and configs; removed at the end. */
export class Scratch {
  constructor() {
    this.dir = mkdtempSync("/tmp/hookinit-bench-");
    this.counter = 0;
  }

  /** A fresh, unused path in the scratch directory. */
  path(name) {
    this.counter += 1;
    return join(this.dir, `${this.counter}-${name}`);
  }

  remove() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The environment every measured process gets: ours, less anything that
 * would change hookinit's or Node's behaviour behind the report's back.
 */
export const childEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([key]) => !key.startsWith("HOOKINIT_") && key !== "NODE_OPTIONS" && !key.startsWith("TINI_"),
  ),
);

/**
 * The init's own argv up to and including `--`; the program follows.
 * As a plain child, tini needs -s to become a subreaper (hookinit does it by
 * itself; dumb-init and catatonit run as they come).
 */
export function initArgv(init, { mode = "pid1", socket, config } = {}) {
  switch (init) {
    case "tini":
      return [PEERS.tini.bin, ...(mode === "child" ? ["-s"] : []), "--"];
    case "dumb-init":
      return [PEERS["dumb-init"].bin, "--"];
    case "catatonit":
      return [PEERS.catatonit.bin, "--"];
    default:
      if (isHookinit(init)) {
        return [
          hookinitExe(init),
          "--socket",
          socket,
          ...(config ? ["--config", config] : []),
          "--",
        ];
      }
      throw new Error(`unknown init ${init}`);
  }
}

/** Arguments for `launch`. */
export function launchArgs({ mode = "pid1", stamp, pidfile }, argv) {
  return [
    ...(mode === "pid1" ? ["--pidns"] : []),
    ...(stamp ? ["--stamp", stamp] : []),
    ...(pidfile ? ["--pidfile", pidfile] : []),
    "--",
    ...argv,
  ];
}

/** Runs a command to completion; throws if it could not start or timed out. */
export function runSync(
  cmd,
  args,
  { timeoutMs = 120_000, env = childEnv, stdin = "ignore", stdout = "pipe" } = {},
) {
  const result = spawnSync(cmd, args, {
    encoding: "utf8",
    env,
    stdio: [stdin, stdout, "pipe"],
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new Error(`${cmd} ${args.join(" ")}: ${result.error.message}`);
  return {
    status: result.status,
    signal: result.signal,
    stdout: result.stdout ?? "",
    stderr: result.stderr ?? "",
  };
}

export function mkfifo(path) {
  const result = spawnSync("mkfifo", ["-m", "600", path], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`mkfifo ${path}: ${result.stderr}`);
}

/** The number in a file, or undefined if it is not there (yet). */
export function readNumber(path) {
  try {
    const value = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns something other than undefined/false. */
export async function waitFor(
  check,
  { timeoutMs = 10_000, intervalMs = 5, what = "condition" } = {},
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Launched inits still running: killed if the benchmark is interrupted. */
const running = new Set();

export function killAllRunning() {
  for (const launched of running) launched.kill("SIGKILL");
}

/**
 * Starts `launch [--pidns] -- INIT... -- PROGRAM...` in the background.
 * Returns a handle with the init's pid (as seen from here), its exit, its
 * stderr, and stop().
 */
export function startInit(
  scratch,
  { init, mode = "pid1", program, config, socket, stdout = "ignore", launcher = [] },
) {
  const pidfile = scratch.path("pid");
  const sock = isHookinit(init) ? (socket ?? scratch.path("control.sock")) : undefined;
  const argv = [...initArgv(init, { mode, socket: sock, config }), ...program];
  // `launcher` wraps launch itself, e.g. the capture helper of figure 8.
  const command = [...launcher, helper("launch"), ...launchArgs({ mode, pidfile }, argv)];
  const child = spawn(command[0], command.slice(1), {
    env: childEnv,
    stdio: ["ignore", stdout, "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    if (stderr.length < 16_384) stderr += chunk;
  });
  const exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
  });
  const handle = {
    init,
    socket: sock,
    pidfile,
    child,
    exited,
    stderr: () => stderr.trim(),
    pid: () => readNumber(pidfile),
    /** Waits for the pidfile (launch writes it before exec/after fork). */
    waitPid: () => waitFor(() => readNumber(pidfile), { what: `${init}'s pidfile` }),
    kill(signal) {
      const pid = readNumber(pidfile);
      try {
        if (pid !== undefined) process.kill(pid, signal);
      } catch {
        // Already gone.
      }
      if (signal === "SIGKILL") child.kill("SIGKILL");
    },
    /** SIGTERM to the init; SIGKILL after timeoutMs. Resolves with its exit. */
    async stop({ signal = "SIGTERM", timeoutMs = 35_000 } = {}) {
      handle.kill(signal);
      const timer = setTimeout(() => handle.kill("SIGKILL"), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  running.add(handle);
  exited.then(() => running.delete(handle));
  return handle;
}

/** Writes a hook configuration (the pod `lifecycle:` schema, as YAML). */
export function writeHookConfig(scratch, hooks) {
  const path = scratch.path("hooks.yaml");
  const yaml = Object.entries(hooks)
    .map(([name, command]) => `${name}:\n  exec:\n    command: ${JSON.stringify(command)}\n`)
    .join("");
  writeFileSync(path, yaml);
  return path;
}

/** Environment for `hookinit hook|status` clients of one supervisor. */
export const clientEnv = (socket) => ({ ...childEnv, HOOKINIT_SOCKET: socket });

/** `hookinit status` as JSON, or undefined while the supervisor cannot answer. */
export function hookinitStatus(socket) {
  if (!existsSync(socket)) return undefined;
  const result = spawnSync(HOOKINIT, ["status"], {
    encoding: "utf8",
    env: clientEnv(socket),
    timeout: 10_000,
  });
  if (result.status !== 0) return undefined;
  try {
    return JSON.parse(result.stdout);
  } catch {
    return undefined;
  }
}

/**
 * Times whole processes with the `wall` helper: COUNT runs one after the
 * other, or all at once with parallel. Returns [{ ns, exit }] per run, or
 * { ns, failures, codes } for a parallel batch.
 */
export function wall(argv, { count = 1, parallel = false, env = childEnv, stdoutFile } = {}) {
  const args = [
    ...(parallel ? ["--parallel"] : []),
    ...(stdoutFile ? ["--stdout", stdoutFile] : []),
    String(count),
    "--",
    ...argv,
  ];
  const result = runSync(helper("wall"), args, { env, timeoutMs: 600_000 });
  if (result.status !== 0) throw new Error(`wall ${argv.join(" ")}: ${result.stderr}`);
  const lines = result.stdout.trim().split("\n");
  if (parallel) {
    const [ns, failures] = lines[0].split(" ").map(Number);
    const codes = lines.slice(1).map((line) => Number(line.split(" ")[1]));
    return { ns, failures, codes, stderr: result.stderr };
  }
  return {
    runs: lines.map((line) => {
      const [ns, exit] = line.split(" ").map(Number);
      return { ns, exit };
    }),
    stderr: result.stderr,
  };
}

/** `[a, b, c]` rotated by i: interleaves variants so drift hits all alike. */
export function rotate(list, i) {
  const k = i % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}
