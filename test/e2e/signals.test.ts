/**
 * Every catchable signal hookinit receives is forwarded to the
 * program (its process group by default, only the program with
 * --single-child), after rewrites; SIGCHLD never is; the stop signal (TERM)
 * goes through the stop sequence.
 *
 * The program is test/fixtures/sigrecorder.c: it records every signal it
 * gets in a file, and so does a child it forks into the same process group.
 * Signals are sent to hookinit from outside its pid namespace one at a time,
 * each only after the previous one was recorded.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readLines, tempDir } from "../support/files.js";
import { fixture } from "../support/hookinit.js";
import { SIGNALS, signalNumber } from "../support/proc.js";
import { cleanupAfterEach, type Hookinit, startHookinit } from "../support/process.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

const SIGTERM = SIGNALS.SIGTERM;
const SIGQUIT = SIGNALS.SIGQUIT;

/**
 * 1..31 without SIGKILL and SIGSTOP (cannot be caught), SIGCHLD (never
 * forwarded, tested on its own), SIGTERM (the stop signal: sent last) and
 * SIGUSR1 (see the failing test below).
 */
const FORWARDABLE = Array.from({ length: 31 }, (_, i) => i + 1).filter(
  (n) => ![SIGNALS.SIGKILL, SIGNALS.SIGSTOP, SIGNALS.SIGCHLD, SIGTERM, SIGNALS.SIGUSR1].includes(n),
);

interface Recorder {
  hookinit: Hookinit;
  file: string;
  records(role: "program" | "child"): number[];
  /**
   * Sends `signal` to hookinit and waits until every role in `roles` recorded
   * `expected` (by default the signal itself) once more than before.
   */
  sendAndWait(signal: number, roles: ("program" | "child")[], expected?: number): Promise<void>;
}

async function startRecorder(
  hookinitArgs: string[],
  recorderArgs: string[],
  env: Record<string, string> = {},
): Promise<Recorder> {
  const file = join(tempDir(), "signals.log");
  const hookinit = startHookinit(
    [...hookinitArgs, "--", fixture("sigrecorder"), file, ...recorderArgs],
    { env },
  );
  const withChild = recorderArgs.includes("--child");
  await hookinit.handlersInstalled();
  await hookinit.waitForLog("started");
  await waitFor(
    "the recorder to be ready",
    () => {
      const lines = readLines(file);
      return (
        lines.some((l) => l.startsWith("program ready")) &&
        (!withChild || lines.some((l) => l.startsWith("child ready")))
      );
    },
    20_000,
    () => hookinit.describe(),
  );
  const records = (role: "program" | "child") =>
    readLines(file)
      .map((line) => /^(\w+) (\d+)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && m[1] === role)
      .map((m) => Number(m[2]));
  return {
    hookinit,
    file,
    records,
    async sendAndWait(signal, roles, expected = signal) {
      const count = (role: "program" | "child") =>
        records(role).filter((n) => n === expected).length;
      const before = roles.map(count);
      await hookinit.signal(signal);
      await waitFor(
        `signal ${signal} to reach ${roles.join(" and ")} as ${expected}`,
        () => roles.every((role, i) => count(role) > (before[i] ?? 0)),
        20_000,
        () => `${readLines(file).join(", ")}\n${hookinit.describe()}`,
      );
    },
  };
}

describe("process group mode (the default)", () => {
  it("forwards every signal from 1 to 31 to the program and its group; never SIGCHLD", async () => {
    const rec = await startRecorder([], ["--child", "--exit-on", String(SIGTERM)]);
    for (const signal of FORWARDABLE) {
      await rec.sendAndWait(signal, ["program", "child"]);
    }
    // SIGCHLD is hookinit's own. A signal sent once it was delivered is
    // handled after it, so once that one has arrived a forwarded SIGCHLD
    // would have too.
    await rec.hookinit.signalDelivered("SIGCHLD");
    await rec.sendAndWait(SIGNALS.SIGHUP, ["program", "child"]);
    // TERM, the stop signal, last: forwarded once to the group, which exits.
    await rec.hookinit.signal("SIGTERM");
    const result = await rec.hookinit.wait();

    expect(result.code, rec.hookinit.describe()).toBe(SIGTERM);
    expect(rec.records("program")).not.toContain(SIGNALS.SIGCHLD);
    expect(rec.records("child")).not.toContain(SIGNALS.SIGCHLD);
    expect(rec.records("program").filter((n) => n === SIGTERM)).toHaveLength(1);
    expect(rec.records("child")).toContain(SIGTERM);
    // Each signal arrived once per process (HUP was sent twice).
    const expected = [...FORWARDABLE, SIGNALS.SIGHUP, SIGTERM].sort((a, b) => a - b);
    expect([...rec.records("program")].sort((a, b) => a - b)).toEqual(expected);
    expect([...rec.records("child")].sort((a, b) => a - b)).toEqual(expected);

    const forwarded = rec.hookinit.logs().filter((r) => r.msg === "signal forwarded");
    expect(forwarded.every((r) => r.to === "group")).toBe(true);
    expect(forwarded.some((r) => r.signal === "SIGCHLD")).toBe(false);
  });

  // The executable is built with --disable-sigusr1, and Node then keeps
  // SIGUSR1 blocked in every thread; hookinit unblocks it on the main thread
  // (unblockSignals) once its listener exists, so it is forwarded like any
  // other signal.
  it("forwards SIGUSR1 to the program and its group", async () => {
    const rec = await startRecorder([], ["--child", "--exit-on", String(SIGTERM)]);
    await rec.hookinit.signal("SIGUSR1");
    await waitFor(
      "SIGUSR1 to reach the program and its child",
      () =>
        rec.records("program").includes(SIGNALS.SIGUSR1) &&
        rec.records("child").includes(SIGNALS.SIGUSR1),
      10_000,
    );
  });

  it("rewrites TERM to QUIT: the group gets exactly one QUIT and no TERM", async () => {
    // No --exit-on: the recorder keeps recording until the grace runs out
    // and SIGKILL ends it, so a second signal would show.
    const rec = await startRecorder(["--rewrite", "TERM:QUIT", "--grace", "2"], ["--child"]);
    await rec.sendAndWait(SIGTERM, ["program", "child"], SIGQUIT);
    const result = await rec.hookinit.wait();

    expect(result.code, rec.hookinit.describe()).toBe(128 + SIGNALS.SIGKILL);
    expect(rec.records("program")).toEqual([SIGQUIT]);
    expect(rec.records("child")).toEqual([SIGQUIT]);
    const forwarded = rec.hookinit.logs().find((r) => r.msg === "signal forwarded");
    expect(forwarded).toMatchObject({ signal: "SIGTERM", as: "SIGQUIT" });
  });

  it("rewrites a non-stop signal (USR2 to HUP) and drops one rewritten to 0", async () => {
    const rec = await startRecorder(
      ["--rewrite", "USR2:HUP", "--rewrite", "WINCH:0"],
      ["--child", "--exit-on", String(SIGTERM)],
    );
    await rec.hookinit.signal("SIGUSR2");
    await waitFor(
      "USR2 to arrive as HUP",
      () =>
        rec.records("program").includes(SIGNALS.SIGHUP) &&
        rec.records("child").includes(SIGNALS.SIGHUP),
      20_000,
      () => readLines(rec.file).join(", "),
    );
    await rec.hookinit.signalDelivered("SIGWINCH");
    await rec.sendAndWait(SIGNALS.SIGINT, ["program", "child"]);
    await rec.hookinit.signal("SIGTERM");
    await rec.hookinit.wait();
    expect(rec.records("program")).not.toContain(SIGNALS.SIGUSR2);
    expect(rec.records("program")).not.toContain(SIGNALS.SIGWINCH);
  });
});

describe("single-child mode", () => {
  it("forwards every signal from 1 to 31 to the program only, not to its group", async () => {
    const rec = await startRecorder(["--single-child"], ["--child", "--exit-on", String(SIGTERM)]);
    for (const signal of FORWARDABLE) {
      await rec.sendAndWait(signal, ["program"]);
    }
    await rec.hookinit.signalDelivered("SIGCHLD");
    await rec.sendAndWait(SIGNALS.SIGHUP, ["program"]);
    // None reached the child (checked again below, once its records are final).
    expect(rec.records("child")).toEqual([]);

    // TERM goes to the program only; once it exited, the rest of its group
    // is stopped too (the program's exit stops its group), so the child ends as well.
    await rec.hookinit.signal("SIGTERM");
    const result = await rec.hookinit.wait();
    expect(result.code, rec.hookinit.describe()).toBe(SIGTERM);
    expect(rec.records("program")).not.toContain(SIGNALS.SIGCHLD);
    // Now that both have exited their records are final: the child only got
    // the TERM that stopped the rest of the group.
    expect(rec.records("child")).toEqual([SIGTERM]);
    const forwarded = rec.hookinit.logs().filter((r) => r.msg === "signal forwarded");
    expect(forwarded.find((r) => r.signal === "SIGTERM")).toMatchObject({ to: "program" });
    expect(forwarded.filter((r) => r.signal !== "SIGTERM").every((r) => r.to === "program")).toBe(
      true,
    );
  });
});

describe("the stop signal", () => {
  it("is forwarded exactly once, even when TERM arrives several times", async () => {
    const rec = await startRecorder(["--grace", "2"], ["--child"]);
    await rec.sendAndWait(SIGTERM, ["program", "child"]);
    await rec.hookinit.signal("SIGTERM");
    await rec.hookinit.signal("SIGTERM");
    // The second and third TERM join the stop under way; the group is
    // killed when the grace runs out.
    const result = await rec.hookinit.wait();
    expect(result.code, rec.hookinit.describe()).toBe(128 + signalNumber("SIGKILL"));
    expect(rec.records("program")).toEqual([SIGTERM]);
    expect(rec.records("child")).toEqual([SIGTERM]);
  });
});
