/**
 * Exit codes (README, "Exit codes"): the program's own; 128+N when signal N
 * killed it; 127 not found, 126 not executable; 2 for usage errors; 72 for a
 * missing native helper; each failure with one line on stderr naming the
 * problem. hookinit runs as PID 1 of a fresh pid namespace throughout.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { copyHookinit } from "../support/hookinit.js";
import { lines, parseLogLines } from "../support/logs.js";
import { SIGNALS } from "../support/proc.js";
import { cleanupAfterEach, runHookinit, startHookinit } from "../support/process.js";

cleanupAfterEach();

// No core files when a program dies by QUIT (and those tests run in a temporary directory).
const NO_CORE = "ulimit -c 0";

describe("the program's exit code passes through", () => {
  it.each([0, 1, 42, 255])("exit %i", async (code) => {
    const result = await runHookinit(["--", "sh", "-c", `exit ${code}`]);
    expect(result.code, result.stderr).toBe(code);
    expect(result.stderr).toBe("");
  });
});

describe("death by signal N gives 128+N", () => {
  const selfKilled = ["TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "KILL"] as const;

  it.each(selfKilled)("the program kills itself with SIG%s", async (name) => {
    const result = await runHookinit(["--", "sh", "-c", `${NO_CORE}; kill -s ${name} $$`], {
      cwd: tempDir(),
    });
    expect(result.code, result.stdout + result.stderr).toBe(128 + SIGNALS[`SIG${name}`]);
    const exited = parseLogLines(result.stdout).find((r) => r.msg === "program exited");
    expect(exited).toMatchObject({ code: null, signal: `SIG${name}` });
  });

  const forwarded = ["TERM", "INT", "HUP", "QUIT", "USR2"] as const;

  it.each(forwarded)("SIG%s sent to hookinit is forwarded and kills the program", async (name) => {
    const hookinit = startHookinit(["--", "sh", "-c", `${NO_CORE}; exec sleep 100`], {
      cwd: tempDir(),
    });
    await hookinit.handlersInstalled();
    await hookinit.waitForLog("started");
    await hookinit.signal(`SIG${name}`);
    const result = await hookinit.wait();
    expect(result.code, hookinit.describe()).toBe(128 + SIGNALS[`SIG${name}`]);
  });

  // The executable is built with --disable-sigusr1, which leaves SIGUSR1
  // blocked in every thread; hookinit unblocks it on the main thread once its
  // listener exists (unblockSignals), or SIGUSR1 would never be forwarded
  // (SigBlk 0000000000000200 in /proc/<pid>/status).
  it("SIGUSR1 sent to hookinit is forwarded and kills the program", async () => {
    const hookinit = startHookinit(["--", "sh", "-c", `${NO_CORE}; exec sleep 100`]);
    await hookinit.handlersInstalled();
    await hookinit.waitForLog("started");
    await hookinit.signal("SIGUSR1");
    const result = await hookinit.wait(10_000);
    expect(result.code).toBe(128 + SIGNALS.SIGUSR1);
  });
});

describe("a program that cannot be started", () => {
  it("exits 127 with one line naming a command that is not found", async () => {
    const result = await runHookinit(["--", "no-such-command-hookinit-e2e", "arg"]);
    expect(result.code).toBe(127);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain("no-such-command-hookinit-e2e");
    expect(result.stdout).toBe("");
  });

  it("exits 127 for a path that does not exist", async () => {
    const missing = join(tempDir(), "missing-program");
    const result = await runHookinit(["--", missing]);
    expect(result.code).toBe(127);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain(missing);
  });

  it("exits 126 with one line naming a file that is not executable", async () => {
    const script = join(tempDir(), "not-executable.sh");
    writeFileSync(script, "#!/bin/sh\necho should not run\n");
    chmodSync(script, 0o644);
    const result = await runHookinit(["--", script]);
    expect(result.code).toBe(126);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain(script);
    expect(result.stdout).not.toContain("should not run");
  });

  it("exits 126 for a non-executable file found in PATH", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "hookinit-e2e-noexec"), "#!/bin/sh\nexit 0\n", { mode: 0o644 });
    const result = await runHookinit(["--", "hookinit-e2e-noexec"], {
      env: { PATH: `${dir}:/usr/bin:/bin` },
    });
    expect(result.code).toBe(126);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain("hookinit-e2e-noexec");
  });
});

describe("usage errors exit 2 with one line on stderr", () => {
  it.each([
    ["an unknown flag", ["--no-such-flag", "--", "true"], "--no-such-flag"],
    ["no command at all", [], "command"],
    ["options but no command", ["--grace", "5"], "command"],
    ["a bad --rewrite signal name", ["--rewrite", "TERM:NOPE", "--", "true"], "TERM:NOPE"],
    ["a --rewrite without a colon", ["--rewrite", "TERM", "--", "true"], "TERM"],
    ["a non-numeric --grace", ["--grace", "soon", "--", "true"], "soon"],
    ["a bad --log-level", ["--log-level", "loud", "--", "true"], "loud"],
    ["a bad --log-format", ["--log-format", "xml", "--", "true"], "xml"],
  ])("%s", async (_, args, named) => {
    const result = await runHookinit(args);
    expect(result.code, result.stderr).toBe(2);
    expect(lines(result.stderr), result.stderr).toHaveLength(1);
    expect(result.stderr).toContain(named);
    expect(result.stdout).toBe("");
  });

  // node's parseArgs explains an option whose value looks like a flag over
  // three lines; hookinit keeps the first.
  it("a flag whose value is missing before --", async () => {
    const result = await runHookinit(["--grace", "--", "true"]);
    expect(result.code).toBe(2);
    expect(lines(result.stderr), result.stderr).toHaveLength(1);
  });

  it("an environment variable with a bad value", async () => {
    const result = await runHookinit(["--", "true"], { env: { HOOKINIT_GRACE: "later" } });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain("later");
  });
});

describe("a broken installation exits 72, not 2", () => {
  const env = () =>
    Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("HOOKINIT_")));

  /** A copy of the hookinit directory without `without` (a path inside it). */
  function brokenCopy(without: string): string {
    const copy = copyHookinit(join(tempDir(), "hookinit"));
    rmSync(join(copy, "..", without));
    return copy;
  }

  it("the supervisor without its native helper", () => {
    const result = spawnSync(brokenCopy("lib/hookinit.node"), ["--", "true"], {
      encoding: "utf8",
      env: env(),
      timeout: 30_000,
    });
    expect(result.status, result.stderr).toBe(72);
    expect(lines(result.stderr), result.stderr).toHaveLength(1);
    expect(result.stderr).toContain("hookinit.node");
  });

  it.each([["lib/hookinit-runtime"], ["lib/ld-linux-x86-64.so.2"]])(
    "the entry executable without %s",
    (missing) => {
      const result = spawnSync(brokenCopy(missing), ["--version"], {
        encoding: "utf8",
        env: env(),
        timeout: 30_000,
      });
      expect(result.status, result.stderr).toBe(72);
      expect(lines(result.stderr), result.stderr).toHaveLength(1);
      expect(result.stderr).toContain("copy it whole");
    },
  );

  it("a client needs neither: the entry executable answers hook, status and ready itself", () => {
    const copy = brokenCopy("lib/hookinit-runtime");
    const result = spawnSync(copy, ["ready"], {
      encoding: "utf8",
      env: { ...env(), HOOKINIT_SOCKET: join(tempDir(), "nobody.sock") },
      timeout: 30_000,
    });
    expect(result.status, result.stderr).toBe(1);
    expect(result.stderr).toContain("not ready");
  });
});
