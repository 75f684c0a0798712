/**
 * hookinit's log and the --log-level / --log-format options: hookinit's own
 * events are JSON lines on stdout (or human-readable text), the program's
 * output passes through untouched, and sharing stdout with the program never
 * turns the program's stdout non-blocking.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { type LogRecord, programLines } from "../support/logs.js";
import { isAlive, processTree, procStatus } from "../support/proc.js";
import { cleanupAfterEach, startHookinit } from "../support/process.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

function indexOf(logs: LogRecord[], msg: string): number {
  return logs.findIndex((r) => r.msg === msg);
}

describe("JSON lines (the default)", () => {
  it("logs started, program exited and exiting, in that order, around the program's own output", async () => {
    const hookinit = startHookinit(["--", "sh", "-c", "echo program-output; exit 3"]);
    const result = await hookinit.wait();
    expect(result.code).toBe(3);

    // Every line is either the program's or a well-formed hookinit record.
    expect(programLines(result.stdout)).toEqual(["program-output"]);
    const logs = hookinit.logs();
    for (const record of logs) {
      expect(record).toMatchObject({ name: "hookinit" });
      expect(typeof record.level).toBe("string");
      expect(Number.isNaN(Date.parse(record.time))).toBe(false);
    }
    expect(logs.filter((r) => r.msg === "started")).toHaveLength(1);
    expect(logs.find((r) => r.msg === "started")).toMatchObject({
      level: "info",
      command: ["sh", "-c", "echo program-output; exit 3"],
      pid1: true,
    });
    expect(logs.find((r) => r.msg === "program exited")).toMatchObject({ code: 3, exitCode: 3 });
    expect(logs.find((r) => r.msg === "exiting")).toMatchObject({ exitCode: 3 });
    const started = indexOf(logs, "started");
    const exited = indexOf(logs, "program exited");
    const exiting = indexOf(logs, "exiting");
    expect(started).toBeGreaterThanOrEqual(0);
    expect(exited).toBeGreaterThan(started);
    expect(exiting).toBeGreaterThan(exited);
    expect(exiting).toBe(logs.length - 1);
    expect(result.stderr).toBe("");
  });

  it("logs a death by signal with the signal's name", async () => {
    const hookinit = startHookinit(["--", "sh", "-c", "kill -s HUP $$"]);
    const result = await hookinit.wait();
    expect(result.code).toBe(129);
    expect(hookinit.logs().find((r) => r.msg === "program exited")).toMatchObject({
      code: null,
      signal: "SIGHUP",
      exitCode: 129,
    });
  });

  it("logs a forwarded signal", async () => {
    const hookinit = startHookinit([
      "--",
      "sh",
      "-c",
      "trap 'echo got-int; exit 0' INT; echo ready; while :; do sleep 0.05; done",
    ]);
    await hookinit.handlersInstalled();
    await hookinit.output(/^ready$/m);
    await hookinit.signal("SIGINT");
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(0);
    expect(hookinit.logs().find((r) => r.msg === "signal forwarded")).toMatchObject({
      signal: "SIGINT",
      to: "group",
    });
  });
});

describe("--log-format text", () => {
  it("writes human-readable lines, not JSON", async () => {
    const hookinit = startHookinit([
      "--log-format",
      "text",
      "--",
      "sh",
      "-c",
      "echo program-output; exit 3",
    ]);
    const result = await hookinit.wait();
    expect(result.code).toBe(3);
    const lines = result.stdout.split("\n").filter(Boolean);
    expect(lines).toContain("program-output");
    const own = lines.filter((line) => line !== "program-output");
    expect(own.length).toBeGreaterThanOrEqual(3);
    for (const line of own) {
      expect(() => JSON.parse(line), line).toThrow();
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT\S+ +[A-Z]+ +hookinit: /);
    }
    const started = own.findIndex((l) => / hookinit: started\b/.test(l));
    const exited = own.findIndex((l) => / hookinit: program exited\b.*exitCode=3/.test(l));
    const exiting = own.findIndex((l) => / hookinit: exiting\b/.test(l));
    expect(started, result.stdout).toBeGreaterThanOrEqual(0);
    expect(exited).toBeGreaterThan(started);
    expect(exiting).toBeGreaterThan(exited);
  });
});

describe("--log-level silent", () => {
  it("prints nothing of hookinit's own; the program's output passes through byte for byte", async () => {
    const out =
      'line one\n{"name":"hookinit","msg":"not ours"}\n\ttabs \\ and \r\nno newline at the end';
    const err = "to stderr\n  indented\n";
    const hookinit = startHookinit(
      [
        "--log-level",
        "silent",
        "--",
        "sh",
        "-c",
        'printf %s "$E2E_OUT"; printf %s "$E2E_ERR" >&2; exit 4',
      ],
      { env: { E2E_OUT: out, E2E_ERR: err } },
    );
    const result = await hookinit.wait();
    expect(result.code).toBe(4);
    expect(result.stdout).toBe(out);
    expect(result.stderr).toBe(err);
  });

  it("stays silent through a forwarded signal and the stop sequence", async () => {
    const hookinit = startHookinit([
      "--log-level",
      "silent",
      "--",
      "sh",
      "-c",
      // The shell's own "Hangup" notes for its killed sleep go to /dev/null,
      // so whatever reaches stderr would be hookinit's.
      "exec 2>/dev/null; trap 'echo got-hup' HUP; trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
    ]);
    await hookinit.handlersInstalled();
    await hookinit.output(/^ready\n/);
    await hookinit.signal("SIGHUP");
    await hookinit.output(/got-hup\n/);
    await hookinit.signal("SIGTERM");
    const result = await hookinit.wait();
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("ready\ngot-hup\ngot-term\n");
    expect(result.stderr).toBe("");
  });
});

describe("the program's stdout", () => {
  // A regression test: hookinit once switched the stdout it shares with the
  // program to O_NONBLOCK (something opened process.stdout: ioctl(1, FIONBIO)),
  // so a program writing to a full pipe got EAGAIN. Nothing in hookinit may
  // touch process.stdout or process.stderr. Check by hand: `dist/hookinit
  // --log-level silent -- sh -c 'sleep 0.5; cat /proc/$$/fdinfo/1' | cat`
  // shows flags without O_NONBLOCK (04000).
  it("is not made O_NONBLOCK when it is a pipe shared with hookinit's log", async () => {
    // The program prints its fd 1 (as /proc sees the shell) before and after
    // hookinit has written log lines to the same pipe.
    const program = [
      'show() { echo "fd1 $(readlink /proc/$$/fd/1) $(sed -n "s/^flags:[[:space:]]*//p" /proc/$$/fdinfo/1)"; }',
      "show",
      "trap 'show; exit 0' USR2",
      "echo ready",
      "while :; do sleep 0.05; done",
    ].join("\n");
    const hookinit = startHookinit(["--", "sh", "-c", program], {
      // hookinit's stdout (and so the program's) is a real pipe into cat.
      wrap: (argv) => ["bash", "-c", 'set -o pipefail; "$@" | cat', "bash", ...argv],
    });
    await hookinit.handlersInstalled();
    await hookinit.waitForLog("started");
    await hookinit.output(/^ready$/m);
    await hookinit.signal("SIGUSR2");
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(0);
    expect(hookinit.logs().some((r) => r.msg === "signal forwarded")).toBe(true);

    const reports = [...result.stdout.matchAll(/^fd1 (\S+) (\d+)$/gm)];
    expect(reports, result.stdout).toHaveLength(2);
    for (const [, target, flags] of reports) {
      expect(target).toMatch(/^pipe:/);
      expect(Number.parseInt(flags as string, 8) & 0o4000, `flags ${flags}`).toBe(0);
    }
  });

  // A regression test: when hookinit's stdout had no reader any more, its own
  // log write failed with EPIPE and raised SIGPIPE in hookinit, which
  // forwarded it to the program's group (exit 141 instead of the program's 7).
  // The native guard drops a SIGPIPE the kernel raises on our own write.
  // Check: `dist/hookinit -- sh -c 'sleep 2; exit 7' | true; echo ${PIPESTATUS[0]}`.
  it("a closed log reader does not get the program killed", async () => {
    const go = join(tempDir(), "go");
    const hookinit = startHookinit(
      ["--", "sh", "-c", `while [ ! -e ${go} ]; do sleep 0.05; done; exit 7`],
      {
        pid1: false,
        // The reader takes hookinit's first line and goes away.
        wrap: (argv) => ["bash", "-c", 'set -o pipefail; "$@" | head -n 1 >&2', "bash", ...argv],
      },
    );
    const line = await waitFor("the first log line", () => /^\{.*\}$/m.exec(hookinit.stderr));
    const programPid = Number((JSON.parse(line[0]) as LogRecord).pid);
    const root = hookinit.child.pid as number;
    await waitFor(
      "the reader to exit",
      () => !processTree(root).some((pid) => procStatus(pid)?.name === "head" && isAlive(pid)),
    );
    // hookinit's next log line ("signal forwarded") now hits a closed pipe.
    await hookinit.signal("SIGURG");
    // Give a forwarded SIGPIPE ample time to land before the program exits.
    await waitFor("the program to be killed", () => !isAlive(programPid), 5_000).catch(
      () => undefined,
    );
    writeFileSync(go, "");
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(7);
  });
});
