/**
 * Property-based tests of the control socket's request parser (bad input;
 * SECURITY.md "What a caller can make hookinit do"), with fast-check:
 *
 *  - whatever the line, parseRequest returns a request or throws a
 *    ProtocolError, never anything else;
 *  - a request with any field besides v, op and hook is refused: a caller can
 *    never send a command, an environment, a working directory or a handler;
 *  - the only hooks accepted are postStart and preStop (in the spellings
 *    normalizeHookName allows), and an accepted request is exactly
 *    {v: 1, op: "status"} or {v: 1, op: "hook", hook: "postStart" | "preStop"}.
 *
 * The hand-written cases are in test/unit/protocol.test.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CALLABLE_HOOKS, normalizeHookName } from "../../src/core/hooks.js";
import {
  encode,
  MAX_REQUEST_BYTES,
  ProtocolError,
  parseRequest,
  type Request,
} from "../../src/ipc/protocol.js";

const RUNS = Number(process.env.FC_RUNS ?? 2000);
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const params = (runs = RUNS): fc.Parameters<unknown> => ({
  numRuns: runs,
  ...(SEED !== undefined && { seed: SEED }),
});

const ERROR_CODES = ["bad_request", "unsupported_version", "unknown_hook"];

/** Parses; returns the request, or the ProtocolError. Anything else thrown fails the test. */
function attempt(line: string): Request | ProtocolError {
  try {
    return parseRequest(line);
  } catch (error) {
    if (error instanceof ProtocolError) {
      expect(ERROR_CODES).toContain(error.code);
      expect(error.message).not.toMatch(/[\r\n]/);
      return error;
    }
    throw new Error(
      `parseRequest threw ${(error as Error)?.constructor?.name}: ${String(error)}\nline: ${JSON.stringify(line)}`,
    );
  }
}

/** An accepted request is one of the three shapes, with nothing else in it. */
function expectWellFormed(request: Request): void {
  if (request.op === "status") {
    expect(request).toStrictEqual({ v: 1, op: "status" });
  } else {
    expect(request.op).toBe("hook");
    expect(Object.keys(request).sort()).toEqual(["hook", "op", "v"]);
    expect(request.v).toBe(1);
    expect(CALLABLE_HOOKS).toContain(request.hook);
    expect(["postStart", "preStop"]).toContain(request.hook);
  }
}

const KNOWN_FIELDS = new Set(["v", "op", "hook"]);

/** Field names a request might try to smuggle in. */
const extraKey = fc.oneof(
  fc.constantFrom(
    "command",
    "argv",
    "args",
    "env",
    "environment",
    "cwd",
    "handler",
    "exec",
    "httpGet",
    "sleep",
    "user",
    "uid",
    "timeoutSeconds",
    "__proto__",
    "constructor",
    "prototype",
    "toString",
    "V",
    "Op",
    "Hook",
    " hook",
    "hook ",
    "",
  ),
  fc.string({ maxLength: 10 }),
);

/** Hook names: the callable ones in every spelling, postStop, and anything else. */
const hookName = fc.oneof(
  fc.constantFrom(
    "postStart",
    "preStop",
    "postStop",
    "pre-stop",
    "PRE_STOP",
    "post_start",
    "poststart",
    "post-stop",
    "POSTSTOP",
    "pre stop",
    "preStop\n",
    "preStop\u0000",
    "ｐｒｅＳｔｏｐ",
    "rm -rf /",
    "../../bin/sh",
    "$(reboot)",
    "",
  ),
  fc.string({ maxLength: 12 }),
);

/** Any JSON value, in places where a field's value goes. */
const anyValue = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: hookName },
  { weight: 1, arbitrary: fc.constantFrom(1, 1.0, 2, 0, -1, "1", true, null, 1e308, [1]) },
);

/** A request object: v/op/hook sometimes present, sometimes with valid values, plus extras. */
const requestObject = fc
  .record(
    {
      v: fc.oneof(fc.constant(1), anyValue),
      op: fc.oneof(fc.constantFrom("hook", "status"), anyValue),
      hook: fc.oneof(hookName, anyValue),
      extra: fc.dictionary(extraKey, anyValue, { maxKeys: 3 }),
    },
    { requiredKeys: ["extra"] },
  )
  .map(({ extra, ...known }) => {
    const object: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(known)) object[key] = value;
    for (const [key, value] of Object.entries(extra)) {
      // defineProperty: "__proto__" becomes an own field, as JSON.parse makes it.
      Object.defineProperty(object, key, { value, enumerable: true, writable: true });
    }
    return object;
  });

describe("parseRequest under fuzzing", () => {
  it("any string: a well-formed request or a ProtocolError", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (line) => {
        const result = attempt(line);
        if (!(result instanceof ProtocolError)) expectWellFormed(result);
      }),
      params(),
    );
  });

  it("any JSON value: a well-formed request or a ProtocolError", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const result = attempt(JSON.stringify(value));
        if (!(result instanceof ProtocolError)) expectWellFormed(result);
      }),
      params(),
    );
  });

  it("request-shaped objects: accepted only with v 1, a known op and no extra field", () => {
    fc.assert(
      fc.property(requestObject, (object) => {
        const result = attempt(JSON.stringify(object));
        const keys = Object.keys(object);
        const extras = keys.filter((key) => !KNOWN_FIELDS.has(key));
        if (result instanceof ProtocolError) return;
        expectWellFormed(result);
        // Accepted: then the line had nothing but the known fields...
        expect(extras).toEqual([]);
        expect(object.v).toBe(1);
        // ...and a hook request named a callable hook.
        if (result.op === "hook") {
          expect(typeof object.hook).toBe("string");
          expect(normalizeHookName(object.hook as string)).toBe(result.hook);
        } else {
          expect(object.hook).toBeUndefined();
        }
      }),
      params(),
    );
  });

  it("a valid request plus any extra field is refused as bad_request", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Record<string, unknown>>(
          { v: 1, op: "status" },
          { v: 1, op: "hook", hook: "preStop" },
          { v: 1, op: "hook", hook: "postStart" },
        ),
        fc.dictionary(extraKey, anyValue, { minKeys: 1, maxKeys: 4 }),
        (valid, extra) => {
          const object: Record<string, unknown> = { ...valid };
          let added = 0;
          for (const [key, value] of Object.entries(extra)) {
            if (KNOWN_FIELDS.has(key)) continue;
            Object.defineProperty(object, key, { value, enumerable: true, writable: true });
            added++;
          }
          fc.pre(added > 0);
          const result = attempt(JSON.stringify(object));
          expect(result).toBeInstanceOf(ProtocolError);
          expect((result as ProtocolError).code).toBe("bad_request");
          expect((result as ProtocolError).message).toMatch(/unexpected field/);
        },
      ),
      params(),
    );
  });

  it("only postStart and preStop are callable, whatever the spelling", () => {
    fc.assert(
      fc.property(hookName, (hook) => {
        const result = attempt(JSON.stringify({ v: 1, op: "hook", hook }));
        const normalized = normalizeHookName(hook);
        if (normalized === "postStart" || normalized === "preStop") {
          expect(result).toEqual({ v: 1, op: "hook", hook: normalized });
        } else {
          expect(result).toBeInstanceOf(ProtocolError);
          expect((result as ProtocolError).code).toBe("unknown_hook");
        }
      }),
      params(),
    );
  });

  it("a version other than the number 1 is unsupported_version", () => {
    fc.assert(
      fc.property(
        anyValue.filter((v) => v !== 1),
        fc.constantFrom("status", "hook"),
        (v, op) => {
          const result = attempt(JSON.stringify({ v, op, hook: "preStop" }));
          expect(result).toBeInstanceOf(ProtocolError);
          expect((result as ProtocolError).code).toBe("unsupported_version");
        },
      ),
      params(),
    );
  });

  it("truncated and mangled frames of valid requests", () => {
    const valid = [
      encode({ v: 1, op: "status" }),
      encode({ v: 1, op: "hook", hook: "preStop" }),
      encode({ v: 1, op: "hook", hook: "postStart" }),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.nat(),
        fc.nat(),
        fc.string({ unit: "binary", maxLength: 4 }),
        (line, cut, at, insert) => {
          const body = line.slice(0, -1);
          // Truncated at any point: refused unless nothing was lost.
          const truncated = body.slice(0, cut % (body.length + 1));
          const result = attempt(truncated);
          if (truncated.length < body.length) expect(result).toBeInstanceOf(ProtocolError);
          // A few characters spliced in anywhere: accepted only as a well-formed request.
          const position = at % (body.length + 1);
          const mangled = body.slice(0, position) + insert + body.slice(position);
          const other = attempt(mangled);
          if (!(other instanceof ProtocolError)) expectWellFormed(other);
        },
      ),
      params(),
    );
  });

  it("deeply nested and oversized lines up to the frame limit do not throw anything else", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: MAX_REQUEST_BYTES / 2 }),
        fc.constantFrom("[", '{"a":', '{"v":'),
        (depth, open) => {
          const close = open === "[" ? "]" : "}";
          attempt(open.repeat(depth) + (open === "[" ? "" : "1") + close.repeat(depth));
          attempt(open.repeat(depth));
        },
      ),
      params(200),
    );
    // The largest frame the server passes on, full of fields.
    const big = `{"v":1,"op":"status",${Array.from({ length: 400 }, (_, i) => `"f${i}":1`).join(",")}}`;
    expect(big.length).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    expect(attempt(big)).toBeInstanceOf(ProtocolError);
  });
});
