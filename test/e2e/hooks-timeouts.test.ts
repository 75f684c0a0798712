/**
 * One grace budget and per-hook timeouts: a preStop that hangs is cut off by the grace budget,
 * the program still gets its stop signal and then SIGKILL; a hook's own
 * timeoutSeconds kills the handler's whole process group.
 */
import { describe, expect, it } from "vitest";
import { timeOf } from "../support/logs.js";
import { cleanupAfterEach, Hookinit } from "../support/process.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

/** Prints the time (ms) of every TERM it gets, and keeps running. */
const IGNORES_TERM = [
  "sh",
  "-c",
  [
    `trap 'echo "got-TERM $(date +%s%3N)"' TERM`,
    "echo program-up",
    "while :; do sleep 0.2; done",
  ].join("\n"),
];

/** Timing slack for lower bounds: Node timers and the ms clock may round down a little. */
const SLACK_MS = 50;

describe("a preStop that hangs", () => {
  it("the program gets TERM only when the grace is spent, SIGKILL about 2 s later; exit 137", async () => {
    const hookinit = await Hookinit.start({
      config: { preStop: { exec: { command: ["sleep", "1000"] } } },
      grace: 2,
      program: IGNORES_TERM,
    });
    await hookinit.waitForLine((line) => line === "program-up");

    const sentAt = Date.now();
    hookinit.signal("SIGTERM");
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(137);

    const logs = hookinit.logs();
    const received = hookinit.logRecord((r) => r.msg === "stop signal received");
    const spent = hookinit.logRecord((r) => r.msg === "grace period spent");
    const forwarded = hookinit.logRecord(
      (r) => r.msg === "signal forwarded" && r.signal === "SIGTERM",
    );
    const killed = hookinit.logRecord((r) =>
      r.msg.startsWith("grace period over: sending SIGKILL"),
    );
    const preStop = hookinit.logRecord((r) => r.hook === "preStop" && r.msg === "hook finished");
    const exited = hookinit.logRecord((r) => r.msg === "program exited");

    // The program saw exactly one TERM, and only once the 2 s grace was spent.
    const terms = hookinit.lines.filter((line) => line.startsWith("got-TERM "));
    expect(terms, hookinit.describe()).toHaveLength(1);
    const termAt = Number(terms[0]?.split(" ")[1]);
    expect(termAt - sentAt).toBeGreaterThanOrEqual(2000 - SLACK_MS);
    expect(termAt - timeOf(received)).toBeGreaterThanOrEqual(2000 - SLACK_MS);
    expect(timeOf(forwarded) - timeOf(received)).toBeGreaterThanOrEqual(2000 - SLACK_MS);
    // The program keeps its 2 s window after the stop signal, then SIGKILL.
    expect(timeOf(killed) - timeOf(forwarded)).toBeGreaterThanOrEqual(2000 - SLACK_MS);
    // The order of events in the log.
    const order = [received, spent, forwarded, killed, exited].map((r) => logs.indexOf(r));
    expect(order).toEqual([...order].sort((a, b) => a - b));

    // The hung preStop was stopped by the end of the grace: 124.
    expect(preStop).toMatchObject({ exitCode: 124 });
    expect(exited).toMatchObject({ signal: "SIGKILL", exitCode: 137 });
  });

  it("a program that honours TERM exits with its own code after the cut-off preStop", async () => {
    const hookinit = await Hookinit.start({
      config: { preStop: { exec: { command: ["sleep", "1000"] } } },
      grace: 2,
      program: ["sh", "-c", "trap 'exit 42' TERM; echo program-up; sleep 100000 & wait"],
    });
    await hookinit.waitForLine((line) => line === "program-up");
    hookinit.signal("SIGTERM");
    const exit = await hookinit.wait();
    expect(exit.code, hookinit.describe()).toBe(42);
    expect(
      hookinit.logs().find((r) => r.hook === "preStop" && r.msg === "hook finished"),
    ).toMatchObject({ exitCode: 124 });
  });
});

describe("a hook with timeoutSeconds", () => {
  it("has its whole process group killed and reports 124", async () => {
    const hookinit = await Hookinit.start({
      config: {
        preStop: {
          timeoutSeconds: 1,
          exec: { command: ["sh", "-c", "sleep 1000 & echo bg=$!; sleep 1000"] },
        },
      },
      program: ["sh", "-c", "trap 'exit 0' TERM; echo program-up; sleep 100000 & wait"],
    });
    await hookinit.waitForLine((line) => line === "program-up");

    const client = await hookinit.client(["hook", "preStop"]);
    expect(client.code, client.stderr).toBe(124);
    expect(client.stdout).toMatch(/^bg=\d+\n$/);
    expect(client.stderr).toContain("timed out");
    expect(hookinit.hookOutput("preStop", "stdout")).toEqual([client.stdout.trim()]);
    expect(
      hookinit.logs().find((r) => r.hook === "preStop" && r.msg === "hook finished"),
    ).toMatchObject({ exitCode: 124 });

    // Nothing of the handler is left in the namespace: not the shell, not
    // its background sleep (reparented to PID 1, which must reap it).
    const isSleep1000 = (argv: string[]) =>
      argv.length === 2 && argv[0] === "sleep" && argv[1] === "1000";
    await waitFor(
      "no `sleep 1000` left in the namespace",
      () => !hookinit.namespaceProcesses().some((p) => isSleep1000(p.argv)),
      30_000,
      () => JSON.stringify(hookinit.namespaceProcesses()),
    );
    // The same, seen from inside the namespace.
    const bgPid = client.stdout.trim().slice("bg=".length);
    const inside = await hookinit.nsenter([
      "sh",
      "-c",
      `cat /proc/${bgPid}/cmdline 2>/dev/null; true`,
    ]);
    expect(inside.stdout.split("\0").slice(0, 2)).not.toEqual(["sleep", "1000"]);

    // The program still runs (a timed-out client preStop waits for the stop signal).
    expect((await hookinit.status()).program.running).toBe(true);
    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code).toBe(0);
  });
});

describe("a handler that leaves a background process holding its output", () => {
  it("the client returns while that process still runs (containerd waits for the pipes)", async () => {
    const hookinit = await Hookinit.start({
      config: { preStop: { exec: { command: ["sh", "-c", "sleep 31 & echo started"] } } },
      program: ["sh", "-c", "trap 'exit 0' TERM; echo program-up; sleep 100000 & wait"],
    });
    await hookinit.waitForLine((line) => line === "program-up");
    // run() resolves only once every holder of the client's stdout closed it.
    const client = await hookinit.client(["hook", "preStop"]);
    expect(client.code, client.stderr).toBe(0);
    expect(client.stdout).toBe("started\n");
    const isSleep31 = (argv: string[]) => argv.join(" ") === "sleep 31";
    expect(hookinit.namespaceProcesses().some((p) => isSleep31(p.argv))).toBe(true);
    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code).toBe(0);
  });
});
