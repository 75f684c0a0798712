/**
 * Security, checked against SECURITY.md with the built executable
 * as PID 1 of its own pid namespace:
 *  - the socket directory is 0700 and the socket 0600;
 *  - a --socket path that is a symlink (the file or its directory) is refused,
 *    and so is a socket file of another uid;
 *  - a default directory that belongs to another uid, is a symlink or is not
 *    a directory is refused (created before hookinit starts, in its own mount
 *    namespace's name);
 *  - no request can run a command, set the environment or pick a handler;
 *  - the log never shows an httpHeaders value or the environment.
 * Non-root callers and SO_PEERCRED are in faults.test.ts (h).
 */
import { execFileSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { PRESTOP, STATUS, talk } from "../support/client.js";
import { tempDir, writeConfig } from "../support/files.js";
import { cleanEnv, HOOKINIT, nsenterArgs } from "../support/hookinit.js";
import { processTree } from "../support/proc.js";
import { cleanupAfterEach, Hookinit, run } from "../support/process.js";
import { termReporter, WAIT_FOR_TERM } from "../support/programs.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

const NO_SOCKET = "no control socket: hook calls cannot reach us";
/** The default directory's names in each base: NAME, NAME.1, NAME.2, NAME.3. */
const SUFFIXES = ["", ".1", ".2", ".3"];

/** Leaves a socket file at `path` that nobody listens on. */
function leaveStaleSocket(path: string): void {
  const script = `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`;
  try {
    execFileSync(process.execPath, ["-e", script], { stdio: "ignore" });
  } catch {
    // Killed by its own SIGKILL, as intended.
  }
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe("owner-only socket", () => {
  it("the default directory is 0700 and the socket 0600, both hookinit's", async () => {
    const hookinit = await Hookinit.start({ program: ["sleep", "100000"] });
    expect(hookinit.socketPath).toMatch(/^\/dev\/shm\/hookinit-\d+-\d+\/control\.sock$/);
    expect(statSync(hookinit.socketPath).isSocket()).toBe(true);
    expect(mode(hookinit.socketPath)).toBe("600");
    expect(mode(join(hookinit.socketPath, ".."))).toBe("700");
    expect(statSync(hookinit.socketPath).uid).toBe(process.getuid?.());
  });

  it("an explicit --socket: the directories it creates are 0700, the socket 0600", async () => {
    const dir = tempDir();
    const path = join(dir, "a", "b", "control.sock");
    const hookinit = await Hookinit.start({
      args: ["--socket", path],
      program: ["sleep", "100000"],
    });
    expect(hookinit.socketPath).toBe(path);
    expect(mode(path)).toBe("600");
    expect(mode(join(dir, "a"))).toBe("700");
    expect(mode(join(dir, "a", "b"))).toBe("700");
  });
});

describe("a --socket path hookinit must not use", () => {
  /** Starts hookinit with `socket`, expects it to refuse it and run the program anyway. */
  async function refused(socket: string, reason: RegExp): Promise<Hookinit> {
    const hookinit = await Hookinit.start({
      args: ["--socket", socket],
      program: WAIT_FOR_TERM,
      waitReady: false,
    });
    const error = await hookinit.waitForLog((r) => r.msg === NO_SOCKET);
    expect(String(error.err)).toMatch(reason);
    await hookinit.waitForLine((line) => line === "program-up");
    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code, hookinit.describe()).toBe(0);
    return hookinit;
  }

  it("the socket path is a symlink to another socket: refused, the target untouched", async () => {
    const dir = tempDir();
    const target = join(dir, "someone-elses.sock");
    leaveStaleSocket(target);
    const link = join(dir, "control.sock");
    symlinkSync(target, link);
    await refused(link, /exists and is not a socket/);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(statSync(target).isSocket()).toBe(true);
  });

  it("the socket path is a dangling symlink: refused, nothing created at its target", async () => {
    const dir = tempDir();
    const target = join(dir, "created-through-the-link");
    const link = join(dir, "control.sock");
    symlinkSync(target, link);
    await refused(link, /exists and is not a socket/);
    expect(existsSync(target)).toBe(false);
  });

  it("the socket's directory is a symlink: refused, nothing created in the real directory", async () => {
    const dir = tempDir();
    const real = join(dir, "real");
    mkdirSync(real);
    const link = join(dir, "link");
    symlinkSync(real, link);
    await refused(join(link, "control.sock"), /is a symlink/);
    expect(readdirSync(real)).toEqual([]);
  });

  it("a socket file that belongs to another uid: refused, not replaced", async () => {
    const dir = tempDir();
    const path = join(dir, "control.sock");
    leaveStaleSocket(path);
    chownSync(path, 1234, 1234);
    await refused(path, /belongs to uid 1234/);
    expect(statSync(path).uid).toBe(1234);
  });

  it("a regular file at the socket path: refused, not replaced", async () => {
    const dir = tempDir();
    const path = join(dir, "control.sock");
    writeFileSync(path, "precious");
    await refused(path, /exists and is not a socket/);
    expect(readFileSync(path, "utf8")).toBe("precious");
  });
});

describe("the default socket directory, prepared by someone else before hookinit starts", () => {
  const made: string[] = [];
  afterEach(() => {
    for (const path of made.splice(0)) rmSync(path, { recursive: true, force: true });
  });

  /**
   * A mount and pid namespace whose PID 1 (sh) waits on stdin before it execs
   * hookinit, so the test can learn the mount namespace id (the default
   * directory's name) and prepare /dev/shm, /run or /tmp first.
   */
  async function prepared(prepare: (name: string) => void): Promise<Hookinit> {
    const supervised = new Hookinit(
      [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "sh",
        "-c",
        'mount -t proc proc /proc || exit 90; read go; exec "$1" -- "$2" "$3" "$4"',
        "sh",
        HOOKINIT,
        ...WAIT_FOR_TERM,
      ],
      { stdin: true },
    );
    const sh = await waitFor("the namespace's sh", () => {
      const tree = processTree(supervised.child.pid ?? 0);
      const pid = tree[1];
      if (pid === undefined) return undefined;
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("sh\0") ? pid : undefined;
      } catch {
        return undefined;
      }
    });
    // The name hookinit computes: mount namespace id + PID 1's start time
    // (field 22 of /proc/1/stat; sh is PID 1 and execs hookinit).
    const id = /\[(\d+)\]/.exec(readlinkSync(`/proc/${sh}/ns/mnt`))?.[1];
    const stat = readFileSync(`/proc/${sh}/stat`, "latin1");
    const started = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    const name = `hookinit-${id}-${started}`;
    for (const base of ["/dev/shm", "/run", "/tmp"])
      for (const suffix of SUFFIXES) made.push(join(base, name + suffix));
    prepare(name);
    supervised.child.stdin?.write("go\n");
    return supervised;
  }

  /** Creates a directory owned by uid 1234. */
  const squat = (path: string) => {
    mkdirSync(path, { mode: 0o700 });
    chownSync(path, 1234, 1234);
  };

  it.each([
    ["belongs to another uid", (path: string) => squat(path)],
    [
      "is a symlink",
      (path: string) => {
        mkdirSync(`${path}-real`, { mode: 0o700 });
        made.push(`${path}-real`);
        symlinkSync(`${path}-real`, path);
      },
    ],
    ["is not a directory", (path: string) => writeFileSync(path, "")],
  ])(
    "a /dev/shm directory that %s is refused: the socket goes to the next name, and clients find it",
    async (_, prepare) => {
      let shm = "";
      const supervised = await prepared((name) => {
        shm = join("/dev/shm", name);
        prepare(shm);
      });
      const socket = await supervised.socketReady();
      expect(socket).toBe(join(`${shm}.1`, "control.sock"));
      // The squatted place is left as it was, and holds no socket.
      expect(existsSync(join(shm, "control.sock"))).toBe(false);
      if (lstatSync(shm).isDirectory()) expect(statSync(shm).uid).toBe(1234);
      if (existsSync(`${shm}-real`)) expect(readdirSync(`${shm}-real`)).toEqual([]);

      const pid = await supervised.hostPid();
      const status = await run("nsenter", nsenterArgs(pid, [HOOKINIT, "status"]).slice(1), {
        env: cleanEnv(),
      });
      expect(status.code, status.stderr).toBe(0);
      await supervised.signal("SIGTERM");
      expect((await supervised.wait()).code, supervised.describe()).toBe(0);
    },
  );

  it("all twelve default places belong to another uid: no socket, the program runs and stops", async () => {
    const supervised = await prepared((name) => {
      for (const base of ["/dev/shm", "/run", "/tmp"])
        for (const suffix of SUFFIXES) squat(join(base, name + suffix));
    });
    const error = await supervised.waitForLog((r) => r.msg === NO_SOCKET);
    expect(String(error.err).match(/belongs to uid 1234/g)).toHaveLength(12);
    await supervised.waitForLine((line) => line === "program-up");
    await supervised.signal("SIGTERM");
    expect((await supervised.wait()).code, supervised.describe()).toBe(0);
  });
});

describe("what a request can make hookinit do", () => {
  it("no request runs a command, sets the environment or picks a handler", async () => {
    const dir = tempDir();
    const marker = join(dir, "prestop-ran");
    const injected = join(dir, "injected");
    const evilConfig = writeConfig(
      dir,
      { preStop: { exec: { command: ["touch", injected] } } },
      "evil.json",
    );
    const hookinit = await Hookinit.start({
      config: {
        preStop: {
          exec: {
            command: [
              "sh",
              "-c",
              'touch "$1"; echo "FOO=$FOO"; echo "INJECT=$INJECT"',
              "sh",
              marker,
            ],
          },
        },
      },
      dir,
      env: { FOO: "program-value" },
      program: termReporter(marker),
    });
    await hookinit.waitForLine((line) => line === "program-up");
    const path = hookinit.socketPath;

    const attempts: Record<string, unknown>[] = [
      { v: 1, op: "hook", hook: "preStop", command: ["touch", injected] },
      { v: 1, op: "hook", hook: "preStop", argv: ["touch", injected] },
      { v: 1, op: "hook", hook: "preStop", exec: { command: ["touch", injected] } },
      { v: 1, op: "hook", hook: "preStop", handler: { exec: { command: ["touch", injected] } } },
      { v: 1, op: "hook", hook: "preStop", env: { INJECT: "evil", PATH: dir } },
      { v: 1, op: "hook", hook: "preStop", environment: ["INJECT=evil"] },
      { v: 1, op: "hook", hook: "preStop", cwd: "/" },
      { v: 1, op: "hook", hook: "preStop", config: evilConfig },
      { v: 1, op: "exec", command: ["touch", injected] },
      { v: 1, op: "run", argv: ["touch", injected] },
      { v: 1, op: "status", command: ["touch", injected] },
      { v: 1, op: "hook", hook: ["touch", injected] },
      { v: 1, op: "hook", hook: `touch ${injected}` },
      { v: 1, op: "hook", hook: "postStop" },
    ];
    for (const attempt of attempts) {
      const reply = await talk(path, `${JSON.stringify(attempt)}\n`, { timeoutMs: 30_000 });
      expect(reply.verdict).toBe("answered");
      expect(reply.events, JSON.stringify(attempt)).toEqual([
        expect.objectContaining({ type: "error" }),
      ]);
      expect(["bad_request", "unknown_hook"]).toContain(reply.events[0]?.code);
    }
    // A hook that is not configured runs nothing and says so.
    const postStart = await talk(path, '{"v":1,"op":"hook","hook":"postStart"}\n');
    expect(postStart.events.at(-1)).toMatchObject({ type: "result", exitCode: 0 });
    expect(JSON.stringify(postStart.events)).toMatch(/no postStart hook is configured/);

    expect(existsSync(injected)).toBe(false);
    expect(existsSync(marker)).toBe(false);
    const status = await hookinit.status();
    expect(status.hooks.preStop.state).toBe("pending");

    // The client's own environment, a config of its own included, changes nothing:
    // the configured handler runs with the program's environment.
    const client = await hookinit.client(["hook", "preStop"], {
      FOO: "client-value",
      INJECT: "evil",
      HOOKINIT_CONFIG: evilConfig,
    });
    expect(client.code, client.stderr).toBe(0);
    expect(client.stdout).toBe("FOO=program-value\nINJECT=\n");
    expect(existsSync(marker)).toBe(true);
    expect(existsSync(injected)).toBe(false);

    // A status answer carries no command line, config path or environment.
    const answer = await talk(path, STATUS);
    const text = JSON.stringify(answer.events);
    expect(text).not.toContain("touch");
    expect(text).not.toContain("program-value");
    expect(text).not.toContain(dir);

    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code).toBe(0);
    expect(hookinit.lines).toContain("TERM marker=yes");
  });
});

describe("secrets stay out of the log", () => {
  it("httpHeaders values and the environment never appear in hookinit's output, even at trace level", async () => {
    const received: IncomingHttpHeaders[] = [];
    const server = createServer((request, response) => {
      received.push(request.headers);
      response.statusCode = request.url === "/fail" ? 500 : 200;
      response.end("SECRET-IN-BODY-IS-NOT-READ\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const headers = [
        { name: "Authorization", value: "Bearer SECRET-123" },
        { name: "X-Api-Key", value: "SECRET-456" },
      ];
      const hookinit = await Hookinit.start({
        config: {
          postStart: { httpGet: { port, path: "/ready", httpHeaders: headers } },
          preStop: { httpGet: { port, path: "/fail", httpHeaders: headers } },
          postStop: { httpGet: { port: 1, path: "/closed", httpHeaders: headers } },
        },
        args: ["--log-level", "trace"],
        env: { DB_PASSWORD: "SECRET-ENV-789" },
        program: ["sh", "-c", "trap 'exit 0' TERM; echo program-up; sleep 100000 & wait"],
      });
      await hookinit.waitForLine((line) => line === "program-up");
      // postStart succeeds (200), a client joins it; preStop gets a 500 (exit 1);
      // postStop, after the program exits, finds the port closed.
      const client = await hookinit.client(["hook", "postStart"]);
      expect(client.code, client.stderr).toBe(0);
      const preStop = await hookinit.client(["hook", "preStop"]);
      expect(preStop.code, preStop.stderr).toBe(1);
      hookinit.signal("SIGTERM");
      const exit = await hookinit.wait();
      expect(exit.code, hookinit.describe()).toBe(0);
      const status = hookinit.logs().filter((r) => r.msg === "hook finished");
      expect(status.map((r) => [r.hook, r.exitCode])).toEqual([
        ["postStart", 0],
        ["preStop", 1],
        ["postStop", 1],
      ]);

      // The server got the headers: the hooks really sent them.
      expect(received.length).toBeGreaterThanOrEqual(2);
      for (const seen of received) {
        expect(seen.authorization).toBe("Bearer SECRET-123");
        expect(seen["x-api-key"]).toBe("SECRET-456");
      }
      // hookinit's log says what it did...
      const text = `${hookinit.lines.join("\n")}\n${hookinit.stderr}\n${client.stdout}${client.stderr}${preStop.stdout}${preStop.stderr}`;
      expect(text).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/ready -> 200/);
      expect(text).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/fail -> 500/);
      expect(text).toMatch(/\/closed failed/);
      // ...and never a header value or the environment.
      expect(text).not.toMatch(/SECRET/);
      expect(text).not.toContain("Bearer");
    } finally {
      server.close();
    }
  });
});

/** Same-uid callers are out of scope (SECURITY.md); the socket still refuses anything but hooks. */
describe("the preStop trigger itself", () => {
  it("a raw preStop request is the only way to start the stop sequence, and it runs once", async () => {
    const dir = tempDir();
    const runs = join(dir, "runs");
    const hookinit = await Hookinit.start({
      config: { preStop: { exec: { command: ["sh", "-c", 'echo run >> "$1"', "sh", runs] } } },
      dir,
      program: WAIT_FOR_TERM,
    });
    await hookinit.waitForLine((line) => line === "program-up");
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => talk(hookinit.socketPath, PRESTOP)),
    );
    for (const reply of replies) {
      expect(reply.events.at(-1)).toMatchObject({ type: "result", exitCode: 0 });
    }
    expect(readFileSync(runs, "utf8")).toBe("run\n");
    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code).toBe(0);
  });
});
