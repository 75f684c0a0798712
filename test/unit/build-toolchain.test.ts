/**
 * The README's quick start (`npm ci && npm run demo`, `npm test`) on a
 * machine without a C compiler: scripts/build.mjs stops before touching
 * dist/ with one line naming the Debian packages, or, as root, installs
 * them the way .ci/run does. PATH here holds only `node` (and stubs), so
 * the machine's own gcc, musl-gcc and binutils are out of sight.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const BUILD = join(ROOT, "scripts", "build.mjs");
const LINE =
  /^build: the C parts need gcc, musl-gcc and binutils; missing: gcc, musl-gcc, readelf, strip\. On Debian install them: apt-get install build-essential musl-tools$/;

const scratches: string[] = [];
afterEach(() => {
  for (const dir of scratches.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A bin directory with only `node` in it. */
function bareBin(): { dir: string; bin: string } {
  const dir = mkdtempSync(join(tmpdir(), "hookinit-build-test-"));
  scratches.push(dir);
  const bin = join(dir, "bin");
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, "node"));
  return { dir, bin };
}

function build(bin: string, args: string[], env: Record<string, string> = {}) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, PATH: bin, ...env };
  for (const name of ["CC", "CXX", "PYTHON", "npm_config_python"]) delete childEnv[name];
  return spawnSync(join(bin, "node"), [BUILD, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: childEnv,
  });
}

describe("scripts/build.mjs on a machine without gcc, musl-gcc or binutils", () => {
  it("fails with one line naming build-essential and musl-tools, before touching dist/", () => {
    const { bin } = bareBin();
    const exe = join(ROOT, "dist", "hookinit", "hookinit");
    const before = existsSync(exe) ? statSync(exe).mtimeMs : undefined;
    const result = build(bin, [], { HOOKINIT_BUILD_INSTALL: "0" });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr.trimEnd()).toMatch(LINE);
    expect(existsSync(exe) ? statSync(exe).mtimeMs : undefined).toBe(before);
  });

  it("as root, installs them with apt-get the way .ci/run does (not root: the same one line)", () => {
    const { dir, bin } = bareBin();
    // apt-get records its arguments; `install` puts working stand-ins for the
    // tools on PATH, as installing build-essential and musl-tools would.
    const tool = "#!/bin/sh\nexit 0\n";
    writeFileSync(
      join(bin, "apt-get"),
      `#!/bin/sh
echo "$*" >>"${join(dir, "apt.log")}"
if [ "$1" = install ]; then
  for t in gcc musl-gcc readelf strip; do printf '%s' '${tool}' >"${bin}/$t"; /bin/chmod 755 "${bin}/$t"; done
fi
`,
    );
    chmodSync(join(bin, "apt-get"), 0o755);
    const result = build(bin, ["--check-toolchain"]);
    const log = existsSync(join(dir, "apt.log")) ? readFileSync(join(dir, "apt.log"), "utf8") : "";
    if (process.getuid?.() === 0) {
      expect(result.status, result.stderr).toBe(0);
      expect(log).toBe("update -qq\ninstall -y -qq build-essential musl-tools\n");
      expect(result.stderr).toContain("build: installing build-essential musl-tools");
    } else {
      expect(result.status).toBe(1);
      expect(log).toBe("");
      expect(result.stderr.trimEnd()).toMatch(LINE);
    }
  });

  it("passes the check on this machine, which has the toolchain", () => {
    const result = spawnSync(process.execPath, [BUILD, "--check-toolchain"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe("");
  });
});
