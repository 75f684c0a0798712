/**
 * The hook configuration schema, written with valibot: the Kubernetes
 * `Lifecycle` / `LifecycleHandler` schema (core/v1), plus our extensions.
 *
 * Why valibot and not the `kubernetes-models` package, which already has
 * `Lifecycle`: measured with the release bundle's esbuild settings (bundle,
 * minify, cjs, node24), validating a Lifecycle with kubernetes-models adds
 * 102.6 KB (23.5 KB gzipped; it ships ajv-compiled validators and pulls in
 * punycode, which prints a deprecation warning) and 7.7 ms to require();
 * these checks in valibot add 8.0 KB and 1.7 ms. kubernetes-models also
 * accepts what we must reject: unknown fields (`comand:`), port 70000, and
 * two handlers in one hook (the API server, not the schema, checks that).
 *
 * Kubernetes semantics kept: exactly one handler per hook; httpGet `path`
 * defaults to "/", `scheme` to HTTP (lower case accepted too), and an empty
 * string means the default as in the API; sleep `seconds` is a whole number
 * and 0 is valid and returns at once (PodLifecycleSleepActionAllowZero, GA
 * in Kubernetes 1.34); ports are 1 to 65535 or a port name (IANA_SVC_NAME),
 * resolved from the container's `ports` like the kubelet does. One
 * deliberate difference: `host` defaults to 127.0.0.1, since the hook runs
 * inside the container (the kubelet uses the pod IP).
 *
 * `tcpSocket` is deprecated as a lifecycle handler in the API ("NOT
 * supported ... lifecycle hooks will fail at runtime"): the kubelet fails
 * it. hookinit runs it, so on a kubelet it works only when the pod's hook is
 * an exec of `hookinit hook NAME`; its error messages say so (TCP_NOTE).
 *
 * `stopSignal` (Kubernetes 1.33+) takes the API's signal names; those PID 1
 * cannot act on are refused, each with its reason (uncatchable, hookinit's
 * own SIGCHLD, real-time signals Node cannot receive).
 *
 * Our extensions (not in Kubernetes; the API server rejects them in a real
 * pod spec, so they live in hookinit's own config file):
 *  - `timeoutSeconds` on each hook: a positive number of seconds, at most
 *    86400. Kubernetes runs exec hooks with no timeout at all.
 *  - `postStop`: a hook with the same schema that runs after the program
 *    exits for any reason, inside the remaining grace (Kubernetes never
 *    runs preStop for a container that exited by itself, kubernetes#55807).
 *
 * Every message says what was expected and what was found; the caller adds
 * the file and the field path (issuePath, firstIssue; config.ts's validate).
 */
import * as v from "valibot";
import type { HookName } from "../core/hooks.js";

export type Handler =
  | { type: "exec"; command: string[] }
  | {
      type: "httpGet";
      scheme: "HTTP" | "HTTPS";
      host: string;
      port: number;
      path: string;
      headers: { name: string; value: string }[];
    }
  | { type: "tcpSocket"; host: string; port: number }
  | { type: "sleep"; seconds: number };

export interface Hook {
  name: HookName;
  handler: Handler;
  /** Ours: the hook's time limit in seconds; undefined means none (only the grace budget). */
  timeoutSeconds: number | undefined;
}

/** Upper bound for sleep seconds and timeoutSeconds: one day. Larger is certainly a mistake. */
export const MAX_SECONDS = 86_400;
export const DEFAULT_HOST = "127.0.0.1";
/** The largest grace hookinit can time (setTimeout's limit), as for --grace. */
export const MAX_GRACE_SECONDS = 2_000_000;
const HANDLER_KEYS = ["exec", "httpGet", "tcpSocket", "sleep"] as const;
const HANDLERS_TEXT = "exec, httpGet, tcpSocket, sleep";

/** Kubernetes IANA_SVC_NAME: 1-15 of [a-z0-9-], at least one letter, no leading, trailing or double '-'. */
const PORT_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** RFC 9110 token: the characters allowed in a header name. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Node's http client accepts in a header value: tab, visible ASCII, space, and Latin-1. */
const HEADER_VALUE = /^[\t\u0020-\u007e\u0080-\u00ff]*$/;
/** A request target Node's http client sends as is: visible ASCII, no spaces. */
const URL_PATH = /^[\u0021-\u007e]*$/;
/** A host name, an IPv4 address, or an IPv6 address (brackets optional). */
const HOST = /^(?:[A-Za-z0-9_.-]+|\[?[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?\]?)$/;

/** The stop signals Kubernetes accepts in `lifecycle.stopSignal` (core/v1 Signal, Linux). */
export const STOP_SIGNALS: readonly string[] = [
  ...(
    "SIGABRT SIGALRM SIGBUS SIGCHLD SIGCLD SIGCONT SIGFPE SIGHUP SIGILL SIGINT SIGIO SIGIOT " +
    "SIGKILL SIGPIPE SIGPOLL SIGPROF SIGPWR SIGQUIT SIGSEGV SIGSTKFLT SIGSTOP SIGSYS SIGTERM " +
    "SIGTRAP SIGTSTP SIGTTIN SIGTTOU SIGURG SIGUSR1 SIGUSR2 SIGVTALRM SIGWINCH SIGXCPU SIGXFSZ " +
    "SIGRTMIN SIGRTMAX"
  ).split(" "),
  ...Array.from({ length: 15 }, (_, i) => `SIGRTMIN+${i + 1}`),
  ...Array.from({ length: 14 }, (_, i) => `SIGRTMAX-${i + 1}`),
];

/** Describes a value found in the config for an error message: `70000`, `"ls -l"`, `a list [...]`. */
export function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value (null)";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  let json: string;
  try {
    json = clip(JSON.stringify(value) ?? String(value));
  } catch (error) {
    // TypeError "cyclic structure": a YAML alias can make a value contain
    // itself (`&c [a, *c]`).
    if (!(error instanceof TypeError)) throw error;
    json = "that contains itself (a YAML alias loop)";
  }
  if (Array.isArray(value)) return `a list ${json}`;
  if (typeof value === "object") return `a mapping ${json}`;
  return json;
}

/**
 * Why hookinit refuses a stop signal that Kubernetes accepts: what the
 * runtime sends must reach hookinit as PID 1 and start its stop sequence.
 */
export function stopSignalRefusal(signal: string): string | undefined {
  if (signal === "SIGKILL" || signal === "SIGSTOP") {
    return `${signal} cannot be caught: the runtime would ${signal === "SIGKILL" ? "kill" : "freeze"} PID 1 at once, with no preStop and nothing forwarded; use a signal your program handles (e.g. SIGTERM, SIGQUIT) or leave stopSignal out`;
  }
  if (signal === "SIGCHLD" || signal === "SIGCLD") {
    return `${signal} cannot be the stop signal: hookinit reaps children on SIGCHLD and cannot tell the runtime's apart from a child's exit; use e.g. SIGTERM or SIGQUIT`;
  }
  if (signal.startsWith("SIGRTM")) {
    return `${signal} is a real-time signal, which hookinit (a Node program) cannot receive, so the stop would go unnoticed until SIGKILL; use a standard signal such as SIGTERM, SIGQUIT or SIGUSR1`;
  }
  return undefined;
}

/** Appended to messages about a tcpSocket handler. */
export const TCP_NOTE =
  "; note: tcpSocket is deprecated as a lifecycle handler in Kubernetes and the kubelet fails it at runtime, so in a pod spec it works only through an exec hook calling `hookinit hook` (hookinit runs it from this config)";

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A message: "expected WHAT, got VALUE". The same text describes the field when it is missing. */
function expected(what: string) {
  return (issue: v.BaseIssue<unknown>) => `expected ${what}, got ${show(issue.input)}`;
}

/**
 * strictObject (unknown keys are errors) or looseObject (ignored), with
 * messages that name the allowed fields for an unknown key, suggest the
 * likely intended one, and say what a missing required field must hold
 * (from its `v.description`).
 */
function mapping<const E extends v.ObjectEntries>(
  entries: E,
  what: string,
  strict: true,
): v.StrictObjectSchema<E, ObjectMessage>;
function mapping<const E extends v.ObjectEntries>(
  entries: E,
  what: string,
  strict: false,
): v.LooseObjectSchema<E, ObjectMessage>;
function mapping<const E extends v.ObjectEntries>(entries: E, what: string, strict: boolean) {
  const allowed = Object.keys(entries);
  const message: ObjectMessage = (issue) => {
    const item = issue.path?.at(-1);
    if (item?.origin === "key" && typeof item.key === "string") {
      if (issue.expected === "never") {
        const guess = closest(item.key, allowed);
        const hint = guess === undefined ? "" : `; did you mean ${guess}?`;
        return `unknown field${hint} (allowed here: ${allowed.join(", ")})`;
      }
      const field = entries[item.key];
      const description = field === undefined ? undefined : v.getDescription(field);
      return `missing; expected ${description ?? "a value"}`;
    }
    return `expected ${what}, got ${show(issue.input)}`;
  };
  return strict ? v.strictObject(entries, message) : v.looseObject(entries, message);
}

type ObjectMessage = (issue: v.StrictObjectIssue | v.LooseObjectIssue) => string;

/** The allowed key within edit distance 2 of a typo (case-insensitive), if there is one. */
function closest(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

const PORT_TEXT = "an integer from 1 to 65535 or a port name";

/** A container's port number: 1 to 65535. */
function portNumber() {
  const what = "an integer from 1 to 65535";
  const m = expected(what);
  return v.pipe(
    v.number(m),
    v.integer(m),
    v.minValue(1, m),
    v.maxValue(65_535, m),
    v.description(what),
  );
}

/** A port name as Kubernetes allows it in `ports[].name` (IANA_SVC_NAME). */
function portName() {
  const what = "a port name: up to 15 of a-z, 0-9 and '-', with a letter";
  const m = expected(what);
  return v.pipe(v.string(m), v.regex(PORT_NAME, m), v.description(what));
}

/**
 * A handler's port: a number, or a name resolved through `ports`, the
 * container's named ports. Without `ports` (no manifest to look in) a name
 * is an error that says to use a number.
 */
function port(ports: PortTable | undefined) {
  const m = (issue: v.BaseIssue<unknown>) =>
    `${expected(PORT_TEXT)(issue)}${typeof issue.input === "string" && /^\d+$/.test(issue.input) ? "; write the number without quotes" : ""}`;
  return v.pipe(
    v.union(
      [
        v.pipe(v.number(m), v.integer(m), v.minValue(1, m), v.maxValue(65_535, m)),
        v.pipe(v.string(m), v.regex(PORT_NAME, m)),
      ],
      m,
    ),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const value = dataset.value;
      if (typeof value === "number") return value;
      const resolved = ports?.numbers.get(value);
      if (resolved !== undefined) return resolved;
      addIssue({
        message:
          ports === undefined
            ? `port name ${JSON.stringify(value)} can only be resolved from a container's ports in a Pod manifest; use the port number (1 to 65535)`
            : `no port named ${JSON.stringify(value)} in ${ports.owner}'s ports (${ports.numbers.size === 0 ? "it has no named ports" : `named: ${[...ports.numbers.keys()].join(", ")}`}); use the port number or add {name: ${value}, containerPort: N} to ports`,
      });
      return NEVER;
    }),
    v.description(PORT_TEXT),
  );
}

/** Named ports of the container the hooks belong to, for httpGet/tcpSocket `port: name`. */
export interface PortTable {
  /** For messages, e.g. `container "app"`. */
  owner: string;
  numbers: ReadonlyMap<string, number>;
}

/** An optional host, default 127.0.0.1 (also for ""), IPv6 brackets removed. */
function host() {
  const what = "a host name or IP address (default 127.0.0.1)";
  const m = expected(what);
  return v.optional(
    v.pipe(
      v.string(m),
      v.transform((h) => h.trim()),
      v.check((h) => h === "" || HOST.test(h), m),
      v.transform((h) => (h === "" ? DEFAULT_HOST : h.replace(/^\[(.*)\]$/, "$1"))),
    ),
    DEFAULT_HOST,
  );
}

function commandSchema() {
  const what =
    'a non-empty list of strings: the program and its arguments, run without a shell, e.g. ["/bin/sh", "-c", "..."]';
  const m = expected(what);
  return v.pipe(
    v.array(v.string(expected("a string (quote numbers and booleans in YAML)")), m),
    v.minLength(1, m),
    v.checkItems(
      (item, index) => index > 0 || item !== "",
      "expected the program to run, got an empty string",
    ),
    v.checkItems((item) => !item.includes("\0"), "expected a string without NUL characters"),
    v.description(what),
  );
}

function httpHeader() {
  const nameWhat = "an HTTP header name (letters, digits and !#$%&'*+-.^_`|~, no spaces or ':')";
  const valueWhat = "a header value: a string without line breaks or control characters";
  return mapping(
    {
      name: v.pipe(
        v.string(expected(nameWhat)),
        v.regex(HEADER_NAME, expected(nameWhat)),
        v.description(nameWhat),
      ),
      value: v.pipe(
        v.string(expected(valueWhat)),
        v.regex(HEADER_VALUE, expected(valueWhat)),
        v.description(valueWhat),
      ),
    },
    "a mapping {name: ..., value: ...}",
    true,
  );
}

function handlerSchemas(ports: PortTable | undefined) {
  const pathWhat = 'a URL path such as "/healthz", without spaces (percent-encode them)';
  const schemeWhat = "HTTP or HTTPS";
  const secondsWhat = `a whole number of seconds from 0 to ${MAX_SECONDS} (0 returns at once)`;
  const sm = expected(secondsWhat);
  return {
    exec: mapping({ command: commandSchema() }, "a mapping with command: [...]", true),
    httpGet: mapping(
      {
        path: v.optional(
          v.pipe(
            v.string(expected(pathWhat)),
            v.regex(URL_PATH, expected(pathWhat)),
            v.transform((p) => (p.startsWith("/") ? p : `/${p}`)),
          ),
          "/",
        ),
        port: port(ports),
        host: host(),
        scheme: v.optional(
          v.pipe(
            v.string(expected(schemeWhat)),
            v.check((s) => /^(?:https?)?$/i.test(s), expected(schemeWhat)),
            v.transform(
              (s) => (s.toUpperCase() === "HTTPS" ? "HTTPS" : "HTTP") as "HTTP" | "HTTPS",
            ),
          ),
          "HTTP",
        ),
        httpHeaders: v.optional(
          v.array(httpHeader(), expected("a list of {name, value} mappings")),
          [],
        ),
      },
      "a mapping with port (and optionally path, host, scheme, httpHeaders)",
      true,
    ),
    tcpSocket: mapping(
      { port: port(ports), host: host() },
      "a mapping with port (and optionally host)",
      true,
    ),
    sleep: mapping(
      {
        seconds: v.pipe(
          v.number(sm),
          v.integer(sm),
          v.minValue(0, sm),
          v.maxValue(MAX_SECONDS, sm),
          v.description(secondsWhat),
        ),
      },
      "a mapping with seconds: N",
      true,
    ),
  };
}

function hookSchema(ports: PortTable | undefined) {
  const handlers = handlerSchemas(ports);
  const timeoutWhat = `a positive number of seconds, at most ${MAX_SECONDS}`;
  const tm = expected(timeoutWhat);
  return v.pipe(
    mapping(
      {
        exec: v.optional(handlers.exec),
        httpGet: v.optional(handlers.httpGet),
        tcpSocket: v.optional(handlers.tcpSocket),
        sleep: v.optional(handlers.sleep),
        timeoutSeconds: v.optional(
          v.pipe(v.number(tm), v.gtValue(0, tm), v.maxValue(MAX_SECONDS, tm)),
        ),
      },
      `a mapping with one of ${HANDLERS_TEXT}`,
      true,
    ),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const present = HANDLER_KEYS.filter((key) => dataset.value[key] !== undefined);
      if (present.length === 0) {
        addIssue({ message: `needs one of ${HANDLERS_TEXT}` });
      } else if (present.length > 1) {
        addIssue({
          message: `exactly one of ${HANDLERS_TEXT} is allowed; got ${listText(present)}`,
        });
      }
    }),
    v.transform((hook): { handler: Handler; timeoutSeconds: number | undefined } => {
      const { exec, httpGet, tcpSocket, sleep, timeoutSeconds } = hook;
      let handler: Handler;
      if (exec) handler = { type: "exec", command: exec.command };
      else if (httpGet) {
        const { scheme, host, port, path, httpHeaders } = httpGet;
        handler = { type: "httpGet", scheme, host, port, path, headers: httpHeaders };
      } else if (tcpSocket)
        handler = { type: "tcpSocket", host: tcpSocket.host, port: tcpSocket.port };
      else if (sleep) handler = { type: "sleep", seconds: sleep.seconds };
      else throw new Error("unreachable: rawCheck guarantees one handler");
      return { handler, timeoutSeconds };
    }),
  );
}

function listText(items: readonly string[]): string {
  return items.length <= 1
    ? (items[0] ?? "")
    : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/**
 * The lifecycle block: postStart, preStop, our postStop, and Kubernetes'
 * `stopSignal` (v1.33+), returned so the supervisor can honour it. Unknown
 * keys are refused (a container snippet refuses a hook written next to
 * `lifecycle:` instead of inside it: see snippetSchema).
 */
export function lifecycleSchema(ports: PortTable | undefined) {
  const hook = hookSchema(ports);
  const signalWhat = "a signal name such as SIGTERM or SIGINT";
  return mapping(
    {
      postStart: v.optional(hook),
      preStop: v.optional(hook),
      postStop: v.optional(hook),
      stopSignal: v.optional(
        v.pipe(
          v.picklist(STOP_SIGNALS, expected(signalWhat)),
          v.rawCheck(({ dataset, addIssue }) => {
            const refusal = dataset.typed ? stopSignalRefusal(dataset.value) : undefined;
            if (refusal !== undefined) addIssue({ message: refusal });
          }),
        ),
      ),
    },
    "a mapping with postStart, preStop and/or postStop",
    true,
  );
}

export type ParsedLifecycle = v.InferOutput<ReturnType<typeof lifecycleSchema>>;

/** A container's `ports` (other container fields are not ours to check). */
export const containerPortsSchema = mapping(
  {
    ports: v.optional(
      v.array(
        mapping(
          { name: v.optional(portName()), containerPort: portNumber() },
          "a mapping {name: ..., containerPort: N}",
          false,
        ),
        expected("a list of {name, containerPort} mappings"),
      ),
    ),
  },
  "a container (a mapping)",
  false,
);

/** A container snippet: `{name?, ports?, lifecycle: {...}}`; hooks belong inside `lifecycle`. */
export function snippetSchema(ports: PortTable | undefined) {
  const misplaced = v.optional(
    v.never("belongs inside lifecycle: (this file is a container with a lifecycle: block)"),
  );
  return mapping(
    {
      lifecycle: lifecycleSchema(ports),
      postStart: misplaced,
      preStop: misplaced,
      postStop: misplaced,
    },
    "a container with lifecycle:",
    false,
  );
}

/**
 * A pod spec: the containers, each with a name (and, for init containers,
 * the restartPolicy that makes one a sidecar), the pod's OS, which
 * Kubernetes requires with `lifecycle.stopSignal`, and
 * terminationGracePeriodSeconds, the stop budget. The rest is not ours to
 * check.
 */
const containerRef = mapping(
  {
    name: v.pipe(
      v.string(expected("the container's name (a string)")),
      v.description("the container's name"),
    ),
    restartPolicy: v.optional(v.string(expected("a restart policy such as Always"))),
  },
  "a container (a mapping with name:)",
  false,
);
export const podSpecSchema = mapping(
  {
    containers: v.pipe(
      v.array(containerRef, expected("a list of containers")),
      v.minLength(1, expected("a non-empty list of containers")),
      v.description("a list of containers"),
    ),
    initContainers: v.optional(v.array(containerRef, expected("a list of containers"))),
    terminationGracePeriodSeconds: v.optional(
      v.pipe(
        v.number(expected(`a whole number of seconds from 0 to ${MAX_GRACE_SECONDS}`)),
        v.integer(expected(`a whole number of seconds from 0 to ${MAX_GRACE_SECONDS}`)),
        v.minValue(0, expected(`a whole number of seconds from 0 to ${MAX_GRACE_SECONDS}`)),
        v.maxValue(
          MAX_GRACE_SECONDS,
          expected(`a whole number of seconds from 0 to ${MAX_GRACE_SECONDS}`),
        ),
      ),
    ),
    os: v.optional(
      mapping(
        { name: v.optional(v.string(expected("an OS name: linux"))) },
        "a mapping {name: linux}",
        false,
      ),
    ),
  },
  "a pod spec (a mapping with containers:)",
  false,
);

/**
 * The pod spec schema nested under `path`, e.g. ["spec", "template", "spec"]
 * for a Deployment, so issues carry the path from the document's root.
 */
export function workloadSchema(path: readonly string[]): v.GenericSchema {
  let schema: v.GenericSchema = podSpecSchema;
  for (let i = path.length - 1; i >= 0; i--) {
    const key = path[i] ?? "";
    const what = i === path.length - 1 ? "a pod spec (a mapping with containers:)" : "a mapping";
    schema = mapping({ [key]: v.pipe(schema, v.description(what)) }, "a mapping", false);
  }
  return schema;
}

/** The issue's field path in the document: `preStop.httpGet.port`, `spec.containers[1].name`. */
export function issuePath(issue: v.BaseIssue<unknown>): string {
  let path = "";
  for (const item of issue.path ?? []) {
    const key = item.key;
    if (typeof key === "number") path += `[${key}]`;
    else path += path === "" ? String(key) : `.${String(key)}`;
  }
  return path;
}

/**
 * Picks the issue to report: the first, except that a missing field next to
 * an unknown one reports the unknown one (`comand:` is a typo of `command:`,
 * not a second problem).
 */
export function firstIssue(
  issues: readonly [v.BaseIssue<unknown>, ...v.BaseIssue<unknown>[]],
): v.BaseIssue<unknown> {
  const first = issues[0];
  const last = first.path?.at(-1);
  if (first.expected === "never" || last?.origin !== "key") return first;
  const unknownField = issues.find((issue) => {
    const item = issue.path?.at(-1);
    return issue.expected === "never" && item?.origin === "key" && item.input === last.input;
  });
  return unknownField ?? first;
}
