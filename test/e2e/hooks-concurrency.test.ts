/**
 * preStop runs once (concurrent calls join and get its exit code), and
 * every line of a hook's output reaches the container log
 * and the caller, once and in order).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { lines } from "../support/logs.js";
import { cleanupAfterEach, Hookinit } from "../support/process.js";
import { WAIT_FOR_TERM } from "../support/programs.js";
import { sleep } from "../support/wait.js";

cleanupAfterEach();

describe("concurrent preStop calls", () => {
  it("10 clients at once: the handler runs once, all 10 exit with its code", async () => {
    const dir = tempDir();
    const ran = join(dir, "ran");
    const hookinit = await Hookinit.start({
      config: {
        preStop: {
          exec: {
            command: ["sh", "-c", 'echo run >> "$0"; echo draining; sleep 1; exit 7', ran],
          },
        },
      },
      dir,
      program: WAIT_FOR_TERM,
    });
    await hookinit.waitForLine((line) => line === "program-up");

    const clients = await Promise.all(
      Array.from({ length: 10 }, () => hookinit.client(["hook", "preStop"])),
    );
    for (const client of clients) {
      expect(client.code, client.stderr).toBe(7);
      // Every caller gets the output, also one that joined late.
      expect(client.stdout).toBe("draining\n");
    }
    expect(readFileSync(ran, "utf8")).toBe("run\n");
    expect(hookinit.logs().filter((r) => r.msg === "hook started")).toHaveLength(1);
    expect(hookinit.hookOutput("preStop")).toEqual(["draining"]);

    // A repeated call (at-least-once delivery) gets the same result, without a second run.
    const again = await hookinit.client(["hook", "pre-stop"]);
    expect(again.code).toBe(7);
    expect(readFileSync(ran, "utf8")).toBe("run\n");

    const status = await hookinit.status();
    expect(status.hooks.preStop).toMatchObject({ state: "failed", exitCode: 7 });
    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code).toBe(0);
    expect(readFileSync(ran, "utf8")).toBe("run\n");
  });
});

describe("a hook that prints 100,000 lines", () => {
  it("every line once, in order, in hookinit's stdout and at the client", async () => {
    const count = 100_000;
    const hookinit = await Hookinit.start({
      config: { preStop: { exec: { command: ["seq", "1", String(count)] } } },
      program: WAIT_FOR_TERM,
    });
    await hookinit.waitForLine((line) => line === "program-up");

    const client = await hookinit.client(["hook", "preStop"]);
    expect(client.code, client.stderr).toBe(0);
    const expected = Array.from({ length: count }, (_, i) => String(i + 1));

    const atClient = lines(client.stdout);
    expect(atClient.length).toBe(count);
    expect(atClient).toEqual(expected);

    await hookinit.waitForLog((r) => r.hook === "preStop" && r.msg === "hook finished");
    const records = hookinit.logs().filter((r) => r.hook === "preStop" && r.stream !== undefined);
    expect(records.every((r) => r.stream === "stdout" && r.partial === undefined)).toBe(true);
    const inLog = records.map((r) => r.msg);
    expect(inLog.length).toBe(count);
    expect(inLog).toEqual(expected);

    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code).toBe(0);
  });

  it("stdout and stderr lines both arrive, attributed to their stream, in order per stream", async () => {
    const count = 20_000;
    const hookinit = await Hookinit.start({
      config: {
        preStop: {
          exec: {
            command: [
              "sh",
              "-c",
              'i=1; while [ $i -le "$0" ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done',
              String(count),
            ],
          },
        },
      },
      program: WAIT_FOR_TERM,
    });
    await hookinit.waitForLine((line) => line === "program-up");
    const client = await hookinit.client(["hook", "preStop"]);
    expect(client.code, client.stderr).toBe(0);
    const out = Array.from({ length: count }, (_, i) => `out ${i + 1}`);
    const err = Array.from({ length: count }, (_, i) => `err ${i + 1}`);
    expect(lines(client.stdout)).toEqual(out);
    expect(lines(client.stderr)).toEqual(err);
    await hookinit.waitForLog((r) => r.hook === "preStop" && r.msg === "hook finished");
    expect(hookinit.hookOutput("preStop", "stdout")).toEqual(out);
    expect(hookinit.hookOutput("preStop", "stderr")).toEqual(err);
  });

  /*
   * Regression (found by these tests at bac7b18): lingerAfterExit() in
   * src/hooks/handlers.ts destroyed an exec handler's pipes 1 s after the
   * handler exited, even while hookinit itself had stopped reading them
   * because its stdout (the container log) was backed up. The handler's last
   * output, still in the pipe, was dropped without a word, the hook
   * "succeeded" and the client exited 0 (25,000 lines -> 20,966). Under load
   * the 100,000-line test above lost lines the same way.
   */
  it("a container log that stalls for 4 s loses nothing", async () => {
    // Sizes around hookinit's read-ahead (two 64 KB reads) plus a pipe buffer.
    const sizes = [25_000, 30_000, 60_000];
    const results = await Promise.all(
      sizes.map(async (count) => {
        const hookinit = await Hookinit.start({
          config: { preStop: { exec: { command: ["seq", "1", String(count)] } } },
          program: WAIT_FOR_TERM,
        });
        await hookinit.waitForLine((line) => line === "program-up");
        hookinit.child.stdout?.pause();
        const client = hookinit.client(["hook", "preStop"]);
        await sleep(4000);
        hookinit.child.stdout?.resume();
        const result = await client;
        await hookinit.waitForLog((r) => r.hook === "preStop" && r.msg === "hook finished");
        return {
          count,
          code: result.code,
          atClient: lines(result.stdout).length,
          inLog: hookinit.hookOutput("preStop").length,
        };
      }),
    );
    expect(results).toEqual(
      sizes.map((count) => ({ count, code: 0, atClient: count, inLog: count })),
    );
  });
});
