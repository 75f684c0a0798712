/**
 * `hookinit inject` end to end on podman: two pods whose image has no
 * hookinit at all (busybox), injected with `--image` pointing at a hookinit
 * image built like docker/Dockerfile's `hookinit` target (nothing but
 * /hookinit/, a non-root USER, `install` as the default command), then
 * `podman kube play` (podman 4.3 runs init containers and emptyDir volumes,
 * but no lifecycle hooks):
 *  - `podman exec` of the injected preStop command prints the handler's
 *    output and puts it in `podman logs`;
 *  - `podman pod stop` (a runtime that runs no hooks) gets preStop from
 *    hookinit before the program's TERM, and the program's exit code is the
 *    container's.
 *
 * Needs root and podman (test/container-setup.sh). Under CI=true a podman
 * that cannot run containers fails this file instead of skipping it.
 */
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { HOOKINIT } from "../support/hookinit.js";
import { mustPodman, podman, podmanSkipReason } from "../support/podman.js";
import { run } from "../support/process.js";
import { importDirectory, sharedLibraries } from "../support/rootfs.js";
import { waitFor } from "../support/wait.js";

const WAIT_MS = 60_000;
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const HOOKINIT_IMAGE = `localhost/hookinit-inject-${RUN_ID}:hookinit`;
const APP_IMAGE = `localhost/hookinit-inject-${RUN_ID}:app`;
const VOLUME = `hookinit-inject-${RUN_ID}`;

const skipReason = podmanSkipReason(import.meta.filename);

/**
 * hookinit's directory as `install` would copy it. The self-contained
 * directory (dist/hookinit/ with its own libraries) is taken whole. A build
 * that is still a single glibc executable (dist/hookinit + hookinit.node)
 * also needs the host's glibc in every image that runs it: returned as
 * `libraries`, which then go into the app image too (it still has no
 * hookinit).
 */
function hookinitDirectory(): { files: string[]; dir: string; libraries: string[] } {
  const dir = dirname(HOOKINIT);
  if (basename(dir) === "hookinit") return { dir, files: readdirSync(dir), libraries: [] };
  const files = ["hookinit", "hookinit.node"].filter((f) => existsSync(join(dir, f)));
  const libraries = [...new Set(files.flatMap((f) => sharedLibraries(join(dir, f))))];
  return { dir, files, libraries };
}

function buildImages(scratch: string): void {
  const { dir, files, libraries } = hookinitDirectory();
  const copyLibraries = (rootfs: string) => {
    for (const library of libraries) {
      mkdirSync(join(rootfs, dirname(library)), { recursive: true });
      copyFileSync(library, join(rootfs, library));
    }
  };

  // FROM scratch + /hookinit/, as docker/Dockerfile's hookinit target.
  const hk = join(scratch, "hookinit-image");
  mkdirSync(join(hk, "hookinit"), { recursive: true });
  for (const file of files)
    cpSync(join(dir, file), join(hk, "hookinit", file), { recursive: true });
  copyLibraries(hk);
  importDirectory(hk, HOOKINIT_IMAGE, [
    "USER 65532:65532",
    'ENTRYPOINT ["/hookinit/hookinit"]',
    'CMD ["install", "/hookinit-volume"]',
  ]);

  // The app: busybox, no hookinit.
  const app = join(scratch, "app-image");
  for (const sub of ["bin", "etc", "proc", "sys", "dev", "tmp"])
    mkdirSync(join(app, sub), { recursive: true });
  chmodSync(join(app, "tmp"), 0o1777);
  copyFileSync("/bin/busybox", join(app, "bin", "busybox"));
  chmodSync(join(app, "bin", "busybox"), 0o755);
  for (const applet of ["sh", "sleep", "echo", "cat", "true", "wget"])
    symlinkSync("busybox", join(app, "bin", applet));
  writeFileSync(join(app, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  copyLibraries(app);
  importDirectory(app, APP_IMAGE, ["ENV PATH=/bin"]);
}

const PROGRAM =
  "trap 'echo program got TERM; exit 7' TERM; echo program started; while true; do sleep 0.1; done";
const pod = (name: string, handler: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 20
  restartPolicy: Never
  containers:
    - name: app
      image: ${APP_IMAGE}
      command: ["sh", "-c", "${PROGRAM}"]
      lifecycle:
        preStop:
          exec:
            command: ["sh", "-c", "echo ${handler}"]
`;

describe.skipIf(skipReason !== undefined)(
  "inject, then podman kube play an image without hookinit",
  () => {
    const scratch = mkdtempSync(join(tmpdir(), "hookinit-inject-podman-"));
    const EXEC_POD = `hookinit-inject-${RUN_ID}-exec`;
    const STOP_POD = `hookinit-inject-${RUN_ID}-stop`;
    const preStopCommands = new Map<string, string[]>();
    const logs = (pod: string) => podman("logs", `${pod}-app`).then((r) => r.stdout + r.stderr);

    beforeAll(async () => {
      buildImages(scratch);
      const manifest = `${pod(EXEC_POD, "prestop handler ran in exec")}---\n${pod(STOP_POD, "prestop handler ran on stop")}`;
      const injected = await run(HOOKINIT, ["inject", "--image", HOOKINIT_IMAGE, "--readiness"], {
        input: manifest,
      });
      expect(injected.code, injected.stderr).toBe(0);
      for (const doc of parseAllDocuments(injected.stdout)) {
        const object = doc.toJS();
        preStopCommands.set(
          object.metadata.name,
          object.spec.containers[0].lifecycle.preStop.exec.command,
        );
      }
      // podman 4.3 makes an emptyDir a named volume: give this run's its own name.
      const file = join(scratch, "injected.yaml");
      writeFileSync(file, injected.stdout.replaceAll("name: hookinit\n", `name: ${VOLUME}\n`));
      await mustPodman("kube", "play", file);
      for (const p of [EXEC_POD, STOP_POD]) {
        await waitFor(
          "the program to start",
          async () => (await logs(p)).includes("program started"),
          WAIT_MS,
          () => logs(p),
          200,
        );
      }
    }, 300_000);

    afterAll(async () => {
      for (const p of [EXEC_POD, STOP_POD]) await podman("pod", "rm", "-f", "-t", "0", p);
      await podman("volume", "rm", "-f", VOLUME);
      await podman("rmi", "-f", HOOKINIT_IMAGE, APP_IMAGE);
      rmSync(scratch, { recursive: true, force: true });
    }, 120_000);

    it("the program runs under hookinit, installed by the init container", async () => {
      const status = JSON.parse(
        await mustPodman("exec", `${EXEC_POD}-app`, "/hookinit/hookinit", "status"),
      );
      expect(status).toMatchObject({ phase: "running" });
      expect(await logs(EXEC_POD)).toContain('"pid1":true');
    });

    it("--readiness: hookinit's GET /ready answers on the injected port", async () => {
      const result = await podman(
        "exec",
        `${EXEC_POD}-app`,
        "wget",
        "-q",
        "-S",
        "-O",
        "-",
        "http://127.0.0.1:8086/ready",
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain("200");
    });

    it("podman exec of the injected preStop command: the handler's output, also in podman logs", async () => {
      // The exact command the injected lifecycle carries, as a kubelet would run it.
      const preStop = preStopCommands.get(EXEC_POD) as string[];
      expect(preStop).toEqual(["/hookinit/hookinit", "hook", "preStop"]);
      const result = await podman("exec", `${EXEC_POD}-app`, ...preStop);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain("prestop handler ran in exec");
      await waitFor(
        "the handler's output in podman logs",
        async () => (await logs(EXEC_POD)).includes('"msg":"prestop handler ran in exec"'),
        WAIT_MS,
        () => logs(EXEC_POD),
        200,
      );
    });

    it("podman pod stop: preStop runs before the program's TERM, and its exit code comes through", async () => {
      await mustPodman("pod", "stop", "-t", "25", STOP_POD);
      const text = await logs(STOP_POD);
      const lines = text.split("\n");
      const handler = lines.findIndex((l) => l.includes('"msg":"prestop handler ran on stop"'));
      const term = lines.indexOf("program got TERM");
      expect(handler, text).toBeGreaterThanOrEqual(0);
      expect(term, text).toBeGreaterThan(handler);
      const code = (
        await mustPodman("inspect", `${STOP_POD}-app`, "--format", "{{.State.ExitCode}}")
      ).trim();
      expect(code).toBe("7");
    });
  },
);
