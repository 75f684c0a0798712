/**
 * preStop runs before the stop signal reaches the
 * program, whether a client call or the stop signal itself triggered it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { cleanupAfterEach, Hookinit } from "../support/process.js";
import { termReporter } from "../support/programs.js";

cleanupAfterEach();

function preStopWritesMarker(marker: string) {
  return {
    preStop: {
      exec: { command: ["sh", "-c", 'echo prestop-output; touch "$0"', marker] },
    },
  };
}

/** The preStop output record comes before the program's TERM line in hookinit's stdout. */
function expectPreStopOutputBeforeTerm(hookinit: Hookinit): void {
  const preStopLine = hookinit.indexOf(
    (_, r) => r?.hook === "preStop" && r.stream === "stdout" && r.msg === "prestop-output",
  );
  const termLine = hookinit.indexOf((line) => line.startsWith("TERM marker="));
  expect(preStopLine, hookinit.describe()).toBeGreaterThanOrEqual(0);
  expect(termLine, hookinit.describe()).toBeGreaterThan(preStopLine);
}

describe("the program's TERM handler sees what preStop did", () => {
  it("when a client calls preStop and then SIGTERM arrives", async () => {
    const dir = tempDir();
    const marker = join(dir, "prestop-ran");
    const hookinit = await Hookinit.start({
      config: preStopWritesMarker(marker),
      dir,
      program: termReporter(marker),
    });
    await hookinit.waitForLine((line) => line === "program-up");

    const client = await hookinit.client(["hook", "preStop"]);
    expect(client.code, client.stderr).toBe(0);
    expect(client.stdout).toBe("prestop-output\n");

    // The runtime sends its stop signal once the exec hook returned.
    hookinit.signal("SIGTERM");
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(0);
    expect(hookinit.lines).toContain("TERM marker=yes");
    expect(hookinit.lines).not.toContain("TERM marker=no");
    expectPreStopOutputBeforeTerm(hookinit);
    // preStop ran once, triggered by the client, not again by the signal.
    expect(hookinit.logs().filter((r) => r.msg === "hook started")).toHaveLength(1);
    expect(hookinit.hookOutput("preStop", "stdout")).toEqual(["prestop-output"]);
  });

  it("when only SIGTERM arrives (a runtime that runs no hooks)", async () => {
    const dir = tempDir();
    const marker = join(dir, "prestop-ran");
    const hookinit = await Hookinit.start({
      config: preStopWritesMarker(marker),
      dir,
      program: termReporter(marker),
    });
    await hookinit.waitForLine((line) => line === "program-up");

    hookinit.signal("SIGTERM");
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(0);
    expect(hookinit.lines).toContain("TERM marker=yes");
    expect(hookinit.lines).not.toContain("TERM marker=no");
    expectPreStopOutputBeforeTerm(hookinit);
    const started = hookinit.logs().filter((r) => r.msg === "hook started");
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ hook: "preStop", trigger: "signal" });
  });

  it("a SIGTERM that arrives while a client's preStop still runs waits for it", async () => {
    const dir = tempDir();
    const marker = join(dir, "prestop-ran");
    const gate = join(dir, "gate");
    const hookinit = await Hookinit.start({
      config: {
        preStop: {
          exec: {
            command: [
              "sh",
              "-c",
              'echo prestop-output; while [ ! -e "$1" ]; do sleep 0.05; done; touch "$0"',
              marker,
              gate,
            ],
          },
        },
      },
      dir,
      program: termReporter(marker),
    });
    await hookinit.waitForLine((line) => line === "program-up");

    const client = hookinit.client(["hook", "preStop"]);
    await hookinit.waitForLog((r) => r.hook === "preStop" && r.msg === "prestop-output");
    hookinit.signal("SIGTERM");
    await hookinit.waitForLog((r) => r.msg === "stop signal received");
    // The signal is held back while preStop runs.
    const status = await hookinit.status();
    expect(status.phase).toBe("stopping");
    expect(status.program.running).toBe(true);
    expect(hookinit.lines.some((line) => line.startsWith("TERM marker="))).toBe(false);

    writeFileSync(gate, "");
    expect((await client).code).toBe(0);
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(0);
    expect(hookinit.lines).toContain("TERM marker=yes");
    expectPreStopOutputBeforeTerm(hookinit);
  });
});
