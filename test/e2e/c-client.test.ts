/**
 * The C client (native/client.c) against the real supervisor: `hook`,
 * `status` and `ready` behave as the TypeScript client does (same stdout,
 * stderr and exit code, run side by side in the same container), including
 * joined preStop calls, streaming output, and no supervisor to reach.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { asUser, C_CLIENT, cleanEnv, TS_CLIENT } from "../support/hookinit.js";
import { cleanupAfterEach, Hookinit, run } from "../support/process.js";
import { termReporter, WAIT_FOR_TERM } from "../support/programs.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

/** A client command inside hookinit's namespaces, as a runtime's exec hook runs it. */
async function inside(hookinit: Hookinit, client: readonly string[], args: string[], env = {}) {
  return run(
    "nsenter",
    ["--target", String(await hookinit.hostPid()), "--pid", "--mount", ...client, ...args],
    { env: cleanEnv(env), timeoutMs: 120_000 },
  );
}

const same = (result: { code: number | null; stdout: string; stderr: string }) => ({
  code: result.code,
  stdout: result.stdout,
  stderr: result.stderr,
});

/** The C client's ARGS inside hookinit, expected to answer as the TypeScript client's do; its result. */
async function sameAsTypeScript(hookinit: Hookinit, args: string[]) {
  const c = await inside(hookinit, C_CLIENT, args);
  const ts = await inside(hookinit, TS_CLIENT, args);
  expect(same(c), args.join(" ")).toEqual(same(ts));
  return c;
}

/**
 * `ready` from the C client, then from the TypeScript one, in one fresh mount
 * namespace (so that both compute the same default places), after the shell
 * lines SETUP: each one's output line (stderr) and `code=N`.
 */
async function readyInFreshMountNamespace(setup: string[] = [], unshare: string[] = []) {
  const script = [
    ...setup,
    `{ "$1" ready; echo "code=$?"; shift; "$@" ready; echo "code=$?"; } 2>&1`,
  ].join("\n");
  const result = await run(
    "unshare",
    ["--mount", ...unshare, "sh", "-c", script, "sh", C_CLIENT[0], ...TS_CLIENT],
    { env: cleanEnv(), timeoutMs: 60_000 },
  );
  const [cLine, cCode, tsLine, tsCode] = result.stdout.trimEnd().split("\n");
  return { cLine, cCode, tsLine, tsCode, elapsedMs: result.elapsedMs };
}

describe("the C client against the supervisor", () => {
  it("status and ready: the same answers as the TypeScript client", {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    const go = join(dir, "go");
    const hookinit = await Hookinit.start({
      config: {
        postStart: { exec: { command: ["sh", "-c", `while [ ! -e ${go} ]; do sleep 0.05; done`] } },
      },
      program: WAIT_FOR_TERM,
    });
    // postStart still running: not ready, and status says why.
    await hookinit.waitForLog((r) => r.msg === "hook started" && r.hook === "postStart");
    for (const command of [["ready"], ["status"]]) await sameAsTypeScript(hookinit, command);
    expect((await inside(hookinit, C_CLIENT, ["ready"])).code).toBe(1);

    writeFileSync(go, "");
    await hookinit.waitForLog((r) => r.msg === "hook finished" && r.hook === "postStart");
    const ready = await inside(hookinit, C_CLIENT, ["ready"]);
    expect(same(ready)).toEqual({ code: 0, stdout: "", stderr: "" });
    const c = await sameAsTypeScript(hookinit, ["status"]);
    expect(JSON.parse(c.stdout)).toMatchObject({ phase: "running", ready: true });
  });

  it("hook preStop: streams the output, exits with the handler's code; joined calls get the same; preStop before TERM", {
    timeout: 120_000,
  }, async () => {
    const dir = tempDir();
    const marker = join(dir, "prestop-ran");
    const hookinit = await Hookinit.start({
      config: {
        preStop: {
          exec: {
            command: [
              "sh",
              "-c",
              `echo draining; echo 'a warning' >&2; printf 'é 😀 no newline'; sleep 0.5; touch ${marker}; exit 3`,
            ],
          },
        },
      },
      program: termReporter(marker),
    });
    await hookinit.waitForLine((line) => line === "program-up");
    // Ten C callers at once join one run; a TypeScript caller after them gets the replay.
    const calls = await Promise.all(
      Array.from({ length: 10 }, () => inside(hookinit, C_CLIENT, ["hook", "preStop"])),
    );
    for (const call of calls) {
      expect(same(call)).toEqual({
        code: 3,
        stdout: "draining\né 😀 no newline\n",
        stderr: "a warning\nhookinit: preStop failed: exited with code 3\n",
      });
    }
    const ts = await inside(hookinit, TS_CLIENT, ["hook", "preStop"]);
    expect(same(ts)).toEqual(same(calls[0] as (typeof calls)[0]));
    expect(
      hookinit.logs().filter((r) => r.msg === "hook started" && r.hook === "preStop"),
    ).toHaveLength(1);

    // Stopping: not ready, said the same way.
    expect((await sameAsTypeScript(hookinit, ["ready"])).code).toBe(1);

    await hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code, hookinit.describe()).toBe(0);
    expect(hookinit.lines).toContain("TERM marker=yes");
  });

  it("an unknown or uncallable hook is a usage error, as in TypeScript", async () => {
    const hookinit = await Hookinit.start({ program: WAIT_FOR_TERM });
    for (const args of [["hook", "postStop"], ["hook"], ["status", "x"]]) {
      expect((await sameAsTypeScript(hookinit, args)).code).toBe(2);
    }
  });

  it("a caller of another uid: refused, with the same message", { timeout: 60_000 }, async () => {
    const hookinit = await Hookinit.start({ program: WAIT_FOR_TERM });
    // The C client is static and needs nothing the other user cannot read but itself.
    const copy = join(tempDir(), "hookinit-client");
    await run("install", ["-m", "0755", C_CLIENT[0], copy]);
    const result = await run(
      "nsenter",
      [
        "--target",
        String(await hookinit.hostPid()),
        "--pid",
        "--mount",
        ...asUser(1000, [copy, "ready"]),
      ],
      { env: cleanEnv(), timeoutMs: 60_000 },
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^hookinit: not ready: cannot reach the supervisor: no supervisor of this container answers at the default places; found: \/dev\/shm\/hookinit-\d+-\d+ belongs to uid 0\. We are uid 1000: if hookinit runs as another user, run the hook as that user or as root; otherwise these are leftovers of other containers, and the supervisor's log says where it went\n$/,
    );
  });
});

describe.concurrent("the C client with no supervisor to reach", () => {
  const socketless = { HOOKINIT_SOCKET: "/nonexistent/x.sock" };
  it.for([["ready"], ["status"], ["hook", "preStop"]])(
    "%s: the same stderr and exit code as TypeScript",
    async (args, { expect }) => {
      const [c, ts] = await Promise.all([
        run(C_CLIENT[0], args, { env: cleanEnv(socketless), timeoutMs: 60_000 }),
        run(TS_CLIENT[0], [...TS_CLIENT.slice(1), ...args], {
          env: cleanEnv(socketless),
          timeoutMs: 60_000,
        }),
      ]);
      expect(same(c)).toEqual(same(ts));
      expect(c.code).toBe(args[0] === "ready" ? 1 : 69);
      expect(c.stderr.trimEnd().split("\n")).toHaveLength(1);
    },
  );

  it("ready at the default places in a fresh container: exit 1 at once, the same message", async ({
    expect,
  }) => {
    const { cLine, cCode, tsLine, tsCode, elapsedMs } = await readyInFreshMountNamespace();
    expect(cLine).toMatch(
      /^hookinit: not ready: cannot reach the supervisor: no control socket at /,
    );
    expect(cLine).toBe(tsLine);
    expect(cCode).toBe("code=1");
    expect(tsCode).toBe("code=1");
    console.log(`C client, ready with no supervisor: ${Math.round(elapsedMs)} ms for both clients`);
  });
});

describe("the C client passes over leftovers and other containers' sockets, as TypeScript does", () => {
  it("a stale socket and a live one of another mount namespace at the default places", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    // Both clients run in one fresh mount namespace, so they compute the same
    // default name (hookinit-<mnt ns>-<PID 1 start time>); the test plants the
    // sockets under that name in the shared /dev/shm.
    const both = readyInFreshMountNamespace([
      `M=$(readlink /proc/self/ns/mnt | tr -dc 0-9)`,
      `T=$(sed 's/.*) //' /proc/1/stat | cut -d' ' -f20)`,
      `echo "hookinit-$M-$T" > ${dir}/name`,
      `while [ ! -e ${dir}/go ]; do sleep 0.05; done`,
    ]);
    const name = await waitFor("the namespace's socket name", () => {
      try {
        return readFileSync(join(dir, "name"), "utf8").trim();
      } catch {
        return undefined;
      }
    });
    const planted = [`/dev/shm/${name}`, `/dev/shm/${name}.1`];
    const servers: Server[] = [];
    try {
      for (const place of planted) mkdirSync(place, { mode: 0o700 });
      // A leftover: a socket file nobody listens on (its server was SIGKILLed).
      const stale = join(planted[0] as string, "control.sock");
      const listener = spawn(
        process.execPath,
        ["-e", `require("node:net").createServer().listen(${JSON.stringify(stale)})`],
        { stdio: "ignore" },
      );
      await waitFor("the stale socket", () => existsSync(stale));
      listener.kill("SIGKILL");
      await new Promise((resolve) => listener.once("exit", resolve));
      // A live server in another mount namespace (ours): another container's supervisor.
      const foreign = createServer((socket) => socket.end());
      await new Promise<void>((resolve) =>
        foreign.listen(join(planted[1] as string, "control.sock"), resolve),
      );
      servers.push(foreign);
      writeFileSync(join(dir, "go"), "");
      const { cLine, cCode, tsLine, tsCode } = await both;
      expect(cLine).toBe(tsLine);
      expect(cLine).toContain(`nobody answers on ${stale} (left by a supervisor that is gone)`);
      expect(cLine).toContain("is served by another container's supervisor");
      expect([cCode, tsCode]).toEqual(["code=1", "code=1"]);
    } finally {
      for (const server of servers) server.close();
      for (const place of planted) rmSync(place, { recursive: true, force: true });
    }
  });

  it("no default place is writable: the same explanation", async () => {
    const { cLine, cCode, tsLine, tsCode } = await readyInFreshMountNamespace(
      [
        // Read-only in place (a bind mount remounted ro), so what lives there, maybe
        // this checkout, stays reachable.
        "for base in /dev/shm /run /tmp; do mount --bind $base $base && mount -o remount,bind,ro $base || exit 9; done",
      ],
      ["--propagation", "private"],
    );
    expect(cLine).toBe(tsLine);
    expect(cLine).toContain(
      "no default place is writable (/dev/shm is read-only, /run is read-only, /tmp is read-only; we are uid 0)",
    );
    expect([cCode, tsCode]).toEqual(["code=1", "code=1"]);
  });
});
