import type { NativeHelper, ReapedChild } from "../native/helper.js";

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
 *
 * Normally the native helper's reaper thread does the reaping: it blocks in
 * waitid() and reaps each zombie as the kernel reports it, without waking
 * the event loop, so an orphan storm never piles up zombies. If that thread
 * cannot start, we sweep from the event loop on SIGCHLD and on a slow timer.
 */
export class Reaper {
  private readonly owned = new Set<number>();
  private ownedArray = new Int32Array(0);
  private readonly watchers = new Map<number, (child: ReapedChild) => void>();
  private orphansReaped = 0;
  private timer: NodeJS.Timeout | undefined;
  private threaded = false;

  constructor(private readonly native: NativeHelper) {}

  /**
   * Starts reaping; `programPid`'s exit goes to its watcher. Returns how,
   * and when the thread could not start, why (for the log).
   */
  start(programPid: number): { how: "thread" } | { how: "event loop"; why: string } {
    try {
      this.native.startReaper(programPid, (child) => this.deliver(child));
      this.threaded = true;
      return { how: "thread" };
    } catch (error) {
      process.on("SIGCHLD", () => this.sweep());
      this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
      this.sweep();
      return { how: "event loop", why: (error as Error).message };
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Spawns through libuv (`start` must fork synchronously and return the
   * child) and records the child as libuv's before the reaper thread may look
   * at zombies again: a child that exits at once must still be libuv's.
   */
  spawning<T extends { pid?: number | undefined }>(start: () => T): T {
    this.native.holdReaper();
    try {
      const child = start();
      if (child.pid !== undefined) this.own(child.pid);
      return child;
    } finally {
      this.native.releaseReaper();
    }
  }

  /** A pid libuv spawned: libuv must be the one to wait for it. */
  own(pid: number): void {
    this.owned.add(pid);
    this.publishOwned();
  }

  disown(pid: number): void {
    if (this.owned.delete(pid)) this.publishOwned();
  }

  /** Calls back with the exit status of a pid we spawned ourselves. */
  watch(pid: number, onExit: (child: ReapedChild) => void): void {
    this.watchers.set(pid, onExit);
  }

  /** Orphans reaped since the last call. */
  takeOrphanCount(): number {
    const count = this.orphansReaped + (this.threaded ? this.native.takeReapedOrphans() : 0);
    this.orphansReaped = 0;
    return count;
  }

  /** Reaps from the event loop; the reaper thread, when it runs, makes this unnecessary. */
  sweep(): void {
    if (this.threaded) return;
    for (const child of this.native.reap(this.ownedArray)) this.deliver(child);
  }

  private deliver(child: ReapedChild): void {
    const onExit = this.watchers.get(child.pid);
    if (onExit === undefined) {
      this.orphansReaped++;
      return;
    }
    this.watchers.delete(child.pid);
    onExit(child);
  }

  private publishOwned(): void {
    this.ownedArray = Int32Array.from(this.owned);
    this.native.setOwned(this.ownedArray);
  }
}
