/**
 * The built executable's install, inject (files, stdin, --krm) and webhook
 * command lines: exit codes, one-line errors, what lands on stdout.
 */
import { spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { selfSignedCert, tempDir } from "../support/files.js";
import { copyHookinit, HOOKINIT, ROOT } from "../support/hookinit.js";
import { cleanupAfterEach } from "../support/process.js";
import { waitFor } from "../support/wait.js";

const FIXTURES = join(ROOT, "test", "fixtures", "inject");
const IMAGE = "registry.example/hookinit:1.0";

cleanupAfterEach();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs FILE to the end, with INPUT on stdin (none: /dev/null). */
function run(
  file: string,
  args: readonly string[],
  options: { input?: string } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

async function hookinit(args: string[], input?: string) {
  return run(HOOKINIT, args, input === undefined ? {} : { input });
}

describe("hookinit inject", () => {
  it("reads files and writes the injected manifests on stdout", async () => {
    const result = await hookinit(["inject", "--image", IMAGE, join(FIXTURES, "pod.in.yaml")]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(readFileSync(join(FIXTURES, "pod.out.yaml"), "utf8"));
  });

  it("reads stdin with - or no file, and undoes", async () => {
    const input = readFileSync(join(FIXTURES, "multi.in.yaml"), "utf8");
    const injected = await hookinit(["inject", "--image", IMAGE, "-"], input);
    expect(injected.code).toBe(0);
    expect(injected.stdout).toBe(readFileSync(join(FIXTURES, "multi.out.yaml"), "utf8"));
    const undone = await hookinit(["inject", "--undo"], injected.stdout);
    expect(undone.stdout).toBe(input);
  });

  it("joins several files into one stream of documents", async () => {
    const result = await hookinit([
      "inject",
      "--image",
      IMAGE,
      join(FIXTURES, "job.in.yaml"),
      join(FIXTURES, "cronjob.in.yaml"),
    ]);
    expect(result.code).toBe(0);
    expect(parseAllDocuments(result.stdout).map((d) => d.toJS().kind)).toEqual(["Job", "CronJob"]);
  });

  it.each([
    [["inject", join(FIXTURES, "pod.in.yaml")], "--image IMAGE is required"],
    [
      ["inject", "--image", IMAGE, join(FIXTURES, "no-command.in.yaml")],
      "container app: no command",
    ],
    [["inject", "--image", IMAGE, "--bogus"], "Unknown option '--bogus'"],
    [
      ["inject", "--image", IMAGE, "/nonexistent.yaml"],
      "/nonexistent.yaml: cannot read it: ENOENT",
    ],
    [
      ["inject", "--image", IMAGE, "--command", "app", join(FIXTURES, "no-command.in.yaml")],
      "expected NAME=COMMAND",
    ],
  ])("%j: exit 2, one line: %s", async (args, message) => {
    const result = await hookinit(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(message);
  });

  it("--command gives the entrypoint a manifest lacks", async () => {
    const result = await hookinit([
      "inject",
      "--image",
      IMAGE,
      "--command",
      "app=/docker-entrypoint.sh nginx",
      join(FIXTURES, "no-command.in.yaml"),
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(parse(result.stdout).spec.containers[0].command).toEqual([
      "/hookinit/hookinit",
      "--",
      "/docker-entrypoint.sh",
      "nginx",
    ]);
  });
});

describe("hookinit inject --krm (KRM function)", () => {
  const resourceList = (functionConfig: string) => `apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
  - apiVersion: v1
    kind: Service
    metadata:
      name: web
      annotations:
        config.kubernetes.io/index: '0'
        internal.config.kubernetes.io/path: 'service.yaml'
    spec:
      ports:
        - port: 80
  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      annotations:
        config.kubernetes.io/index: '1'
        internal.config.kubernetes.io/path: 'deployment.yaml'
    spec:
      template:
        spec:
          containers:
            - name: app
              image: app:1
              command: ["/app"] # comments survive
              lifecycle:
                preStop:
                  sleep:
                    seconds: 5
${functionConfig}`;

  it("injects the items, keeps their annotations and comments, options from functionConfig", async () => {
    const input = resourceList(`functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: hookinit-inject
  data:
    image: ${IMAGE}
    readiness: "true"
`);
    const result = await hookinit(["inject", "--krm"], input);
    expect(result.code, result.stderr).toBe(0);
    const list = parse(result.stdout);
    expect(list.kind).toBe("ResourceList");
    expect(list.items[0]).toEqual(parse(input).items[0]);
    const pod = list.items[1].spec.template.spec;
    expect(list.items[1].metadata.annotations["config.kubernetes.io/index"]).toBe("1");
    expect(pod.initContainers[0].image).toBe(IMAGE);
    expect(pod.containers[0].command).toEqual(["/hookinit/hookinit", "--", "/app"]);
    expect(pod.containers[0].readinessProbe).toEqual({ httpGet: { path: "/ready", port: 8086 } });
    expect(result.stdout).toContain("# comments survive");
  });

  it("takes options from a custom kind's spec too", async () => {
    const input = resourceList(`functionConfig:
  apiVersion: hookinit.example/v1
  kind: HookinitInject
  metadata:
    name: hookinit-inject
  spec:
    image: ${IMAGE}
    containers: [app]
`);
    const result = await hookinit(["inject", "--krm"], input);
    expect(result.code, result.stderr).toBe(0);
    expect(parse(result.stdout).items[1].spec.template.spec.initContainers[0].image).toBe(IMAGE);
  });

  it("an error: results with severity error on stdout, one line on stderr, exit 2", async () => {
    const result = await hookinit(
      ["inject", "--krm"],
      resourceList("functionConfig: {data: {}}\n"),
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(parse(result.stdout).results).toEqual([
      { message: expect.stringContaining("image is required"), severity: "error" },
    ]);
  });
});

describe("hookinit install DIR", () => {
  /** A copy of hookinit's directory anyone can read, as in an image. */
  function publicCopy(): string {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const home = join(dir, "hookinit");
    copyHookinit(home);
    chmodSync(home, 0o755);
    return home;
  }
  const home = publicCopy();
  const entry = join(home, "hookinit");

  it("copies into a new directory, then finds it up to date", async () => {
    const target = join(tempDir(), "fresh");
    const first = await run(entry, ["install", target]);
    expect(first.code, first.stderr).toBe(0);
    expect(readdirSync(target).sort()).toEqual(readdirSync(home).sort());
    expect(readFileSync(join(target, "lib", "hookinit.node"))).toEqual(
      readFileSync(join(home, "lib", "hookinit.node")),
    );
    const before = statSync(join(target, "hookinit")).ino;
    const second = await run(entry, ["install", target]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("is up to date");
    expect(statSync(join(target, "hookinit")).ino).toBe(before);
    // The copy runs.
    const version = await run(join(target, "hookinit"), ["--version"]);
    expect(version.stdout).toMatch(/^hookinit /);
  });

  it("fills an existing directory (an emptyDir) as a non-root user, leaving no staging behind", async () => {
    const target = join(tempDir(), "volume");
    mkdirSync(target);
    chownSync(target, 65534, 65534);
    chmodSync(join(target, ".."), 0o755);
    const result = await run("setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      entry,
      "install",
      target,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(target).sort()).toEqual(readdirSync(home).sort());
    expect(statSync(join(target, "hookinit")).uid).toBe(65534);
    // A changed file is replaced; the rest is left alone.
    writeFileSync(join(target, "lib", "hookinit.node"), "stale");
    const again = await run("setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      entry,
      "install",
      target,
    ]);
    expect(again.stdout).toContain("lib");
    expect(again.stdout).not.toContain("lib, hookinit");
    expect(readFileSync(join(target, "lib", "hookinit.node"))).toEqual(
      readFileSync(join(home, "lib", "hookinit.node")),
    );
  });

  it.each([
    [[], "usage: hookinit install DIR"],
    [["/proc/version"], "exists and is not a directory"],
    [["/proc/hookinit-here"], "install /proc/hookinit-here: "],
  ])("%j: exit 2, one line: %s", async (args, message) => {
    const result = await run(entry, ["install", ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(message);
  });

  it("refuses to install over its own directory", async () => {
    const result = await run(entry, ["install", home]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("hookinit's own directory");
    expect(existsSync(entry)).toBe(true);
  });
});

describe("hookinit webhook (the command line)", () => {
  it("without --cert and --key: exit 2, one line", async () => {
    const result = await hookinit(["webhook", "--image", IMAGE]);
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("--cert FILE and --key FILE are required");
  });

  it("serves, logs JSON lines, and exits 0 on SIGTERM", async () => {
    const { cert, key } = selfSignedCert(tempDir(), "webhook", "t");
    const child = spawn(
      HOOKINIT,
      ["webhook", "--cert", cert, "--key", key].concat([
        "--image",
        IMAGE,
        "--listen",
        "127.0.0.1:0",
      ]),
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => resolve(code)),
    );
    await waitFor(
      "the listening line",
      () => out.includes('"msg":"webhook listening"'),
      20_000,
      () => out,
    );
    const line = JSON.parse(out.split("\n")[0] as string);
    expect(line).toMatchObject({ level: "info", msg: "webhook listening", image: IMAGE });
    expect(line.port).toBeGreaterThan(0);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
