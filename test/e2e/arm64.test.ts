/**
 * The arm64 directory as shipped (dist/linux-arm64/hookinit/, cross-built by
 * `npm run build:all`), run under Debian's qemu-user-static: --version, a
 * supervised program's exit code, and one hook call.
 *
 * The entry executable execs the directory's loader, and the runtime spawns
 * programs: every arm64 exec has to reach qemu again. A user namespace gets
 * its own binfmt_misc (Linux 6.7+), so the test registers qemu-aarch64-static
 * there instead of changing the machine's. The programs hookinit supervises
 * here are the host's own (sh, sleep): the kernel runs those natively.
 *
 * E2E_HOOKINIT_ARM64 names another arm64 entry executable; otherwise the
 * directory is built when it is missing or older than the amd64 one.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { cannotRun } from "../support/ci.js";
import { HOOKINIT, ROOT } from "../support/hookinit.js";

const QEMU = "/usr/bin/qemu-aarch64-static";
const ARM64 =
  process.env.E2E_HOOKINIT_ARM64 ?? join(ROOT, "dist", "linux-arm64", "hookinit", "hookinit");

// The ELF header of an aarch64 executable, as qemu's own binfmt.d entry has it.
const MAGIC =
  "\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00";
const MASK =
  "\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff";

function prepare(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (a user namespace with its own binfmt_misc)";
  if (!existsSync(QEMU)) return `${QEMU} is missing: apt-get install qemu-user-static`;
  if (process.env.E2E_HOOKINIT_ARM64 === undefined) {
    const stale =
      !existsSync(ARM64) ||
      (existsSync(HOOKINIT) && statSync(ARM64).mtimeMs < statSync(HOOKINIT).mtimeMs);
    if (stale) {
      const build = spawnSync(
        process.execPath,
        [join(ROOT, "scripts", "build.mjs"), "--arch=arm64", `--out=${join(ARM64, "..")}`],
        { cwd: ROOT, encoding: "utf8" },
      );
      if (build.status !== 0)
        return `the arm64 build failed: ${build.stderr.trim().split("\n").slice(-3).join(" | ")}`;
    }
  }
  return existsSync(ARM64) ? undefined : `${ARM64} is missing`;
}

const skipReason = cannotRun(import.meta.filename, prepare());

const scratch = mkdtempSync(join(tmpdir(), "hookinit-e2e-arm64-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Runs `script` with sh as PID 1 of new user, mount and pid namespaces in
 * which arm64 executables run through qemu; $H is the arm64 hookinit.
 */
function inArm64Namespace(script: string): { code: number | null; stdout: string; stderr: string } {
  const register = `:qemu-aarch64:M::${MAGIC}:${MASK}:${QEMU}:F`;
  const result = spawnSync(
    "unshare",
    [
      "--user",
      "--map-root-user",
      "--mount",
      "--pid",
      "--fork",
      "--mount-proc",
      "sh",
      "-c",
      `set -u
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 90
printf '%s' "$1" > /proc/sys/fs/binfmt_misc/register || exit 91
H=$2
${script}`,
      "sh",
      register,
      ARM64,
    ],
    { encoding: "utf8", timeout: 120_000, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } },
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe.skipIf(skipReason !== undefined)("the arm64 directory under qemu-aarch64-static", () => {
  test("is an arm64 directory: a static arm64 entry executable, an arm64 runtime and loader", () => {
    const file = (path: string) => spawnSync("file", ["-b", path], { encoding: "utf8" }).stdout;
    expect(file(ARM64)).toMatch(/ARM aarch64.*statically linked/);
    expect(file(join(ARM64, "..", "lib", "hookinit-runtime"))).toMatch(/ARM aarch64/);
    expect(existsSync(join(ARM64, "..", "lib", "ld-linux-aarch64.so.1"))).toBe(true);
  });

  test("--version", () => {
    const result = inArm64Namespace(`"$H" --version`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^hookinit \S+ \(bun \d/);
  }, 120_000);

  // hookinit is PID 1 (exec): qemu-user does not emulate PR_SET_CHILD_SUBREAPER.
  test("a supervised program's exit code comes through", () => {
    const result = inArm64Namespace(
      `HOOKINIT_LOG_LEVEL=silent exec "$H" -- /bin/sh -c 'echo from-the-program; exit 7'`,
    );
    expect(result.code, result.stderr).toBe(7);
    expect(result.stdout).toContain("from-the-program");
  }, 120_000);

  test("one hook call: preStop runs in the supervisor, its output and code reach the client", () => {
    const config = join(scratch, "hooks.json");
    writeFileSync(
      config,
      JSON.stringify({ preStop: { exec: { command: ["/bin/sh", "-c", "echo prestop-ran"] } } }),
    );
    const socket = join(scratch, "control.sock");
    // The program calls the arm64 client itself, as an exec hook would, then exits.
    const program = join(scratch, "program.sh");
    writeFileSync(
      program,
      [
        "i=0",
        'until "$1" ready 2>/dev/null; do i=$((i+1)); [ $i -gt 300 ] && exit 92; sleep 0.2; done',
        `"$1" hook preStop > ${join(scratch, "hook.out")}`,
        'echo "hook exit $?"',
        `sed "s/^/client: /" ${join(scratch, "hook.out")}`,
        "",
      ].join("\n"),
    );
    const result = inArm64Namespace(
      `HOOKINIT_SOCKET=${socket} exec "$H" --config ${config} --socket ${socket} -- /bin/sh ${program} "$H"`,
    );
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain("hook exit 0");
    // The handler's line, streamed back to the client.
    expect(result.stdout).toContain("client: prestop-ran");
    expect(result.stdout).toMatch(/"hook":"preStop".*"msg":"hook finished"/);
  }, 180_000);
});
