/**
 * The default control socket against what earlier containers left in a
 * shared /dev/shm (containerd shares one /dev/shm among a pod's containers,
 * for the pod's whole life, and the kernel reuses mount namespace ids).
 *
 * Each test is a "container": a mount and pid namespace whose PID 1 (sh)
 * mounts /proc, binds a private directory of the test on /dev/shm (so
 * parallel runs never see each other's entries, and the test can look at it
 * after the namespace is gone), optionally makes /run and /tmp read-only as
 * Kubernetes' readOnlyRootFilesystem does, waits for a go-ahead, and execs
 * hookinit (as uid 1000 if asked) as PID 1. Before the go-ahead the test knows
 * the directory name hookinit will compute (mount namespace id + PID 1's
 * start time) and plants leftovers under exactly that name: the worst case,
 * a collision, not just an old name.
 *
 * Clients run the way a runtime runs an exec hook: nsenter into the pid and
 * mount namespaces, as the container's user.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { asUser, C_CLIENT, cleanEnv, HOOKINIT, nsenterArgs } from "../support/hookinit.js";
import { processTree } from "../support/proc.js";
import { cleanupAfterEach, Hookinit, run } from "../support/process.js";
import { WAIT_FOR_TERM } from "../support/programs.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

const APP_UID = 1000;
let base = "";
/** A copy of the executable (and what it needs) that uid 1000 can reach. */
let hookinit = "";
/** A copy of the C client (native/client.c, static), which must follow the same search. */
let cClient = "";
let config = "";
let work = "";

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "hookinit-leftovers-"));
  chmodSync(base, 0o755);
  // The checkout may sit in a 0700 directory that uid 1000 cannot traverse.
  // The old layout is dist/hookinit + dist/hookinit.node; the self-contained
  // one is a directory of its own: copy that directory.
  const from = dirname(HOOKINIT);
  const to = join(base, "bin");
  if (existsSync(join(from, "hookinit.node"))) {
    mkdirSync(to);
    copyFileSync(HOOKINIT, join(to, basename(HOOKINIT)));
    copyFileSync(join(from, "hookinit.node"), join(to, "hookinit.node"));
  } else {
    cpSync(from, to, { recursive: true });
  }
  execFileSync("chmod", ["-R", "a+rX", to]);
  hookinit = join(to, basename(HOOKINIT));
  cClient = join(base, "hookinit-client");
  copyFileSync(C_CLIENT[0], cClient);
  chmodSync(cClient, 0o755);
  config = join(base, "hooks.json");
  writeFileSync(config, JSON.stringify({ postStart: { exec: { command: ["true"] } } }));
  chmodSync(config, 0o644);
  work = join(base, "work");
  mkdirSync(work);
  chownSync(work, APP_UID, APP_UID);
});

afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

const listeners: Server[] = [];
afterEach(async () => {
  await Promise.all(
    listeners.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  );
});

interface Container {
  supervised: Hookinit;
  /** Our private /dev/shm, as the host sees it. */
  shm: string;
  /** The directory name hookinit computes: hookinit-<mntns>-<PID 1 start time>. */
  name: string;
  hostPid: number;
  /** `hookinit ARGS` inside the container, as `uid`. */
  /** `hookinit ARGS` inside the container, as `uid`; `c`: the C client instead. */
  client(args: string[], uid?: number, c?: boolean): ReturnType<typeof run>;
}

interface ContainerOptions {
  uid?: number;
  readOnly?: boolean;
  /** Runs before hookinit starts, with the host path of /dev/shm and the name hookinit will use. */
  plant?: (shm: string, name: string) => void | Promise<void>;
  program?: string[];
  args?: string[];
  /** sh stays PID 1 and runs hookinit as its child (hookinit is a subreaper). */
  wrap?: boolean;
  /** An empty tmpfs on /proc: no /proc for hookinit or its clients. */
  noProc?: boolean;
}

const SCRIPT = [
  'if [ "$NOPROC" = 1 ]; then mount -t tmpfs none /proc || exit 90',
  "else mount -t proc proc /proc || exit 90; fi",
  'mount --bind "$SHM" /dev/shm || exit 91',
  'if [ "$RO" = 1 ]; then',
  "  for d in /run /tmp; do mount --bind $d $d && mount -o remount,bind,ro $d || exit 92; done",
  "fi",
  "read go",
  'if [ "$WRAP" = 1 ]; then "$@"; exit $?; fi',
  'exec "$@"',
].join("\n");

async function container(options: ContainerOptions = {}): Promise<Container> {
  const shm = mkdtempSync(join(base, "shm-"));
  chmodSync(shm, 0o1777);
  const uid = options.uid;
  const command = [
    hookinit,
    ...(options.args ?? ["--config", config]),
    "--",
    ...(options.program ?? WAIT_FOR_TERM),
  ];
  const supervised = new Hookinit(
    [
      "unshare",
      "--mount",
      "--pid",
      "--fork",
      "--propagation",
      "private",
      "env",
      `SHM=${shm}`,
      `RO=${options.readOnly ? 1 : 0}`,
      `WRAP=${options.wrap ? 1 : 0}`,
      `NOPROC=${options.noProc ? 1 : 0}`,
      "sh",
      "-c",
      SCRIPT,
      "sh",
      ...(uid === undefined ? command : asUser(uid, command)),
    ],
    { stdin: true, cwd: work },
  );
  // PID 1 of the namespace is sh until it execs hookinit: same pid, same
  // start time, same mount namespace.
  const sh = await waitFor("the container's sh", () => {
    const pid = processTree(supervised.child.pid ?? 0).find((p) => {
      try {
        return (
          readFileSync(`/proc/${p}/cmdline`, "utf8").startsWith("sh\0") &&
          readlinkSync(`/proc/${p}/ns/pid`) !== readlinkSync("/proc/self/ns/pid")
        );
      } catch {
        return false;
      }
    });
    return pid;
  });
  const mntns = /\[(\d+)\]/.exec(readlinkSync(`/proc/${sh}/ns/mnt`))?.[1];
  const stat = readFileSync(`/proc/${sh}/stat`, "latin1");
  const started = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  const name = options.noProc ? "hookinit" : `hookinit-${mntns}-${started}`;
  await options.plant?.(shm, name);
  supervised.child.stdin?.write("go\n");
  const client = (args: string[], as = uid, c = false) => {
    const command = [c ? cClient : hookinit, ...args];
    return run(
      "nsenter",
      nsenterArgs(sh, as === undefined ? command : asUser(as, command)).slice(1),
      { env: cleanEnv(), timeoutMs: 60_000 },
    );
  };
  return { supervised, shm, name, hostPid: sh, client };
}

/** Entries of our /dev/shm whose name starts with "hookinit". */
const hookinitEntries = (shm: string) => readdirSync(shm).filter((e) => e.startsWith("hookinit"));

/** A socket file with nobody listening, as a SIGKILLed supervisor leaves it. */
function staleSocket(path: string): void {
  const made = spawnSync(process.execPath, [
    "-e",
    // process.exit() skips the close that would unlink the file.
    `require("net").createServer().listen(process.argv[1], () => process.exit(0))`,
    path,
  ]);
  expect(made.status, String(made.stderr)).toBe(0);
  expect(lstatSync(path).isSocket()).toBe(true);
}

/** A live socket served from the host: "another container" to anything in our pid namespace. */
async function liveSocket(path: string): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  listeners.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

async function stopClean(box: Container): Promise<void> {
  await box.supervised.signal("SIGTERM");
  const exit = await box.supervised.wait();
  expect(exit.code, box.supervised.describe()).toBe(0);
}

/** hook, status and ready as the container's user, with no flags: the executable, then the C client. */
async function expectServed(box: Container): Promise<void> {
  for (const c of [false, true]) {
    const which = c ? "C client" : "hookinit";
    const hook = await box.client(["hook", "postStart"], undefined, c);
    expect(hook.code, `${which}: ${hook.stderr}\n${box.supervised.describe()}`).toBe(0);
    const status = await box.client(["status"], undefined, c);
    expect(status.code, `${which}: ${status.stderr}`).toBe(0);
    expect(JSON.parse(status.stdout).phase).toBe("running");
    const ready = await box.client(["ready"], undefined, c);
    expect(ready.code, `${which}: ${ready.stderr}`).toBe(0);
  }
}

describe("nothing is left in /dev/shm on any exit hookinit controls", () => {
  it("the program exits 0", async () => {
    const box = await container({ program: ["sh", "-c", "sleep 0.5"] });
    const socket = await box.supervised.socketReady();
    expect(socket).toBe(`/dev/shm/${box.name}/control.sock`);
    expect((await box.supervised.wait()).code, box.supervised.describe()).toBe(0);
    expect(hookinitEntries(box.shm)).toEqual([]);
  });

  it("the program exits with an error", async () => {
    const box = await container({ program: ["sh", "-c", "sleep 0.5; exit 7"] });
    await box.supervised.socketReady();
    expect((await box.supervised.wait()).code, box.supervised.describe()).toBe(7);
    expect(hookinitEntries(box.shm)).toEqual([]);
  });

  it("postStart fails, so the program is stopped (exit 3)", async () => {
    const failing = join(base, "failing.json");
    writeFileSync(failing, JSON.stringify({ postStart: { exec: { command: ["false"] } } }));
    chmodSync(failing, 0o644);
    const box = await container({ args: ["--config", failing] });
    expect((await box.supervised.wait()).code, box.supervised.describe()).toBe(3);
    expect(hookinitEntries(box.shm)).toEqual([]);
  });

  it("the grace ends: the program ignores SIGTERM and gets SIGKILL", async () => {
    const box = await container({
      args: ["--grace", "1"],
      program: ["sh", "-c", "trap '' TERM; echo program-up; while :; do sleep 1; done"],
    });
    await box.supervised.socketReady();
    await box.supervised.waitForLine((line) => line === "program-up");
    await box.supervised.signal("SIGTERM");
    expect((await box.supervised.wait()).code, box.supervised.describe()).toBe(137);
    expect(hookinitEntries(box.shm)).toEqual([]);
  });

  it("as uid 1000 with a read-only /run and /tmp", async () => {
    const box = await container({ uid: APP_UID, readOnly: true });
    await box.supervised.socketReady();
    await expectServed(box);
    await stopClean(box);
    expect(hookinitEntries(box.shm)).toEqual([]);
  });

  it("a start error (command not found, 127) and a usage error (2) make nothing", async () => {
    const missing = await container({ program: ["/no/such/program"] });
    expect((await missing.supervised.wait()).code).toBe(127);
    expect(hookinitEntries(missing.shm)).toEqual([]);
    const usage = await container({ args: ["--grace", "soon"] });
    expect((await usage.supervised.wait()).code).toBe(2);
    expect(hookinitEntries(usage.shm)).toEqual([]);
  });
});

describe("a uid-1000 hookinit with read-only /run and /tmp, and a leftover under its exact name", () => {
  it("another uid's directory (root's, 0700): the socket goes to NAME.1, clients find it, the leftover stays", async () => {
    const box = await container({
      uid: APP_UID,
      readOnly: true,
      plant: (shm, name) => mkdirSync(join(shm, name), { mode: 0o700 }),
    });
    expect(await box.supervised.socketReady()).toBe(`/dev/shm/${box.name}.1/control.sock`);
    await expectServed(box);
    await stopClean(box);
    expect(hookinitEntries(box.shm)).toEqual([box.name]);
    expect(lstatSync(join(box.shm, box.name)).uid).toBe(0);
  });

  it("a directory of the same uid with a stale socket: replaced, and gone at exit", async () => {
    const box = await container({
      uid: APP_UID,
      readOnly: true,
      plant: (shm, name) => {
        const dir = join(shm, name);
        mkdirSync(dir, { mode: 0o755 });
        staleSocket(join(dir, "control.sock"));
        execFileSync("chown", ["-R", `${APP_UID}:${APP_UID}`, dir]);
      },
    });
    expect(await box.supervised.socketReady()).toBe(`/dev/shm/${box.name}/control.sock`);
    // Taken over: owner-only again.
    expect(lstatSync(join(box.shm, box.name)).mode & 0o777).toBe(0o700);
    await expectServed(box);
    await stopClean(box);
    expect(hookinitEntries(box.shm)).toEqual([]);
  });

  it.each([
    ["root", 0],
    ["the same uid", APP_UID],
  ])(
    "a live socket of another container, owned by %s: left alone, and clients still reach their own supervisor",
    async (_, owner) => {
      let live: Server | undefined;
      const box = await container({
        uid: APP_UID,
        readOnly: true,
        plant: async (shm, name) => {
          const dir = join(shm, name);
          mkdirSync(dir, { mode: 0o700 });
          live = await liveSocket(join(dir, "control.sock"));
          execFileSync("chown", ["-R", `${owner}:${owner}`, dir]);
        },
      });
      expect(await box.supervised.socketReady()).toBe(`/dev/shm/${box.name}.1/control.sock`);
      await expectServed(box);
      await stopClean(box);
      expect(hookinitEntries(box.shm)).toEqual([box.name]);
      expect(lstatSync(join(box.shm, box.name, "control.sock")).isSocket()).toBe(true);
      expect(live?.listening).toBe(true);
    },
  );

  it("every place taken by root's leftovers and /run, /tmp read-only: the program still runs and stops; 69 names the cause", async () => {
    const box = await container({
      uid: APP_UID,
      readOnly: true,
      plant: (shm, name) => {
        for (const k of ["", ".1", ".2", ".3"]) mkdirSync(join(shm, name + k), { mode: 0o700 });
      },
    });
    const error = await box.supervised.waitForLog(
      (r) => r.msg === "no control socket: hook calls cannot reach us",
    );
    expect(String(error.err)).toMatch(/belongs to uid 0/);
    await box.supervised.waitForLine((line) => line === "program-up");
    for (const c of [false, true]) {
      const hook = await box.client(["hook", "postStart"], undefined, c);
      expect(hook.code, hook.stderr).toBe(69);
      expect(hook.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(hook.stderr).toMatch(/belongs to uid 0/);
      expect(hook.stderr).toMatch(/leftovers of other containers/);
    }
    await stopClean(box);
  });

  it("no writable place at all (/dev/shm read-only too): 69 says the supervisor could not create its socket, and why", async () => {
    const box = await container({
      uid: APP_UID,
      readOnly: true,
      plant: (shm) => chmodSync(shm, 0o755),
    });
    await box.supervised.waitForLog(
      (r) => r.msg === "no control socket: hook calls cannot reach us",
    );
    await box.supervised.waitForLine((line) => line === "program-up");
    for (const c of [false, true]) {
      const hook = await box.client(["hook", "postStart"], undefined, c);
      expect(hook.code, hook.stderr).toBe(69);
      expect(hook.stderr).toMatch(/cannot have created its socket/);
      expect(hook.stderr).toMatch(
        /\/dev\/shm is not writable by us, \/run is not writable by us, \/tmp is read-only/,
      );
    }
    await stopClean(box);
  });
});

describe("fallbacks", () => {
  it("not PID 1 (a subreaper under sh): the name still comes from PID 1's start time, and clients find it", async () => {
    const box = await container({
      uid: APP_UID,
      readOnly: true,
      wrap: true,
      plant: (shm, name) => mkdirSync(join(shm, name), { mode: 0o700 }),
    });
    await box.supervised.waitForLog((r) => r.pid1 === false);
    expect(await box.supervised.socketReady()).toBe(`/dev/shm/${box.name}.1/control.sock`);
    await expectServed(box);
    await stopClean(box);
    expect(hookinitEntries(box.shm)).toEqual([box.name]);
  });

  it("no /proc: everyone computes hookinit, hookinit.1...; a leftover of root is still passed over", async () => {
    const box = await container({
      uid: APP_UID,
      readOnly: true,
      noProc: true,
      plant: (shm, name) => mkdirSync(join(shm, name), { mode: 0o700 }),
    });
    expect(await box.supervised.socketReady()).toBe("/dev/shm/hookinit.1/control.sock");
    await expectServed(box);
    await stopClean(box);
    expect(hookinitEntries(box.shm)).toEqual(["hookinit"]);
  });
});
