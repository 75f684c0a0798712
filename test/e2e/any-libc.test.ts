/**
 * The hookinit directory as PID 1 of images that share nothing with it:
 *
 *   busybox  busybox-static and nothing else: no libc at all
 *   musl     a musl-only userland: Debian's ld-musl-x86_64.so.1 and a program
 *            built with musl-gcc (test/fixtures/userland/userland.c)
 *   glibc    a glibc userland: the host's glibc and a program built with gcc
 *
 * Each runs under unshare (chroot into the root filesystem) and under podman
 * (an image imported from it). In each: the program starts and makes 200
 * orphans, none stays a zombie; `hookinit ready` answers; a `hookinit hook
 * preStop` call runs the handler; a stop signal brings preStop before the
 * program's TERM; and the image's own programs, linked against its own libc,
 * still run: hookinit brought its libraries in /hookinit/lib and changed no
 * file of the image.
 *
 * Nothing here asserts a time; every wait polls with a generous limit.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cannotRun } from "../support/ci.js";
import { ROOT } from "../support/hookinit.js";
import { parseLogLines } from "../support/logs.js";
import { findHookinit } from "../support/proc.js";
import {
  buildRootfs,
  IMAGE_HOOKINIT,
  importImage,
  MUSL_LOADER,
  type Rootfs,
  type Userland,
} from "../support/rootfs.js";
import { sleep, waitFor } from "../support/wait.js";

const WAIT_MS = 60_000;
const TEST_MS = 180_000;
const ORPHANS = 200;

// --- What can run here: under CI=true, a missing piece fails, never skips --

function prepare(): string | undefined {
  if (process.getuid?.() !== 0) return "these tests need root (unshare, chroot, podman)";
  if (!existsSync(MUSL_LOADER)) return `${MUSL_LOADER} is missing: apt-get install musl musl-tools`;
  const setup = spawnSync("bash", [join(ROOT, "test", "container-setup.sh"), "--quiet"], {
    encoding: "utf8",
    timeout: 900_000,
  });
  if (setup.status !== 0) {
    return `test/container-setup.sh failed: ${`${setup.stdout}${setup.stderr}`.trim().split("\n").slice(-3).join(" | ")}`;
  }
  return undefined;
}
const skipReason = cannotRun(import.meta.filename, prepare());

// --- The three userlands ------------------------------------------------------

/** busybox's stand-in for userland.c's `serve`: 200 double-forked orphans, TERM logged. */
const BUSYBOX_SERVE = `#!/bin/sh
trap 'echo term >> "$1"; echo "got SIGTERM"; exit 0' TERM
for i in $(seq ${ORPHANS}); do (sleep 0.2 &); done
echo up
while :; do sleep 1 & wait $!; done
`;

/** Counts zombies in /proc with nothing but busybox sh. */
const BUSYBOX_ZOMBIES = [
  'n=0; for f in /proc/[0-9]*/stat; do read -r l < "$f" 2>/dev/null || continue;',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
  'case "${l##*) }" in Z*) n=$((n+1));; esac; done; echo $n',
].join(" ");

interface Userspace {
  program: string[];
  handler: string[];
  zombies: string[];
  hello: string[];
  helloSays: string;
  extraFiles: { path: string; content: string; mode?: number }[];
}

const LOG = "/out/log";

function userspace(userland: Userland): Userspace {
  if (userland === "busybox") {
    return {
      program: ["/usr/bin/serve", LOG],
      handler: ["/bin/sh", "-c", `echo prestop >> ${LOG}; echo marked prestop`],
      zombies: ["/bin/sh", "-c", BUSYBOX_ZOMBIES],
      hello: ["/bin/busybox", "echo", "hello from busybox"],
      helloSays: "hello from busybox",
      extraFiles: [{ path: "/usr/bin/serve", content: BUSYBOX_SERVE, mode: 0o755 }],
    };
  }
  return {
    program: ["/usr/bin/userland", "serve", LOG],
    handler: ["/usr/bin/userland", "mark", LOG, "prestop"],
    zombies: ["/usr/bin/userland", "zombies"],
    hello: ["/usr/bin/userland", "hello"],
    helloSays: `hello from ${userland}`,
    extraFiles: [],
  };
}

interface Prepared {
  userland: Userland;
  space: Userspace;
  rootfs: Rootfs;
  image: string;
  /** sha256 of every image file outside /hookinit, before anything ran. */
  hashes: Map<string, string>;
}

const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const USERLANDS: Userland[] = ["busybox", "musl", "glibc"];
const prepared = new Map<Userland, Prepared>();
const containers = new Set<string>();
const images = new Set<string>();
const running = new Set<ChildProcess>();
let scratch = "";

function hashFiles(rootfs: Rootfs): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const file of rootfs.imageFiles) {
    const path = join(rootfs.dir, file);
    try {
      hashes.set(file, createHash("sha256").update(readFileSync(path)).digest("hex"));
    } catch {
      // symlinks into the host (none expected) or special files
    }
  }
  return hashes;
}

beforeAll(() => {
  if (skipReason !== undefined) return;
  scratch = mkdtempSync(join(tmpdir(), "hookinit-e2e-any-libc-"));
  for (const userland of USERLANDS) {
    const space = userspace(userland);
    const config = { preStop: { exec: { command: space.handler } } };
    const rootfs = buildRootfs({
      dir: join(scratch, userland),
      userland,
      extraFiles: [
        ...space.extraFiles,
        { path: "/etc/hookinit/hooks.json", content: JSON.stringify(config) },
      ],
    });
    const out = join(rootfs.dir, "out");
    mkdirSync(out, { recursive: true });
    chmodSync(out, 0o777);
    const image = `localhost/hookinit-e2e-libc-${userland}-${RUN_ID}`;
    images.add(image);
    importImage(rootfs.dir, image, ["ENV HOOKINIT_CONFIG=/etc/hookinit/hooks.json"]);
    prepared.set(userland, { userland, space, rootfs, image, hashes: hashFiles(rootfs) });
  }
}, 300_000);

afterAll(() => {
  for (const child of running) child.kill("SIGKILL");
  for (const name of containers) spawnSync("podman", ["rm", "-f", "-t", "0", name]);
  for (const image of images) spawnSync("podman", ["rmi", "-f", image]);
  if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
}, 120_000);

// --- Two ways to be PID 1 -----------------------------------------------------

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A running container of one userland, whichever way it was started. */
interface Container {
  /** Runs a command inside, as a runtime's exec hook would. */
  exec(argv: string[]): Promise<Result>;
  /** hookinit's stdout so far (the container log). */
  output(): Promise<string>;
  /** Sends the stop signal to PID 1. */
  stop(): Promise<void>;
  /** Waits for PID 1 to exit; its exit code. */
  exitCode(): Promise<number | null>;
  /** The file the program and the handler append to, read from the host. */
  log(): string[];
}

let counter = 0;

async function startUnshare(p: Prepared): Promise<Container> {
  const out = join(p.rootfs.dir, "out");
  writeFileSync(join(out, "log"), "");
  chmodSync(join(out, "log"), 0o666);
  const child = spawn(
    "unshare",
    [
      "--pid",
      "--fork",
      `--mount-proc=${join(p.rootfs.dir, "proc")}`,
      "chroot",
      p.rootfs.dir,
      IMAGE_HOOKINIT,
      "--config",
      "/etc/hookinit/hooks.json",
      "--",
      ...p.space.program,
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } },
  );
  running.add(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  let gone = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on("close", (code) => {
      gone = true;
      running.delete(child);
      resolve(code);
    }),
  );
  const pid = child.pid as number;
  const hostPid = await waitFor(
    "hookinit under unshare",
    () => {
      if (gone) throw new Error(`unshare exited: ${stderr}`);
      return findHookinit(pid);
    },
    WAIT_MS,
    () => `stdout:\n${stdout}\nstderr:\n${stderr}`,
  );
  return {
    exec: (argv) =>
      run("nsenter", ["--target", String(hostPid), "--pid", "--mount", "--root", "--wd", ...argv]),
    output: async () => stdout,
    stop: async () => {
      process.kill(hostPid, "SIGTERM");
    },
    exitCode: () => exited,
    log: () => readFileSync(join(out, "log"), "utf8").split("\n").filter(Boolean),
  };
}

async function startPodman(p: Prepared): Promise<Container> {
  counter += 1;
  const name = `hookinit-e2e-libc-${p.userland}-${RUN_ID}-${counter}`;
  const out = mkdtempSync(join(scratch, `out-${p.userland}-`));
  chmodSync(out, 0o777);
  containers.add(name);
  const started = await run("podman", [
    "run",
    "-d",
    "--name",
    name,
    "-v",
    `${out}:/out`,
    p.image,
    ...p.space.program,
  ]);
  if (started.code !== 0) throw new Error(`podman run: ${started.stderr}`);
  return {
    exec: (argv) => run("podman", ["exec", name, ...argv]),
    output: async () => (await run("podman", ["logs", name])).stdout,
    stop: async () => {
      await run("podman", ["kill", "--signal", "TERM", name]);
    },
    exitCode: async () => {
      const waited = await run("podman", ["wait", name]);
      return Number(waited.stdout.trim());
    },
    log: () => {
      const file = join(out, "log");
      return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
    },
  };
}

const HARNESSES = { unshare: startUnshare, podman: startPodman } as const;

// --- The checks ---------------------------------------------------------------

async function upAndReady(c: Container, p: Prepared): Promise<void> {
  await waitFor(
    "the program's 'up'",
    async () => (await c.output()).split("\n").includes("up"),
    WAIT_MS,
  );
  // hookinit logs "started" once its logger is loaded, which may come after the program's first line.
  const started = await waitFor("hookinit's 'started' record", async () =>
    parseLogLines(await c.output()).find((record) => record.msg === "started"),
  );
  expect(started).toMatchObject({ pid1: true });
  await waitFor(
    "hookinit ready",
    async () => (await c.exec([IMAGE_HOOKINIT, "ready"])).code === 0,
    WAIT_MS,
  );
  // Every orphan was reparented to hookinit and reaped: none is left a zombie.
  await waitFor(
    `${ORPHANS} orphans reaped`,
    async () => {
      const reaped = parseLogLines(await c.output())
        .filter((record) => record.msg === "orphans reaped")
        .reduce((sum, record) => sum + Number(record.count), 0);
      return reaped >= ORPHANS;
    },
    WAIT_MS,
    () => "",
  );
  await waitFor(
    "no zombie in the container",
    async () => {
      const result = await c.exec(p.space.zombies);
      return result.code === 0 && result.stdout.trim() === "0";
    },
    WAIT_MS,
  );
  // The image's own program, linked against the image's own libc.
  const hello = await c.exec(p.space.hello);
  expect(hello.stdout.trim(), hello.stderr).toBe(p.space.helloSays);
}

async function imageUnchanged(p: Prepared): Promise<void> {
  expect(hashFiles(p.rootfs)).toEqual(p.hashes);
  // And its programs run outside any container, straight from its files.
  const hello = await run("chroot", [p.rootfs.dir, ...p.space.hello]);
  expect(hello.stdout.trim(), hello.stderr).toBe(p.space.helloSays);
}

describe.skipIf(skipReason !== undefined).each(USERLANDS)("a %s root filesystem", (userland) => {
  test("holds the hookinit directory with its own loader and libc, and nothing of hookinit elsewhere", () => {
    const p = prepared.get(userland) as Prepared;
    expect(p.rootfs.libraries).toContain("/hookinit/lib/libc.so.6");
    expect(p.rootfs.libraries.some((library) => /\/ld-linux-[^/]+\.so\.\d$/.test(library))).toBe(
      true,
    );
    const libcs = p.rootfs.imageFiles.filter((file) =>
      /(^|\/)(libc\.so|ld-linux|ld-musl)/.test(file),
    );
    if (userland === "busybox") expect(libcs).toEqual([]);
    if (userland === "musl") expect(libcs).toEqual(["lib/ld-musl-x86_64.so.1"]);
    if (userland === "glibc") expect(libcs.some((file) => file.endsWith("libc.so.6"))).toBe(true);
  });

  for (const [harness, start] of Object.entries(HARNESSES)) {
    test(
      `${harness}: ready, 0 zombies after ${ORPHANS} orphans, a preStop call, then the stop signal`,
      async () => {
        const p = prepared.get(userland) as Prepared;
        const c = await start(p);
        await upAndReady(c, p);
        const hook = await c.exec([IMAGE_HOOKINIT, "hook", "preStop"]);
        expect(hook.code, `${hook.stdout}\n${hook.stderr}`).toBe(0);
        expect(hook.stdout).toContain("marked prestop");
        // A client's preStop does not stop the program: the runtime's signal does.
        await sleep(200);
        expect(c.log()).toEqual(["prestop"]);
        await c.stop();
        expect(await c.exitCode()).toBe(0);
        // preStop ran once, before the program's TERM.
        expect(c.log()).toEqual(["prestop", "term"]);
        await imageUnchanged(p);
      },
      TEST_MS,
    );

    test(
      `${harness}: the stop signal alone runs preStop before the program's TERM`,
      async () => {
        const p = prepared.get(userland) as Prepared;
        const c = await start(p);
        await waitFor("'up'", async () => (await c.output()).split("\n").includes("up"), WAIT_MS);
        await c.stop();
        expect(await c.exitCode()).toBe(0);
        expect(c.log()).toEqual(["prestop", "term"]);
        const records = parseLogLines(await c.output());
        const finished = records.findIndex(
          (r) => r.hook === "preStop" && r.msg === "hook finished",
        );
        expect(finished).toBeGreaterThanOrEqual(0);
        await imageUnchanged(p);
      },
      TEST_MS,
    );
  }
});
