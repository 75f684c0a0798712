/**
 * hookinit in a small container: podman with `--memory 16m --memory-swap 16m`
 * (small sidecars commonly run with 16 to 32 MiB; tini works in 1). A probe
 * or a hook call runs inside the container's cgroup, so its memory counts
 * against the limit at the worst moment: the program must keep running,
 * 100 `hookinit ready` calls and 100 HTTP probes (10 a second) must all succeed, and a
 * `hookinit hook preStop` must succeed with preStop before the stop signal,
 * and nothing may be OOM-killed (podman inspect says so).
 *
 * The image is the test image (test/support/rootfs.ts): busybox and the
 * hookinit directory under test at /hookinit. Its entry executable answers
 * `ready` and `hook` with the C client, so no JavaScript runtime starts per
 * call; the supervisor itself has to fit too. Under CI=true a podman that cannot run
 * containers fails the run instead of skipping it.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mustPodman, podman, podmanSkipReason } from "../support/podman.js";
import { buildRootfs, IMAGE_HOOKINIT, importImage } from "../support/rootfs.js";
import { waitFor } from "../support/wait.js";

const LIMIT = process.env.E2E_MEMORY_LIMIT ?? "16m";

const skipReason = podmanSkipReason(import.meta.filename);

const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const IMAGE = `localhost/hookinit-e2e-memory-${RUN_ID}`;
const CONTAINER = `hookinit-e2e-memory-${RUN_ID}`;
let scratch = "";

const HOOKS_YAML = `preStop:
  exec:
    command: ["/bin/sh", "-c", "echo prestop: draining; touch /tmp/prestop-ran"]
`;

/** Says on SIGTERM whether preStop ran before it. */
const APP = `#!/bin/sh
trap 'if [ -e /tmp/prestop-ran ]; then echo "app: TERM after preStop"; else echo "app: TERM before preStop"; fi; exit 0' TERM
echo "app: up"
while :; do sleep 1 & wait $!; done
`;

beforeAll(async () => {
  if (skipReason !== undefined) return;
  scratch = mkdtempSync(join(tmpdir(), "hookinit-e2e-memory-"));
  const rootfs = buildRootfs({
    dir: join(scratch, "rootfs"),
    extraFiles: [
      { path: "/etc/hookinit/hooks.yaml", content: HOOKS_YAML },
      { path: "/usr/bin/app", content: APP, mode: 0o755 },
    ],
  });
  importImage(rootfs.dir, IMAGE);
}, 300_000);

afterAll(async () => {
  if (skipReason !== undefined) return;
  await podman("rm", "-f", "-t", "0", CONTAINER);
  await podman("rmi", "-f", IMAGE);
  if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
}, 300_000);

/** The container cgroup's peak memory (cgroup v1 or v2), in MiB, if the host shows it. */
async function peakMiB(): Promise<string> {
  const id = (await mustPodman("inspect", "--format", "{{.Id}}", CONTAINER)).trim();
  const found = spawnSync(
    "sh",
    [
      "-c",
      `cat $(find /sys/fs/cgroup -maxdepth 4 -type d -name "*${id}*" 2>/dev/null | sed 's|$|/memory.max_usage_in_bytes|;p;s|memory.max_usage_in_bytes$|memory.peak|') 2>/dev/null | head -1`,
    ],
    { encoding: "utf8" },
  ).stdout.trim();
  return found === "" ? "unknown" : (Number(found) / 1024 / 1024).toFixed(1);
}

describe.skipIf(skipReason !== undefined)(`hookinit under --memory ${LIMIT}`, () => {
  test("runs the program; 100 ready calls and 100 HTTP probes succeed; hook preStop runs before TERM; nothing OOM-killed", {
    timeout: 600_000,
  }, async () => {
    await mustPodman(
      "run",
      "-d",
      "--name",
      CONTAINER,
      "--memory",
      LIMIT,
      "--memory-swap",
      LIMIT,
      "-e",
      "HOOKINIT_CONFIG=/etc/hookinit/hooks.yaml",
      "-e",
      "HOOKINIT_READY_ADDRESS=127.0.0.1:8086",
      IMAGE,
      "/usr/bin/app",
    );
    const describeContainer = async () => {
      const state = await podman(
        "inspect",
        "--format",
        "{{.State.Status}} exit={{.State.ExitCode}} oom={{.State.OOMKilled}}",
        CONTAINER,
      );
      const logs = await podman("logs", CONTAINER);
      return `${state.stdout.trim()}\n${logs.stdout}${logs.stderr}`;
    };
    await waitFor(
      "the control socket and the program",
      async () => {
        const { stdout } = await podman("logs", CONTAINER);
        return stdout.includes("control socket ready") && stdout.includes("app: up");
      },
      60_000,
      describeContainer,
    );

    // 100 exec readiness probes, as the kubelet runs them.
    const failures: string[] = [];
    for (let i = 0; i < 100; i++) {
      const probe = await podman("exec", CONTAINER, IMAGE_HOOKINIT, "ready");
      if (probe.code !== 0) failures.push(`#${i}: exit ${probe.code}: ${probe.stderr.trim()}`);
      if (failures.length > 3) break;
    }
    expect(failures, await describeContainer()).toEqual([]);

    // 100 HTTP probes (busybox wget stands in for the kubelet), 10 a second:
    // ten times the kubelet's fastest rate (periodSeconds is at least 1).
    // Fired back to back instead, Bun's node:http keeps up to ~10 MiB of
    // native memory per few hundred requests until its allocator gives it
    // back a few seconds later: that burst, not a probe rate a kubelet can
    // produce, is what once pushed a 16 MiB container over its limit.
    const http = await podman(
      "exec",
      CONTAINER,
      "sh",
      "-c",
      "n=0; for i in $(seq 100); do wget -q -O - http://127.0.0.1:8086/ready && n=$((n+1)); usleep 100000; done; echo ok=$n",
    );
    expect(http.stdout.trim().split("\n").at(-1), await describeContainer()).toBe("ok=100");

    // The preStop call a kubelet makes, then the stop signal.
    const hook = await podman("exec", CONTAINER, IMAGE_HOOKINIT, "hook", "preStop");
    expect({ code: hook.code, stdout: hook.stdout }, await describeContainer()).toEqual({
      code: 0,
      stdout: "prestop: draining\n",
    });
    const peak = await peakMiB();
    await mustPodman("stop", "-t", "30", CONTAINER);
    const { stdout } = await podman("logs", CONTAINER);
    expect(stdout, await describeContainer()).toContain("app: TERM after preStop");
    const state = JSON.parse(
      await mustPodman(
        "inspect",
        "--format",
        '{"oom":{{.State.OOMKilled}},"exit":{{.State.ExitCode}}}',
        CONTAINER,
      ),
    ) as { oom: boolean; exit: number };
    expect(state, await describeContainer()).toEqual({ oom: false, exit: 0 });
    console.log(`--memory ${LIMIT}: peak ${peak} MiB in the container's cgroup`);
  });
});
