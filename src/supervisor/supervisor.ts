import { EXIT, signalExitCode } from "../core/exit-codes.js";
import {
  HOOK_NAMES,
  type HookName,
  type HookStatus,
  type OutputSubscriber,
  type ResultEvent,
  type Status,
} from "../core/hooks.js";
import { VERSION } from "../core/version.js";
import type { HookConfig } from "../hooks/config.js";
import type { LogOutput } from "../log/logger.js";
import type { ReapedChild } from "../native/helper.js";
import { HookRun } from "./hook-run.js";
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
 * starting    the program runs; postStart has not succeeded yet
 * running     postStart succeeded (or there is none): ready
 * stopping    a stop was triggered; preStop runs or ran, the stop signal is not sent yet
 * terminating the stop signal was sent; waiting for the program to exit
 * exited      the program exited; postStop runs and the rest of its group is stopped
 * done        nothing is left; hookinit exits with `exitCode`
 */
export type Phase = "starting" | "running" | "stopping" | "terminating" | "exited" | "done";

/** After preStop the program always gets this long before SIGKILL (the kubelet keeps 2 s). */
export const MIN_STOP_WINDOW_MS = 2000;

/** How long the stop signal waits for our log lines to reach stdout, at most. */
const LOG_DRAIN_WAIT_MS = 500;

/** After SIGKILL, how long we wait for the group before exiting anyway. */
const AFTER_KILL_MS = 2000;
const GROUP_POLL_MS = 20;

/** The program's exit code, or `128+N` for death by signal N. */
export function exitCodeOf(child: ReapedChild): number {
  return child.code ?? signalExitCode(child.signal ?? 0);
}

/**
 * The program's lifecycle after it was spawned, as one state machine:
 * postStart once per start; preStop once, triggered by a client call or by
 * the stop signal, whichever comes first; the stop signal only after preStop;
 * one grace budget from the first trigger, SIGKILL to the group at its end;
 * after the program exits, postStop and the rest of its group, then exit.
 */
export class Supervisor {
  phase: Phase = "starting";
  private readonly runs = new Map<HookName, HookRun>();
  /** Aborted when the grace budget is spent: running hooks stop. */
  private readonly grace = new AbortController();
  private deadline: number | undefined;
  private stopTrigger: string | undefined;
  /** The runtime (or a failed postStart) wants the program stopped. */
  private stopWanted = false;
  private preStopFinished = false;
  private stopSignalSentAt: number | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private killedAt: number | undefined;
  private programExit: ReapedChild | undefined;
  private postStartFailed = false;
  private finish!: (exitCode: number) => void;
  /** Resolves with hookinit's exit code. */
  readonly done = new Promise<number>((resolve) => {
    this.finish = resolve;
  });

  constructor(
    readonly pid: number,
    private readonly policy: StopPolicy,
    private readonly hooks: HookConfig,
    private readonly output: LogOutput,
    private readonly reaper: Pick<Reaper, "sweep" | "spawning" | "disown">,
    private readonly kill: (target: number, signal: SignalName | 0) => void = (target, signal) =>
      process.kill(target, signal),
  ) {}

  private get log() {
    return this.output.logger;
  }

  /** Right after spawn: postStart starts now and may race the program, as in Kubernetes. */
  start(): void {
    if (this.hooks.postStart === undefined) {
      this.phase = "running";
      return;
    }
    void this.runHook("postStart", "started").done.then((result) => {
      if (result.exitCode === 0) {
        if (this.phase === "starting") this.phase = "running";
        return;
      }
      this.postStartFailed = true;
      this.log.error({ exitCode: result.exitCode }, "postStart failed: stopping the program");
      this.stopWanted = true;
      this.requestStop("postStart failed");
    });
  }

  onSignal(signal: SignalName): void {
    if (signal !== this.policy.stopSignal) {
      this.forward(signal);
      return;
    }
    this.log.info({ signal, phase: this.phase }, "stop signal received");
    this.stopWanted = true;
    if (this.phase === "starting" || this.phase === "running") this.requestStop("signal");
    else if (this.phase === "stopping" && this.preStopFinished) this.sendStopSignal();
    // terminating, exited, done: the one stop signal already went out.
  }

  /**
   * A client's `hookinit hook NAME`. Joins the run if there is one; a preStop
   * call is a stop trigger. Resolves with the run's result.
   */
  async callHook(name: HookName, subscriber: OutputSubscriber): Promise<ResultEvent> {
    if (name === "preStop") {
      if (this.programExit !== undefined && !this.runs.has("preStop")) {
        return {
          type: "result",
          hook: name,
          exitCode: EXIT.FAILURE,
          durationMs: 0,
          error: `the program already exited (exit code ${exitCodeOf(this.programExit)}); preStop runs only before it stops`,
        };
      }
      this.requestStop("client");
    }
    const run = this.runs.get(name);
    if (run === undefined) {
      subscriber.send([
        {
          type: "output",
          stream: "stderr",
          line:
            name === "preStop"
              ? "hookinit: no preStop hook is configured; nothing to run, but the stop sequence has begun: the program gets the stop signal when it reaches hookinit, and SIGKILL when the grace ends"
              : `hookinit: no ${name} hook is configured; nothing to run`,
        },
      ]);
      return { type: "result", hook: name, exitCode: 0, durationMs: 0 };
    }
    const unsubscribe = run.subscribe(subscriber);
    const result = await run.done;
    unsubscribe();
    return result;
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
    this.startGrace();
    void this.finishAfterExit();
  }

  status(): Status {
    const hooks = Object.fromEntries(
      HOOK_NAMES.map((name) => [name, this.hookStatus(name)]),
    ) as Record<HookName, HookStatus>;
    return {
      version: VERSION,
      phase: this.phase,
      ready: this.phase === "running",
      program: {
        pid: this.pid,
        running: this.programExit === undefined,
        ...(this.programExit !== undefined && { exitCode: exitCodeOf(this.programExit) }),
      },
      hooks,
      ...(this.deadline !== undefined && {
        stop: {
          trigger: this.stopTrigger ?? "program exited",
          graceSeconds: this.policy.graceSeconds,
          secondsLeft: Math.max(0, (this.deadline - Date.now()) / 1000),
        },
      }),
    };
  }

  private hookStatus(name: HookName): HookStatus {
    const hook = this.hooks[name];
    if (hook === undefined) return { state: "not-configured" };
    const run = this.runs.get(name);
    if (run === undefined) return { state: "pending", handler: hook.handler.type };
    const outcome = run.outcome;
    return {
      state: run.state,
      handler: hook.handler.type,
      trigger: run.trigger,
      ...(outcome !== undefined && { exitCode: outcome.exitCode, durationMs: outcome.durationMs }),
      ...(outcome?.error !== undefined && { error: outcome.error }),
    };
  }

  /** Starts a hook's one run, or returns the run already started. */
  private runHook(name: HookName, trigger: string): HookRun {
    const existing = this.runs.get(name);
    if (existing !== undefined) return existing;
    const hook = this.hooks[name];
    if (hook === undefined) throw new Error(`${name} is not configured`);
    const run = new HookRun(hook, trigger, {
      log: this.output,
      grace: this.grace.signal,
      spawn: (start) => this.reaper.spawning(start),
      exited: (pid) => this.reaper.disown(pid),
    });
    this.runs.set(name, run);
    return run;
  }

  /**
   * The first stop trigger: the grace budget starts, preStop runs. The stop
   * signal follows when preStop has finished and the stop is wanted (the
   * runtime's stop signal arrived, or postStart failed). After a client's
   * preStop call we wait for the runtime's own signal, as in Kubernetes,
   * with SIGKILL at the end of the grace as the backstop.
   */
  private requestStop(trigger: string): void {
    if (this.phase !== "starting" && this.phase !== "running") return;
    this.phase = "stopping";
    this.stopTrigger = trigger;
    this.startGrace();
    this.log.info({ trigger, graceSeconds: this.policy.graceSeconds }, "stop sequence started");
    const preStop = this.hooks.preStop === undefined ? undefined : this.runHook("preStop", trigger);
    const afterPreStop = () => {
      this.preStopFinished = true;
      if (this.stopWanted && this.phase === "stopping") this.sendStopSignal();
    };
    if (preStop === undefined) afterPreStop();
    else void preStop.done.then(afterPreStop);
  }

  private startGrace(): void {
    if (this.deadline !== undefined) return;
    this.deadline = Date.now() + this.policy.graceSeconds * 1000;
    this.graceTimer = setTimeout(() => this.onGraceSpent(), this.policy.graceSeconds * 1000);
  }

  /** The grace budget is spent: hooks stop, the stop signal goes out if it has not. */
  private onGraceSpent(): void {
    this.log.warn({ graceSeconds: this.policy.graceSeconds }, "grace period spent");
    this.grace.abort("grace");
    if (this.stopSignalSentAt === undefined) this.sendStopSignal();
  }

  /** The one stop signal; SIGKILL follows at the deadline, but never sooner than 2 s. */
  private sendStopSignal(): void {
    if (this.stopSignalSentAt !== undefined) return;
    this.stopSignalSentAt = Date.now();
    if (this.phase === "stopping") this.phase = "terminating";
    // Hook output first, then the signal: what preStop wrote reaches the
    // container log before anything the program writes in reaction.
    const wholeGroup = this.programExit !== undefined;
    let capTimer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((resolve) => {
      capTimer = setTimeout(resolve, LOG_DRAIN_WAIT_MS);
    });
    void Promise.race([this.output.drained(), cap]).then(() => {
      clearTimeout(capTimer);
      this.forward(this.policy.stopSignal, wholeGroup);
    });
    const killAt = Math.max(this.deadline ?? 0, this.stopSignalSentAt + MIN_STOP_WINDOW_MS);
    this.killTimer = setTimeout(() => this.killGroup(), killAt - Date.now());
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

  private forward(received: SignalName, wholeGroup = false): void {
    const signal = rewrite(this.policy.rewrites, received);
    if (signal === null) {
      this.log.debug({ signal: received }, "signal dropped by rewrite");
      return;
    }
    // Once the program is gone only its group can still be reached.
    const toGroup = wholeGroup || !this.policy.singleChild || this.programExit !== undefined;
    const delivered = this.send(toGroup ? -this.pid : this.pid, signal);
    // SIGWINCH arrives on every terminal resize: keep it out of info logs.
    const level = received === "SIGWINCH" ? "debug" : "info";
    this.log[level](
      {
        signal: received,
        ...(signal !== received && { as: signal }),
        to: toGroup ? "group" : "program",
        pid: this.pid,
        delivered,
      },
      "signal forwarded",
    );
  }

  /** kill(2) that never throws: a target that is gone is not an error. */
  private send(target: number, signal: SignalName | 0): boolean {
    try {
      this.kill(target, signal);
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
   * The program is gone (tini #180, dumb-init #212: an init that exits first
   * leaves the rest of the group to be killed without a chance to clean up).
   * Anything left in its group gets the stop signal, then SIGKILL at the end
   * of the grace. A preStop still running may finish, postStop runs, and we
   * exit when the group is empty.
   */
  private async finishAfterExit(): Promise<void> {
    this.reaper.sweep();
    if (this.groupAlive()) {
      this.log.info({ pgid: this.pid }, "program exited: stopping the rest of its process group");
      // In group mode the group already had the one stop signal.
      if (this.stopSignalSentAt === undefined) this.sendStopSignal();
      else if (this.policy.singleChild) this.forward(this.policy.stopSignal, true);
    }
    // Hooks still running (a preStop doing cleanup, a postStart still writing
    // output) finish first, within the grace: their output must not be cut.
    await Promise.all([...this.runs.values()].map((run) => run.done));
    if (this.hooks.postStop !== undefined) await this.runHook("postStop", "program exited").done;
    while (this.groupAlive()) {
      if (this.killedAt !== undefined && Date.now() - this.killedAt > AFTER_KILL_MS) {
        this.log.warn({ pgid: this.pid }, "process group survived SIGKILL; exiting anyway");
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, GROUP_POLL_MS));
      this.reaper.sweep();
    }
    clearTimeout(this.graceTimer);
    clearTimeout(this.killTimer);
    this.phase = "done";
    const exitCode = this.postStartFailed
      ? EXIT.POSTSTART_FAILED
      : exitCodeOf(this.programExit as ReapedChild);
    this.finish(exitCode);
  }
}
