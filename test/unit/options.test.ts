import { describe, expect, it } from "vitest";
import { parseCommandLine, UsageError } from "../../src/cli/options.js";

const supervise = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const invocation = parseCommandLine(argv, env);
  if (invocation.kind !== "supervise")
    throw new Error(`expected supervise, got ${invocation.kind}`);
  return invocation.options;
};

describe("parseCommandLine", () => {
  it("has the documented defaults", () => {
    const options = supervise(["sleep", "1"]);
    expect(options).toMatchObject({
      command: ["sleep", "1"],
      // Unset: the manifest's terminationGracePeriodSeconds, else 30 (src/supervisor/main.ts).
      graceSeconds: undefined,
      singleChild: false,
      stopSignal: undefined,
      logLevel: "info",
      logFormat: "json",
    });
    expect(options.rewrites.size).toBe(0);
  });

  it("stops reading options at the first word of the command", () => {
    expect(supervise(["nginx", "-g", "daemon off;"]).command).toEqual([
      "nginx",
      "-g",
      "daemon off;",
    ]);
    expect(supervise(["--grace", "5", "--", "--weird-name"]).command).toEqual(["--weird-name"]);
    expect(supervise(["--grace=5", "sh"]).graceSeconds).toBe(5);
  });

  it("treats hook, status and ready as client commands unless after --", () => {
    expect(parseCommandLine(["hook", "preStop"], {})).toMatchObject({
      kind: "hook",
      hook: "preStop",
    });
    expect(parseCommandLine(["status"], {}).kind).toBe("status");
    expect(parseCommandLine(["--socket", "/x.sock", "ready"], {})).toMatchObject({
      kind: "ready",
      options: { socket: "/x.sock" },
    });
    expect(supervise(["--", "status"]).command).toEqual(["status"]);
  });

  it("reads every option from HOOKINIT_* when the flag is absent, flags win", () => {
    const env = {
      HOOKINIT_GRACE: "7",
      HOOKINIT_SINGLE_CHILD: "true",
      HOOKINIT_REWRITE: "TERM:QUIT, USR1:0",
      HOOKINIT_LOG_LEVEL: "debug",
      HOOKINIT_LOG_FORMAT: "text",
      HOOKINIT_STOP_SIGNAL: "QUIT",
      HOOKINIT_CONFIG: "/etc/hooks.yaml",
      HOOKINIT_SOCKET: "/run/x.sock",
    };
    const options = supervise(["true"], env);
    expect(options).toMatchObject({
      graceSeconds: 7,
      singleChild: true,
      logLevel: "debug",
      logFormat: "text",
      stopSignal: "SIGQUIT",
      config: "/etc/hooks.yaml",
      socket: "/run/x.sock",
    });
    expect([...options.rewrites]).toEqual([
      ["SIGTERM", "SIGQUIT"],
      ["SIGUSR1", null],
    ]);
    expect(supervise(["--grace", "1", "true"], env).graceSeconds).toBe(1);
  });

  it.each([
    [["--bogus", "true"], /Unknown option '--bogus'/],
    [[], /no command to run/],
    [["--grace", "soon", "true"], /--grace "soon"/],
    [["--grace=-1", "true"], /--grace "-1"/],
    [["--rewrite", "TERM:NOPE", "true"], /--rewrite "TERM:NOPE"/],
    [["--rewrite", "TERM", "true"], /--rewrite "TERM"/],
    [["--stop-signal", "KILL", "true"], /--stop-signal "KILL"/],
    [["--log-level", "loud", "true"], /--log-level "loud"/],
    [["--log-format", "xml", "true"], /--log-format "xml"/],
    [["hook"], /usage: hookinit hook/],
    [["status", "extra"], /takes no arguments/],
  ])("refuses %j", (argv, message) => {
    expect(() => parseCommandLine(argv, {})).toThrow(UsageError);
    expect(() => parseCommandLine(argv, {})).toThrow(message);
  });

  it("takes the configuration inline from --config-inline or HOOKINIT_CONFIG_INLINE", () => {
    const text = "preStop: {exec: {command: [true]}}";
    expect(supervise(["--config-inline", text, "true"]).configInline).toEqual({
      text,
      source: "--config-inline",
    });
    expect(supervise(["true"], { HOOKINIT_CONFIG_INLINE: text }).configInline).toEqual({
      text,
      source: "HOOKINIT_CONFIG_INLINE",
    });
    expect(supervise(["true"], { HOOKINIT_CONFIG_INLINE: " " }).configInline).toBeUndefined();
  });

  it.each([
    [["--config", "/a", "--config-inline", "{}", "true"], {}, "--config and --config-inline"],
    [
      ["true"],
      { HOOKINIT_CONFIG: "/a", HOOKINIT_CONFIG_INLINE: "{}" },
      "HOOKINIT_CONFIG and HOOKINIT_CONFIG_INLINE",
    ],
    [
      ["--config", "/a", "true"],
      { HOOKINIT_CONFIG_INLINE: "{}" },
      "--config and HOOKINIT_CONFIG_INLINE",
    ],
  ])("refuses a file and an inline configuration together: %j %j", (argv, env, names) => {
    expect(() => parseCommandLine(argv, env)).toThrow(UsageError);
    expect(() => parseCommandLine(argv, env)).toThrow(`${names} are both set`);
  });

  it("refuses a bad boolean in the environment", () => {
    expect(() => parseCommandLine(["true"], { HOOKINIT_SINGLE_CHILD: "maybe" })).toThrow(
      /HOOKINIT_SINGLE_CHILD/,
    );
  });
});
