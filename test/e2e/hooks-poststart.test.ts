/**
 * postStart runs once right after the program starts;
 * its failure stops the program through the normal stop path (preStop, then
 * the stop signal) and hookinit exits 3. `hookinit ready` follows it.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { cleanupAfterEach, Hookinit } from "../support/process.js";
import { termReporter } from "../support/programs.js";
import { sleep, waitFor } from "../support/wait.js";

cleanupAfterEach();

/** hookinit's documented exit code for a failed postStart (src/supervisor/supervisor.ts). */
const EXIT_POSTSTART_FAILED = 3;

/** `sh -c` that waits until `gate` exists, then runs `then`. */
function gated(gate: string, then: string): string[] {
  return ["sh", "-c", `while [ ! -e "$0" ]; do sleep 0.05; done; ${then}`, gate];
}

describe("postStart failure", () => {
  it("stops the program after preStop, logs the output, exits 3", async () => {
    const dir = tempDir();
    const marker = join(dir, "prestop-ran");
    const hookinit = await Hookinit.start({
      config: {
        postStart: { exec: { command: ["sh", "-c", "echo boom >&2; exit 1"] } },
        preStop: { exec: { command: ["touch", marker] } },
      },
      dir,
      program: termReporter(marker),
    });
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(EXIT_POSTSTART_FAILED);

    // The program was stopped with TERM, after preStop.
    expect(hookinit.lines).toContain("TERM marker=yes");
    expect(hookinit.lines).not.toContain("TERM marker=no");
    // "boom" is in the container log, attributed to postStart's stderr.
    const boom = hookinit.logs().filter((r) => r.msg === "boom");
    expect(boom).toHaveLength(1);
    expect(boom[0]).toMatchObject({ name: "hookinit", hook: "postStart", stream: "stderr" });
    expect(
      hookinit.logs().find((r) => r.hook === "postStart" && r.msg === "hook finished"),
    ).toMatchObject({ exitCode: 1 });
    // preStop ran once, because of the failed postStart.
    const preStops = hookinit
      .logs()
      .filter((r) => r.hook === "preStop" && r.msg === "hook started");
    expect(preStops).toHaveLength(1);
  });

  it("a client calling postStart gets the failure, and ready says no before and after", async () => {
    const dir = tempDir();
    const gate = join(dir, "poststart-gate");
    const preStopGate = join(dir, "prestop-gate");
    const marker = join(dir, "prestop-ran");
    const hookinit = await Hookinit.start({
      config: {
        postStart: { exec: { command: gated(gate, "echo boom >&2; exit 1") } },
        preStop: {
          exec: {
            command: [
              "sh",
              "-c",
              'touch "$0"; while [ ! -e "$1" ]; do sleep 0.05; done',
              marker,
              preStopGate,
            ],
          },
        },
      },
      dir,
      program: termReporter(marker),
    });
    await hookinit.waitForLine((line) => line === "program-up");

    // Before: postStart has not finished.
    const before = await hookinit.client(["ready"]);
    expect(before.code).not.toBe(0);
    expect(before.code).not.toBe(69);
    expect(before.stderr).toMatch(/not ready/);
    const status = await hookinit.status();
    expect(status).toMatchObject({ phase: "starting", ready: false });
    expect(status.hooks.postStart).toMatchObject({ state: "running", trigger: "started" });

    // A client call joins the run the supervisor started (while it runs,
    // or just after: either way it gets the same result and output).
    const client = hookinit.client(["hook", "postStart"]);
    await sleep(500);
    writeFileSync(gate, "");
    const result = await client;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("boom");

    // After: the stop sequence holds in preStop, the program still runs.
    await waitFor("preStop to run", () => existsSync(marker));
    const after = await hookinit.client(["ready"]);
    expect(after.code).not.toBe(0);
    expect(after.code).not.toBe(69);
    const stopping = await hookinit.status();
    expect(stopping).toMatchObject({ phase: "stopping", ready: false });
    expect(stopping.hooks.postStart).toMatchObject({ state: "failed", exitCode: 1 });
    expect(stopping.program.running).toBe(true);

    writeFileSync(preStopGate, "");
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(EXIT_POSTSTART_FAILED);
    expect(hookinit.lines).toContain("TERM marker=yes");
    expect(
      hookinit.logs().filter((r) => r.hook === "postStart" && r.msg === "hook started"),
    ).toHaveLength(1);
  });
});

describe("healthy postStart", () => {
  it("ready is non-zero while postStart runs and 0 once it succeeded", async () => {
    const dir = tempDir();
    const gate = join(dir, "gate");
    const hookinit = await Hookinit.start({
      config: { postStart: { exec: { command: gated(gate, "echo warmed-up") } } },
      dir,
      program: ["sh", "-c", "trap 'exit 0' TERM; echo program-up; sleep 100000 & wait"],
    });
    await hookinit.waitForLine((line) => line === "program-up");
    const before = await hookinit.client(["ready"]);
    expect(before.code).not.toBe(0);
    expect(before.code).not.toBe(69);

    writeFileSync(gate, "");
    await hookinit.waitForLog((r) => r.hook === "postStart" && r.msg === "hook finished");
    const ready = await hookinit.client(["ready"]);
    expect(ready.code, ready.stderr).toBe(0);
    const status = await hookinit.status();
    expect(status).toMatchObject({ phase: "running", ready: true });
    expect(status.hooks.postStart).toMatchObject({ state: "succeeded", exitCode: 0 });
    expect(hookinit.hookOutput("postStart", "stdout")).toEqual(["warmed-up"]);

    // A client call after the run gets the same result, without a second run.
    const late = await hookinit.client(["hook", "post-start"]);
    expect(late.code).toBe(0);
    expect(late.stdout).toBe("warmed-up\n");
    expect(hookinit.logs().filter((r) => r.msg === "hook started")).toHaveLength(1);

    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code).toBe(0);
  });
});
