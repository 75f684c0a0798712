/**
 * After the program exits, and our postStop extension: preStop after the program has
 * exited fails with a clear message; postStop runs after the program exits
 * and hookinit still exits with the program's code.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { cleanupAfterEach, Hookinit } from "../support/process.js";

cleanupAfterEach();

describe("after the program exited on its own", () => {
  it("preStop fails with a clear message; postStop runs; hookinit exits with the program's code", async () => {
    const dir = tempDir();
    const preStopMarker = join(dir, "prestop-ran");
    const gate = join(dir, "poststop-gate");
    const hookinit = await Hookinit.start({
      config: {
        preStop: { exec: { command: ["touch", preStopMarker] } },
        // Holds hookinit alive until the test opens the gate (the grace, 30 s, is the backstop).
        postStop: {
          exec: {
            command: [
              "sh",
              "-c",
              'echo poststop-ran; while [ ! -e "$0" ]; do sleep 0.05; done; echo poststop-done',
              gate,
            ],
          },
        },
      },
      dir,
      program: ["sh", "-c", "sleep 1; exit 5"],
    });
    await hookinit.waitForLog((r) => r.msg === "program exited");
    await hookinit.waitForLog((r) => r.hook === "postStop" && r.msg === "poststop-ran");

    const status = await hookinit.status();
    expect(status).toMatchObject({
      phase: "exited",
      ready: false,
      program: { running: false, exitCode: 5 },
      hooks: { postStop: { state: "running", handler: "exec" }, preStop: { state: "pending" } },
    });

    const client = await hookinit.client(["hook", "preStop"]);
    expect(client.code).not.toBe(0);
    expect(client.code).not.toBe(69);
    expect(client.stderr).toMatch(/already exited/);
    expect(client.stderr.trimEnd().split("\n")).toHaveLength(1);

    writeFileSync(gate, "");
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(5);
    expect(existsSync(preStopMarker)).toBe(false);
    expect(hookinit.hookOutput("postStop", "stdout")).toEqual(["poststop-ran", "poststop-done"]);

    // postStop came after the program exited, and hookinit's exit after postStop.
    const logs = hookinit.logs();
    const exited = logs.findIndex((r) => r.msg === "program exited");
    const postStopStarted = logs.findIndex(
      (r) => r.hook === "postStop" && r.msg === "hook started",
    );
    const postStopFinished = logs.findIndex(
      (r) => r.hook === "postStop" && r.msg === "hook finished",
    );
    const exiting = logs.findIndex((r) => r.msg === "exiting");
    expect(exited).toBeGreaterThanOrEqual(0);
    expect(postStopStarted).toBeGreaterThan(exited);
    expect(postStopFinished).toBeGreaterThan(postStopStarted);
    expect(exiting).toBeGreaterThan(postStopFinished);
    expect(logs[exited]).toMatchObject({ exitCode: 5 });
    expect(logs[exiting]).toMatchObject({ exitCode: 5 });
    expect(logs.filter((r) => r.hook === "preStop" && r.msg === "hook started")).toEqual([]);
  });

  it("with the brief's timing: `sleep 1` and a postStop `sleep 3`", async () => {
    const hookinit = await Hookinit.start({
      config: {
        preStop: { exec: { command: ["true"] } },
        postStop: { exec: { command: ["sh", "-c", "echo poststop-ran; sleep 3"] } },
      },
      program: ["sleep", "1"],
    });
    await hookinit.waitForLog((r) => r.hook === "postStop" && r.msg === "poststop-ran");
    const client = await hookinit.client(["hook", "preStop"]);
    // Normally within postStop's 3 s; if hookinit was already gone the call
    // fails too (but differently), so only assert the message when it was there.
    expect(client.code).not.toBe(0);
    if (hookinit.exit === undefined) expect(client.stderr).toMatch(/already exited/);
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(0);
    expect(hookinit.hookOutput("postStop")).toEqual(["poststop-ran"]);
  });

  it("a program killed by a signal: postStop runs, hookinit exits 128+N", async () => {
    const hookinit = await Hookinit.start({
      config: { postStop: { exec: { command: ["echo", "cleaned-up"] } } },
      program: ["sh", "-c", "kill -USR1 $$"],
    });
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(128 + 10);
    expect(hookinit.hookOutput("postStop", "stdout")).toEqual(["cleaned-up"]);
  });
});
