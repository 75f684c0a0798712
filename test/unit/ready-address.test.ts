import { describe, expect, it } from "vitest";
import { parseCommandLine, UsageError } from "../../src/cli/options.js";
import { parseReadyAddress } from "../../src/ipc/ready-address.js";

describe("--ready-address", () => {
  it.for([
    [":8086", undefined, 8086],
    ["8086", undefined, 8086],
    ["127.0.0.1:8086", "127.0.0.1", 8086],
    ["0.0.0.0:80", "0.0.0.0", 80],
    ["[::]:8086", "::", 8086],
    ["[::1]:65535", "::1", 65535],
    ["127.0.0.1:0", "127.0.0.1", 0],
  ] as const)("%s → host %s, port %s", ([text, host, port]) => {
    expect(parseReadyAddress(text)).toEqual({ host, port, text });
  });

  it.for([
    "",
    ":",
    "localhost:8086",
    "example.com:80",
    "1.2.3:80",
    "256.1.1.1:80",
    "::1:8086",
    "[::1]",
    "[nope]:80",
    "127.0.0.1:",
    "127.0.0.1:65536",
    "127.0.0.1:-1",
    "127.0.0.1:80x",
    ":8086\n",
  ])("refuses %j in one line that shows how to write it", (text) => {
    expect(() => parseReadyAddress(text)).toThrow(/^--ready-address .*write e\.g\. :8086/);
    try {
      parseReadyAddress(text);
    } catch (error) {
      expect((error as Error).message).not.toContain("\n");
    }
  });

  it("comes from the flag or HOOKINIT_READY_ADDRESS, is off by default, and a bad one is a usage error", () => {
    const options = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const invocation = parseCommandLine(argv, env);
      if (invocation.kind !== "supervise") throw new Error(invocation.kind);
      return invocation.options;
    };
    expect(options(["sleep", "1"]).readyAddress).toBeUndefined();
    expect(options(["--ready-address", ":8086", "sleep", "1"]).readyAddress?.port).toBe(8086);
    expect(
      options(["sleep", "1"], { HOOKINIT_READY_ADDRESS: "127.0.0.1:9000" }).readyAddress,
    ).toMatchObject({ host: "127.0.0.1", port: 9000 });
    expect(() => options(["--ready-address", "nope", "sleep", "1"])).toThrow(UsageError);
  });
});
