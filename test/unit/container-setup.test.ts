/**
 * test/container-setup.sh on a fresh machine: podman's very first run
 * prints a warning on stderr (Debian's package leaves a CNI config that the
 * first run reads while it picks a network backend), and the script must
 * read podman's answers from stdout only.
 *
 * A stub `podman` first on PATH writes that warning on stderr for every
 * call and the real answer on stdout. The script writes its config to a
 * scratch CONTAINERS_CONF and skips dpkg/apt (HOOKINIT_SETUP_SKIP_PACKAGES),
 * so this test touches neither /etc/containers nor the machine's packages,
 * and needs neither root nor podman.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const SETUP = join(import.meta.dirname, "..", "container-setup.sh");
const WARNING =
  'time="2026-11-29T17:12:58Z" level=warning msg="Error validating CNI config file /etc/cni/net.d/87-podman-bridge.conflist: [failed to find plugin \\"bridge\\" in path [/usr/lib/cni]]"';

interface Stub {
  runtime?: string;
  /** podman info fails (exit 125) with this text on stderr. */
  infoFails?: string;
  /** podman run prints this instead of the probe's output. */
  runOutput?: string;
  /** no local pause image yet: `podman images` prints nothing. */
  noPauseImage?: boolean;
}

const scratches: string[] = [];
afterEach(() => {
  for (const dir of scratches.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function stubPodman(dir: string, stub: Stub): string {
  const bin = join(dir, "bin");
  spawnSync("mkdir", ["-p", bin]);
  const script = `#!/bin/bash
echo "$*" >>"${join(dir, "calls")}"
echo '${WARNING.replaceAll("'", "'\\''")}' >&2
case "$1 $2" in
  "system migrate") exit 0 ;;
  "info --format")
    ${stub.infoFails === undefined ? "" : `echo '${stub.infoFails}' >&2; exit 125`}
    echo "${stub.runtime ?? "runc"} cgroupfs cgroupv1 overlay netavark" ;;
  "info "*) echo "host: {}" ;;
  "version --format") echo "4.3.1" ;;
  "image exists") exit 0 ;;
  "run --rm") echo "${stub.runOutput ?? "probe-ok"}" ;;
  "images --quiet") ${stub.noPauseImage ? "" : 'echo "4545104d0d6d"'} ;;
  "pod create") echo "0123456789ab" ;;
  "pod rm") echo "0123456789ab" ;;
  *) echo "stub podman: unexpected call: $*" >&2; exit 125 ;;
esac
`;
  writeFileSync(join(bin, "podman"), script);
  chmodSync(join(bin, "podman"), 0o755);
  return bin;
}

function runSetup(stub: Stub, conf?: string) {
  const dir = mkdtempSync(join(tmpdir(), "hookinit-setup-test-"));
  scratches.push(dir);
  const bin = stubPodman(dir, stub);
  const confPath = join(dir, "containers.conf");
  if (conf !== undefined) writeFileSync(confPath, conf);
  const result = spawnSync("bash", [SETUP], {
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      CONTAINERS_CONF: confPath,
      HOOKINIT_SETUP_SKIP_PACKAGES: "1",
    },
  });
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), "utf8");
    } catch {
      return "";
    }
  };
  return { ...result, conf: read("containers.conf"), calls: read("calls").trim().split("\n") };
}

describe("test/container-setup.sh with a podman that warns on stderr (a fresh machine)", () => {
  it("passes, parsing only stdout, and writes its keys including the network backend", () => {
    const result = runSetup({});
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(
      "runtime, cgroup manager, cgroups, storage, network = runc cgroupfs cgroupv1 overlay netavark",
    );
    expect(result.stdout).not.toContain("level=warning");
    expect(result.stdout).toContain("podman run works");
    expect(result.conf).toContain('runtime = "runc"');
    expect(result.conf).toContain('default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]');
    expect(result.conf).toMatch(/\[network\]\nnetwork_backend = "netavark"/);
    // The first run is settled with one podman info whose output is discarded.
    expect(result.calls[0]).toBe("info");
  });

  it("keeps the user's other settings and is idempotent", () => {
    const first = runSetup({}, '[engine]\nruntime = "crun"\nnum_locks = 4096\n');
    expect(first.status, first.stderr).toBe(0);
    expect(first.conf).toContain("num_locks = 4096");
    expect(first.conf).toContain('runtime = "runc"');
    expect(first.conf).not.toContain("crun");
    expect(first.stdout).toContain('[engine] runtime = "runc" (was "crun")');
    const again = runSetup({}, first.conf);
    expect(again.status, again.stderr).toBe(0);
    expect(again.conf).toBe(first.conf);
    expect(again.stdout).not.toContain("(added)");
  });

  it("builds the pause image for kube play when there is none yet", () => {
    const result = runSetup({ noPauseImage: true });
    expect(result.status, result.stderr).toBe(0);
    expect(result.calls.some((call) => call.startsWith("pod create --name"))).toBe(true);
    expect(result.stdout).toContain("podman pause image built");
  });

  it("names the runtime, not the warning, when podman uses crun", () => {
    const result = runSetup({ runtime: "crun" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("podman uses 'crun'");
    expect(result.stderr).toContain("expected runc");
    expect(result.stderr).not.toContain("uses 'time=");
  });

  it("shows podman's stderr when podman info fails", () => {
    const result = runSetup({ infoFails: "Error: cannot open database" });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/podman info --format .* failed: .*Error: cannot open database/);
  });

  it("fails when the probe container prints something else", () => {
    const result = runSetup({ runOutput: "exec failed" });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("podman run printed 'exec failed', expected probe-ok");
  });
});

describe("test/e2e/container.test.ts when podman cannot run containers", () => {
  it("fails under CI=true instead of skipping", () => {
    const dir = mkdtempSync(join(tmpdir(), "hookinit-setup-test-"));
    scratches.push(dir);
    const bin = join(dir, "bin");
    spawnSync("mkdir", ["-p", bin]);
    writeFileSync(
      join(bin, "podman"),
      "#!/bin/sh\necho 'Error: stub podman: cannot run containers' >&2\nexit 125\n",
    );
    chmodSync(join(bin, "podman"), 0o755);
    const root = join(import.meta.dirname, "..", "..");
    const result = spawnSync(
      process.execPath,
      [join(root, "node_modules", "vitest", "vitest.mjs"), "run", "test/e2e/container.test.ts"],
      {
        cwd: root,
        encoding: "utf8",
        timeout: 120_000,
        env: {
          ...process.env,
          CI: "true",
          PATH: `${bin}:${process.env.PATH}`,
          CONTAINERS_CONF: join(dir, "containers.conf"),
          HOOKINIT_SETUP_SKIP_PACKAGES: "1",
        },
      },
    );
    const output = `${result.stdout}${result.stderr}`;
    expect(result.status, output).toBe(1);
    expect(output).toContain("podman can run containers (CI=true");
    expect(output).toContain("stub podman: cannot run containers");
  }, 120_000);
});
