import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { normalizeHookName } from "../../src/core/hooks.js";
import {
  encode,
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  parseRequest,
  parseServerEvent,
} from "../../src/ipc/protocol.js";

describe("parseRequest", () => {
  it("accepts a hook request and normalizes the hook name", () => {
    expect(parseRequest('{"v":1,"op":"hook","hook":"pre-stop"}')).toEqual({
      v: 1,
      op: "hook",
      hook: "preStop",
    });
    expect(parseRequest('{"v":1,"op":"hook","hook":"postStart"}')).toEqual({
      v: 1,
      op: "hook",
      hook: "postStart",
    });
  });

  it("accepts a status request", () => {
    expect(parseRequest('{"v":1,"op":"status"}')).toEqual({ v: 1, op: "status" });
  });

  it.each([
    ["not json", "bad_request"],
    ["[1,2]", "bad_request"],
    ["null", "bad_request"],
    ['{"op":"status"}', "unsupported_version"],
    ['{"v":2,"op":"status"}', "unsupported_version"],
    ['{"v":1,"op":"exec","hook":"preStop"}', "bad_request"],
    ['{"v":1,"op":"hook","hook":"postStop"}', "unknown_hook"],
    ['{"v":1,"op":"hook","hook":"rm -rf /"}', "unknown_hook"],
    ['{"v":1,"op":"hook"}', "unknown_hook"],
    ['{"v":1,"op":"hook","hook":"preStop","command":["sh"]}', "bad_request"],
    ['{"v":1,"op":"hook","hook":"preStop","env":{"A":"1"}}', "bad_request"],
    ['{"v":1,"op":"status","hook":"preStop"}', "bad_request"],
  ])("refuses %s with %s", (line, code) => {
    expect(() => parseRequest(line)).toThrow(ProtocolError);
    try {
      parseRequest(line);
    } catch (error) {
      expect((error as ProtocolError).code).toBe(code);
    }
  });

  it("never lets a request carry a command: only known fields are accepted", () => {
    for (const field of ["command", "argv", "env", "handler", "exec", "cwd"]) {
      expect(() =>
        parseRequest(JSON.stringify({ v: 1, op: "hook", hook: "preStop", [field]: "x" })),
      ).toThrow(/unexpected field/);
    }
  });
});

describe("framing", () => {
  it("encodes one JSON object per line", () => {
    const text = encode({ type: "output", stream: "stdout", line: "a\nb" });
    expect(text.endsWith("\n")).toBe(true);
    expect(text.slice(0, -1)).not.toContain("\n");
    expect(parseServerEvent(text.slice(0, -1))).toEqual({
      type: "output",
      stream: "stdout",
      line: "a\nb",
    });
  });

  it("ignores lines that are not events", () => {
    expect(parseServerEvent("garbage")).toBeUndefined();
    expect(parseServerEvent('{"no":"type"}')).toBeUndefined();
  });

  it("keeps requests small", () => {
    expect(MAX_REQUEST_BYTES).toBeLessThanOrEqual(64 * 1024);
    expect(encode({ v: 1, op: "hook", hook: "preStop" }).length).toBeLessThan(MAX_REQUEST_BYTES);
  });
});

describe("normalizeHookName", () => {
  it.each([
    ["preStop", "preStop"],
    ["pre-stop", "preStop"],
    ["PreStop", "preStop"],
    ["post_start", "postStart"],
    ["postStop", "postStop"],
    ["start", undefined],
  ])("%s -> %s", (input, expected) => {
    expect(normalizeHookName(input)).toBe(expected);
  });
});

describe("the shared protocol vectors (test/fixtures/protocol-vectors.json)", () => {
  const vectors = JSON.parse(
    readFileSync(join(import.meta.dirname, "..", "fixtures", "protocol-vectors.json"), "utf8"),
  ) as { requests: Record<string, string> };

  it("hold the request lines protocol.ts encodes", () => {
    expect(vectors.requests).toEqual({
      "hook postStart": encode({ v: PROTOCOL_VERSION, op: "hook", hook: "postStart" }),
      "hook preStop": encode({ v: PROTOCOL_VERSION, op: "hook", hook: "preStop" }),
      status: encode({ v: PROTOCOL_VERSION, op: "status" }),
      ready: encode({ v: PROTOCOL_VERSION, op: "status" }),
    });
    for (const line of Object.values(vectors.requests)) {
      expect(parseRequest(line.trimEnd())).toBeDefined();
    }
  });
});
