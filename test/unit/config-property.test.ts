/**
 * Property-based tests of the config parser against bad input, with
 * fast-check. The hand-written table of bad configs is test/unit/config.test.ts;
 * this file generates inputs instead:
 *
 *  - any JSON value, any YAML text built from YAML's own syntax characters, and
 *    random mutations of valid configs never make parseConfig throw anything
 *    but a ConfigError, and every ConfigError message is one line that names
 *    the file (`config FILE...`);
 *  - valid generated configs (lifecycle blocks, container snippets and
 *    workload manifests with named ports, as JSON and as YAML, with YAML
 *    anchors and aliases) parse to exactly the handler we expect.
 *
 * The runs are seeded per test by fast-check and reported on failure; set
 * FC_SEED / FC_RUNS to replay or to search longer.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify as yamlStringify } from "yaml";
import { ConfigError, type HookConfig, parseConfig } from "../../src/hooks/config.js";
import type { Handler } from "../../src/hooks/config-schema.js";

const FILE = "/etc/hookinit/hooks.yaml";
const RUNS = Number(process.env.FC_RUNS ?? 300);
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const params = (runs = RUNS): fc.Parameters<unknown> => ({
  numRuns: runs,
  ...(SEED !== undefined && { seed: SEED }),
});

/**
 * The contract for any input: a config, or a ConfigError whose message is one
 * line naming the file. Anything else is returned as a failure description.
 */
function outcome(
  text: string,
  container?: string,
): { ok: true; config: HookConfig } | { ok: false; message: string } {
  let config: HookConfig;
  try {
    config = parseConfig(text, FILE, container);
  } catch (error) {
    if (!(error instanceof ConfigError)) {
      throw new Error(
        `parseConfig threw ${(error as Error)?.constructor?.name} instead of a ConfigError: ${String((error as Error)?.message)}\ninput: ${JSON.stringify(text)}`,
      );
    }
    const message = error.message;
    if (/[\r\n]/.test(message)) throw new Error(`ConfigError of several lines: ${message}`);
    if (!message.startsWith(`config ${FILE}`)) {
      throw new Error(`ConfigError that does not start with the file: ${message}`);
    }
    return { ok: false, message };
  }
  return { ok: true, config };
}

// ---- generators of valid configs, with the HookConfig they must give ---------

interface Generated {
  /** The document, as a user writes it. */
  input: Record<string, unknown>;
  /** What parseConfig must return for the hook. */
  handler: Handler;
}

const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGWINCH", "SIGPWR"];

/** Command arguments: any string without NUL; the first one non-empty. */
const arg = fc.string({ unit: "binary", maxLength: 20 }).filter((s) => !s.includes("\0"));
const program = arg.filter((s) => s !== "");
const command = fc.tuple(program, fc.array(arg, { maxLength: 5 })).map(([p, rest]) => [p, ...rest]);

const portNumber = fc.integer({ min: 1, max: 65_535 });

/** host as written, and as parsed: trimmed, "" → 127.0.0.1, brackets removed. */
const host: fc.Arbitrary<{ written?: string; parsed: string }> = fc.oneof(
  fc.constant({ parsed: "127.0.0.1" }),
  fc.constant({ written: "", parsed: "127.0.0.1" }),
  fc.domain().map((d) => ({ written: d, parsed: d })),
  fc.ipV4().map((ip) => ({ written: ip, parsed: ip })),
  fc.ipV6().map((ip) => ({ written: ip, parsed: ip })),
  fc.ipV6().map((ip) => ({ written: `[${ip}]`, parsed: ip })),
  fc
    .tuple(fc.constantFrom(" ", "  ", "\t"), fc.domain())
    .map(([pad, d]) => ({ written: `${pad}${d}${pad}`, parsed: d })),
);

/** path as written, and as parsed: "/" by default, a leading slash added. */
const urlPath: fc.Arbitrary<{ written?: string; parsed: string }> = fc.oneof(
  fc.constant({ parsed: "/" }),
  fc.constant({ written: "", parsed: "/" }),
  fc
    .string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) })
    .map((p) => ({ written: p, parsed: p.startsWith("/") ? p : `/${p}` })),
);

const scheme: fc.Arbitrary<{ written?: string; parsed: "HTTP" | "HTTPS" }> = fc.oneof(
  fc.constant({ parsed: "HTTP" as const }),
  fc
    .constantFrom("", "http", "HTTP", "Http", "hTtP")
    .map((s) => ({ written: s, parsed: "HTTP" as const })),
  fc.constantFrom("https", "HTTPS", "Https").map((s) => ({ written: s, parsed: "HTTPS" as const })),
);

const headerName = fc.string({
  unit: fc.constantFrom(..."!#$%&'*+-.^_`|~0123456789abcXYZ"),
  minLength: 1,
  maxLength: 12,
});
const headerValue = fc.string({
  unit: fc.oneof(
    fc.constant("\t"),
    fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
  ),
  maxLength: 30,
});
const headers = fc.array(fc.record({ name: headerName, value: headerValue }), { maxLength: 3 });

/** A port as written: a number, or (with named ports) a name in the container's table. */
type PortChoice = { written: number | string; parsed: number };

function handlerArb(port: fc.Arbitrary<PortChoice>): fc.Arbitrary<Generated> {
  const exec = command.map(
    (cmd): Generated => ({
      input: { exec: { command: cmd } },
      handler: { type: "exec", command: cmd },
    }),
  );
  const httpGet = fc
    .record({ port, host, path: urlPath, scheme, headers: fc.option(headers, { nil: undefined }) })
    .map(({ port, host, path, scheme, headers }): Generated => {
      const written: Record<string, unknown> = { port: port.written };
      if (host.written !== undefined) written.host = host.written;
      if (path.written !== undefined) written.path = path.written;
      if (scheme.written !== undefined) written.scheme = scheme.written;
      if (headers !== undefined) written.httpHeaders = headers;
      return {
        input: { httpGet: written },
        handler: {
          type: "httpGet",
          scheme: scheme.parsed,
          host: host.parsed,
          port: port.parsed,
          path: path.parsed,
          headers: headers ?? [],
        },
      };
    });
  const tcpSocket = fc.record({ port, host }).map(({ port, host }): Generated => {
    const written: Record<string, unknown> = { port: port.written };
    if (host.written !== undefined) written.host = host.written;
    return {
      input: { tcpSocket: written },
      handler: { type: "tcpSocket", host: host.parsed, port: port.parsed },
    };
  });
  const sleep = fc.integer({ min: 0, max: 86_400 }).map(
    (seconds): Generated => ({
      input: { sleep: { seconds } },
      handler: { type: "sleep", seconds },
    }),
  );
  return fc.oneof(exec, httpGet, tcpSocket, sleep);
}

const timeoutSeconds = fc.option(
  fc.oneof(
    fc.integer({ min: 1, max: 86_400 }),
    fc.double({ min: 0.001, max: 86_400, noNaN: true }),
  ),
  { nil: undefined },
);

interface GeneratedLifecycle {
  lifecycle: Record<string, unknown>;
  expected: HookConfig;
}

function lifecycleArb(port: fc.Arbitrary<PortChoice>): fc.Arbitrary<GeneratedLifecycle> {
  const hook = fc.option(fc.record({ h: handlerArb(port), timeout: timeoutSeconds }), {
    nil: undefined,
  });
  return fc
    .record({
      postStart: hook,
      preStop: hook,
      postStop: hook,
      stopSignal: fc.option(fc.constantFrom(...STOP_SIGNALS), { nil: undefined }),
    })
    .map((hooks) => {
      const lifecycle: Record<string, unknown> = {};
      const expected: HookConfig = {};
      for (const name of ["postStart", "preStop", "postStop"] as const) {
        const generated = hooks[name];
        if (generated === undefined) continue;
        lifecycle[name] = {
          ...generated.h.input,
          ...(generated.timeout !== undefined && { timeoutSeconds: generated.timeout }),
        };
        expected[name] = { name, handler: generated.h.handler, timeoutSeconds: generated.timeout };
      }
      if (hooks.stopSignal !== undefined) {
        lifecycle.stopSignal = hooks.stopSignal;
        expected.stopSignal = hooks.stopSignal;
      }
      return { lifecycle, expected };
    });
}

const numericPort = portNumber.map((p): PortChoice => ({ written: p, parsed: p }));

/** IANA_SVC_NAME: 1-15 of [a-z0-9-] with a letter, no leading, trailing or double '-'. */
const portName = fc
  .stringMatching(/^[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,6})?$/)
  .filter((n) => n.length <= 15);

/** A container's named ports, and a port generator that picks a name from them or a number. */
const namedPorts = fc.uniqueArray(fc.record({ name: portName, containerPort: portNumber }), {
  minLength: 1,
  maxLength: 4,
  selector: (p) => p.name,
});

function portsFrom(ports: { name: string; containerPort: number }[]): fc.Arbitrary<PortChoice> {
  return fc.oneof(
    numericPort,
    fc
      .constantFrom(...ports)
      .map((p): PortChoice => ({ written: p.name, parsed: p.containerPort })),
  );
}

/** Serializes a document as JSON or as YAML (the two formats parseConfig reads). */
const format = fc.constantFrom("json", "json-pretty", "yaml", "yaml-flow");
function serialize(doc: unknown, how: string): string {
  switch (how) {
    case "json":
      return JSON.stringify(doc);
    case "json-pretty":
      return JSON.stringify(doc, null, 2);
    case "yaml-flow":
      return yamlStringify(doc, { collectionStyle: "flow" });
    default:
      return yamlStringify(doc);
  }
}

function expectConfig(text: string, expected: HookConfig, container?: string): void {
  const result = outcome(text, container);
  if (!result.ok) throw new Error(`a valid config was refused: ${result.message}\n${text}`);
  expect(result.config).toEqual(expected);
  for (const name of ["postStart", "preStop", "postStop"] as const) {
    if (expected[name] === undefined) expect(result.config[name]).toBeUndefined();
  }
}

// ---- valid configs round-trip ------------------------------------------------

describe("valid generated configs give the expected handlers", () => {
  it("a lifecycle block, as JSON or YAML", () => {
    fc.assert(
      fc.property(lifecycleArb(numericPort), format, ({ lifecycle, expected }, how) => {
        expectConfig(serialize(lifecycle, how), expected);
      }),
      params(),
    );
  });

  it("a container snippet with named ports", () => {
    fc.assert(
      fc.property(
        namedPorts.chain((ports) =>
          fc.record({ ports: fc.constant(ports), generated: lifecycleArb(portsFrom(ports)) }),
        ),
        fc.option(fc.constantFrom("app", "web-1"), { nil: undefined }),
        format,
        ({ ports, generated }, name, how) => {
          const snippet = {
            ...(name !== undefined && { name }),
            image: "example/app:1",
            ports,
            lifecycle: generated.lifecycle,
          };
          expectConfig(serialize(snippet, how), generated.expected);
        },
      ),
      params(),
    );
  });

  const kinds: Record<string, (podSpec: unknown) => Record<string, unknown>> = {
    Pod: (spec) => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec }),
    Deployment: (spec) => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d" },
      spec: { replicas: 2, template: { metadata: { labels: { a: "b" } }, spec } },
    }),
    CronJob: (spec) => ({
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "c" },
      spec: { schedule: "* * * * *", jobTemplate: { spec: { template: { spec } } } },
    }),
  };

  it("a workload manifest: the chosen container's hooks, its named ports resolved", () => {
    const container = fc.record({
      ports: namedPorts,
      other: fc.constantFrom("busybox", "nginx"),
    });
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(kinds)),
        fc
          .tuple(container, fc.array(container, { maxLength: 3 }), fc.nat())
          .chain(([target, others, position]) =>
            fc.record({
              target: fc.constant(target),
              others: fc.constant(others),
              position: fc.constant(position % (others.length + 1)),
              generated: lifecycleArb(portsFrom(target.ports)),
              othersLifecycle: lifecycleArb(numericPort),
            }),
          ),
        fc.boolean(),
        format,
        (kind, { target, others, position, generated, othersLifecycle }, asInit, how) => {
          const chosen = {
            name: "chosen",
            image: target.other,
            ports: target.ports,
            lifecycle: generated.lifecycle,
          };
          const rest = others.map((c, i) => ({
            name: `other-${i}`,
            image: c.other,
            ports: c.ports,
            lifecycle: othersLifecycle.lifecycle,
          }));
          const containers = asInit ? rest : [...rest];
          if (!asInit) containers.splice(position, 0, chosen);
          // A sidecar (restartable init container) can be chosen too.
          const spec = asInit
            ? {
                containers: containers.length > 0 ? containers : [{ name: "main" }],
                initContainers: [{ ...chosen, restartPolicy: "Always" }],
                // Kubernetes requires the pod's OS with lifecycle.stopSignal,
                // and a sleep no longer than the grace period.
                os: { name: "linux" },
                terminationGracePeriodSeconds: 86_400,
              }
            : { containers, os: { name: "linux" }, terminationGracePeriodSeconds: 86_400 };
          const doc = (kinds[kind] as (spec: unknown) => Record<string, unknown>)(spec);
          const expected = { ...generated.expected, graceSeconds: 86_400 };
          expectConfig(serialize(doc, how), expected, "chosen");
          // The only container is found without --container.
          if (!asInit && others.length === 0) {
            expectConfig(serialize(doc, how), expected);
          }
        },
      ),
      params(),
    );
  });

  it("a multi-document YAML file: Services and ConfigMaps before the workload are skipped", () => {
    fc.assert(
      fc.property(
        lifecycleArb(numericPort),
        fc.array(fc.constantFrom("Service", "ConfigMap", "Secret", "ServiceAccount"), {
          maxLength: 3,
        }),
        ({ lifecycle, expected }, skipped) => {
          const docs = [
            ...skipped.map((kind) => yamlStringify({ apiVersion: "v1", kind, metadata: {} })),
            yamlStringify({
              apiVersion: "v1",
              kind: "Pod",
              spec: {
                os: { name: "linux" },
                terminationGracePeriodSeconds: 86_400,
                containers: [{ name: "app", lifecycle }],
              },
            }),
          ];
          expectConfig(docs.join("---\n"), { ...expected, graceSeconds: 86_400 });
        },
      ),
      params(100),
    );
  });

  it("YAML anchors and aliases (one handler shared by several hooks)", () => {
    fc.assert(
      fc.property(handlerArb(numericPort), timeoutSeconds, ({ input, handler }, timeout) => {
        const shared = { ...input, ...(timeout !== undefined && { timeoutSeconds: timeout }) };
        // The same object three times: yaml writes &a1 once and *a1 twice.
        const text = yamlStringify({ postStart: shared, preStop: shared, postStop: shared });
        expect(text).toMatch(/\*a1/);
        const hook = (name: "postStart" | "preStop" | "postStop") => ({
          name,
          handler,
          timeoutSeconds: timeout,
        });
        expectConfig(text, {
          postStart: hook("postStart"),
          preStop: hook("preStop"),
          postStop: hook("postStop"),
        });
      }),
      params(100),
    );
  });
});

// ---- anything else is a one-line ConfigError ----------------------------------

describe("random and mutated input: a config or a one-line ConfigError naming the file", () => {
  it("any JSON value", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), fc.boolean(), (value, pretty) => {
        outcome(JSON.stringify(value, null, pretty ? 2 : undefined) ?? "null");
      }),
      params(500),
    );
  });

  it("any JSON value under a hook, a handler or a field", () => {
    const places: ((value: unknown) => unknown)[] = [
      (value) => ({ preStop: value }),
      (value) => ({ preStop: { exec: value } }),
      (value) => ({ preStop: { exec: { command: value } } }),
      (value) => ({ postStart: { httpGet: value } }),
      (value) => ({ postStart: { httpGet: { port: 80, httpHeaders: value } } }),
      (value) => ({ postStart: { httpGet: { port: value, host: value, path: value } } }),
      (value) => ({ postStop: { tcpSocket: { port: value } } }),
      (value) => ({ preStop: { sleep: { seconds: value } } }),
      (value) => ({ preStop: { sleep: { seconds: 1 }, timeoutSeconds: value } }),
      (value) => ({ stopSignal: value }),
      (value) => ({ lifecycle: value }),
      (value) => ({ kind: "Pod", spec: value }),
      (value) => ({ kind: "Pod", spec: { containers: value } }),
      (value) => ({ kind: "Pod", spec: { containers: [{ name: "a", ports: value }] } }),
      (value) => ({ kind: "Deployment", metadata: { name: value }, spec: { template: value } }),
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...places),
        fc.jsonValue({ maxDepth: 4 }),
        format,
        (place, value, how) => {
          outcome(serialize(place(value), how));
        },
      ),
      params(500),
    );
  });

  /** Text made of YAML's syntax characters: indicators, quotes, tags, anchors, breaks. */
  const yamlSoup = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          ..."{}[]:,-?!|>'\"#%@`&\\ \t\n".split(""),
          "\n  ",
          "\n    ",
          ": ",
          "- ",
          "---\n",
          "...\n",
          "&a ",
          "!!str ",
          "!!int ",
          "!!map ",
          "!!seq ",
          "!!binary ",
          "!!set ",
          "!!omap ",
          "!custom ",
          "<<: ",
          "%YAML 1.1\n",
          "%TAG ! tag:x,2000:\n",
          "preStop",
          "postStart",
          "exec",
          "command",
          "httpGet",
          "port",
          "sleep",
          "seconds",
          "kind: Pod\n",
          "spec",
          "containers",
          "lifecycle",
          "name",
          "1",
          "0x1F",
          "1e400",
          ".nan",
          "~",
          "null",
          "yes",
          "\uFEFF",
          "\r\n",
          "\u0000",
        ),
        fc.string({ maxLength: 4 }),
      ),
      { maxLength: 40 },
    )
    .map((parts) => parts.join(""));

  it("YAML-like text (without aliases, see the circular-alias bug below)", () => {
    fc.assert(
      fc.property(yamlSoup, (text) => {
        outcome(text);
      }),
      params(1000),
    );
  });

  it("any string at all", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        outcome(text);
      }),
      params(500),
    );
  });

  /** Every path to a value inside a document. */
  function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    const out: (string | number)[][] = [prefix];
    if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) out.push(...paths(v, [...prefix, i]));
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
    }
    return out;
  }

  type Mutation =
    | { kind: "replace"; value: unknown }
    | { kind: "delete" }
    | { kind: "add"; key: string; value: unknown }
    | { kind: "rename"; key: string }
    | { kind: "wrap" }
    | { kind: "duplicateHandler" };

  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant("replace" as const), value: fc.jsonValue({ maxDepth: 2 }) }),
    fc.record({ kind: fc.constant("delete" as const) }),
    fc.record({
      kind: fc.constant("add" as const),
      key: fc.oneof(
        fc.constantFrom("exec", "httpGet", "tcpSocket", "sleep", "command", "port", "comand"),
        fc.constantFrom("lifecycle", "env", "__proto__", "constructor", "timeoutSeconds", ""),
        fc.string({ maxLength: 8 }),
      ),
      value: fc.jsonValue({ maxDepth: 2 }),
    }),
    fc.record({
      kind: fc.constant("rename" as const),
      key: fc.constantFrom("Exec", "prestop", "comand", "seconds", "ports", "containers", "x"),
    }),
    fc.record({ kind: fc.constant("wrap" as const) }),
    fc.record({ kind: fc.constant("duplicateHandler" as const) }),
  );

  /** Applies one mutation at `path` of a deep copy of `doc`. */
  function mutate(doc: unknown, path: (string | number)[], m: Mutation): unknown {
    const root = structuredClone(doc) as Record<string | number, unknown>;
    if (path.length === 0) {
      return m.kind === "replace" ? m.value : m.kind === "wrap" ? [root] : root;
    }
    let parent = root as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
    const key = path.at(-1) as string | number;
    switch (m.kind) {
      case "replace":
        parent[key] = m.value;
        break;
      case "delete":
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
        break;
      case "add": {
        const target = parent[key];
        if (typeof target === "object" && target !== null && !Array.isArray(target)) {
          Object.defineProperty(target, m.key, { value: m.value, enumerable: true });
        } else parent[key] = { [m.key]: m.value };
        break;
      }
      case "rename":
        if (!Array.isArray(parent)) {
          parent[m.key] = parent[key];
          delete parent[key];
        }
        break;
      case "wrap":
        parent[key] = [parent[key]];
        break;
      case "duplicateHandler": {
        const target = parent[key];
        if (typeof target === "object" && target !== null && !Array.isArray(target)) {
          Object.assign(target, { sleep: { seconds: 1 }, exec: { command: ["x"] } });
        }
        break;
      }
    }
    return root;
  }

  it("mutations of valid lifecycle blocks and manifests", () => {
    const docs = fc.oneof(
      lifecycleArb(numericPort).map((g) => g.lifecycle),
      namedPorts.chain((ports) =>
        lifecycleArb(portsFrom(ports)).map((g) => ({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "web" },
          spec: {
            template: { spec: { containers: [{ name: "app", ports, lifecycle: g.lifecycle }] } },
          },
        })),
      ),
    );
    fc.assert(
      fc.property(
        docs.chain((doc) =>
          fc.record({
            doc: fc.constant(doc),
            path: fc.constantFrom(...paths(doc)),
            mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
          }),
        ),
        format,
        fc.option(fc.constantFrom("app", "nope"), { nil: undefined }),
        ({ doc, path, mutations }, how, container) => {
          let mutated: unknown = doc;
          for (const m of mutations) {
            // Later mutations apply at the same path when it still exists, else at the root.
            const here = paths(mutated).some((p) => p.join("\0") === path.join("\0")) ? path : [];
            mutated = mutate(mutated, here, m);
          }
          outcome(serialize(mutated, how), container);
        },
      ),
      params(1000),
    );
  });

  it("two handlers in one hook, an empty command, out-of-range ports and seconds: always refused", () => {
    const bad = fc.oneof(
      fc.constant({ exec: { command: ["x"] }, sleep: { seconds: 1 } }),
      fc.constant({ exec: { command: [] } }),
      fc.constant({ exec: { command: [""] } }),
      fc.integer({ max: 0 }).map((port) => ({ tcpSocket: { port } })),
      fc.integer({ min: 65_536 }).map((port) => ({ httpGet: { port } })),
      fc
        .double({ noNaN: false })
        .filter((p) => !Number.isInteger(p))
        .map((port) => ({ tcpSocket: { port } })),
      fc.integer({ max: -1 }).map((seconds) => ({ sleep: { seconds } })),
      fc.integer({ min: 86_401 }).map((seconds) => ({ sleep: { seconds } })),
      fc.double({ max: 0, noNaN: true }).map((t) => ({ sleep: { seconds: 1 }, timeoutSeconds: t })),
      fc
        .double({ min: 86_400.001, noNaN: true })
        .map((t) => ({ sleep: { seconds: 1 }, timeoutSeconds: t })),
    );
    fc.assert(
      fc.property(
        fc.constantFrom("postStart", "preStop", "postStop"),
        bad,
        fc.constantFrom("json", "yaml"),
        (name, hook, how) => {
          const result = outcome(serialize({ [name]: hook }, how));
          expect(result.ok, JSON.stringify(hook)).toBe(false);
          if (!result.ok) expect(result.message).toContain(name);
        },
      ),
      params(),
    );
  });
});

describe("bugs found by these tests", () => {
  /**
   * A regression test: a YAML alias that refers to its own anchor makes a
   * circular value, and an error message built with a bare JSON.stringify
   * threw a TypeError ("Converting circular structure to JSON", three lines,
   * no file named). Messages now show values with `show`, which copes.
   * Repro: printf 'preStop:\n  exec:\n    command: &c [a, *c]\n' > c.yaml; hookinit --config c.yaml -- true
   */
  it("a self-referencing YAML alias is a one-line ConfigError", () => {
    outcome("preStop:\n  exec:\n    command: &c [a, *c]\n");
  });

  /** The same with the whole document: `&a [*a]` (repro: printf '&a [*a]\n' > c.yaml). */
  it("a document that is its own alias is a one-line ConfigError", () => {
    outcome("&a [*a]\n");
  });

  it("self-referencing aliases that validation refuses before printing them are fine", () => {
    expect(outcome("preStop: &a {exec: *a}\n").ok).toBe(false);
    expect(outcome("&a {preStop: *a}\n").ok).toBe(false);
  });
});
