import type { NativeHelper, ReapedChild } from "./native.js";

/** How often we sweep without a SIGCHLD: SIGCHLD coalesces, so some exits send none. */
export const SWEEP_INTERVAL_MS = 1000;

/**
 * Collects zombies, the job a PID 1 exists for.
 *
 * libuv waits only for the children it spawned (hook handlers), and a
 * waitpid(-1) here would steal their exits and leave their handles hanging.
 * So libuv's pids are "owned" and never touched; everything else, the
 * program (spawned by the native helper) and every orphan reparented to us,
 * is reaped here.
 */
export class Reaper {
  private readonly owned = new Set<number>();
  private ownedArray = new Int32Array(0);
  private readonly watchers = new Map<number, (child: ReapedChild) => void>();
  private orphansReaped = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly native: NativeHelper) {}

  /** Sweeps on every SIGCHLD and on a slow timer. */
  start(): void {
    process.on("SIGCHLD", () => this.sweep());
    this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweep();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A pid libuv spawned: libuv must be the one to wait for it. */
  own(pid: number): void {
    this.owned.add(pid);
    this.ownedArray = Int32Array.from(this.owned);
  }

  disown(pid: number): void {
    if (this.owned.delete(pid)) this.ownedArray = Int32Array.from(this.owned);
  }

  /** Calls back with the exit status of a pid we spawned ourselves. */
  watch(pid: number, onExit: (child: ReapedChild) => void): void {
    this.watchers.set(pid, onExit);
  }

  /** Orphans reaped since the last call. */
  takeOrphanCount(): number {
    const count = this.orphansReaped;
    this.orphansReaped = 0;
    return count;
  }

  sweep(): void {
    for (const child of this.native.reap(this.ownedArray)) {
      const onExit = this.watchers.get(child.pid);
      if (onExit === undefined) {
        this.orphansReaped++;
        continue;
      }
      this.watchers.delete(child.pid);
      onExit(child);
    }
  }
}
