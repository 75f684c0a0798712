import { describe, expect, it } from "vitest";
import {
  FORWARDED_SIGNALS,
  parseRewrites,
  parseSignal,
  rewrite,
} from "../../src/supervisor/signals.js";

describe("signals", () => {
  it("forwards every catchable standard signal but SIGCHLD", () => {
    expect(FORWARDED_SIGNALS).toHaveLength(28);
    for (const never of ["SIGKILL", "SIGSTOP", "SIGCHLD"])
      expect(FORWARDED_SIGNALS).not.toContain(never);
    for (const always of ["SIGTERM", "SIGHUP", "SIGUSR1", "SIGWINCH", "SIGTSTP", "SIGSEGV"]) {
      expect(FORWARDED_SIGNALS).toContain(always);
    }
  });

  it.each([
    ["TERM", "SIGTERM"],
    ["sigterm", "SIGTERM"],
    ["15", "SIGTERM"],
    ["SIGIOT", "SIGABRT"],
    ["nope", undefined],
    ["99", undefined],
  ])("parseSignal(%s) = %s", (text, expected) => {
    expect(parseSignal(text)).toBe(expected);
  });

  it("rewrites and drops as dumb-init -r does", () => {
    const table = parseRewrites(["TERM:QUIT", "USR1:0", "15:3"]);
    expect(rewrite(table, "SIGTERM")).toBe("SIGQUIT");
    expect(rewrite(table, "SIGUSR1")).toBeNull();
    expect(rewrite(table, "SIGHUP")).toBe("SIGHUP");
    expect(() => parseRewrites(["TERM:QUIT:HUP"])).toThrow(/FROM:TO/);
  });
});
