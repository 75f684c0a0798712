/** podman, for the container tests (the image comes from rootfs.ts). */
import { spawnSync } from "node:child_process";
import { join, relative } from "node:path";
import { test } from "vitest";
import { CI_REQUIRED } from "./ci.js";
import { ROOT } from "./hookinit.js";
import { type RunResult, run } from "./process.js";

/** podman ARGS to its exit (at most 2 minutes: pulls and builds are slow). */
export function podman(...args: string[]): Promise<RunResult> {
  return run("podman", args, { env: process.env, timeoutMs: 120_000 });
}

/** podman ARGS, failing the test with podman's stderr when it exits non-zero; returns stdout. */
export async function mustPodman(...args: string[]): Promise<string> {
  const result = await podman(...args);
  if (result.code !== 0) {
    throw new Error(`podman ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/**
 * Why podman cannot run containers here, or undefined when it can: the tests
 * run podman as root, and test/container-setup.sh (idempotent) installs and
 * configures it first.
 */
function podmanUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "these tests run podman as root (sudo npm test)";
  const setup = join(ROOT, "test", "container-setup.sh");
  const result = spawnSync("bash", [setup, "--quiet"], { encoding: "utf8", timeout: 900_000 });
  if (result.status !== 0) {
    return `test/container-setup.sh failed (${result.status ?? result.signal}): ${
      `${result.stdout}${result.stderr}`.trim().split("\n").slice(-5).join(" | ") ||
      String(result.error)
    }`;
  }
  return undefined;
}

/**
 * For a container test FILE (its import.meta.filename), at collection time:
 * undefined when podman can run containers, else the reason, for
 * `describe.skipIf(reason !== undefined)`. Under CI=true a podman that cannot
 * run containers is a failure, never a skip (a first run on a fresh machine
 * once skipped all of these tests while the run still passed): the file gets
 * one failing test. On a developer's machine it is skipped with a warning.
 */
export function podmanSkipReason(file: string): string | undefined {
  const reason = podmanUnavailable();
  if (reason === undefined) return undefined;
  if (CI_REQUIRED) {
    test("podman can run containers (CI=true: the container tests must run)", () => {
      throw new Error(`podman cannot run containers: ${reason}`);
    });
  } else {
    console.warn(`SKIPPING ${relative(ROOT, file)}: podman cannot run containers: ${reason}`);
  }
  return reason;
}
