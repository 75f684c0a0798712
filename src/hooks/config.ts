/**
 * Hook configuration (`--config FILE` / HOOKINIT_CONFIG): read, parse and
 * validate, before the program starts. The schema is in config-schema.ts.
 *
 * Accepted documents, YAML or JSON:
 *  (a) a lifecycle block: `{postStart, preStop, postStop}`;
 *  (b) a container snippet: `{lifecycle: {...}}` (other container fields ignored);
 *  (c) a manifest: a Pod (`spec.containers`), a Deployment, StatefulSet,
 *      DaemonSet, ReplicaSet, ReplicationController or Job
 *      (`spec.template.spec.containers`), a CronJob
 *      (`spec.jobTemplate.spec.template.spec.containers`), a PodTemplate,
 *      or another kind with one of those shapes (e.g. an Argo Rollout).
 *      The container is chosen by `--container NAME` (restartable init
 *      containers, i.e. sidecars, can be named too); without a name the
 *      only container is used. The pod's terminationGracePeriodSeconds
 *      becomes the stop budget (unless --grace is given); stopSignal needs
 *      spec.os.name, as in Kubernetes. Other pod and container fields are
 *      ignored.
 *      Named ports in httpGet/tcpSocket resolve from that container's
 *      `ports`, as the kubelet does; so do they in a container snippet that
 *      has `ports`. In a lifecycle block a port must be a number.
 * A multi-document YAML file uses the first document that is a workload
 * or a lifecycle block (with `--container`, the first workload having that
 * container); other kinds (Service, ConfigMap, ...) are skipped. An empty
 * file, or a lifecycle block without hooks, is a valid config with no hooks.
 *
 * Errors are one line: `config FILE (document 2, Deployment web, container
 * app): FIELD.PATH: what was expected, got what`, without the "hookinit: "
 * prefix, which the caller adds.
 */
import { readFileSync } from "node:fs";
import { getSystemErrorMessage } from "node:util";
import * as v from "valibot";
import type * as Yaml from "yaml";
import { EXIT, ExitError } from "../core/exit-codes.js";
import { HOOK_NAMES, type HookName } from "../core/hooks.js";
import { POD_SPEC_PATHS } from "../core/workloads.js";
import {
  containerPortsSchema,
  firstIssue,
  type Handler,
  type Hook,
  issuePath,
  lifecycleSchema,
  type ParsedLifecycle,
  type PortTable,
  podSpecSchema,
  show,
  snippetSchema,
  TCP_NOTE,
  workloadSchema,
} from "./config-schema.js";

export type { Handler, Hook };

export interface HookConfig {
  postStart?: Hook;
  preStop?: Hook;
  postStop?: Hook;
  /** Kubernetes' `lifecycle.stopSignal` (v1.33+), when the config sets it. */
  stopSignal?: string;
  /** A manifest's `terminationGracePeriodSeconds`: the stop budget unless --grace is given. */
  graceSeconds?: number;
}

/** A configuration problem; the message is one line naming the file and the field. */
export class ConfigError extends ExitError {
  override name = "ConfigError";
  constructor(message: string) {
    super(message.replace(/\s*[\r\n]+\s*/g, " "), EXIT.USAGE);
  }
}

/** Reads and parses FILE; an unreadable file is a ConfigError naming the file and the reason. */
export function loadConfig(file: string, container?: string): HookConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(
      `config ${file}: cannot read it: ${errnoText(error)}; check --config (HOOKINIT_CONFIG)`,
    );
  }
  return parseConfig(text, file, container);
}

function errnoText(error: unknown): string {
  const { code, errno, message } = error as NodeJS.ErrnoException;
  if (code === undefined) return String(message ?? error);
  try {
    return errno === undefined ? code : `${code} (${getSystemErrorMessage(errno)})`;
  } catch (error) {
    // An errno Node has no text for: the code alone says it.
    if (!(error instanceof RangeError) && !(error instanceof TypeError)) throw error;
    return code;
  }
}

/** Kubernetes' default terminationGracePeriodSeconds. */
const DEFAULT_TERMINATION_GRACE_SECONDS = 30;

const POD_SPEC_SHAPES = [...new Set(Object.values(POD_SPEC_PATHS).map((p) => p.join(".")))];
const KINDS_TEXT = "Pod, Deployment, StatefulSet, DaemonSet, Job or CronJob";

type Mapping = Record<string, unknown>;

function isMapping(value: unknown): value is Mapping {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function at(value: unknown, path: readonly (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/** Where the pod spec of a manifest is, or undefined when the document is not a workload. */
function podSpecPath(doc: Mapping): readonly string[] | undefined {
  const kind = String(doc.kind);
  const known = Object.hasOwn(POD_SPEC_PATHS, kind) ? POD_SPEC_PATHS[kind] : undefined;
  if (known) return known;
  for (const shape of POD_SPEC_SHAPES) {
    const path = shape.split(".");
    if (Array.isArray(at(doc, [...path, "containers"]))) return path;
  }
  return undefined;
}

/** Parses the text of a config file. Pure: text in, config out; `source` names the file in errors. */
export function parseConfig(text: string, source: string, container?: string): HookConfig {
  const docs = parseDocuments(text, source);
  /** How an error names its place: `config FILE (document 2, Deployment web, container app)`. */
  const placeOf = (index: number, ...details: string[]) => {
    const parts = docs.length > 1 ? [`document ${index + 1}`, ...details] : details;
    return parts.length > 0 ? `config ${source} (${parts.join(", ")})` : `config ${source}`;
  };

  interface Candidate {
    index: number;
    doc: unknown;
    specPath: readonly string[] | undefined;
  }
  const candidates: Candidate[] = [];
  const skipped: string[] = [];
  docs.forEach((doc, index) => {
    if (doc === null || doc === undefined) return; // an empty document or one of only comments
    if (isMapping(doc) && typeof doc.kind === "string") {
      const specPath = podSpecPath(doc);
      if (specPath) candidates.push({ index, doc, specPath });
      else skipped.push(doc.kind);
      return;
    }
    candidates.push({ index, doc, specPath: undefined });
  });

  const chosen =
    (container === undefined
      ? undefined
      : candidates.find(
          ({ doc, specPath }) => specPath === undefined || hasContainer(doc, specPath, container),
        )) ?? candidates[0];
  if (chosen === undefined) {
    if (skipped.length === 0) return {}; // an empty file: no hooks
    throw new ConfigError(
      `config ${source}: no lifecycle block and no ${KINDS_TEXT} in it (found ${skipped.join(", ")}); give a lifecycle block, a container with lifecycle:, or a workload manifest`,
    );
  }

  const { index, doc, specPath } = chosen;
  if (specPath && isMapping(doc)) {
    return fromWorkload(doc, specPath, container, (...details) => placeOf(index, ...details));
  }
  if (!isMapping(doc)) {
    throw new ConfigError(
      `${placeOf(index)}: expected a lifecycle block (postStart, preStop, postStop), a container with lifecycle:, or a ${KINDS_TEXT} manifest; got ${show(doc)}`,
    );
  }
  if ("lifecycle" in doc) {
    // A container snippet. Its own named ports, if any, resolve like in a manifest.
    const name = typeof doc.name === "string" ? doc.name : undefined;
    const ports = portTable(doc, name, placeOf(index), "");
    const out = validate(snippetSchema(ports), doc, placeOf(index), "");
    return toConfig(out.lifecycle, placeOf(index), "lifecycle");
  }
  return toConfig(
    validate(lifecycleSchema(undefined), doc, placeOf(index), ""),
    placeOf(index),
    "",
  );
}

function hasContainer(doc: unknown, specPath: readonly string[], name: string): boolean {
  const spec = at(doc, specPath);
  const named = (list: unknown) =>
    Array.isArray(list) && list.some((c) => isMapping(c) && c.name === name);
  return isMapping(spec) && (named(spec.containers) || named(spec.initContainers));
}

function fromWorkload(
  doc: Mapping,
  specPath: readonly string[],
  container: string | undefined,
  placeOf: (...details: string[]) => string,
): HookConfig {
  const metadataName = at(doc, ["metadata", "name"]);
  const workload =
    typeof metadataName === "string" ? `${String(doc.kind)} ${metadataName}` : String(doc.kind);
  validate(workloadSchema(specPath), doc, placeOf(workload), "");
  const podSpec = v.parse(podSpecSchema, at(doc, specPath));
  const specText = specPath.join(".");
  const names = podSpec.containers.map((c) => c.name);
  const initNames = (podSpec.initContainers ?? []).map((c) => c.name);

  let field: "containers" | "initContainers" = "containers";
  let position: number;
  if (container === undefined) {
    if (names.length !== 1) {
      throw new ConfigError(
        `${placeOf(workload)}: ${specText}.containers: ${names.length} containers (${names.join(", ")}); choose one with --container NAME (HOOKINIT_CONTAINER)`,
      );
    }
    position = 0;
  } else {
    position = names.indexOf(container);
    if (position < 0) {
      field = "initContainers";
      position = initNames.indexOf(container);
    }
    if (position < 0) {
      const init = initNames.length > 0 ? `; init containers: ${initNames.join(", ")}` : "";
      throw new ConfigError(
        `${placeOf(workload)}: ${specText}.containers: no container named ${JSON.stringify(container)}; containers: ${names.join(", ")}${init}; set --container (HOOKINIT_CONTAINER) to one of them`,
      );
    }
  }

  const name = (field === "containers" ? names : initNames)[position] ?? "";
  const raw = at(doc, [...specPath, field, position]);
  const prefix = `${specText}.${field}[${position}]`;
  const context = placeOf(workload, `container ${name}`);
  const ports = portTable(raw, name, context, prefix);
  const osName = podSpec.os?.name;
  if (osName !== undefined && osName !== "linux") {
    throw new ConfigError(
      `${context}: ${specText}.os.name: expected linux (hookinit runs on Linux), got ${show(osName)}`,
    );
  }
  // The pod's stop budget applies even to a container without hooks.
  const grace: HookConfig =
    podSpec.terminationGracePeriodSeconds === undefined
      ? {}
      : { graceSeconds: podSpec.terminationGracePeriodSeconds };
  const lifecycle = isMapping(raw) ? raw.lifecycle : undefined;
  if (lifecycle === undefined) return grace; // the container has no lifecycle hooks
  if (
    field === "initContainers" &&
    podSpec.initContainers?.[position]?.restartPolicy !== "Always"
  ) {
    // The API server refuses lifecycle on an init container that is not a sidecar.
    throw new ConfigError(
      `${context}: ${prefix}.lifecycle: only a restartable init container (a sidecar, restartPolicy: Always) may have lifecycle hooks, as in Kubernetes; ${name} is an init container that runs to completion`,
    );
  }
  const config = toConfig(
    validate(lifecycleSchema(ports), lifecycle, context, `${prefix}.lifecycle`),
    context,
    `${prefix}.lifecycle`,
  );
  if (config.stopSignal !== undefined && osName === undefined) {
    // Kubernetes checks the stop signal against the pod's OS, so it refuses
    // stopSignal in a pod that does not name one.
    throw new ConfigError(
      `${context}: ${specText}.os.name: missing; Kubernetes accepts ${prefix}.lifecycle.stopSignal only in a pod that names its OS: add os: {name: linux} to ${specText}`,
    );
  }
  // As the API server does (validateSleepAction): a sleep longer than the
  // pod's grace period (30 s when unset) is refused.
  const podGrace = podSpec.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS;
  for (const name of HOOK_NAMES) {
    const handler = config[name]?.handler;
    if (handler?.type === "sleep" && handler.seconds > podGrace) {
      throw new ConfigError(
        `${context}: ${prefix}.lifecycle.${name}.sleep.seconds: ${handler.seconds} is longer than the pod's terminationGracePeriodSeconds (${podGrace}${podSpec.terminationGracePeriodSeconds === undefined ? ", the default" : ""}); Kubernetes refuses it`,
      );
    }
  }
  return { ...config, ...grace };
}

/** The container's named ports, validated. */
function portTable(
  container: unknown,
  name: string | undefined,
  place: string,
  prefix: string,
): PortTable | undefined {
  const { ports } = validate(containerPortsSchema, container, place, prefix);
  if (ports === undefined) return undefined;
  const numbers = new Map<string, number>();
  for (const port of ports) if (port.name !== undefined) numbers.set(port.name, port.containerPort);
  return { owner: name === undefined ? "this container" : `container ${name}`, numbers };
}

/** Runs a schema; its first issue becomes a one-line ConfigError with the field path. */
function validate<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  place: string,
  prefix: string,
): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const issue = firstIssue(result.issues);
  const inner = issuePath(issue);
  const path = prefix === "" ? inner : inner === "" ? prefix : `${prefix}.${inner}`;
  const note = issue.path?.some((item) => item.key === "tcpSocket") ? TCP_NOTE : "";
  throw new ConfigError(`${place}: ${path === "" ? "" : `${path}: `}${issue.message}${note}`);
}

function toConfig(lifecycle: ParsedLifecycle, place: string, prefix: string): HookConfig {
  const config: HookConfig = {};
  for (const name of HOOK_NAMES) {
    const hook = lifecycle[name];
    if (hook) {
      refuseSelfCall(name, hook.handler, place, prefix === "" ? name : `${prefix}.${name}`);
      config[name] = { name, ...hook };
    }
  }
  if (lifecycle.stopSignal !== undefined) config.stopSignal = lifecycle.stopSignal;
  return config;
}

/**
 * A hook whose handler is `hookinit hook NAME` for its own NAME would wait
 * for itself until its timeout or the grace runs out. That is what a pod's
 * lifecycle holds when the kubelet calls hookinit (so it appears when the
 * pod manifest itself is given as the config); hookinit's config needs the
 * real handler instead.
 */
function refuseSelfCall(name: HookName, handler: Handler, place: string, path: string): void {
  if (handler.type !== "exec") return;
  const [program = "", verb, hook] = handler.command;
  if (program.split("/").at(-1) !== "hookinit" || verb !== "hook" || hook !== name) return;
  throw new ConfigError(
    `${place}: ${path}.exec.command: runs "hookinit hook ${name}", which would wait for this same hook; that is what the pod's lifecycle calls, while hookinit's config needs the real handler (e.g. httpGet, or your drain command)`,
  );
}

/**
 * The documents in the text. JSON (text starting with "{") goes through
 * JSON.parse, so a JSON config never loads the YAML parser; YAML, and
 * YAML flow mappings that are not JSON, go through the `yaml` package.
 */
function parseDocuments(text: string, source: string): unknown[] {
  const body = text.replace(/^\uFEFF/, "");
  if (body.trimStart().startsWith("{")) {
    try {
      return [JSON.parse(body)];
    } catch (jsonError) {
      // SyntaxError only (anything else is a bug: rethrown).
      if (!(jsonError instanceof SyntaxError)) throw jsonError;
      // `{"key": ...` is meant as JSON: report JSON's error rather than read
      // it as YAML, which accepts broken JSON with another meaning. `{key: ...`
      // is a YAML flow mapping.
      if (/^\s*\{\s*"/.test(body)) {
        throw new ConfigError(`config ${source}: invalid JSON: ${(jsonError as Error).message}`);
      }
    }
  }
  return parseYaml(body, source);
}

function parseYaml(text: string, source: string): unknown[] {
  const yaml = loadYaml();
  // merge: accept `<<: *anchor` as Kubernetes' YAML reader does.
  const documents = yaml.parseAllDocuments(text, { merge: true });
  const values: unknown[] = [];
  for (const [index, document] of documents.entries()) {
    const error = document.errors[0];
    if (error) {
      const pos = error.linePos?.[0];
      const at = pos ? `line ${pos.line}, column ${pos.col}` : `document ${index + 1}`;
      const reason = error.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "");
      throw new ConfigError(`config ${source}: ${at}: invalid YAML: ${reason}`);
    }
    try {
      values.push(document.toJS({ maxAliasCount: 100 }));
    } catch (error) {
      throw new ConfigError(
        `config ${source}: document ${index + 1}: invalid YAML: ${(error as Error).message}`,
      );
    }
  }
  return values;
}

/**
 * The YAML parser is required on first use instead of imported: bundled
 * and minified it is 115 KB and costs about 8 ms of start-up to evaluate,
 * which a PID 1 with a JSON config, or no config, should not pay. This
 * relies on the shipped form being a CommonJS bundle (scripts/build.mjs:
 * esbuild turns this require() into a lazily evaluated bundled module) and
 * on vitest providing `require`; an ESM bundle would need a static import.
 */
function loadYaml(): typeof Yaml {
  return require("yaml") as typeof Yaml;
}
