/**
 * The native helper's spawn() on its error paths, loaded straight into the
 * test process (as hookinit loads it): a spawn that fails after its fork
 * must neither lose the child (a program running with a pid nobody knows)
 * nor leave a zombie.
 */
import { describe, expect, it } from "vitest";
import type { NativeHelper } from "../../src/native/helper.js";
import { HOOKINIT_HELPER } from "../support/hookinit.js";
import { childrenOf } from "../support/proc.js";
import { waitFor } from "../support/wait.js";

type Native = Pick<NativeHelper, "spawn" | "reap" | "failNextSpawnReport">;

const module = { exports: {} as Native };
process.dlopen(module, HOOKINIT_HELPER);
const native = module.exports;
const ENVP = ["PATH=/usr/bin:/bin"];

/** Our children running `name`, zombies included. */
const ours = (name: string) => childrenOf(process.pid).filter((p) => p.name === name);

describe("spawn() after its fork", () => {
  it("fails when its result cannot be built: the child is killed and reaped, not lost", () => {
    native.failNextSpawnReport();
    expect(() => native.spawn("/bin/sleep", ["sleep", "1000"], ENVP, null, false)).toThrow(
      /N-API call failed/,
    );
    expect(ours("sleep")).toEqual([]);
  });

  it("works again afterwards and reports the pid", async () => {
    const { pid } = native.spawn("/bin/true", ["true"], ENVP, null, false);
    expect(pid).toBeGreaterThan(0);
    const reaped = await waitFor("the child's exit", () =>
      native.reap(new Int32Array(0)).find((child) => child.pid === pid),
    );
    expect(reaped).toMatchObject({ pid, code: 0, signal: null });
  });

  it("a child that cannot exec is reported with its errno and reaped, every time", () => {
    for (let i = 0; i < 200; i++) {
      const result = native.spawn("/etc/hostname", ["hostname"], ENVP, null, false);
      expect(result).toMatchObject({ pid: 0, syscall: "execve" });
      expect([13, 8]).toContain(result.errno); // EACCES, or ENOEXEC if it were executable
    }
    expect(childrenOf(process.pid).filter((p) => p.state === "Z")).toEqual([]);
  });
});
