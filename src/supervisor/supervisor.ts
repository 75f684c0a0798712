import { EXIT, signalExitCode } from "../core/exit-codes.js";
import {
  HOOK_NAMES,
  type HookName,
  type HookRunState,
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
import {
  type RewriteTable,
  rewrite,
  type SignalName,
  signalName,
  signalNumber,
} from "./signals.js";

export interface StopPolicy {
  graceSeconds: number;
  stopSignal: SignalName;
  rewrites: RewriteTable;
  /** Signal only the program instead of its whole process group. */
  singleChild: boolean;
}

/** After preStop the program always gets this long before SIGKILL (the kubelet keeps 2 s). */
export const MIN_STOP_WINDOW_MS = 2000;

/** After SIGKILL, how long we wait for the group before exiting anyway. */
export const AFTER_KILL_MS = 2000;

/** How long the stop signal waits for our log lines to reach stdout, at most. */
const LOG_DRAIN_WAIT_MS = 500;

/** How often we look whether the program's process group is empty, once only that is left. */
const GROUP_POLL_MS = 20;

/** The program's exit code, or `128+N` for death by signal N. */
export function exitCodeOf(child: ReapedChild): number {
  return child.code ?? signalExitCode(child.signal ?? 0);
}

// ---- the state machine: data and one pure function ---------------------------

/** What the machine is told once and never changes. */
export interface Setup {
  /** The program's pid, which is also its process group id. */
  pid: number;
  /** Which hooks the configuration defines. */
  configured: Readonly<Record<HookName, boolean>>;
  graceSeconds: number;
  stopSignal: SignalName;
  singleChild: boolean;
}

/** Facts every state carries. */
interface Facts {
  readonly setup: Setup;
  /** Each hook's one run, once it started. */
  hooks: Readonly<Partial<Record<HookName, HookRunState>>>;
  /** postStart failed: hookinit exits 3, whatever the program's own code. */
  postStartFailed: boolean;
  /** End of the one grace budget (ms since the epoch), from the first stop trigger or the program's exit. */
  deadline: number | undefined;
  /** What started the stop sequence: "signal", "client", "postStart failed". */
  trigger: string | undefined;
}

/**
 * starting    the program runs; postStart has not succeeded yet
 * running     postStart succeeded (or there is none): ready
 * stopping    a stop was triggered; preStop runs or ran; the stop signal is not sent yet.
 *             `wanted`: the runtime's stop signal came (or postStart failed), so the
 *             stop signal follows preStop; after a client's preStop call alone we wait
 *             for the runtime's own signal, as in Kubernetes
 * terminating the one stop signal was sent; SIGKILL is due at `killAt`
 * exited      the program exited; `waiting` for the hooks still running, then postStop,
 *             then the rest of its process group to be gone
 * done        nothing is left; hookinit exits with `code`
 */
export type Phase =
  | { phase: "starting" }
  | { phase: "running" }
  | { phase: "stopping"; preStop: "running" | "finished"; wanted: boolean }
  | {
      phase: "terminating";
      signalSentAt: number;
      killAt: number;
      killedAt: number | undefined;
    }
  | {
      phase: "exited";
      exit: ReapedChild;
      waiting: "hooks" | "postStop" | "group";
      signalSentAt: number | undefined;
      killAt: number | undefined;
      killedAt: number | undefined;
    }
  | { phase: "done"; exit: ReapedChild; code: number };

export type State = Facts & Phase;
export type PhaseName = Phase["phase"];

export type Event =
  /** Right after spawn. */
  | { type: "started" }
  /** A signal reached hookinit: the stop signal, or another one to forward. */
  | { type: "signal"; signal: SignalName }
  /** A client's `hookinit hook preStop`. */
  | { type: "preStopCall" }
  | { type: "hookFinished"; hook: HookName; exitCode: number }
  /** `groupAlive`: something of the program's process group is still there. */
  | { type: "programExited"; child: ReapedChild; groupAlive: boolean }
  | { type: "graceSpent" }
  | { type: "killDue" }
  | { type: "groupEmpty" }
  /** SIGKILL went out a while ago and the group is still there. */
  | { type: "giveUp" };

export type TimerName = "grace" | "kill" | "giveUp";

export type Effect =
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields: object }
  | { type: "runHook"; hook: HookName; trigger: string }
  /** Forward a signal (after --rewrite) to the program, or its whole group. */
  | { type: "forward"; signal: SignalName; wholeGroup: boolean }
  /** The one stop signal: after our log lines reached stdout, so preStop's output comes first. */
  | { type: "sendStopSignal"; wholeGroup: boolean }
  /** The grace is spent: running hooks stop. */
  | { type: "abortHooks" }
  | { type: "armTimer"; timer: TimerName; at: number }
  /** SIGKILL to the program's whole process group. */
  | { type: "killGroup" }
  /** Look at once and then every little while; `groupEmpty` when nothing of the group is left. */
  | { type: "watchGroup" }
  | { type: "finish"; code: number };

export interface Transition {
  state: State;
  effects: Effect[];
}

/** The timer event each armed timer sends when it fires. */
export const TIMER_EVENTS: Readonly<Record<TimerName, Event>> = {
  grace: { type: "graceSpent" },
  kill: { type: "killDue" },
  giveUp: { type: "giveUp" },
};

export function initialState(setup: Setup): State {
  return {
    setup,
    hooks: {},
    postStartFailed: false,
    deadline: undefined,
    trigger: undefined,
    phase: "starting",
  };
}

/** The program's exit, once it exited. */
export function programExit(state: State): ReapedChild | undefined {
  return state.phase === "exited" || state.phase === "done" ? state.exit : undefined;
}

/**
 * The whole lifecycle as one pure function: postStart once per start;
 * preStop once, triggered by a client call or by the stop signal, whichever
 * comes first; the stop signal once, only after preStop (or when the grace
 * is spent); one grace budget from the first trigger, SIGKILL to the group
 * at its end but never sooner than 2 s after the stop signal; after the
 * program exits, the hooks still running, then postStop, then the rest of
 * its group; then the exit code (3 when postStart failed).
 */
export function step(state: State, event: Event, now: number): Transition {
  const effects: Effect[] = [];
  return { state: transition(state, event, now, effects), effects };
}

function transition(s: State, event: Event, now: number, fx: Effect[]): State {
  const { setup } = s;
  switch (event.type) {
    case "started":
      if (s.phase !== "starting" || s.hooks.postStart !== undefined) return s;
      if (!setup.configured.postStart) return { ...s, phase: "running" };
      return runHook(s, "postStart", "started", fx);

    case "signal":
      if (event.signal !== setup.stopSignal) {
        fx.push({ type: "forward", signal: event.signal, wholeGroup: false });
        return s;
      }
      log(fx, "info", "stop signal received", { signal: event.signal, phase: s.phase });
      if (s.phase === "starting" || s.phase === "running")
        return requestStop(s, "signal", true, now, fx);
      if (s.phase === "stopping") {
        return s.preStop === "finished" ? sendStopSignal(s, now, fx) : { ...s, wanted: true };
      }
      return s; // terminating, exited, done: the one stop signal already went out, or is moot.

    case "preStopCall":
      if (s.phase === "starting" || s.phase === "running")
        return requestStop(s, "client", false, now, fx);
      return s;

    case "hookFinished":
      return hookFinished(s, event.hook, event.exitCode, now, fx);

    case "programExited": {
      if (s.phase === "exited" || s.phase === "done") return s;
      const { child } = event;
      const signal = child.signal === null ? undefined : signalName(child.signal);
      log(fx, "info", "program exited", {
        pid: child.pid,
        code: child.code,
        signal: signal ?? child.signal,
        exitCode: exitCodeOf(child),
      });
      let next: State = startGrace(
        {
          ...s,
          phase: "exited",
          exit: child,
          waiting: "hooks",
          signalSentAt: s.phase === "terminating" ? s.signalSentAt : undefined,
          killAt: s.phase === "terminating" ? s.killAt : undefined,
          killedAt: s.phase === "terminating" ? s.killedAt : undefined,
        },
        now,
        fx,
      );
      // The program is gone (tini #180, dumb-init #212: an init that exits
      // first leaves the rest of the group to be killed without a chance to
      // clean up). What is left of its group gets the stop signal, then
      // SIGKILL at the end of the grace.
      if (event.groupAlive && next.phase === "exited") {
        log(fx, "info", "program exited: stopping the rest of its process group", {
          pgid: setup.pid,
        });
        if (next.signalSentAt === undefined) next = sendStopSignal(next, now, fx);
        // In group mode the group already had the one stop signal.
        else if (setup.singleChild) {
          fx.push({ type: "forward", signal: setup.stopSignal, wholeGroup: true });
        }
      }
      return afterExit(next, fx);
    }

    case "graceSpent":
      if (s.phase !== "stopping" && s.phase !== "terminating" && s.phase !== "exited") return s;
      log(fx, "warn", "grace period spent", { graceSeconds: setup.graceSeconds });
      fx.push({ type: "abortHooks" });
      return sendStopSignal(s, now, fx);

    case "killDue": {
      if (s.phase !== "terminating" && s.phase !== "exited") return s;
      log(fx, "warn", "grace period over: sending SIGKILL to the process group", {
        graceSeconds: setup.graceSeconds,
        pgid: setup.pid,
      });
      fx.push({ type: "killGroup" });
      if (s.phase === "exited" && s.waiting === "group") {
        fx.push({ type: "armTimer", timer: "giveUp", at: now + AFTER_KILL_MS });
      }
      return { ...s, killedAt: now };
    }

    case "groupEmpty":
      if (s.phase !== "exited" || s.waiting !== "group") return s;
      return finish(s, fx);

    case "giveUp":
      if (s.phase !== "exited" || s.waiting !== "group") return s;
      log(fx, "warn", "process group survived SIGKILL; exiting anyway", { pgid: setup.pid });
      return finish(s, fx);
  }
}

function log(
  fx: Effect[],
  level: "debug" | "info" | "warn" | "error",
  msg: string,
  fields: object,
): void {
  fx.push({ type: "log", level, msg, fields });
}

function runHook(s: State, hook: HookName, trigger: string, fx: Effect[]): State {
  fx.push({ type: "runHook", hook, trigger });
  return { ...s, hooks: { ...s.hooks, [hook]: "running" } };
}

/** The grace budget starts once: at the first stop trigger, or when the program exits. */
function startGrace(s: State, now: number, fx: Effect[]): State {
  if (s.deadline !== undefined) return s;
  const deadline = now + s.setup.graceSeconds * 1000;
  fx.push({ type: "armTimer", timer: "grace", at: deadline });
  return { ...s, deadline };
}

/**
 * The first stop trigger: the grace budget starts, preStop runs. The stop
 * signal follows when preStop has finished and the stop is wanted.
 */
function requestStop(s: State, trigger: string, wanted: boolean, now: number, fx: Effect[]): State {
  let next = startGrace({ ...s, trigger }, now, fx);
  log(fx, "info", "stop sequence started", { trigger, graceSeconds: s.setup.graceSeconds });
  if (s.setup.configured.preStop) {
    next = runHook(next, "preStop", trigger, fx);
    return { ...next, phase: "stopping", preStop: "running", wanted };
  }
  next = { ...next, phase: "stopping", preStop: "finished", wanted };
  return wanted ? sendStopSignal(next, now, fx) : next;
}

/** The one stop signal; SIGKILL follows at the deadline, but never sooner than 2 s after it. */
function sendStopSignal(s: State, now: number, fx: Effect[]): State {
  if (s.phase !== "stopping" && s.phase !== "exited") return s;
  if (s.phase === "exited" && s.signalSentAt !== undefined) return s;
  const killAt = Math.max(s.deadline ?? 0, now + MIN_STOP_WINDOW_MS);
  fx.push({ type: "sendStopSignal", wholeGroup: s.phase === "exited" });
  fx.push({ type: "armTimer", timer: "kill", at: killAt });
  if (s.phase === "exited") return { ...s, signalSentAt: now, killAt };
  return { ...s, phase: "terminating", signalSentAt: now, killAt, killedAt: undefined };
}

function hookFinished(
  s: State,
  hook: HookName,
  exitCode: number,
  now: number,
  fx: Effect[],
): State {
  if (s.hooks[hook] !== "running") return s;
  let next: State = {
    ...s,
    hooks: { ...s.hooks, [hook]: exitCode === 0 ? "succeeded" : "failed" },
  };
  if (hook === "postStart") {
    if (exitCode === 0) {
      if (next.phase === "starting") next = { ...next, phase: "running" };
    } else {
      log(fx, "error", "postStart failed: stopping the program", { exitCode });
      next = { ...next, postStartFailed: true };
      if (next.phase === "starting" || next.phase === "running") {
        next = requestStop(next, "postStart failed", true, now, fx);
      } else if (next.phase === "stopping") {
        next =
          next.preStop === "finished" ? sendStopSignal(next, now, fx) : { ...next, wanted: true };
      }
    }
  } else if (hook === "preStop" && next.phase === "stopping") {
    next = { ...next, preStop: "finished" };
    if (next.wanted) next = sendStopSignal(next, now, fx);
  } else if (hook === "postStop" && next.phase === "exited" && next.waiting === "postStop") {
    return waitForGroup(next, fx);
  }
  return next.phase === "exited" ? afterExit(next, fx) : next;
}

/**
 * After the exit: hooks still running (a preStop doing cleanup, a postStart
 * still writing output) finish first, within the grace, so their output is
 * not cut; then postStop; then the rest of the group.
 */
function afterExit(s: State, fx: Effect[]): State {
  if (s.phase !== "exited" || s.waiting !== "hooks") return s;
  if (Object.values(s.hooks).includes("running")) return s;
  if (s.setup.configured.postStop) {
    return { ...runHook(s, "postStop", "program exited", fx), waiting: "postStop" } as State;
  }
  return waitForGroup(s, fx);
}

function waitForGroup(s: State & { phase: "exited" }, fx: Effect[]): State {
  fx.push({ type: "watchGroup" });
  if (s.killedAt !== undefined) {
    fx.push({ type: "armTimer", timer: "giveUp", at: s.killedAt + AFTER_KILL_MS });
  }
  return { ...s, waiting: "group" };
}

function finish(s: State & { phase: "exited" }, fx: Effect[]): State {
  const code = s.postStartFailed ? EXIT.POSTSTART_FAILED : exitCodeOf(s.exit);
  fx.push({ type: "finish", code });
  return {
    setup: s.setup,
    hooks: s.hooks,
    postStartFailed: s.postStartFailed,
    deadline: s.deadline,
    trigger: s.trigger,
    phase: "done",
    exit: s.exit,
    code,
  };
}

// ---- the shell: carries out the effects ----------------------------------------

/**
 * The program's lifecycle after it was spawned. The decisions are step()'s;
 * this class feeds it events (signals, hook results, the program's exit,
 * timers), carries out the effects it returns, and answers clients.
 */
export class Supervisor {
  private state: State;
  private readonly runs = new Map<HookName, HookRun>();
  /** Aborted when the grace budget is spent: running hooks stop. */
  private readonly grace = new AbortController();
  private readonly timers = new Map<TimerName, NodeJS.Timeout>();
  private groupPoll: NodeJS.Timeout | undefined;
  /** Events that arrive while effects are carried out wait their turn, in order. */
  private readonly queue: Event[] = [];
  private stepping = false;
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
    // By number: Bun's process.kill refuses some names (SIGPWR, SIGSTKFLT).
    private readonly kill: (target: number, signal: SignalName | 0) => void = (target, signal) =>
      process.kill(target, signal === 0 ? 0 : signalNumber(signal)),
  ) {
    this.state = initialState({
      pid,
      configured: {
        postStart: hooks.postStart !== undefined,
        preStop: hooks.preStop !== undefined,
        postStop: hooks.postStop !== undefined,
      },
      graceSeconds: policy.graceSeconds,
      stopSignal: policy.stopSignal,
      singleChild: policy.singleChild,
    });
  }

  get phase(): PhaseName {
    return this.state.phase;
  }

  /** Right after spawn: postStart starts now and may race the program, as in Kubernetes. */
  start(): void {
    this.dispatch({ type: "started" });
  }

  onSignal(signal: SignalName): void {
    this.dispatch({ type: "signal", signal });
  }

  onProgramExit(child: ReapedChild): void {
    // Zombies of the group first, so that "alive" means alive.
    this.reaper.sweep();
    this.dispatch({ type: "programExited", child, groupAlive: this.groupAlive() });
  }

  /**
   * A client's `hookinit hook NAME`. Joins the run if there is one; a preStop
   * call is a stop trigger. Resolves with the run's result.
   */
  async callHook(name: HookName, subscriber: OutputSubscriber): Promise<ResultEvent> {
    if (name === "preStop") {
      const exit = programExit(this.state);
      if (exit !== undefined && !this.runs.has("preStop")) {
        return {
          type: "result",
          hook: name,
          exitCode: EXIT.FAILURE,
          durationMs: 0,
          error: `the program already exited (exit code ${exitCodeOf(exit)}); preStop runs only before it stops`,
        };
      }
      this.dispatch({ type: "preStopCall" });
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

  status(): Status {
    const { state } = this;
    const exit = programExit(state);
    const hooks = Object.fromEntries(
      HOOK_NAMES.map((name) => [name, this.hookStatus(name)]),
    ) as Record<HookName, HookStatus>;
    return {
      version: VERSION,
      phase: state.phase,
      ready: state.phase === "running",
      program: {
        pid: this.pid,
        running: exit === undefined,
        ...(exit !== undefined && { exitCode: exitCodeOf(exit) }),
      },
      hooks,
      ...(state.deadline !== undefined && {
        stop: {
          trigger: state.trigger ?? "program exited",
          graceSeconds: this.policy.graceSeconds,
          secondsLeft: Math.max(0, (state.deadline - Date.now()) / 1000),
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

  /** Feeds one event to step() and carries out its effects; events raised meanwhile queue up. */
  private dispatch(event: Event): void {
    this.queue.push(event);
    if (this.stepping) return;
    this.stepping = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        const { state, effects } = step(this.state, next, Date.now());
        this.state = state;
        for (const effect of effects) this.carryOut(effect);
      }
    } finally {
      this.stepping = false;
    }
  }

  private carryOut(effect: Effect): void {
    switch (effect.type) {
      case "log":
        this.output.logger[effect.level](effect.fields, effect.msg);
        return;
      case "runHook":
        this.runHook(effect.hook, effect.trigger);
        return;
      case "forward":
        this.forward(effect.signal, effect.wholeGroup);
        return;
      case "sendStopSignal":
        this.sendStopSignal(effect.wholeGroup);
        return;
      case "abortHooks":
        this.grace.abort("grace");
        return;
      case "armTimer": {
        clearTimeout(this.timers.get(effect.timer));
        const event = TIMER_EVENTS[effect.timer];
        const delay = Math.max(0, effect.at - Date.now());
        this.timers.set(
          effect.timer,
          setTimeout(() => this.dispatch(event), delay),
        );
        return;
      }
      case "killGroup":
        this.send(-this.pid, "SIGKILL");
        return;
      case "watchGroup":
        this.watchGroup();
        return;
      case "finish":
        for (const timer of this.timers.values()) clearTimeout(timer);
        clearTimeout(this.groupPoll);
        this.finish(effect.code);
        return;
    }
  }

  /** Starts a hook's one run; its result comes back as an event. */
  private runHook(name: HookName, trigger: string): void {
    const hook = this.hooks[name];
    if (hook === undefined || this.runs.has(name)) return;
    const run = new HookRun(hook, trigger, {
      log: this.output,
      grace: this.grace.signal,
      spawn: (start) => this.reaper.spawning(start),
      exited: (pid) => this.reaper.disown(pid),
    });
    this.runs.set(name, run);
    void run.done.then((result) =>
      this.dispatch({ type: "hookFinished", hook: name, exitCode: result.exitCode }),
    );
  }

  /**
   * Hook output first, then the signal: what preStop wrote reaches the
   * container log before anything the program writes in reaction.
   */
  private sendStopSignal(wholeGroup: boolean): void {
    let capTimer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((resolve) => {
      capTimer = setTimeout(resolve, LOG_DRAIN_WAIT_MS);
    });
    void Promise.race([this.output.drained(), cap]).then(() => {
      clearTimeout(capTimer);
      this.forward(this.policy.stopSignal, wholeGroup);
    });
  }

  private forward(received: SignalName, wholeGroup: boolean): void {
    const signal = rewrite(this.policy.rewrites, received);
    if (signal === null) {
      this.output.logger.debug({ signal: received }, "signal dropped by rewrite");
      return;
    }
    // Once the program is gone only its group can still be reached.
    const toGroup = wholeGroup || !this.policy.singleChild || programExit(this.state) !== undefined;
    const delivered = this.send(toGroup ? -this.pid : this.pid, signal);
    // SIGWINCH arrives on every terminal resize: keep it out of info logs.
    const level = received === "SIGWINCH" ? "debug" : "info";
    this.output.logger[level](
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

  /** Looks at once, then every GROUP_POLL_MS, until nothing of the group is left. */
  private watchGroup(): void {
    if (!this.groupAlive()) {
      this.dispatch({ type: "groupEmpty" });
      return;
    }
    this.groupPoll = setTimeout(() => {
      this.reaper.sweep();
      if (this.state.phase === "exited") this.watchGroup();
    }, GROUP_POLL_MS);
  }

  /** kill(2) that never throws: a target that is gone is not an error. */
  private send(target: number, signal: SignalName | 0): boolean {
    try {
      this.kill(target, signal);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ESRCH") {
        this.output.logger.warn({ target, signal, code }, "could not send signal");
      }
      return code === "EPERM";
    }
  }

  private groupAlive(): boolean {
    return this.send(-this.pid, 0);
  }
}
