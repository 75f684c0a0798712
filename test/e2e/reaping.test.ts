/**
 * Every orphan is reaped (as PID 1 and, when not PID 1,
 * as a child subreaper that says so once); when the program exits, the rest
 * of its process group gets the stop signal, then SIGKILL when the grace runs
 * out, and hookinit exits with the program's code.
 *
 * The orphan maker is test/fixtures/orphans.c: double forks, then it watches
 * /proc from inside hookinit's pid namespace until its parent (hookinit) has
 * no other child left, and prints what it saw.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { fixture } from "../support/hookinit.js";
import type { LogRecord } from "../support/logs.js";
import {
  childrenOf,
  isAlive,
  SIGNALS,
  zombieChildrenOf,
  zombiesInNamespace,
} from "../support/proc.js";
import { cleanupAfterEach, startHookinit } from "../support/process.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

const CENSUS = /orphans=(\d+) left=(\d+) zombies=(\d+) namespace_zombies=(\d+)/;

function orphansReaped(logs: LogRecord[]): number {
  return logs
    .filter((r) => r.msg === "orphans reaped")
    .reduce((sum, r) => sum + Number(r.count), 0);
}

/** Messages in log order, with the index of the first occurrence of each. */
function order(logs: LogRecord[], ...messages: (string | RegExp)[]): number[] {
  return messages.map((m) =>
    logs.findIndex((r) => (typeof m === "string" ? r.msg === m : m.test(r.msg))),
  );
}

describe("as PID 1 of a pid namespace", () => {
  it("reaps 1,000 orphans left by double forks: no zombie remains", async () => {
    const hookinit = startHookinit([
      "--",
      fixture("orphans"),
      "1000", // orphans
      "300", // each lives 300 ms
      "30000", // the program gives up waiting for them to be reaped after 30 s
      "--hold",
    ]);
    const census = await hookinit.output(CENSUS, 90_000);
    // Seen from inside the namespace by the program itself: nothing but the
    // program is left under hookinit, and no zombie anywhere.
    expect(census.slice(1).map(Number), hookinit.describe()).toEqual([1000, 0, 0, 0]);
    await hookinit.output(/^holding$/m);

    // Seen the way a runtime's exec sees it, while hookinit still runs.
    const pid = await hookinit.hostPid();
    expect(zombiesInNamespace(pid)).toBe(0);
    expect(zombieChildrenOf(pid)).toEqual([]);

    await hookinit.signal("SIGTERM");
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(128 + SIGNALS.SIGTERM);
    expect(orphansReaped(hookinit.logs())).toBeGreaterThanOrEqual(1000);
  }, 120_000);

  it("kills a grandchild that ignores TERM at the end of the grace and exits with the program's code", async () => {
    const hookinit = startHookinit([
      "--grace",
      "1",
      "--",
      "sh",
      "-c",
      // The trap is set before the fork, so the background sleep starts with
      // TERM ignored; the program itself exits 0 at once.
      'trap "" TERM; sleep 1000 & exit 0',
    ]);
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(0);
    // It waited for the grace (a lower bound only).
    expect(result.elapsedMs).toBeGreaterThanOrEqual(1000);

    const logs = hookinit.logs();
    expect(logs.find((r) => r.msg === "program exited")).toMatchObject({ code: 0, exitCode: 0 });
    const [exited, stopping, graceOver, exiting] = order(
      logs,
      "program exited",
      /stopping the rest of its process group/,
      /^grace period over/,
      "exiting",
    );
    expect(exited, hookinit.describe()).toBeGreaterThanOrEqual(0);
    expect(stopping).toBeGreaterThan(exited as number);
    expect(graceOver).toBeGreaterThan(stopping as number);
    expect(exiting).toBeGreaterThan(graceOver as number);
    expect(logs.find((r) => r.msg === "exiting")).toMatchObject({ exitCode: 0 });
    expect(logs.some((r) => /survived SIGKILL/.test(r.msg))).toBe(false);
  });

  it("after a stop signal, kills a TERM-ignoring grandchild at the end of the grace", async () => {
    const hookinit = startHookinit([
      "--grace",
      "1",
      "--",
      "sh",
      "-c",
      // The background sleep ignores TERM; the shell itself dies of it.
      'trap "" TERM; sleep 1000 & trap - TERM; echo started; wait',
    ]);
    await hookinit.handlersInstalled();
    await hookinit.output(/^started$/m);
    const sentAt = Date.now();
    await hookinit.signal("SIGTERM");
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(128 + SIGNALS.SIGTERM);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1000);
    expect(hookinit.logs().some((r) => /^grace period over/.test(r.msg))).toBe(true);
  });
});

describe("not PID 1: a child subreaper", () => {
  it("says so once and reaps the orphans of the program", async () => {
    const hookinit = startHookinit(["--", fixture("orphans"), "1000", "300", "30000", "--hold"], {
      pid1: false,
    });
    const started = await hookinit.waitForLog("started");
    expect(started.pid1).toBe(false);
    const programPid = Number(started.pid);
    const census = await hookinit.output(CENSUS, 90_000);
    expect(census.slice(1, 4).map(Number), hookinit.describe()).toEqual([1000, 0, 0]);
    await hookinit.output(/^holding$/m);

    // From the host, while hookinit runs: hookinit's only child is the
    // program; no orphan and no zombie is left under it.
    const pid = await hookinit.hostPid();
    const others = await waitFor(
      "hookinit to have no child but the program",
      () => {
        const rest = childrenOf(pid).filter((p) => p.pid !== programPid);
        return rest.length === 0 ? rest : undefined;
      },
      20_000,
      () => JSON.stringify(childrenOf(pid)),
    );
    expect(others).toEqual([]);
    expect(zombieChildrenOf(pid)).toEqual([]);

    await hookinit.signal("SIGTERM");
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(128 + SIGNALS.SIGTERM);
    const logs = hookinit.logs();
    const subreaper = logs.filter((r) => /child subreaper/.test(r.msg));
    expect(subreaper).toHaveLength(1);
    expect(subreaper[0]).toMatchObject({ hookinitPid: pid });
    expect(orphansReaped(logs)).toBeGreaterThanOrEqual(1000);
  }, 120_000);

  it("kills a TERM-ignoring grandchild at the end of the grace; it is really gone", async () => {
    const pidFile = join(tempDir(), "grandchild.pid");
    const hookinit = startHookinit(
      ["--grace", "1", "--", "sh", "-c", `trap "" TERM; sleep 1000 & echo $! > ${pidFile}; exit 7`],
      { pid1: false },
    );
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(7);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(1000);
    const grandchild = Number(readFileSync(pidFile, "utf8").trim());
    expect(grandchild).toBeGreaterThan(0);
    expect(isAlive(grandchild)).toBe(false);
    expect(hookinit.logs().some((r) => /^grace period over/.test(r.msg))).toBe(true);
  });
});
