/**
 * Interactive use works (`docker run -it`): the program gets
 * the terminal and job control. The terminal is a pty from `script`; we type
 * into script's stdin and read what the terminal shows.
 *
 * Each case runs with hookinit directly on the terminal and as PID 1 of a
 * fresh pid namespace (unshare) on the terminal.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { HOOKINIT, UNSHARE } from "../support/hookinit.js";
import { isAlive, processTree, procStat, procStatus, signalBit } from "../support/proc.js";
import { cleanupAfterEach, TerminalSession } from "../support/process.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

const MODES = [
  { name: "hookinit directly on the terminal", prefix: [] as string[] },
  { name: "hookinit as PID 1 on the terminal", prefix: [...UNSHARE] },
];

/** dash's complaints when it cannot get the terminal. */
const NO_JOB_CONTROL = /job control turned off|can't access tty|Cannot set tty process group/i;

describe.each(MODES)("$name", ({ prefix }) => {
  it("the program reads a line typed on the terminal", async () => {
    const term = new TerminalSession([
      ...prefix,
      HOOKINIT,
      "--",
      "sh",
      "-c",
      "read line; echo got:$line; exit 3",
    ]);
    await term.expect(/"msg":"started"/);
    term.type("hello terminal\n");
    await term.expect(/got:hello terminal\r?\n/);
    const exit = await term.wait();
    expect(exit.code, term.describe()).toBe(3);
    expect(term.output).toMatch(/"terminal":true/);
  });

  it("an interactive shell gets job control: ^Z stops a job, the shell carries on", async () => {
    // dash reads $ENV when interactive: a prompt the echo of our typing
    // cannot be mistaken for.
    const rc = join(tempDir(), "shrc");
    writeFileSync(rc, "PS1='hk-prompt> '\n");
    const prompt = /hk-prompt> /;
    const term = new TerminalSession([...prefix, HOOKINIT, "--", "sh", "-i"], { ENV: rc });

    await term.expect(prompt);
    term.type("sleep 30\n");
    // ^Z only reaches sleep once its process group holds the terminal.
    const sleepPid = await waitFor(
      "sleep 30 in the terminal's foreground process group",
      () =>
        term.tree().find((pid) => {
          const stat = procStat(pid);
          return stat?.comm === "sleep" && stat.pgrp === stat.tpgid;
        }),
      20_000,
      () => term.describe(),
    );
    term.type("\x1a");
    await term.expect(/Stopped\s+sleep 30/);
    await waitFor("sleep to be stopped", () => procStat(sleepPid)?.state === "T");

    await term.expect(prompt);
    term.type("jobs\n");
    await term.expect(/\[1\] \+ Stopped\s+sleep 30/);
    await term.expect(prompt);
    term.type("echo after-stop\n");
    await term.expect(/^after-stop\r?\n/m);
    await term.expect(prompt);
    term.type("kill -9 %1\n");
    await term.expect(prompt);
    // dash refuses to exit while it believes a job is stopped; `jobs`
    // collects the killed one first.
    term.type("jobs\n");
    await term.expect(/Killed\s+sleep 30/);
    await term.expect(prompt);
    term.type("exit 5\n");

    const exit = await term.wait();
    expect(exit.code, term.describe()).toBe(5);
    expect(term.output).not.toMatch(NO_JOB_CONTROL);
    expect(isAlive(sleepPid)).toBe(false);
  });

  it("^C on the terminal interrupts the program (it is the foreground group)", async () => {
    const term = new TerminalSession([
      ...prefix,
      HOOKINIT,
      "--",
      "sh",
      "-c",
      "trap 'echo got-int; exit 4' INT; echo ready; while :; do sleep 0.05; done",
    ]);
    await term.expect(/^ready\r?\n/m);
    term.type("\x03");
    await term.expect(/got-int/);
    const exit = await term.wait();
    expect(exit.code, term.describe()).toBe(4);
  });
});

describe("a terminal that goes away", () => {
  // A regression test: when the terminal hung up (the `docker run -it` client
  // went away), the program died of SIGHUP but hookinit never exited: its log
  // writes to the dead terminal failed with EIO and pino.destination's exit
  // hook retried them for ever. The logger now uses SonicBoom directly, and a
  // write error ends logging (src/log/logger.ts). Repro: `script -qfec
  // "dist/hookinit -- sleep 100" /dev/null`, then `kill -9` the script process.
  it("hookinit exits once the program died of the hangup", async () => {
    const term = new TerminalSession([HOOKINIT, "--", "sleep", "1000"]);
    await term.expect(/"msg":"started"/);
    const hookinit = await term.hookinitPid();
    await waitFor(
      "hookinit's SIGHUP handler",
      () => ((procStatus(hookinit)?.sigCgt ?? 0n) & signalBit("SIGHUP")) !== 0n,
    );
    const program = processTree(hookinit).find((pid) => procStat(pid)?.comm === "sleep");
    process.kill(term.child.pid as number, "SIGKILL");
    if (program !== undefined) {
      await waitFor("the program to die of the hangup", () => !isAlive(program));
    }
    await waitFor("hookinit to exit", () => !isAlive(hookinit), 20_000);
  });
});
