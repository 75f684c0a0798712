import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EXIT } from "../../src/core/exit-codes.js";
import type { HookName, OutputEvent } from "../../src/core/hooks.js";
import type { Handler, Hook, HookConfig } from "../../src/hooks/config.js";
import type { LogOutput } from "../../src/log/logger.js";
import { Supervisor } from "../../src/supervisor/supervisor.js";

const PID = 4242;

/** Records every kill(2); signal 0 probes see the group as alive while `groupAlive` says so. */
function fakeSystem() {
  const sent: [number, string | number][] = [];
  const state = { groupAlive: true };
  const kill = (target: number, signal: string | 0) => {
    if (signal === 0) {
      if (state.groupAlive) return;
      throw Object.assign(new Error("ESRCH"), { code: "ESRCH" });
    }
    sent.push([target, signal]);
  };
  return { sent, state, kill };
}

function silentOutput(): LogOutput {
  const noop = () => {};
  const logger = { info: noop, warn: noop, error: noop, debug: noop, trace: noop };
  return {
    logger: logger as unknown as LogOutput["logger"],
    hookOutput: () => true,
    drained: () => Promise.resolve(),
    flush: () => Promise.resolve(),
  };
}

const hook = (name: HookName, handler: Handler, timeoutSeconds?: number): Hook => ({
  name,
  handler,
  timeoutSeconds,
});
const sleep = (seconds: number): Handler => ({ type: "sleep", seconds });

function makeSupervisor(hooks: HookConfig, graceSeconds = 30) {
  const system = fakeSystem();
  const reaper = {
    sweep: vi.fn(),
    disown: vi.fn(),
    spawning: <T>(start: () => T): T => start(),
  };
  const supervisor = new Supervisor(
    PID,
    { graceSeconds, stopSignal: "SIGTERM", rewrites: new Map(), singleChild: false },
    hooks,
    silentOutput(),
    reaper,
    system.kill as (target: number, signal: NodeJS.Signals | 0) => void,
  );
  supervisor.start();
  return { supervisor, ...system };
}

const subscriber = () => {
  const events: OutputEvent[] = [];
  return {
    events,
    send: (batch: readonly OutputEvent[]) => events.push(...batch) >= 0,
    drained: () => Promise.resolve(),
  };
};

const signalsSent = (sent: [number, string | number][]) => sent.map(([, signal]) => signal);

describe("Supervisor state machine", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is ready at once without postStart, and not ready once stopping", async () => {
    const { supervisor } = makeSupervisor({});
    expect(supervisor.status().ready).toBe(true);
    supervisor.onSignal("SIGTERM");
    expect(supervisor.status().ready).toBe(false);
  });

  it("sends the stop signal only after preStop finished, exactly once for many stop signals", async () => {
    const { supervisor, sent } = makeSupervisor({ preStop: hook("preStop", sleep(5)) });
    for (let i = 0; i < 100; i++) supervisor.onSignal("SIGTERM");
    await vi.advanceTimersByTimeAsync(4900);
    expect(sent).toEqual([]);
    expect(supervisor.phase).toBe("stopping");
    await vi.advanceTimersByTimeAsync(200);
    expect(sent).toEqual([[-PID, "SIGTERM"]]);
    expect(supervisor.phase).toBe("terminating");
    supervisor.onSignal("SIGTERM");
    expect(sent).toHaveLength(1);
  });

  it("forwards other signals at once, even while preStop runs", async () => {
    const { supervisor, sent } = makeSupervisor({ preStop: hook("preStop", sleep(5)) });
    supervisor.onSignal("SIGTERM");
    supervisor.onSignal("SIGUSR1");
    expect(sent).toEqual([[-PID, "SIGUSR1"]]);
  });

  it("joins concurrent preStop calls into one run with one result", async () => {
    const { supervisor } = makeSupervisor({ preStop: hook("preStop", sleep(1)) });
    const calls = Array.from({ length: 10 }, () => supervisor.callHook("preStop", subscriber()));
    await vi.advanceTimersByTimeAsync(1000);
    const results = await Promise.all(calls);
    expect(new Set(results.map((r) => r.exitCode))).toEqual(new Set([0]));
    expect(supervisor.status().hooks.preStop.state).toBe("succeeded");
  });

  it("after a client preStop waits for the runtime's stop signal, then sends it at once", async () => {
    const { supervisor, sent } = makeSupervisor({ preStop: hook("preStop", sleep(1)) });
    const call = supervisor.callHook("preStop", subscriber());
    await vi.advanceTimersByTimeAsync(1000);
    expect((await call).exitCode).toBe(0);
    expect(sent).toEqual([]);
    supervisor.onSignal("SIGTERM");
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([[-PID, "SIGTERM"]]);
  });

  it("cuts preStop at the end of the grace, signals, and SIGKILLs the group 2 s later", async () => {
    const { supervisor, sent } = makeSupervisor({ preStop: hook("preStop", sleep(100)) }, 10);
    supervisor.onSignal("SIGTERM");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(signalsSent(sent)).toEqual(["SIGTERM"]);
    await vi.advanceTimersByTimeAsync(1_900);
    expect(signalsSent(sent)).toEqual(["SIGTERM"]);
    await vi.advanceTimersByTimeAsync(200);
    expect(sent).toEqual([
      [-PID, "SIGTERM"],
      [-PID, "SIGKILL"],
    ]);
  });

  it("kills the group at the end of the grace when the program ignores the stop signal", async () => {
    const { supervisor, sent } = makeSupervisor({}, 5);
    supervisor.onSignal("SIGTERM");
    await vi.advanceTimersByTimeAsync(4_999);
    expect(signalsSent(sent)).toEqual(["SIGTERM"]);
    await vi.advanceTimersByTimeAsync(2);
    expect(signalsSent(sent)).toEqual(["SIGTERM", "SIGKILL"]);
  });

  it("stops the program when postStart fails and exits with the documented code", async () => {
    const { supervisor, sent, state } = makeSupervisor({
      postStart: hook("postStart", sleep(10), 1),
      preStop: hook("preStop", sleep(1)),
    });
    expect(supervisor.status().ready).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(supervisor.status().hooks.postStart).toMatchObject({ state: "failed", exitCode: 124 });
    expect(supervisor.phase).toBe("stopping");
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual([[-PID, "SIGTERM"]]);
    state.groupAlive = false;
    supervisor.onProgramExit({ pid: PID, code: null, signal: 15 });
    expect(await supervisor.done).toBe(EXIT.POSTSTART_FAILED);
  });

  it("refuses preStop after the program exited on its own", async () => {
    const { supervisor, state } = makeSupervisor({ preStop: hook("preStop", sleep(1)) });
    state.groupAlive = false;
    supervisor.onProgramExit({ pid: PID, code: 0, signal: null });
    const result = await supervisor.callHook("preStop", subscriber());
    expect(result.exitCode).not.toBe(0);
    expect(result.error).toMatch(/already exited/);
    expect(await supervisor.done).toBe(0);
  });

  it("runs postStop after the program exits, then exits with the program's code", async () => {
    const { supervisor, state } = makeSupervisor({ postStop: hook("postStop", sleep(3)) });
    state.groupAlive = false;
    supervisor.onProgramExit({ pid: PID, code: 7, signal: null });
    let exitCode: number | undefined;
    void supervisor.done.then((code) => {
      exitCode = code;
    });
    await vi.advanceTimersByTimeAsync(2_900);
    expect(exitCode).toBeUndefined();
    expect(supervisor.status().hooks.postStop.state).toBe("running");
    await vi.advanceTimersByTimeAsync(200);
    expect(exitCode).toBe(7);
  });

  it("stops the rest of the group when the program exits, then waits for it", async () => {
    const { supervisor, sent, state } = makeSupervisor({}, 3);
    supervisor.onProgramExit({ pid: PID, code: 0, signal: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toEqual([[-PID, "SIGTERM"]]);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(sent).toEqual([
      [-PID, "SIGTERM"],
      [-PID, "SIGKILL"],
    ]);
    state.groupAlive = false;
    await vi.advanceTimersByTimeAsync(50);
    expect(await supervisor.done).toBe(0);
  });

  it("reports 128+N when a signal killed the program", async () => {
    const { supervisor, state } = makeSupervisor({});
    state.groupAlive = false;
    supervisor.onProgramExit({ pid: PID, code: null, signal: 9 });
    expect(await supervisor.done).toBe(137);
  });
});
