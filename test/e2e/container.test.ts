/**
 * hookinit in real containers: podman with runc, from Debian's packages
 * (PID 1 of a busybox-only image, and seven lifecycle-hook scenarios).
 *
 * test/container-setup.sh installs and configures podman first (idempotent);
 * the image is built here from a root filesystem of busybox-static and the
 * hookinit directory under test (HOOKINIT's: dist/hookinit/, or E2E_HOOKINIT)
 * at /hookinit/, which brings its own loader and libraries
 * (test/support/rootfs.ts). No registry is needed.
 *
 * Names are unique per run and everything is removed in afterAll. Every wait
 * polls with a generous limit; no test asserts an upper bound on time.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseAllDocuments } from "yaml";
import { ROOT } from "../support/hookinit.js";
import { mustPodman, podman, podmanSkipReason } from "../support/podman.js";
import { type RunResult, run } from "../support/process.js";
import { buildRootfs, importImage, type Rootfs } from "../support/rootfs.js";
import { waitFor } from "../support/wait.js";

const EXAMPLE_NO_HOOKS = join(ROOT, "docker", "examples", "pod-no-hooks.yaml");
const WAIT_MS = 60_000;
const TEST_MS = 180_000;

// --- Setup at collection time: skip the file only if podman cannot run ----

/** Under CI=true a podman that cannot run containers fails the file instead of skipping it. */
const skipReason = podmanSkipReason(import.meta.filename);

// --- Helpers ---------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: log lines are free-form JSON
type LogLine = Record<string, any>;

/** hookinit's JSON lines among the output; other lines are ignored. */
function jsonLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      // the program's own output
    }
  }
  return lines;
}

/** Index of the first stdout line matching `match` (raw text, or a JSON line predicate). */
function lineIndex(stdout: string, match: string | ((line: LogLine) => boolean)): number {
  return stdout.split("\n").findIndex((line) => {
    if (typeof match === "string") return line === match;
    if (!line.startsWith("{")) return false;
    try {
      return match(JSON.parse(line) as LogLine);
    } catch {
      return false;
    }
  });
}

const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const IMAGE = `localhost/hookinit-e2e-${RUN_ID}`;
const containers = new Set<string>();
const pods = new Set<string>();
const volumes = new Set<string>();
let rootfs: Rootfs | undefined;
let scratch = "";
let counter = 0;

function uniqueName(what: string): string {
  counter += 1;
  return `hookinit-e2e-${RUN_ID}-${what}-${counter}`;
}

/** `podman run -d --name NAME OPTIONS IMAGE COMMAND...`; the container is removed in afterAll. */
async function startContainer(
  what: string,
  options: string[],
  command: string[],
  image = IMAGE,
): Promise<string> {
  const name = uniqueName(what);
  containers.add(name);
  await mustPodman("run", "-d", "--name", name, ...options, image, ...command);
  return name;
}

async function logs(container: string): Promise<RunResult> {
  return podman("logs", container);
}

async function waitForLog(
  container: string,
  what: string,
  found: (stdout: string) => boolean,
): Promise<string> {
  return waitFor(
    `${what} in podman logs ${container}`,
    async () => {
      const { stdout } = await logs(container);
      return found(stdout) ? stdout : undefined;
    },
    WAIT_MS,
    async () => {
      const { stdout, stderr } = await logs(container);
      return `stdout:\n${stdout}\nstderr:\n${stderr}`;
    },
    200,
  );
}

async function exitCode(container: string): Promise<number> {
  const text = await mustPodman("wait", container);
  const code = Number(text.trim());
  expect(Number.isInteger(code), `podman wait printed ${JSON.stringify(text)}`).toBe(true);
  const inspected = await mustPodman("inspect", "--format", "{{.State.ExitCode}}", container);
  expect(Number(inspected.trim())).toBe(code);
  return code;
}

const isHookLine = (hook: string, msg: string) => (line: LogLine) =>
  line.hook === hook && line.msg === msg;

// --- The image ---------------------------------------------------------------

const HOOKS_YAML = `# hooks for the e2e scenarios
postStart:
  exec:
    command: ["/bin/sh", "-c", "echo poststart: begin; sleep 2; echo poststart: end"]
preStop:
  exec:
    command: ["/bin/sh", "-c", "echo prestop: begin; sleep 1; echo prestop: end"]
`;
const HOOKS_ENV = ["-e", "HOOKINIT_CONFIG=/etc/hookinit/hooks.yaml"];

/** Logs its start, exits 42 on SIGTERM. */
const APP_TERM = `#!/bin/sh
trap 'echo "app: got SIGTERM"; exit 42' TERM
echo "app: started as uid $(id -u)"
while :; do sleep 1 & wait $!; done
`;

/** Ignores SIGTERM (so do its sleeps: an ignored disposition survives exec). */
const APP_IGNORE_TERM = `#!/bin/sh
trap '' TERM
echo "app: ignoring SIGTERM"
while :; do sleep 1; done
`;

/** Leaves N double-forked orphans behind, then waits. */
const ORPHANS = `#!/bin/sh
n=\${1:-200}
for i in $(seq "$n"); do (sleep 1 &); done
echo "orphans: made $n"
exec sleep 100000
`;

beforeAll(async () => {
  if (skipReason !== undefined) return;
  scratch = mkdtempSync(join(tmpdir(), "hookinit-e2e-container-"));
  rootfs = buildRootfs({
    dir: join(scratch, "rootfs"),
    extraFiles: [
      { path: "/etc/hookinit/hooks.yaml", content: HOOKS_YAML },
      { path: "/usr/bin/app-term", content: APP_TERM, mode: 0o755 },
      { path: "/usr/bin/app-ignore-term", content: APP_IGNORE_TERM, mode: 0o755 },
      { path: "/usr/bin/orphans", content: ORPHANS, mode: 0o755 },
    ],
  });
  importImage(rootfs.dir, IMAGE);
}, 300_000);

afterAll(async () => {
  if (skipReason !== undefined) return;
  for (const pod of pods) await podman("pod", "rm", "-f", "-t", "0", pod);
  for (const container of containers) await podman("rm", "-f", "-t", "0", container);
  for (const volume of volumes) await podman("volume", "rm", "-f", volume);
  await podman("rmi", "-f", IMAGE);
  if (scratch !== "") rmSync(scratch, { recursive: true, force: true });
}, 300_000);

// --- PID 1 of a pid namespace and of a container ---------------------

describe.skipIf(skipReason !== undefined)("hookinit in a busybox-only root filesystem", () => {
  test("the root filesystem holds busybox and the hookinit directory with its own libraries", () => {
    if (rootfs === undefined) throw new Error("no rootfs");
    expect(rootfs.libraries.length).toBeGreaterThan(0);
    for (const library of rootfs.libraries) {
      expect(library).toMatch(/^\/hookinit\/lib\//);
      expect(existsSync(join(rootfs.dir, library)), library).toBe(true);
    }
    for (const file of [
      "hookinit/hookinit",
      "hookinit/lib/hookinit.node",
      "bin/busybox",
      "bin/sh",
    ]) {
      expect(existsSync(join(rootfs.dir, file)), file).toBe(true);
    }
    expect(rootfs.libraries.some((library) => /\/libc\.so\.6$/.test(library))).toBe(true);
    expect(rootfs.libraries.some((library) => /ld-linux/.test(library))).toBe(true);
    // No library of the image's own: busybox is static.
    expect(rootfs.imageFiles.filter((file) => /\.so(\.|$)/.test(file))).toEqual([]);
  });

  test(
    "PID 1 of a pid namespace: unshare + chroot into the root filesystem",
    async () => {
      if (rootfs === undefined) throw new Error("no rootfs");
      const result = await run(
        "unshare",
        [
          "--pid",
          "--fork",
          `--mount-proc=${join(rootfs.dir, "proc")}`,
          "chroot",
          rootfs.dir,
          "/hookinit/hookinit",
          "--",
          "/bin/sh",
          "-c",
          "echo ok; exit 3",
        ],
        { timeoutMs: 120_000 },
      );
      expect(result.code, result.stderr).toBe(3);
      expect(result.stdout.split("\n")).toContain("ok");
      const started = jsonLines(result.stdout).find((line) => line.msg === "started");
      expect(started, result.stdout).toMatchObject({ pid1: true });
    },
    TEST_MS,
  );

  const variants: [string, string[]][] = [
    ["default", []],
    ["--read-only", ["--read-only"]],
    // Kubernetes' readOnlyRootFilesystem: /tmp and /run read-only too.
    ["--read-only --read-only-tmpfs=false", ["--read-only", "--read-only-tmpfs=false"]],
    ["a noexec /tmp", ["--tmpfs", "/tmp:rw,noexec"]],
  ];
  test.each(variants)(
    "PID 1 of a podman container (%s): runs the program, exits with its code",
    async (_label, options) => {
      const script =
        'echo "pid $$"; grep " /tmp " /proc/mounts || echo "tmp: rootfs"; ' +
        "if touch /tmp/probe 2>/dev/null; then echo tmp: writable; else echo tmp: read-only; fi; exit 3";
      const result = await podman("run", "--rm", ...options, IMAGE, "/bin/sh", "-c", script);
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(3);
      const started = jsonLines(result.stdout).find((line) => line.msg === "started");
      expect(started, result.stdout).toMatchObject({
        pid1: true,
        command: ["/bin/sh", "-c", script],
      });
      expect(result.stdout).toMatch(/^pid \d+$/m);
      const exited = jsonLines(result.stdout).find((line) => line.msg === "program exited");
      expect(exited, result.stdout).toMatchObject({ exitCode: 3 });
      // The environment is what the variant promises.
      if (options.includes("--read-only-tmpfs=false")) {
        expect(result.stdout).toContain("tmp: read-only");
      } else {
        expect(result.stdout).toContain("tmp: writable");
      }
      if (options.includes("/tmp:rw,noexec"))
        expect(result.stdout).toMatch(/ \/tmp tmpfs .*noexec/);
    },
    TEST_MS,
  );

  test(
    "200 double-forked orphans in a podman container leave zero zombies",
    async () => {
      const ctr = await startContainer("orphans", [], ["orphans", "200"]);
      await waitForLog(ctr, "the orphans", (stdout) => stdout.includes("orphans: made 200"));
      const reapedCount = (stdout: string) =>
        jsonLines(stdout)
          .filter((line) => line.msg === "orphans reaped")
          .reduce((sum, line) => sum + Number(line.count ?? 0), 0);
      // The orphans sleep 1 s each; wait until hookinit reaped them all.
      await waitForLog(ctr, "200 orphans reaped", (stdout) => reapedCount(stdout) >= 200);
      const zombies = await waitFor(
        "zero zombies",
        async () => {
          const result = await podman(
            "exec",
            ctr,
            "sh",
            "-c",
            'grep -l "State:.*Z" /proc/[0-9]*/status 2>/dev/null | wc -l; ls -d /proc/[0-9]* | wc -l',
          );
          const [zombieCount, processCount] = result.stdout.trim().split("\n").map(Number);
          return zombieCount === 0 ? { zombieCount, processCount } : undefined;
        },
        WAIT_MS,
        async () => (await podman("exec", ctr, "ps", "-o", "pid,ppid,stat,args")).stdout,
        200,
      );
      expect(zombies.zombieCount).toBe(0);
      // hookinit, the program (sleep 100000) and our exec's sh, ls and wc: no orphans left.
      const ps = await mustPodman("exec", ctr, "ps", "-o", "pid,ppid,stat,args");
      expect(ps.split("\n").filter((line) => / sleep 1$/.test(line))).toEqual([]);
    },
    TEST_MS,
  );
});

// --- Lifecycle hooks: scenarios 1 to 7 ----------------------------------------------

describe.skipIf(skipReason !== undefined)("lifecycle hooks on podman with runc", () => {
  test(
    "1. podman run with hookinit as ENTRYPOINT: podman logs shows hookinit's start line and the program's output",
    async () => {
      const ctr = await startContainer(
        "s1",
        [],
        ["/bin/sh", "-c", "echo hello from the program; sleep 1; exit 7"],
      );
      expect(await exitCode(ctr)).toBe(7);
      const { stdout } = await logs(ctr);
      expect(stdout.split("\n")).toContain("hello from the program");
      const lines = jsonLines(stdout);
      expect(
        lines.find((line) => line.msg === "started"),
        stdout,
      ).toMatchObject({
        name: "hookinit",
        pid1: true,
      });
      expect(
        lines.find((line) => line.msg === "program exited"),
        stdout,
      ).toMatchObject({
        exitCode: 7,
      });
    },
    TEST_MS,
  );

  test(
    "2. podman exec CTR hookinit hook postStart joins the self-started postStart; hookinit ready turns 0",
    async () => {
      const ctr = await startContainer("s2", HOOKS_ENV, ["app-term"]);
      // As the kubelet's ExecSync does, right after the container started:
      // the call may come before the control socket exists, and it joins
      // hookinit's own run (which takes 2 s).
      const hook = await podman("exec", ctr, "/hookinit/hookinit", "hook", "postStart");
      expect(hook.code, `${hook.stdout}\n${hook.stderr}`).toBe(0);
      expect(hook.stdout).toContain("poststart: end");
      await waitFor(
        "hookinit ready to exit 0",
        async () => (await podman("exec", ctr, "/hookinit/hookinit", "ready")).code === 0,
        WAIT_MS,
        async () => (await podman("exec", ctr, "/hookinit/hookinit", "status")).stdout,
        200,
      );
      const status = JSON.parse(await mustPodman("exec", ctr, "/hookinit/hookinit", "status"));
      expect(status).toMatchObject({ ready: true, hooks: { postStart: { state: "succeeded" } } });
      // Exactly one run: the client call joined it.
      const { stdout } = await logs(ctr);
      const runs = jsonLines(stdout).filter(
        (line) => line.msg === "hook started" && line.hook === "postStart",
      );
      expect(runs, stdout).toHaveLength(1);
      expect(
        jsonLines(stdout).filter(isHookLine("postStart", "poststart: end")),
        stdout,
      ).toHaveLength(1);
    },
    TEST_MS,
  );

  test(
    "3. hook preStop, then podman stop -t 10: preStop output comes before the program's SIGTERM line; exit code is the program's",
    async () => {
      const ctr = await startContainer("s3", HOOKS_ENV, ["app-term"]);
      await waitForLog(ctr, "the program's start", (stdout) => stdout.includes("app: started"));
      const hook = await podman("exec", ctr, "/hookinit/hookinit", "hook", "preStop");
      expect(hook.code, `${hook.stdout}\n${hook.stderr}`).toBe(0);
      expect(hook.stdout).toContain("prestop: end");
      await mustPodman("stop", "-t", "10", ctr);
      expect(await exitCode(ctr)).toBe(42);
      const { stdout } = await logs(ctr);
      const preStopEnd = lineIndex(stdout, isHookLine("preStop", "prestop: end"));
      const gotTerm = lineIndex(stdout, "app: got SIGTERM");
      expect(preStopEnd, stdout).toBeGreaterThanOrEqual(0);
      expect(gotTerm, stdout).toBeGreaterThan(preStopEnd);
      // The stop signal did not run preStop a second time.
      const runs = jsonLines(stdout).filter(
        (line) => line.msg === "hook started" && line.hook === "preStop",
      );
      expect(runs, stdout).toHaveLength(1);
    },
    TEST_MS,
  );

  test(
    "4. podman stop with no hook call: preStop runs anyway, before SIGTERM reaches the program",
    async () => {
      const ctr = await startContainer("s4", HOOKS_ENV, ["app-term"]);
      await waitForLog(ctr, "the program's start", (stdout) => stdout.includes("app: started"));
      await mustPodman("stop", "-t", "10", ctr);
      expect(await exitCode(ctr)).toBe(42);
      const { stdout } = await logs(ctr);
      const preStopStart = lineIndex(
        stdout,
        (line) => line.msg === "hook started" && line.hook === "preStop",
      );
      const preStopEnd = lineIndex(stdout, isHookLine("preStop", "prestop: end"));
      const gotTerm = lineIndex(stdout, "app: got SIGTERM");
      expect(preStopStart, stdout).toBeGreaterThanOrEqual(0);
      expect(preStopEnd, stdout).toBeGreaterThan(preStopStart);
      expect(gotTerm, stdout).toBeGreaterThan(preStopEnd);
    },
    TEST_MS,
  );

  test(
    "5. podman kube play of docker/examples/pod-no-hooks.yaml: podman runs no hooks, hookinit does",
    async () => {
      // The example with this run's image and unique names.
      const pod = uniqueName("pod");
      const configMap = `${pod}-config`;
      const docs = parseAllDocuments(readFileSync(EXAMPLE_NO_HOOKS, "utf8")).map((doc) =>
        doc.toJS(),
      );
      let containerName = "";
      for (const doc of docs) {
        if (doc.kind === "ConfigMap") doc.metadata.name = configMap;
        if (doc.kind === "Pod") {
          doc.metadata.name = pod;
          expect(doc.spec.containers).toHaveLength(1);
          const [container] = doc.spec.containers;
          expect(
            container.lifecycle,
            "the no-hooks example has no lifecycle block",
          ).toBeUndefined();
          container.image = IMAGE;
          containerName = container.name;
          for (const volume of doc.spec.volumes) {
            if (volume.configMap) volume.configMap.name = configMap;
          }
        }
      }
      const manifest = join(scratch, `${pod}.yaml`);
      writeFileSync(manifest, docs.map((doc) => JSON.stringify(doc)).join("\n---\n"));
      pods.add(pod);
      volumes.add(configMap);
      await mustPodman("kube", "play", manifest);
      const ctr = `${pod}-${containerName}`;
      containers.add(ctr);

      await waitForLog(ctr, "postStart's output", (stdout) =>
        jsonLines(stdout).some(isHookLine("postStart", "postStart: warming up")),
      );
      // podman 4.3's `kube down` SIGKILLs at once (containers/podman#22397,
      // fixed in 5.1): stop the pod first, with the stop signal and timeout.
      await mustPodman("pod", "stop", pod);
      expect(await exitCode(ctr)).toBe(0);
      const { stdout } = await logs(ctr);
      const drained = lineIndex(stdout, isHookLine("preStop", "preStop: drained"));
      const gotTerm = lineIndex(stdout, "app: got SIGTERM");
      expect(drained, stdout).toBeGreaterThanOrEqual(0);
      expect(gotTerm, stdout).toBeGreaterThan(drained);

      await mustPodman("kube", "down", manifest);
      expect((await podman("pod", "exists", pod)).code).toBe(1);
    },
    TEST_MS,
  );

  test(
    "6. --user 1000 --read-only --read-only-tmpfs=false: the hook client finds the socket with no flags",
    async () => {
      const ctr = await startContainer(
        "s6",
        ["--user", "1000", "--read-only", "--read-only-tmpfs=false", ...HOOKS_ENV],
        ["app-term"],
      );
      await waitForLog(ctr, "the program's start", (stdout) =>
        stdout.includes("app: started as uid 1000"),
      );
      await waitFor(
        "hookinit ready (as uid 1000) to exit 0",
        async () =>
          (await podman("exec", "--user", "1000", ctr, "/hookinit/hookinit", "ready")).code === 0,
        WAIT_MS,
        async () => {
          const status = await podman(
            "exec",
            "--user",
            "1000",
            ctr,
            "/hookinit/hookinit",
            "status",
          );
          return `${status.stdout}\n${status.stderr}`;
        },
        200,
      );
      // The socket is where a read-only root leaves room: /dev/shm.
      const { stdout: started } = await logs(ctr);
      const socket = jsonLines(started).find((line) => line.msg === "control socket ready");
      expect(socket?.socket, started).toMatch(/^\/dev\/shm\/hookinit-\d+-\d+\/control\.sock$/);

      const hook = await podman(
        "exec",
        "--user",
        "1000",
        ctr,
        "/hookinit/hookinit",
        "hook",
        "preStop",
      );
      expect(hook.code, `${hook.stdout}\n${hook.stderr}`).toBe(0);
      expect(hook.stdout).toContain("prestop: end");
      await mustPodman("stop", "-t", "10", ctr);
      expect(await exitCode(ctr)).toBe(42);
      const { stdout } = await logs(ctr);
      const preStopEnd = lineIndex(stdout, isHookLine("preStop", "prestop: end"));
      expect(preStopEnd, stdout).toBeGreaterThanOrEqual(0);
      expect(lineIndex(stdout, "app: got SIGTERM"), stdout).toBeGreaterThan(preStopEnd);
    },
    TEST_MS,
  );

  test(
    "7. a program that ignores SIGTERM: SIGKILL at the end of --grace 2, exit code 137",
    async () => {
      const ctr = await startContainer(
        "s7",
        ["--entrypoint", '["/hookinit/hookinit","--grace","2","--"]'],
        ["app-ignore-term"],
      );
      await waitForLog(ctr, "the program's start", (stdout) =>
        stdout.includes("app: ignoring SIGTERM"),
      );
      // podman would SIGKILL hookinit itself only after 30 s; hookinit's
      // grace ends first and hookinit reports the kill in its log.
      await mustPodman("stop", "-t", "30", ctr);
      expect(await exitCode(ctr)).toBe(137);
      const { stdout } = await logs(ctr);
      const lines = jsonLines(stdout);
      expect(
        lines.find((line) => line.msg === "program exited"),
        stdout,
      ).toMatchObject({
        exitCode: 137,
      });
      expect(
        lines.find((line) => line.msg === "exiting"),
        stdout,
      ).toMatchObject({
        exitCode: 137,
      });
    },
    TEST_MS,
  );
});

// --- A pod's shared /dev/shm across restarts ----------------------------------

describe.skipIf(skipReason !== undefined)(
  "a pod whose containers share IPC, hence /dev/shm",
  () => {
    /**
     * containerd gives a pod's containers one /dev/shm that outlives container
     * restarts; a pod sharing IPC is podman's nearest thing. A root container
     * is SIGKILLed (nothing can clean up after that), then a uid-1000
     * read-only container (only /dev/shm writable, as with Kubernetes'
     * readOnlyRootFilesystem) is restarted, half the time by SIGKILL too. Each
     * start's postStart exec, run right after the start as the kubelet would,
     * must find its own supervisor whatever the earlier ones left.
     */
    test(
      "a root container killed with SIGKILL, a uid-1000 read-only container restarted 4 times: every postStart exec succeeds",
      async () => {
        const pod = uniqueName("shm-pod");
        pods.add(pod);
        await mustPodman("pod", "create", "--name", pod, "--share", "ipc");
        const root = await startContainer("shm-root", ["--pod", pod, ...HOOKS_ENV], ["app-term"]);
        await waitForLog(root, "the root container's socket", (stdout) =>
          jsonLines(stdout).some((line) => line.msg === "control socket ready"),
        );
        await mustPodman("kill", "--signal", "KILL", root);

        const app = await startContainer(
          "shm-app",
          ["--pod", pod, "--user", "1000", "--read-only", "--read-only-tmpfs=false", ...HOOKS_ENV],
          ["app-term"],
        );
        for (let start = 1; start <= 5; start++) {
          if (start > 1) {
            if (start % 2 === 0) await mustPodman("kill", "--signal", "KILL", app);
            else await mustPodman("stop", "-t", "10", app);
            await mustPodman("wait", app);
            await mustPodman("start", app);
          }
          const hook = await podman(
            "exec",
            "--user",
            "1000",
            app,
            "/hookinit/hookinit",
            "hook",
            "postStart",
          );
          expect(hook.code, `start ${start}: ${hook.stdout}\n${hook.stderr}`).toBe(0);
          expect(hook.stdout).toContain("poststart: end");
        }

        // The scenario is real: the pod's /dev/shm holds the root container's
        // leftover and those of the SIGKILLed starts, and they changed nothing.
        const listing = await mustPodman("exec", "--user", "1000", app, "ls", "-ln", "/dev/shm");
        const entries = listing
          .split("\n")
          .map((line) => line.trim().split(/\s+/))
          .filter((fields) => fields[8]?.startsWith("hookinit-"))
          .map((fields) => ({ uid: fields[2], name: fields[8] }));
        expect(
          entries.filter((entry) => entry.uid === "0"),
          listing,
        ).toHaveLength(1);
        expect(
          entries.filter((entry) => entry.uid === "1000").length,
          listing,
        ).toBeGreaterThanOrEqual(3);
        await mustPodman("stop", "-t", "10", app);
        expect(await exitCode(app)).toBe(42);
      },
      TEST_MS * 2,
    );
  },
);
