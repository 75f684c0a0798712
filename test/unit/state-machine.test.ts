/**
 * The supervisor's state machine, step(state, event, now), without timers,
 * processes or hooks: the invariants of the lifecycle checked over a table
 * of (state, event) pairs, over whole simulated runs, and a few named
 * transitions spelled out.
 */
import { describe, expect, it } from "vitest";
import type { HookName } from "../../src/core/hooks.js";
import {
  type Effect,
  type Event,
  initialState,
  MIN_STOP_WINDOW_MS,
  type Setup,
  type State,
  step,
  TIMER_EVENTS,
  type TimerName,
} from "../../src/supervisor/supervisor.js";

const PID = 4242;
const T0 = 1_000_000;

function setup(hooks: Partial<Record<HookName, boolean>> = {}, extra: Partial<Setup> = {}): Setup {
  return {
    pid: PID,
    configured: {
      postStart: hooks.postStart ?? false,
      preStop: hooks.preStop ?? false,
      postStop: hooks.postStop ?? false,
    },
    graceSeconds: 30,
    stopSignal: "SIGTERM",
    singleChild: false,
    ...extra,
  };
}

/** Every combination of configured hooks, in group and single-child mode, with a long and a zero grace. */
const SETUPS: Setup[] = [];
for (let bits = 0; bits < 8; bits++) {
  for (const singleChild of [false, true]) {
    for (const graceSeconds of [30, 0]) {
      SETUPS.push(
        setup(
          { postStart: (bits & 1) !== 0, preStop: (bits & 2) !== 0, postStop: (bits & 4) !== 0 },
          { singleChild, graceSeconds },
        ),
      );
    }
  }
}

const EXIT_0 = { pid: PID, code: 0, signal: null };

/** Every event the machine knows, including ones a state does not expect. */
const EVENTS: Event[] = [
  { type: "started" },
  { type: "signal", signal: "SIGTERM" },
  { type: "signal", signal: "SIGHUP" },
  { type: "preStopCall" },
  ...(["postStart", "preStop", "postStop"] as const).flatMap((hook) => [
    { type: "hookFinished" as const, hook, exitCode: 0 },
    { type: "hookFinished" as const, hook, exitCode: 1 },
  ]),
  { type: "programExited", child: EXIT_0, groupAlive: true },
  { type: "programExited", child: { pid: PID, code: null, signal: 15 }, groupAlive: false },
  { type: "graceSpent" },
  { type: "killDue" },
  { type: "groupEmpty" },
  { type: "giveUp" },
];

const of = <T extends Effect["type"]>(effects: Effect[], type: T) =>
  effects.filter((e): e is Extract<Effect, { type: T }> => e.type === type);

const stopSignalSent = (s: State): boolean =>
  s.phase === "terminating" ||
  (s.phase === "exited" && s.signalSentAt !== undefined) ||
  s.phase === "done";

/** A run in a simulated world: timers fire when due, hooks finish when they run. */
interface World {
  state: State;
  now: number;
  timers: Partial<Record<TimerName, number>>;
  watching: boolean;
  started: boolean;
  trace: { event: Event; now: number; effects: Effect[]; before: State }[];
}

function apply(world: World, event: Event, now: number): World {
  const { state, effects } = step(world.state, event, now);
  const timers = { ...world.timers };
  let watching = world.watching;
  for (const effect of effects) {
    if (effect.type === "armTimer") timers[effect.timer] = effect.at;
    if (effect.type === "watchGroup") watching = true;
  }
  for (const [name, at] of Object.entries(TIMER_EVENTS)) {
    if (at === event) delete timers[name as TimerName];
  }
  if (event.type === "groupEmpty") watching = false;
  return {
    state,
    now,
    timers,
    watching,
    started: world.started || event.type === "started",
    trace: [...world.trace, { event, now, effects, before: world.state }],
  };
}

/** What can happen next in the world, each with when it happens. */
function possible(world: World): [Event, number][] {
  const { state, now } = world;
  const later = now + 300;
  const next: [Event, number][] = [];
  if (!world.started) return [[{ type: "started" }, now]];
  next.push([{ type: "signal", signal: "SIGTERM" }, later]);
  next.push([{ type: "signal", signal: "SIGHUP" }, later]);
  next.push([{ type: "preStopCall" }, later]);
  for (const [hook, run] of Object.entries(state.hooks)) {
    if (run !== "running") continue;
    for (const exitCode of [0, 1]) {
      next.push([{ type: "hookFinished", hook: hook as HookName, exitCode }, later]);
    }
  }
  if (state.phase !== "exited" && state.phase !== "done") {
    next.push([{ type: "programExited", child: EXIT_0, groupAlive: true }, later]);
    next.push([{ type: "programExited", child: EXIT_0, groupAlive: false }, later]);
  }
  for (const [name, at] of Object.entries(world.timers)) {
    next.push([TIMER_EVENTS[name as TimerName], Math.max(now, at)]);
  }
  if (world.watching) next.push([{ type: "groupEmpty" }, later]);
  return next;
}

/** A small deterministic PRNG, so that a failure names a seed that reproduces it. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function simulate(s: Setup, seed: number, maxSteps = 40): World {
  const random = prng(seed);
  let world: World = {
    state: initialState(s),
    now: T0,
    timers: {},
    watching: false,
    started: false,
    trace: [],
  };
  for (let i = 0; i < maxSteps && world.state.phase !== "done"; i++) {
    const choices = possible(world);
    const [event, at] = choices[Math.floor(random() * choices.length)] as [Event, number];
    world = apply(world, event, at);
  }
  return world;
}

/** Reachable states, from many simulated runs of every setup. */
function reachableStates(): State[] {
  const seen = new Map<string, State>();
  for (const [index, s] of SETUPS.entries()) {
    for (let seed = 1; seed <= 60; seed++) {
      const world = simulate(s, seed * 7919 + index);
      for (const { before } of world.trace) seen.set(JSON.stringify(before), before);
      seen.set(JSON.stringify(world.state), world.state);
    }
  }
  return [...seen.values()];
}

describe("step(): invariants over every (state, event) pair of the table", () => {
  const states = reachableStates();
  const table = states.flatMap((state) => EVENTS.map((event) => ({ state, event })));
  const now = T0 + 500_000;

  it("the table covers every phase, and both ways a stop starts", () => {
    const phases = new Set(states.map((s) => s.phase));
    expect([...phases].sort()).toEqual(
      ["done", "exited", "running", "starting", "stopping", "terminating"].sort(),
    );
    const stopping = states.filter((s) => s.phase === "stopping");
    expect(stopping.some((s) => s.phase === "stopping" && s.wanted)).toBe(true);
    expect(stopping.some((s) => s.phase === "stopping" && !s.wanted)).toBe(true);
    expect(table.length).toBeGreaterThan(1000);
  });

  it("preStop runs once", () => {
    for (const { state, event } of table) {
      const runs = of(step(state, event, now).effects, "runHook").filter(
        (e) => e.hook === "preStop",
      );
      expect(runs.length, `${state.phase} + ${event.type}`).toBeLessThanOrEqual(
        state.hooks.preStop === undefined ? 1 : 0,
      );
    }
  });

  it("one stop signal, and while the program runs only after preStop (or when the grace is spent)", () => {
    for (const { state, event } of table) {
      const sent = of(step(state, event, now).effects, "sendStopSignal");
      const where = `${JSON.stringify(state)} + ${JSON.stringify(event)}`;
      if (stopSignalSent(state)) expect(sent, where).toEqual([]);
      expect(sent.length, where).toBeLessThanOrEqual(1);
      if (
        sent.length > 0 &&
        state.hooks.preStop === "running" &&
        state.phase !== "exited" &&
        event.type !== "programExited"
      ) {
        // This very event ends preStop, or the grace is spent.
        const endsPreStop = event.type === "hookFinished" && event.hook === "preStop";
        expect(endsPreStop || event.type === "graceSpent", where).toBe(true);
      }
    }
  });

  it("SIGKILL only when it is due, and due no sooner than 2 s after the stop signal", () => {
    for (const { state, event } of table) {
      const { effects } = step(state, event, now);
      const where = `${state.phase} + ${event.type}`;
      if (of(effects, "killGroup").length > 0) expect(event.type, where).toBe("killDue");
      for (const timer of of(effects, "armTimer").filter((e) => e.timer === "kill")) {
        expect(of(effects, "sendStopSignal"), where).toHaveLength(1);
        expect(timer.at - now, where).toBeGreaterThanOrEqual(MIN_STOP_WINDOW_MS);
      }
    }
  });

  it("postStop runs only after the program exited, once", () => {
    for (const { state, event } of table) {
      const { state: next, effects } = step(state, event, now);
      const runs = of(effects, "runHook").filter((e) => e.hook === "postStop");
      if (runs.length === 0) continue;
      expect(next.phase).toBe("exited");
      expect(state.hooks.postStop).toBeUndefined();
      expect(runs).toHaveLength(1);
    }
  });

  it("hookinit exits 3 after a failed postStart, else with the program's code; and only once", () => {
    for (const { state, event } of table) {
      const { state: next, effects } = step(state, event, now);
      const finish = of(effects, "finish");
      if (state.phase === "done") expect(finish).toEqual([]);
      if (finish.length === 0) continue;
      expect(finish).toHaveLength(1);
      expect(next.phase).toBe("done");
      if (next.phase !== "done") continue;
      expect(finish[0]?.code).toBe(
        next.postStartFailed ? 3 : (next.exit.code ?? 128 + (next.exit.signal ?? 0)),
      );
    }
  });

  it("never changes the state it was given", () => {
    for (const { state, event } of table.slice(0, 3000)) {
      const before = JSON.stringify(state);
      step(state, event, now);
      expect(JSON.stringify(state)).toBe(before);
    }
  });
});

describe("step(): whole simulated runs (timers fire when due)", () => {
  const runs = SETUPS.flatMap((s, index) =>
    Array.from({ length: 40 }, (_, seed) => ({ s, seed: seed * 104729 + index })),
  );

  it("keep the lifecycle's promises from start to exit", () => {
    for (const { s, seed } of runs) {
      const world = simulate(s, seed, 60);
      const where = `seed ${seed}, setup ${JSON.stringify(s.configured)} grace ${s.graceSeconds}`;
      const all = world.trace.flatMap((t) => t.effects.map((effect) => ({ effect, at: t.now })));
      const preStops = all.filter(
        (x) => x.effect.type === "runHook" && x.effect.hook === "preStop",
      );
      const stopSignals = all.filter((x) => x.effect.type === "sendStopSignal");
      const kills = all.filter((x) => x.effect.type === "killGroup");
      const exitStep = world.trace.findIndex((t) => t.event.type === "programExited");
      const postStops = world.trace.flatMap((t, i) =>
        t.effects.some((e) => e.type === "runHook" && e.hook === "postStop") ? [i] : [],
      );
      expect(preStops.length, where).toBeLessThanOrEqual(1);
      expect(stopSignals.length, where).toBeLessThanOrEqual(1);
      for (const kill of kills) {
        expect(kill.at - (stopSignals[0]?.at ?? Number.NaN), where).toBeGreaterThanOrEqual(
          MIN_STOP_WINDOW_MS,
        );
      }
      for (const i of postStops) expect(i, where).toBeGreaterThanOrEqual(exitStep);
      if (exitStep === -1) expect(postStops, where).toEqual([]);
      const finished = all.filter((x) => x.effect.type === "finish");
      expect(finished.length, where).toBeLessThanOrEqual(1);
      if (world.state.phase === "done") {
        expect(finished, where).toHaveLength(1);
        if (world.state.postStartFailed) expect(world.state.code, where).toBe(3);
      }
    }
  });
});

/** Runs the events from a fresh machine, timers at their due time; returns the last transition. */
function after(s: Setup, events: Event[]): { state: State; effects: Effect[] } {
  let world: World = {
    state: initialState(s),
    now: T0,
    timers: {},
    watching: false,
    started: false,
    trace: [],
  };
  let effects: Effect[] = [];
  for (const event of events) {
    const timer = Object.entries(TIMER_EVENTS).find(([, e]) => e === event)?.[0] as
      | TimerName
      | undefined;
    const at =
      timer === undefined ? world.now + 100 : Math.max(world.now, world.timers[timer] ?? 0);
    world = apply(world, event, at);
    effects = world.trace.at(-1)?.effects ?? [];
  }
  return { state: world.state, effects };
}

const TERM: Event = { type: "signal", signal: "SIGTERM" };
const done = (hook: HookName, exitCode = 0): Event => ({ type: "hookFinished", hook, exitCode });
const START: Event = { type: "started" };

describe("step(): named transitions", () => {
  const all = setup({ postStart: true, preStop: true, postStop: true });
  const rows: { name: string; setup: Setup; events: Event[]; phase: string; effects: string[] }[] =
    [
      {
        name: "no postStart: ready at once",
        setup: setup(),
        events: [START],
        phase: "running",
        effects: [],
      },
      {
        name: "postStart runs at start",
        setup: all,
        events: [START],
        phase: "starting",
        effects: ["runHook:postStart"],
      },
      {
        name: "the stop signal starts preStop and holds the signal back",
        setup: all,
        events: [START, done("postStart"), TERM],
        phase: "stopping",
        effects: ["log", "armTimer:grace", "log", "runHook:preStop"],
      },
      {
        name: "preStop finished: the stop signal goes out, SIGKILL armed",
        setup: all,
        events: [START, done("postStart"), TERM, done("preStop")],
        phase: "terminating",
        effects: ["sendStopSignal", "armTimer:kill"],
      },
      {
        name: "a client's preStop: after it, wait for the runtime's signal",
        setup: all,
        events: [START, done("postStart"), { type: "preStopCall" }, done("preStop")],
        phase: "stopping",
        effects: [],
      },
      {
        name: "then the runtime's signal is sent on at once",
        setup: all,
        events: [START, done("postStart"), { type: "preStopCall" }, done("preStop"), TERM],
        phase: "terminating",
        effects: ["log", "sendStopSignal", "armTimer:kill"],
      },
      {
        name: "a second stop signal is absorbed",
        setup: all,
        events: [START, done("postStart"), TERM, done("preStop"), TERM],
        phase: "terminating",
        effects: ["log"],
      },
      {
        name: "postStart failed: the normal stop path",
        setup: all,
        events: [START, done("postStart", 1)],
        phase: "stopping",
        effects: ["log", "armTimer:grace", "log", "runHook:preStop"],
      },
      {
        name: "the grace is spent during preStop: hooks stop, the signal goes out",
        setup: all,
        events: [START, done("postStart"), TERM, TIMER_EVENTS.grace],
        phase: "terminating",
        effects: ["log", "abortHooks", "sendStopSignal", "armTimer:kill"],
      },
      {
        name: "the program exits by itself: postStop, then the group",
        setup: all,
        events: [
          START,
          done("postStart"),
          { type: "programExited", child: EXIT_0, groupAlive: false },
        ],
        phase: "exited",
        effects: ["log", "armTimer:grace", "runHook:postStop"],
      },
      {
        name: "after postStop, the group is watched until it is empty",
        setup: all,
        events: [
          START,
          done("postStart"),
          { type: "programExited", child: EXIT_0, groupAlive: false },
          done("postStop"),
          { type: "groupEmpty" },
        ],
        phase: "done",
        effects: ["finish:0"],
      },
      {
        name: "exit 3 after a failed postStart, whatever the program's code",
        setup: setup({ postStart: true }),
        events: [
          START,
          done("postStart", 1),
          { type: "programExited", child: EXIT_0, groupAlive: false },
          { type: "groupEmpty" },
        ],
        phase: "done",
        effects: ["finish:3"],
      },
      {
        name: "a group that survives SIGKILL is given up on",
        setup: setup(),
        events: [
          START,
          TERM,
          TIMER_EVENTS.kill,
          { type: "programExited", child: { pid: PID, code: null, signal: 9 }, groupAlive: true },
          TIMER_EVENTS.giveUp,
        ],
        phase: "done",
        effects: ["log", "finish:137"],
      },
    ];

  it.each(rows)("$name", (row) => {
    const { state, effects } = after(row.setup, row.events);
    expect(state.phase).toBe(row.phase);
    const shown = effects.map((e) => {
      if (e.type === "runHook") return `runHook:${e.hook}`;
      if (e.type === "armTimer") return `armTimer:${e.timer}`;
      if (e.type === "finish") return `finish:${e.code}`;
      return e.type;
    });
    expect(shown).toEqual(row.effects);
  });
});
