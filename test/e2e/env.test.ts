/**
 * The command line: every option is also settable as the
 * environment variable HOOKINIT_<NAME>; a flag given on the command line wins.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readLines, tempDir } from "../support/files.js";
import { fixture } from "../support/hookinit.js";
import { SIGNALS } from "../support/proc.js";
import { cleanupAfterEach, startHookinit } from "../support/process.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

/** A program that exits 0 and leaves a grandchild that ignores TERM. */
const STUBBORN_GRANDCHILD = ["sh", "-c", 'trap "" TERM; sleep 1000 & exit 0'];

describe("HOOKINIT_GRACE", () => {
  it("sets the grace before SIGKILL like --grace", async () => {
    const hookinit = startHookinit(["--", ...STUBBORN_GRANDCHILD], {
      env: { HOOKINIT_GRACE: "1" },
    });
    // With the default of 30 s this would time out.
    const result = await hookinit.wait(25_000);
    expect(result.code, hookinit.describe()).toBe(0);
    expect(result.elapsedMs).toBeGreaterThanOrEqual(1000);
    expect(hookinit.logs().find((r) => /^grace period over/.test(r.msg))).toMatchObject({
      graceSeconds: 1,
    });
  });

  it("is overridden by --grace", async () => {
    const hookinit = startHookinit(["--grace", "1", "--", ...STUBBORN_GRANDCHILD], {
      env: { HOOKINIT_GRACE: "600" },
    });
    const result = await hookinit.wait(25_000);
    expect(result.code, hookinit.describe()).toBe(0);
    expect(hookinit.logs().find((r) => /^grace period over/.test(r.msg))).toMatchObject({
      graceSeconds: 1,
    });
  });
});

describe("HOOKINIT_SINGLE_CHILD=1", () => {
  it("signals only the program, like --single-child", async () => {
    const file = join(tempDir(), "signals.log");
    const hookinit = startHookinit(
      ["--", fixture("sigrecorder"), file, "--child", "--exit-on", String(SIGNALS.SIGTERM)],
      { env: { HOOKINIT_SINGLE_CHILD: "1" } },
    );
    await hookinit.handlersInstalled();
    expect(await hookinit.waitForLog("started")).toMatchObject({ singleChild: true });
    await waitFor(
      "the recorder and its child",
      () => readLines(file).filter((l) => / ready /.test(l)).length === 2,
    );
    await hookinit.signal("SIGUSR2");
    await waitFor(
      "USR2 to reach the program",
      () => readLines(file).includes(`program ${SIGNALS.SIGUSR2}`),
      20_000,
      () => readLines(file).join(", "),
    );
    expect(readLines(file).filter((l) => l.startsWith("child ") && !/ ready /.test(l))).toEqual([]);
    await hookinit.signal("SIGTERM");
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(SIGNALS.SIGTERM);
    expect(hookinit.logs().find((r) => r.msg === "signal forwarded")).toMatchObject({
      signal: "SIGUSR2",
      to: "program",
    });
  });
});

describe("HOOKINIT_REWRITE", () => {
  it("rewrites TERM to QUIT like --rewrite TERM:QUIT", async () => {
    const file = join(tempDir(), "signals.log");
    const hookinit = startHookinit(
      ["--", fixture("sigrecorder"), file, "--exit-on", String(SIGNALS.SIGQUIT)],
      { env: { HOOKINIT_REWRITE: "TERM:QUIT" } },
    );
    await hookinit.handlersInstalled();
    await hookinit.waitForLog("started");
    await waitFor("the recorder", () => readLines(file).some((l) => / ready /.test(l)));
    await hookinit.signal("SIGTERM");
    const result = await hookinit.wait();
    // The recorder exits with the number of the signal that stopped it.
    expect(result.code, hookinit.describe()).toBe(SIGNALS.SIGQUIT);
    expect(readLines(file).filter((l) => !/ ready /.test(l))).toEqual([
      `program ${SIGNALS.SIGQUIT}`,
    ]);
  });
});

describe("HOOKINIT_LOG_FORMAT and HOOKINIT_LOG_LEVEL", () => {
  it("HOOKINIT_LOG_FORMAT=text gives text lines like --log-format text", async () => {
    const hookinit = startHookinit(["--", "sh", "-c", "exit 0"], {
      env: { HOOKINIT_LOG_FORMAT: "text" },
    });
    const result = await hookinit.wait();
    expect(result.code).toBe(0);
    expect(hookinit.logs()).toEqual([]);
    expect(result.stdout).toMatch(/ hookinit: started\b/);
    expect(result.stdout).toMatch(/ hookinit: exiting\b/);
  });

  it("--log-format json wins over HOOKINIT_LOG_FORMAT=text", async () => {
    const hookinit = startHookinit(["--log-format", "json", "--", "sh", "-c", "exit 0"], {
      env: { HOOKINIT_LOG_FORMAT: "text" },
    });
    await hookinit.wait();
    expect(hookinit.logs().map((r) => r.msg)).toContain("started");
  });

  it("HOOKINIT_LOG_LEVEL=silent prints nothing of hookinit's own", async () => {
    const hookinit = startHookinit(["--", "sh", "-c", "echo only-this; exit 0"], {
      env: { HOOKINIT_LOG_LEVEL: "silent" },
    });
    const result = await hookinit.wait();
    expect(result.stdout).toBe("only-this\n");
  });
});
