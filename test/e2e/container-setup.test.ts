/**
 * test/container-setup.sh against the real podman in a first-run state: a
 * storage that podman has never used (so it has not yet picked and recorded
 * its network backend) and a containers.conf with none of our keys. Nothing
 * is shared with the machine's podman: storage (vfs), run and tmp
 * directories, lock files and events are all under a scratch directory
 * (CONTAINERS_STORAGE_CONF, CONTAINERS_CONF with lock_type "file").
 *
 * The unit test test/unit/container-setup.test.ts covers the same with a
 * stub podman; this one shows the real podman's first run passes too.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cannotRun } from "../support/ci.js";

const SETUP = join(import.meta.dirname, "..", "container-setup.sh");
const CNI_DIR = "/etc/cni/net.d";

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "it runs podman as root (sudo npm test)";
  const podman = spawnSync("podman", ["--version"], { encoding: "utf8" });
  if (podman.status !== 0) return `podman is not installed (${podman.error ?? podman.stderr})`;
  return undefined;
}

const reason = cannotRun(import.meta.filename, unavailable());

const scratch = mkdtempSync(join(tmpdir(), "hookinit-fresh-podman-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A podman environment that has never run: its own storage, run, tmp and lock directories. */
function freshPodman(name: string): NodeJS.ProcessEnv {
  const dir = join(scratch, name);
  spawnSync("mkdir", ["-p", dir]);
  writeFileSync(
    join(dir, "storage.conf"),
    `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/graph"\nrunroot = "${dir}/run"\n`,
  );
  writeFileSync(
    join(dir, "containers.conf"),
    `[engine]\nlock_type = "file"\ntmp_dir = "${dir}/tmp"\n`,
  );
  return {
    ...process.env,
    CONTAINERS_STORAGE_CONF: join(dir, "storage.conf"),
    CONTAINERS_CONF: join(dir, "containers.conf"),
  };
}

describe.skipIf(reason !== undefined)(
  "test/container-setup.sh with a podman that has never run",
  () => {
    it("passes on the first run and on the second", () => {
      if (reason !== undefined) throw new Error(`cannot run (CI=true): ${reason}`);
      const env = freshPodman("setup");
      const first = spawnSync("bash", [SETUP], { encoding: "utf8", env, timeout: 300_000 });
      expect(first.status, `${first.stdout}\n${first.stderr}`).toBe(0);
      expect(first.stdout).toMatch(
        /runtime, cgroup manager, cgroups, storage, network = runc \S+ cgroupv\d vfs netavark\n/,
      );
      expect(first.stdout).toContain('[network] network_backend = "netavark" (added)');
      expect(first.stdout).toContain("podman run works");
      expect(first.stdout).toContain("podman pause image built");

      const second = spawnSync("bash", [SETUP], { encoding: "utf8", env, timeout: 300_000 });
      expect(second.status, `${second.stdout}\n${second.stderr}`).toBe(0);
      expect(second.stdout).not.toContain("(added)");
      expect(second.stdout).toContain("podman pause image present");
    }, 600_000);

    it("the first-run state is real: without a network backend, podman's first run warns about the package's CNI file", () => {
      if (reason !== undefined) throw new Error(`cannot run (CI=true): ${reason}`);
      const env = freshPodman("control");
      const info = spawnSync("podman", ["info", "--format", "{{.Host.OCIRuntime.Name}}"], {
        encoding: "utf8",
        env,
      });
      expect(info.status, info.stderr).toBe(0);
      // The answer is on stdout, whatever stderr holds.
      expect(info.stdout.trim()).toMatch(/^[a-z]+$/);
      const conflists = existsSync(CNI_DIR)
        ? readdirSync(CNI_DIR).filter((file) => file.endsWith(".conflist"))
        : [];
      if (conflists.length > 0) expect(info.stderr).toContain("CNI config");
    });
  },
);
