/**
 * The amd64 directory starts on any x86-64 CPU, as tini does: hookinit is
 * PID 1 of every container, and a node whose CPU (or whose VM's advertised
 * CPU model) lacks AVX2 must not kill it with SIGILL. Debian's
 * qemu-x86_64-static emulates a Nehalem (SSE4.2, no AVX, no AVX2, no BMI),
 * the CPU Bun's baseline build is for, and runs the directory's runtime the
 * way the entry executable does (native/front.c):
 *
 *   lib/ld-linux-x86-64.so.2 --library-path lib --argv0 <dir>/hookinit
 *     --preload lib/libhookinit-noproc.so lib/hookinit-runtime ARGS
 *
 * qemu-user emulates only the process it starts: the front's own exec of the
 * loader would run natively, so the test runs the loader under qemu itself
 * (the static front has nothing to fear: it is musl built for plain x86-64,
 * and the client commands it answers run here under qemu too). The programs
 * and hook handlers hookinit starts are the host's own, run natively.
 *
 * A first test makes sure the emulation really lacks AVX2: an AVX2
 * instruction dies of SIGILL under it. Otherwise a passing run would prove
 * nothing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { arch, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { cannotRun } from "../support/ci.js";
import { cleanEnv, HOOKINIT, HOOKINIT_DIR } from "../support/hookinit.js";

const QEMU = "/usr/bin/qemu-x86_64-static";
const CPU = "Nehalem";
const LIB = join(HOOKINIT_DIR, "lib");
const LOADER = join(LIB, "ld-linux-x86-64.so.2");

function prepare(): string | undefined {
  if (arch() !== "x64") return "the amd64 directory is tested on amd64 machines";
  if (process.getuid?.() !== 0) return "needs root (hookinit as PID 1 of a pid namespace)";
  if (!existsSync(QEMU)) return `${QEMU} is missing: apt-get install qemu-user-static`;
  if (!existsSync(LOADER)) return `${LOADER} is missing: not an amd64 hookinit directory`;
  return undefined;
}

const skipReason = cannotRun(import.meta.filename, prepare());

const scratch = mkdtempSync(join(tmpdir(), "hookinit-e2e-cpu-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What the front execs, under qemu emulating a CPU without AVX2. */
function emulated(args: readonly string[]): string[] {
  const noproc = join(LIB, "libhookinit-noproc.so");
  return [
    QEMU,
    "-cpu",
    CPU,
    LOADER,
    "--library-path",
    LIB,
    "--argv0",
    HOOKINIT,
    ...(existsSync(noproc) ? ["--preload", noproc] : []),
    join(LIB, "hookinit-runtime"),
    ...args,
  ];
}

/** A run's bound: a healthy one takes a second or two under qemu. */
const BOUND_MS = 30_000;

function run(
  command: readonly string[],
  env: Record<string, string> = {},
): { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const [file, ...args] = command;
  const result = spawnSync(file as string, args, {
    encoding: "utf8",
    timeout: BOUND_MS,
    killSignal: "SIGKILL",
    env: cleanEnv(env),
    cwd: scratch,
  });
  return {
    code: result.status,
    signal: result.signal,
    stdout: result.stdout,
    stderr: result.stderr,
  };
}

/**
 * hookinit as PID 1 of a fresh pid namespace, qemu being that PID 1 (it does
 * not emulate PR_SET_CHILD_SUBREAPER, so hookinit must not need it). A qemu
 * that is PID 1 cannot kill itself with the guest's SIGILL (the kernel drops
 * it): it would hang, so the bound kills unshare, and --kill-child the
 * namespace; stderr then has qemu's "uncaught target signal 4".
 */
function asPid1(args: readonly string[], env: Record<string, string> = {}) {
  return run(["unshare", "--pid", "--mount-proc", "--kill-child=SIGKILL", ...emulated(args)], env);
}

describe.skipIf(skipReason !== undefined)(`the amd64 directory on an emulated ${CPU}`, () => {
  test(`the emulated ${CPU} has no AVX2: an AVX2 instruction dies of SIGILL`, () => {
    const source = join(scratch, "avx2.c");
    const exe = join(scratch, "avx2");
    writeFileSync(
      source,
      [
        "#include <stdio.h>",
        "int main(void) {",
        '  __asm__ volatile("vpaddd %%ymm0, %%ymm0, %%ymm0" ::: "xmm0");',
        '  puts("avx2 ran");',
        "  return 0;",
        "}",
        "",
      ].join("\n"),
    );
    const cc = run(["gcc", "-O0", "-o", exe, source]);
    expect(cc.code, cc.stderr).toBe(0);
    // This machine has AVX2 (or the control shows nothing): natively it runs.
    const native = run([exe]);
    if (native.signal === "SIGILL") return;
    expect(native.stdout).toBe("avx2 ran\n");
    const result = run([QEMU, "-cpu", CPU, exe]);
    expect(result.signal, `${result.stdout}\n${result.stderr}`).toBe("SIGILL");
    expect(result.stdout).toBe("");
  });

  test("--version", () => {
    const result = run(emulated(["--version"]));
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^hookinit \S+ \(bun \d/);
  }, 120_000);

  test("as PID 1, a supervised program's exit code comes through", () => {
    const result = asPid1(["--", "/bin/sh", "-c", "echo from-the-program; exit 7"], {
      HOOKINIT_LOG_LEVEL: "silent",
    });
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(7);
    expect(result.stdout).toBe("from-the-program\n");
  }, 120_000);

  test("one hook call: the client and the supervisor both on the emulated CPU", () => {
    const config = join(scratch, "hooks.json");
    writeFileSync(
      config,
      JSON.stringify({ preStop: { exec: { command: ["/bin/sh", "-c", "echo prestop-ran"] } } }),
    );
    const socket = join(scratch, "control.sock");
    const client = `${QEMU} -cpu ${CPU} ${HOOKINIT}`;
    const program = join(scratch, "program.sh");
    writeFileSync(
      program,
      [
        "i=0",
        `until ${client} ready 2>/dev/null; do i=$((i+1)); [ $i -gt 300 ] && exit 92; sleep 0.2; done`,
        `${client} hook preStop > ${join(scratch, "hook.out")}`,
        'echo "hook exit $?"',
        `sed "s/^/client: /" ${join(scratch, "hook.out")}`,
        "",
      ].join("\n"),
    );
    const result = asPid1(["--config", config, "--socket", socket, "--", "/bin/sh", program], {
      HOOKINIT_SOCKET: socket,
    });
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain("hook exit 0");
    expect(result.stdout).toContain("client: prestop-ran");
    expect(result.stdout).toMatch(/"hook":"preStop".*"msg":"hook finished"/);
  }, 180_000);
});
