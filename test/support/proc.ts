/** What the test (in the host's pid namespace) reads from /proc about processes. */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import { HOOKINIT } from "./hookinit.js";

export const SIGNALS = constants.signals;

export function signalNumber(name: NodeJS.Signals): number {
  return SIGNALS[name];
}

/** The bit for a signal in a /proc/PID/status signal mask. */
export function signalBit(name: NodeJS.Signals): bigint {
  return 1n << BigInt(signalNumber(name) - 1);
}

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

/** Fields of /proc/PID/stat after the command name: state, ppid, pgrp, tpgid. */
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

/** SIGKILL to every pid in the list that still exists. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
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
  // from a directory their user can reach). Once started, the directory's
  // entry executable has become its runtime, run by the directory's own ELF
  // loader: /proc/PID/exe is <dir>/lib/ld-linux-*.
  const exe = exeOf(pid);
  if (exe === undefined) return false;
  if (exe === hookinitPath() || exe.endsWith("/hookinit")) return true;
  return /\/lib\/ld-linux[^/]*$/.test(exe) && existsSync(join(dirname(exe), "hookinit-runtime"));
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

/** Pids (host view) of the processes in the pid namespace of `hostPid`, with their argv. */
export function namespaceProcesses(hostPid: number): { pid: number; argv: string[] }[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${hostPid}/ns/pid`);
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
