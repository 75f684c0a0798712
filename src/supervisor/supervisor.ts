import type { Logger } from "../log/logger.js";
import type { ReapedChild } from "./native.js";
import type { Reaper } from "./reaper.js";
import { type RewriteTable, rewrite, type SignalName, signalName } from "./signals.js";

export interface StopPolicy {
  graceSeconds: number;
  stopSignal: SignalName;
  rewrites: RewriteTable;
  /** Signal only the program instead of its whole process group. */
  singleChild: boolean;
}

/**
 * running  -> the program runs
 * stopping -> a stop was triggered; the stop signal has been sent and the
 *             grace budget is counting down
 * exited   -> the program exited; the rest of its group is being stopped
 * done     -> nothing of the group is left; hookinit exits with `exitCode`
 */
export type Phase = "running" | "stopping" | "exited" | "done";

/** After SIGKILL, how long we wait for the group before exiting anyway. */
const AFTER_KILL_MS = 2000;
const GROUP_POLL_MS = 20;

/** `128+N` for death by signal N, as shells and tini report it. */
export function exitCodeOf(child: ReapedChild): number {
  return child.code ?? 128 + (child.signal ?? 0);
}

/**
 * Owns the program's lifecycle after it was spawned: forwards signals, runs
 * the stop sequence under one grace budget, and after the program exits
 * stops the rest of its process group before hookinit exits (tini #180,
 * dumb-init #212: an init that exits first leaves the group to be killed
 * without a chance to clean up).
 */
export class Supervisor {
  phase: Phase = "running";
  private graceTimer: NodeJS.Timeout | undefined;
  private graceStartedAt: number | undefined;
  private killedAt: number | undefined;
  private programExit: ReapedChild | undefined;
  private finish!: (exitCode: number) => void;
  /** Resolves with hookinit's exit code. */
  readonly done = new Promise<number>((resolve) => {
    this.finish = resolve;
  });

  constructor(
    readonly pid: number,
    private readonly policy: StopPolicy,
    private readonly log: Logger,
    private readonly reaper: Reaper,
  ) {}

  onSignal(signal: SignalName): void {
    if (signal === this.policy.stopSignal) {
      this.log.info({ signal }, "stop signal received");
      this.requestStop(signal);
      return;
    }
    this.forward(signal, this.policy.singleChild ? "program" : "group");
  }

  /** The first stop trigger starts the grace budget; later ones join it. */
  requestStop(trigger: string): void {
    if (this.phase !== "running") {
      this.log.debug({ trigger, phase: this.phase }, "stop already under way");
      return;
    }
    this.phase = "stopping";
    this.startGrace();
    this.forward(this.policy.stopSignal, this.policy.singleChild ? "program" : "group");
  }

  onProgramExit(child: ReapedChild): void {
    this.programExit = child;
    const signal = child.signal === null ? undefined : signalName(child.signal);
    this.log.info(
      {
        pid: child.pid,
        code: child.code,
        signal: signal ?? child.signal,
        exitCode: exitCodeOf(child),
      },
      "program exited",
    );
    this.phase = "exited";
    void this.stopRestOfGroup();
  }

  private startGrace(): void {
    if (this.graceStartedAt !== undefined) return;
    this.graceStartedAt = Date.now();
    this.graceTimer = setTimeout(() => this.killGroup(), this.policy.graceSeconds * 1000);
  }

  /** Grace is spent: SIGKILL to the whole group, whatever the mode. */
  private killGroup(): void {
    this.killedAt = Date.now();
    this.log.warn(
      { graceSeconds: this.policy.graceSeconds, pgid: this.pid },
      "grace period over: sending SIGKILL to the process group",
    );
    this.send(-this.pid, "SIGKILL");
  }

  private forward(received: SignalName, target: "program" | "group"): void {
    const signal = rewrite(this.policy.rewrites, received);
    if (signal === null) {
      this.log.debug({ signal: received }, "signal dropped by rewrite");
      return;
    }
    // Once the program is gone only its group can still be reached.
    const toGroup = target === "group" || this.programExit !== undefined;
    const sent = this.send(toGroup ? -this.pid : this.pid, signal);
    // SIGWINCH arrives on every terminal resize: keep it out of info logs.
    const level = received === "SIGWINCH" ? "debug" : "info";
    this.log[level](
      {
        signal: received,
        ...(signal !== received && { as: signal }),
        to: toGroup ? "group" : "program",
        pid: this.pid,
        delivered: sent,
      },
      "signal forwarded",
    );
  }

  /** kill(2) that never throws: a target that is gone is not an error. */
  private send(target: number, signal: SignalName | 0): boolean {
    try {
      process.kill(target, signal);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ESRCH") this.log.warn({ target, signal, code }, "could not send signal");
      return code === "EPERM";
    }
  }

  private groupAlive(): boolean {
    return this.send(-this.pid, 0);
  }

  /**
   * The program is gone; anything left in its group gets the stop signal,
   * then SIGKILL when the grace budget (started now if no stop was under
   * way) runs out. We exit when the group is empty.
   */
  private async stopRestOfGroup(): Promise<void> {
    this.reaper.sweep();
    if (this.groupAlive()) {
      const signal =
        rewrite(this.policy.rewrites, this.policy.stopSignal) ?? this.policy.stopSignal;
      this.log.info(
        { pgid: this.pid, signal },
        "program exited: stopping the rest of its process group",
      );
      this.startGrace();
      this.send(-this.pid, signal);
      while (this.groupAlive()) {
        if (this.killedAt !== undefined && Date.now() - this.killedAt > AFTER_KILL_MS) {
          this.log.warn({ pgid: this.pid }, "process group survived SIGKILL; exiting anyway");
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, GROUP_POLL_MS));
        this.reaper.sweep();
      }
    }
    clearTimeout(this.graceTimer);
    this.phase = "done";
    this.finish(exitCodeOf(this.programExit as ReapedChild));
  }
}
