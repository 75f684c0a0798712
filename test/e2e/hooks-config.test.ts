/**
 * Configuration errors are found before the program starts: exit 2, one
 * line on stderr naming the field, and the program never ran.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/files.js";
import { cleanEnv, HOOKINIT } from "../support/hookinit.js";
import { cleanupAfterEach, Hookinit, run } from "../support/process.js";

cleanupAfterEach();

interface Case {
  name: string;
  /** The file's text (YAML or JSON). */
  text: string;
  /** What the one stderr line must contain: the field path, or the problem. */
  names: string;
  file?: string;
}

const POD = (lifecycle: string) => `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - name: app
      image: app:1
      lifecycle:
${lifecycle
  .split("\n")
  .map((line) => `        ${line}`)
  .join("\n")}
`;

const INVALID: Case[] = [
  {
    name: "port out of range",
    text: "preStop:\n  httpGet: {port: 70000}\n",
    names: "preStop.httpGet.port",
  },
  {
    name: "port zero",
    text: "preStop:\n  tcpSocket: {port: 0}\n",
    names: "preStop.tcpSocket.port",
  },
  {
    name: "named port without a manifest",
    text: "preStop:\n  httpGet: {port: http}\n",
    names: "preStop.httpGet.port",
  },
  {
    name: "tcpSocket without port",
    text: "preStop:\n  tcpSocket: {}\n",
    names: "preStop.tcpSocket.port",
  },
  {
    name: "empty command",
    text: "preStop:\n  exec: {command: []}\n",
    names: "preStop.exec.command",
  },
  {
    name: "command as a string",
    text: 'postStart:\n  exec: {command: "drain --now"}\n',
    names: "postStart.exec.command",
  },
  {
    name: "a number in command (JSON)",
    text: '{"preStop": {"exec": {"command": ["sleep", 5]}}}',
    names: "preStop.exec.command[1]",
    file: "hooks.json",
  },
  {
    name: "typo comand",
    text: "preStop:\n  exec: {comand: [drain]}\n",
    names: "preStop.exec.comand",
  },
  {
    name: "two handlers",
    text: "preStop:\n  exec: {command: [drain]}\n  sleep: {seconds: 5}\n",
    names: "preStop",
  },
  { name: "no handler", text: "postStart: {}\n", names: "postStart" },
  {
    name: "sleep negative",
    text: "preStop:\n  sleep: {seconds: -1}\n",
    names: "preStop.sleep.seconds",
  },
  {
    name: "sleep fractional",
    text: "postStop:\n  sleep: {seconds: 1.5}\n",
    names: "postStop.sleep.seconds",
  },
  {
    name: "timeoutSeconds zero",
    text: "preStop:\n  timeoutSeconds: 0\n  exec: {command: [drain]}\n",
    names: "preStop.timeoutSeconds",
  },
  {
    name: "scheme ftp",
    text: "preStop:\n  httpGet: {port: 80, scheme: ftp}\n",
    names: "preStop.httpGet.scheme",
  },
  {
    name: "header name with a space",
    text: "preStop:\n  httpGet:\n    port: 80\n    httpHeaders: [{name: X Drain, value: now}]\n",
    names: "preStop.httpGet.httpHeaders[0].name",
  },
  {
    name: "header without value",
    text: "preStop:\n  httpGet:\n    port: 80\n    httpHeaders: [{name: X-Drain}]\n",
    names: "preStop.httpGet.httpHeaders[0].value",
  },
  {
    name: "host with a space",
    text: "preStop:\n  tcpSocket: {port: 80, host: 'bad host'}\n",
    names: "preStop.tcpSocket.host",
  },
  { name: "unknown hook", text: "preStart:\n  exec: {command: [warm]}\n", names: "preStart" },
  { name: "stopSignal without SIG", text: "stopSignal: TERM\n", names: "stopSignal" },
  { name: "stopSignal real-time", text: "stopSignal: SIGRTMIN+3\n", names: "stopSignal" },
  { name: "stopSignal SIGKILL", text: "stopSignal: SIGKILL\n", names: "stopSignal" },
  {
    name: "a pod manifest's container hook",
    text: POD("preStop:\n  sleep: {seconds: -1}"),
    names: "spec.containers[0].lifecycle.preStop.sleep.seconds",
  },
  { name: "a list instead of a mapping", text: "- preStop\n", names: "expected a lifecycle block" },
  { name: "broken YAML", text: "preStop:\n  exec: {command: [drain\n", names: "invalid YAML" },
  {
    name: "broken JSON",
    text: '{"preStop": {"sleep": ',
    names: "invalid JSON",
    file: "hooks.json",
  },
];

describe("invalid configs", () => {
  it("the table has at least 15 configs that name a field", () => {
    const fieldPaths = INVALID.filter((c) => /^[A-Za-z][\w.[\]]*$/.test(c.names));
    expect(fieldPaths.length).toBeGreaterThanOrEqual(15);
  });

  it.each(INVALID)("$name: exit 2, one line naming $names, program not started", async (c) => {
    const dir = tempDir();
    const config = join(dir, c.file ?? "hooks.yaml");
    writeFileSync(config, c.text);
    const marker = join(dir, "program-ran");
    const result = await run(
      "unshare",
      ["--pid", "--fork", "--mount-proc", HOOKINIT, "--config", config, "--", "touch", marker],
      { env: cleanEnv() },
    );
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.endsWith("\n")).toBe(true);
    const lines = result.stderr.slice(0, -1).split("\n");
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toContain(c.names);
    expect(lines[0]).toContain(config);
    expect(result.stdout).toBe("");
    expect(existsSync(marker)).toBe(false);
  });

  it("a config file that does not exist: exit 2, one line naming it", async () => {
    const dir = tempDir();
    const marker = join(dir, "program-ran");
    const missing = join(dir, "nope.yaml");
    const result = await run(HOOKINIT, ["--config", missing, "--", "touch", marker], {
      env: cleanEnv(),
    });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain(missing);
    expect(result.stderr).toContain("ENOENT");
    expect(existsSync(marker)).toBe(false);
  });

  it("HOOKINIT_CONFIG is read like --config", async () => {
    const dir = tempDir();
    const config = join(dir, "hooks.yaml");
    writeFileSync(config, "preStop:\n  httpGet: {port: 70000}\n");
    const marker = join(dir, "program-ran");
    const result = await run(HOOKINIT, ["--", "touch", marker], {
      env: cleanEnv({ HOOKINIT_CONFIG: config }),
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("preStop.httpGet.port");
    expect(existsSync(marker)).toBe(false);
  });
});

describe("HOOKINIT_CONFIG_INLINE: the configuration in a variable (what inject writes)", () => {
  it.each(INVALID)("$name: exit 2, one line naming the variable and $names", async (c) => {
    const dir = tempDir();
    const marker = join(dir, "program-ran");
    const result = await run(HOOKINIT, ["--", "touch", marker], {
      env: cleanEnv({ HOOKINIT_CONFIG_INLINE: c.text }),
    });
    expect(result.code, result.stderr).toBe(2);
    const lines = result.stderr.slice(0, -1).split("\n");
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toContain(c.names);
    expect(lines[0]).toContain("config HOOKINIT_CONFIG_INLINE");
    expect(existsSync(marker)).toBe(false);
  });

  it("a valid inline config runs its hooks", async () => {
    const dir = tempDir();
    const hookRan = join(dir, "hook-ran");
    const result = await run(
      HOOKINIT,
      ["--", "sh", "-c", `while [ ! -e ${hookRan} ]; do sleep 0.05; done`],
      {
        env: cleanEnv({
          HOOKINIT_CONFIG_INLINE: JSON.stringify({
            postStart: { exec: { command: ["touch", hookRan] } },
          }),
        }),
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(hookRan)).toBe(true);
  });

  it("with --config too: exit 2, one line naming both", async () => {
    const dir = tempDir();
    const config = join(dir, "hooks.yaml");
    writeFileSync(config, "");
    const marker = join(dir, "program-ran");
    const result = await run(HOOKINIT, ["--config", config, "--", "touch", marker], {
      env: cleanEnv({ HOOKINIT_CONFIG_INLINE: "preStop: {sleep: {seconds: 1}}" }),
    });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("--config and HOOKINIT_CONFIG_INLINE are both set");
    expect(existsSync(marker)).toBe(false);
  });
});

describe("lifecycle.stopSignal from a Pod manifest (Kubernetes 1.33+)", () => {
  it("becomes the stop signal: it starts preStop, then reaches the program", async () => {
    const hookinit = await Hookinit.start({
      config: {
        kind: "Pod",
        metadata: { name: "web" },
        spec: {
          os: { name: "linux" },
          containers: [
            {
              name: "app",
              lifecycle: { stopSignal: "SIGUSR1", preStop: { exec: { command: ["true"] } } },
            },
          ],
        },
      },
      program: [
        "sh",
        "-c",
        `trap 'echo "got-USR1"; exit 0' USR1; echo program-up; sleep 100000 & wait`,
      ],
    });
    await hookinit.waitForLine((line) => line === "program-up");
    hookinit.signal("SIGUSR1");
    await hookinit.waitForLine((line) => line === "got-USR1");
    expect((await hookinit.wait()).code, hookinit.describe()).toBe(0);
    expect(
      hookinit.logs().find((r) => r.hook === "preStop" && r.msg === "hook finished"),
    ).toMatchObject({ exitCode: 0 });
  });
});

describe("terminationGracePeriodSeconds from a Pod manifest", () => {
  const manifest = (grace: number) => ({
    kind: "Pod",
    metadata: { name: "web" },
    spec: { terminationGracePeriodSeconds: grace, containers: [{ name: "app" }] },
  });
  const ignoresTerm = ["sh", "-c", `trap '' TERM; echo program-up; while :; do sleep 1; done`];

  it("is the grace budget when --grace is not given", async () => {
    const hookinit = await Hookinit.start({ config: manifest(1), program: ignoresTerm });
    await hookinit.waitForLine((line) => line === "program-up");
    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code, hookinit.describe()).toBe(137);
    expect(hookinit.logs().find((r) => r.msg === "stop sequence started")).toMatchObject({
      graceSeconds: 1,
    });
  });

  it("--grace wins over it", async () => {
    const hookinit = await Hookinit.start({
      config: manifest(3600),
      grace: 1,
      program: ignoresTerm,
    });
    await hookinit.waitForLine((line) => line === "program-up");
    hookinit.signal("SIGTERM");
    expect((await hookinit.wait()).code, hookinit.describe()).toBe(137);
    expect(hookinit.logs().find((r) => r.msg === "stop sequence started")).toMatchObject({
      graceSeconds: 1,
    });
  });
});
