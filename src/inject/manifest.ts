/**
 * `hookinit inject`: rewrites workload manifests so that their containers
 * run under hookinit without a rebuilt image, the way `linkerd inject` and
 * `istioctl kube-inject` add a proxy.
 *
 * For each selected container:
 *  - an init container (first of all, so sidecars find hookinit too) runs
 *    `hookinit install` from `--image` into an emptyDir volume, which every
 *    selected container mounts read-only at /hookinit;
 *  - `command` becomes `[/hookinit/hookinit, --, <original command>]`; `args`
 *    stay where they are, so undo is exact and later `args` overrides still
 *    apply. A container without `command` is refused: its image's ENTRYPOINT
 *    cannot be known offline, and a guess would run the wrong program;
 *  - the `lifecycle` handlers move into HOOKINIT_CONFIG_INLINE (checked with
 *    the same validator as --config) and become exec calls to
 *    `hookinit hook postStart|preStop`: exec is the one handler every
 *    runtime runs (virtual kubelets drop httpGet/tcpSocket, and the kubelet
 *    never runs a tcpSocket hook). `stopSignal` stays: the kubelet sends it;
 *  - HOOKINIT_GRACE is set from terminationGracePeriodSeconds (30 when unset)
 *    so that hookinit's own SIGKILL, which comes at the latest 2 s after the
 *    grace (the minimum window after preStop, as the kubelet keeps), lands
 *    before the kubelet's.
 *
 * Only documents that change are re-serialised (the yaml package's Document
 * API keeps comments and key order); every other document, comment and
 * separator is copied byte for byte.
 */
import type * as Yaml from "yaml";
import { POD_SPEC_PATHS } from "../core/workloads.js";
import { ConfigError, parseConfig } from "../hooks/config.js";

/** Where hookinit lives in an injected container (the image layout's /hookinit/). */
export const HOOKINIT_DIR = "/hookinit";
export const HOOKINIT_ENTRY = `${HOOKINIT_DIR}/hookinit`;
/** The init container's mount of the shared volume (writable there, read-only elsewhere). */
export const INSTALL_DIR = "/hookinit-volume";
export const INSTALL_CONTAINER = "hookinit-install";
export const VOLUME = "hookinit";
export const INLINE_ENV = "HOOKINIT_CONFIG_INLINE";
export const GRACE_ENV = "HOOKINIT_GRACE";
export const READY_ENV = "HOOKINIT_READY_ADDRESS";
/** The first port --readiness tries for hookinit's GET /ready; the next free one when the pod uses it. */
export const READY_PORT = 8086;
/** Seconds hookinit's grace ends before terminationGracePeriodSeconds: its 2 s minimum stop window plus 1 s for the kubelet's exec. */
export const GRACE_MARGIN = 3;
export const DEFAULT_TERMINATION_GRACE = 30;

export interface InjectOptions {
  /** The image with /hookinit/ in it (required to inject, unused by undo). */
  image: string | undefined;
  /** --container NAME: only these (containers or sidecars). Empty: every container, no sidecar. */
  containers: readonly string[];
  /** --command NAME=...: the command for a container whose manifest has none. */
  commands: ReadonlyMap<string, readonly string[]>;
  /** Add a readiness probe asking hookinit where the container has none. */
  readiness: boolean;
  /** Refuse documents of a kind that could hold pods inject does not know. */
  strict: boolean;
  undo: boolean;
}

export const DEFAULT_OPTIONS: InjectOptions = {
  image: undefined,
  containers: [],
  commands: new Map(),
  readiness: false,
  strict: false,
  undo: false,
};

/** A manifest inject cannot handle: one line naming the document, the container and the problem. */
export class InjectError extends Error {
  override name = "InjectError";
  constructor(message: string) {
    super(message.replace(/\s*[\r\n]+\s*/g, " "));
  }
}

/** Kinds that hold no pod: they pass through even with --strict. */
const PODLESS_KINDS = new Set(
  (
    "APIService Binding ClusterRole ClusterRoleBinding ConfigMap ControllerRevision " +
    "CustomResourceDefinition Endpoints EndpointSlice Event HorizontalPodAutoscaler Ingress " +
    "IngressClass Lease LimitRange MutatingWebhookConfiguration Namespace NetworkPolicy " +
    "PersistentVolume PersistentVolumeClaim PodDisruptionBudget PriorityClass ResourceQuota Role " +
    "RoleBinding RuntimeClass Secret Service ServiceAccount StorageClass " +
    "ValidatingAdmissionPolicy ValidatingAdmissionPolicyBinding ValidatingWebhookConfiguration " +
    "VolumeAttachment Kustomization Component"
  ).split(" "),
);

type Y = typeof Yaml;
let yamlModule: Y | undefined;
/** The yaml package, loaded on first use (see loadYaml in hooks/config.ts for why not imported). */
function yaml(): Y {
  yamlModule ??= require("yaml") as Y;
  return yamlModule;
}

/** What a run did, for the caller's summary and for tests. */
export interface InjectReport {
  /** `document 2 (Deployment web), container app`, one per container changed. */
  changed: string[];
  /** Containers that already ran hookinit and were left alone (inject) or had nothing to undo. */
  skipped: string[];
}

interface Context {
  options: InjectOptions;
  /** The input's style, for text inject writes itself (the inline config). */
  style?: Yaml.ToStringOptions;
  /** The document is JSON (`kubectl get -o json`): it is written back as JSON, the inline config too. */
  json?: boolean;
  doc: Yaml.Document;
  report: InjectReport;
  /** --container names seen in some workload. */
  seen: Set<string>;
}

/**
 * Injects (or with `undo`, removes) hookinit in every workload of a YAML
 * text. `source` names the input in errors ("stdin", a file name).
 */
export function injectText(
  text: string,
  source: string,
  options: InjectOptions,
  report: InjectReport = { changed: [], skipped: [] },
): string {
  const Y = yaml();
  if (!options.undo && (options.image === undefined || options.image === "")) {
    throw new InjectError("inject: --image IMAGE is required (the image with /hookinit/ in it)");
  }
  const tokens = [...new Y.Parser().parse(text)];
  const documentCount = tokens.filter((t) => t.type === "document").length;
  const seen = new Set<string>();
  let out = "";
  let index = 0;
  for (const token of tokens) {
    const original = Y.CST.stringify(token);
    if (token.type !== "document") {
      out += original;
      continue;
    }
    index++;
    const composer = new Y.Composer({ merge: true });
    const doc = [...composer.next(token), ...composer.end()][0];
    if (doc === undefined) {
      out += original;
      continue;
    }
    const name = documentCount > 1 ? `${source}: document ${index}` : source;
    const error = doc.errors[0];
    if (error) {
      const reason = error.message.split("\n")[0];
      throw new InjectError(`${name}: invalid YAML: ${reason}`);
    }
    const style = styleOf(original);
    const json = /^\s*[{[]/.test(original) && isJson(original);
    const context: Context = { options, doc, report, seen, style, json };
    const changed = transformDocument(doc.contents, name, context);
    if (!changed) out += original;
    else if (json) out += jsonText(doc.toJS(), original);
    else out += doc.toString(style);
  }
  checkNamedContainersSeen(options, seen, source);
  return out;
}

/**
 * Injects into one object (a Pod, or any workload) given as plain data, for
 * the webhook and the KRM function. Returns the new object, or the same one
 * when nothing changed.
 */
export function injectObject(
  object: unknown,
  name: string,
  options: InjectOptions,
  report: InjectReport = { changed: [], skipped: [] },
): { object: unknown; changed: boolean } {
  const Y = yaml();
  // Through JSON text, as `kubectl get -o json | hookinit inject` would read
  // it: the inline config then comes out the same, as JSON.
  const text = JSON.stringify(object);
  const doc = Y.parseDocument(text);
  const changed = transformDocument(doc.contents, name, {
    options,
    doc,
    report,
    seen: new Set(),
    style: styleOf(text),
    json: true,
  });
  return changed ? { object: doc.toJS(), changed } : { object, changed };
}

/**
 * Injects into each item of a parsed document's sequence in place (a KRM
 * ResourceList's items). True when any changed.
 */
export function injectItems(
  doc: Yaml.Document,
  items: Yaml.YAMLSeq,
  source: string,
  options: InjectOptions,
  report: InjectReport = { changed: [], skipped: [] },
): boolean {
  if (!options.undo && (options.image === undefined || options.image === "")) {
    throw new InjectError("inject: image is required (the image with /hookinit/ in it)");
  }
  const seen = new Set<string>();
  const context: Context = { options, doc, report, seen };
  let changed = false;
  items.items.forEach((item, i) => {
    const name = `${source} item ${i + 1}${describeObject(item, " (", ")")}`;
    if (transformObject(item, name, context)) changed = true;
  });
  checkNamedContainersSeen(options, seen, source);
  return changed;
}

function checkNamedContainersSeen(options: InjectOptions, seen: Set<string>, source: string) {
  const missing = options.containers.filter((name) => !seen.has(name));
  if (missing.length > 0) {
    throw new InjectError(
      `${source}: no workload has a container named ${missing.map((n) => JSON.stringify(n)).join(", ")}; check --container`,
    );
  }
}

/**
 * Serialisation options that follow the input's style where the yaml package
 * lets us: sequences indented under their key or not, `{ a }` or `{a}`.
 */
function styleOf(source: string): Yaml.ToStringOptions {
  const flatSeq = /^( *)[^\s#-][^\n]*:[ \t]*\n\1- /m.test(source);
  const padded = (source.match(/[[{] \S/g) ?? []).length;
  const tight = (source.match(/[[{][^\s\]}]/g) ?? []).length;
  return {
    indentSeq: !flatSeq,
    flowCollectionPadding: padded >= tight,
    lineWidth: 0,
    minContentWidth: 0,
  };
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch (error) {
    if (error instanceof SyntaxError) return false;
    throw error;
  }
}

/** JSON text of VALUE, indented like ORIGINAL (kubectl writes 4 spaces, jq 2; one line stays one line). */
function jsonText(value: unknown, original: string): string {
  const indent = /\n( +)"/.exec(original)?.[1]?.length ?? 0;
  const text = indent > 0 ? JSON.stringify(value, null, indent) : JSON.stringify(value);
  return original.endsWith("\n") ? `${text}\n` : text;
}

/** Transforms a document's root (a workload, a List, or anything else). True when it changed. */
function transformDocument(root: unknown, name: string, context: Context): boolean {
  const Y = yaml();
  if (!Y.isMap(root)) {
    if (context.options.strict && root !== null && root !== undefined) {
      throw new InjectError(
        `${name}: not a Kubernetes object (no kind:); drop --strict to pass it through`,
      );
    }
    return false;
  }
  const kind = scalarString(root.get("kind"));
  if (kind === "List" || (kind?.endsWith("List") && Y.isSeq(root.get("items")))) {
    const items = root.get("items");
    if (!Y.isSeq(items)) return false;
    let changed = false;
    items.items.forEach((item, i) => {
      const itemName = `${name} (${kind} item ${i + 1}${describeObject(item, ": ")})`;
      if (transformObject(item, itemName, context)) changed = true;
    });
    return changed;
  }
  return transformObject(root, `${name}${describeObject(root, " (", ")")}`, context);
}

/** `Deployment web` for error messages. */
function describeObject(node: unknown, before: string, after = ""): string {
  const Y = yaml();
  if (!Y.isMap(node)) return "";
  const kind = scalarString(node.get("kind"));
  const metadata = node.get("metadata");
  const name = Y.isMap(metadata) ? scalarString(metadata.get("name")) : undefined;
  const text = [kind, name].filter((part) => part !== undefined).join(" ");
  return text === "" ? "" : `${before}${text}${after}`;
}

function transformObject(node: unknown, name: string, context: Context): boolean {
  const Y = yaml();
  if (!Y.isMap(node)) return false;
  const kind = scalarString(node.get("kind"));
  const path =
    kind !== undefined && Object.hasOwn(POD_SPEC_PATHS, kind) ? POD_SPEC_PATHS[kind] : undefined;
  if (path === undefined) {
    if (context.options.strict && (kind === undefined || !PODLESS_KINDS.has(kind))) {
      const what = kind === undefined ? "an object without kind:" : `kind ${kind}`;
      throw new InjectError(
        `${name}: ${what} is not a workload inject knows (${Object.keys(POD_SPEC_PATHS).join(", ")}) and may hold pods; drop --strict to pass it through unchanged`,
      );
    }
    return false;
  }
  const spec = node.getIn(path, false);
  if (!Y.isMap(spec)) {
    throw new InjectError(
      `${name}: ${path.join(".")}: expected a pod spec (a mapping with containers:)`,
    );
  }
  return context.options.undo
    ? undoPodSpec(spec, name, path.join("."), context)
    : injectPodSpec(spec, name, path.join("."), context);
}

// ---- inject ----------------------------------------------------------------

interface Selected {
  field: "containers" | "initContainers";
  index: number;
  node: Yaml.YAMLMap;
  name: string;
}

/** The containers to work on: every container, or the named ones (sidecars only when named). */
function selectContainers(
  spec: Yaml.YAMLMap,
  name: string,
  specPath: string,
  context: Context,
): Selected[] {
  const Y = yaml();
  const selected: Selected[] = [];
  const named = context.options.containers;
  for (const field of ["containers", "initContainers"] as const) {
    const list = spec.get(field);
    if (list === undefined || list === null) continue;
    if (!Y.isSeq(list)) {
      throw new InjectError(`${name}: ${specPath}.${field}: expected a list of containers`);
    }
    list.items.forEach((item, index) => {
      if (!Y.isMap(item)) {
        throw new InjectError(
          `${name}: ${specPath}.${field}[${index}]: expected a container (a mapping)`,
        );
      }
      const containerName = scalarString(item.get("name")) ?? `#${index + 1}`;
      if (field === "initContainers" && containerName === INSTALL_CONTAINER) return;
      const wanted = named.length === 0 ? field === "containers" : named.includes(containerName);
      if (!wanted) return;
      context.seen.add(containerName);
      if (field === "initContainers" && scalarString(item.get("restartPolicy")) !== "Always") {
        throw new InjectError(
          `${name}, container ${containerName}: an init container that runs to completion, not a sidecar (restartPolicy: Always); inject wraps containers and sidecars only`,
        );
      }
      selected.push({ field, index, node: item, name: containerName });
    });
  }
  return selected;
}

function injectPodSpec(
  spec: Yaml.YAMLMap,
  name: string,
  specPath: string,
  context: Context,
): boolean {
  const { options } = context;
  const selected = selectContainers(spec, name, specPath, context);
  const grace = graceFor(spec, name, specPath);
  const work: Selected[] = [];
  for (const container of selected) {
    const where = `${name}, container ${container.name}`;
    if (runsHookinit(container.node)) {
      context.report.skipped.push(where);
      continue;
    }
    work.push(container);
  }
  if (work.length === 0) {
    // Nothing to wrap, but an earlier injection's init container may need the new image.
    return updateInstallImage(spec, options.image as string);
  }

  const ports = usedPorts(spec);
  const volume = ensureVolume(spec, name, context);
  ensureInstallContainer(spec, volume, options.image as string, name, context);
  for (const container of work) {
    const where = `${name}, container ${container.name}`;
    injectContainer(container.node, where, volume, grace, context, ports);
    context.report.changed.push(where);
  }
  return true;
}

/** HOOKINIT_GRACE for this pod: terminationGracePeriodSeconds (default 30) less the margin. */
export function graceSeconds(terminationGracePeriodSeconds: number): number {
  return Math.max(0, terminationGracePeriodSeconds - GRACE_MARGIN);
}

function graceFor(spec: Yaml.YAMLMap, name: string, specPath: string): number {
  const raw = plain(spec.get("terminationGracePeriodSeconds"));
  if (raw === undefined || raw === null) return graceSeconds(DEFAULT_TERMINATION_GRACE);
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < 0) {
    throw new InjectError(
      `${name}: ${specPath}.terminationGracePeriodSeconds: expected a whole number of seconds, got ${JSON.stringify(raw)}`,
    );
  }
  return graceSeconds(raw);
}

/** A container whose command already starts with hookinit (injected, or an image built with it). */
function runsHookinit(container: Yaml.YAMLMap): boolean {
  const first = plain(container.getIn(["command", 0]));
  return typeof first === "string" && /(^|\/)hookinit$/.test(first);
}

/** The name of the volume holding hookinit: ours if injected before, else `hookinit`, or `hookinit-2`... when taken. */
function ensureVolume(spec: Yaml.YAMLMap, name: string, context: Context): string {
  const Y = yaml();
  const existing = installContainer(spec);
  if (existing !== undefined) {
    const mounted = scalarString(existing.getIn(["volumeMounts", 0, "name"]));
    if (mounted !== undefined) return mounted;
  }
  let volumes = spec.get("volumes");
  if (volumes === undefined || volumes === null) {
    volumes = new Y.YAMLSeq();
    spec.set("volumes", volumes);
  }
  if (!Y.isSeq(volumes)) throw new InjectError(`${name}: volumes: expected a list`);
  const taken = new Set(
    volumes.items.map((v) => (Y.isMap(v) ? scalarString(v.get("name")) : undefined)),
  );
  let volume = VOLUME;
  for (let n = 2; taken.has(volume); n++) volume = `${VOLUME}-${n}`;
  volumes.items.push(context.doc.createNode({ name: volume, emptyDir: {} }));
  return volume;
}

function installContainer(spec: Yaml.YAMLMap): Yaml.YAMLMap | undefined {
  const Y = yaml();
  const init = spec.get("initContainers");
  if (!Y.isSeq(init)) return undefined;
  const found = init.items.find(
    (c) => Y.isMap(c) && scalarString(c.get("name")) === INSTALL_CONTAINER,
  );
  return Y.isMap(found) ? found : undefined;
}

/** The init container that fills the volume; first, so that every other container finds hookinit. */
export function installContainerSpec(image: string, volume: string) {
  return {
    name: INSTALL_CONTAINER,
    image,
    command: [HOOKINIT_ENTRY, "install", INSTALL_DIR],
    volumeMounts: [{ name: volume, mountPath: INSTALL_DIR }],
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      readOnlyRootFilesystem: true,
    },
  };
}

function ensureInstallContainer(
  spec: Yaml.YAMLMap,
  volume: string,
  image: string,
  name: string,
  context: Context,
) {
  const Y = yaml();
  if (installContainer(spec) !== undefined) {
    updateInstallImage(spec, image);
    return;
  }
  let init = spec.get("initContainers");
  if (init === undefined || init === null) {
    init = new Y.YAMLSeq();
    // Kubernetes prints initContainers before containers; so do we.
    const items = spec.items;
    const at = items.findIndex((pair) => scalarString(pair.key) === "containers");
    const pair = context.doc.createPair("initContainers", init);
    if (at >= 0) items.splice(at, 0, pair as never);
    else items.push(pair as never);
    init = spec.get("initContainers");
  }
  if (!Y.isSeq(init)) throw new InjectError(`${name}: initContainers: expected a list`);
  init.items.unshift(context.doc.createNode(installContainerSpec(image, volume)));
}

function updateInstallImage(spec: Yaml.YAMLMap, image: string): boolean {
  const install = installContainer(spec);
  if (install === undefined || plain(install.get("image")) === image) return false;
  install.set("image", image);
  return true;
}

/** Every port the pod's containers declare or give hookinit's /ready: --readiness must pick another. */
function usedPorts(spec: Yaml.YAMLMap): Set<number> {
  const used = new Set<number>();
  const data = spec.toJSON() as { containers?: unknown; initContainers?: unknown };
  for (const list of [data.containers, data.initContainers]) {
    if (!Array.isArray(list)) continue;
    for (const container of list as { ports?: unknown; env?: unknown }[]) {
      for (const port of Array.isArray(container?.ports) ? container.ports : []) {
        if (typeof port?.containerPort === "number") used.add(port.containerPort);
      }
      const ready = readyPortOf(container?.env);
      if (ready !== undefined) used.add(ready);
    }
  }
  return used;
}

/** The port of an env list's HOOKINIT_READY_ADDRESS (`:8086`, `0.0.0.0:8086`), if any. */
function readyPortOf(env: unknown): number | undefined {
  if (!Array.isArray(env)) return undefined;
  const entry = env.find((e) => e?.name === READY_ENV);
  const port = /:(\d{1,5})$/.exec(String(entry?.value ?? ""))?.[1];
  return port === undefined ? undefined : Number(port);
}

function injectContainer(
  container: Yaml.YAMLMap,
  where: string,
  volume: string,
  grace: number,
  context: Context,
  ports: Set<number>,
) {
  const Y = yaml();
  const { doc, options } = context;
  const containerName = scalarString(container.get("name")) ?? "";

  // command
  let command = container.get("command");
  if (command === undefined || command === null) {
    const given = options.commands.get(containerName);
    if (given === undefined) {
      throw new InjectError(
        `${where}: no command: the image's ENTRYPOINT cannot be known offline; give it with --command ${containerName}=ENTRYPOINT... or add command: to the container`,
      );
    }
    command = doc.createNode([...given]);
    container.set("command", command);
  }
  if (!Y.isSeq(command)) {
    throw new InjectError(
      `${where}: command: expected a list of strings, got ${show(plain(command))}`,
    );
  }
  if (command.items.length === 0) {
    throw new InjectError(
      `${where}: command is empty ([]), which means the image's ENTRYPOINT, unknown offline; give it with --command ${containerName}=ENTRYPOINT... or write it in command:`,
    );
  }
  command.items.forEach((item, i) => {
    if (typeof plain(item) !== "string") {
      throw new InjectError(`${where}: command[${i}]: expected a string, got ${show(plain(item))}`);
    }
  });

  // env: check before changing anything
  let env = container.get("env");
  if (env !== undefined && env !== null && !Y.isSeq(env)) {
    throw new InjectError(`${where}: env: expected a list of {name, value}`);
  }
  const envNames = Y.isSeq(env)
    ? env.items.map((e) => (Y.isMap(e) ? scalarString(e.get("name")) : undefined))
    : [];

  // lifecycle: validate, keep the original text for the inline config
  const lifecycle = container.get("lifecycle");
  let inline: string | undefined;
  if (lifecycle !== undefined && lifecycle !== null) {
    if (!Y.isMap(lifecycle)) {
      throw new InjectError(
        `${where}: lifecycle: expected a mapping, got ${show(plain(lifecycle))}`,
      );
    }
    if (lifecycle.items.length > 0) {
      for (const taken of [INLINE_ENV, "HOOKINIT_CONFIG"]) {
        if (envNames.includes(taken)) {
          throw new InjectError(
            `${where}: env ${taken} is already set; inject moves lifecycle into ${INLINE_ENV}, so remove it or the lifecycle`,
          );
        }
      }
      inline = inlineConfig(container, lifecycle, where, context.style, context.json === true);
      for (const hook of ["postStart", "preStop"] as const) {
        if (lifecycle.has(hook)) {
          lifecycle.set(
            hook,
            doc.createNode({ exec: { command: [HOOKINIT_ENTRY, "hook", hook] } }),
          );
        }
      }
    }
  }

  // mounts: /hookinit must be free
  let mounts = container.get("volumeMounts");
  if (mounts !== undefined && mounts !== null && !Y.isSeq(mounts)) {
    throw new InjectError(`${where}: volumeMounts: expected a list`);
  }
  if (Y.isSeq(mounts)) {
    for (const mount of mounts.items) {
      if (Y.isMap(mount) && plain(mount.get("mountPath")) === HOOKINIT_DIR) {
        throw new InjectError(
          `${where}: volumeMounts: something is already mounted at ${HOOKINIT_DIR}, where inject puts hookinit; move it`,
        );
      }
    }
  }

  command.items.unshift(doc.createNode(HOOKINIT_ENTRY), doc.createNode("--"));

  // --readiness: hookinit's GET /ready, on the port the container already
  // gives it, else on a port no container of the pod uses.
  let probe: ReturnType<typeof readinessProbe> | undefined;
  let readyAddress: string | undefined;
  if (options.readiness && !container.has("readinessProbe")) {
    let port = readyPortOf(Y.isSeq(env) ? env.toJSON() : undefined);
    if (port === undefined) {
      port = READY_PORT;
      while (ports.has(port)) port++;
      ports.add(port);
      readyAddress = `:${port}`;
    }
    probe = readinessProbe(port);
  }

  if (inline !== undefined || !envNames.includes(GRACE_ENV) || readyAddress !== undefined) {
    if (!Y.isSeq(env)) {
      env = new Y.YAMLSeq();
      container.set("env", env);
    }
    const list = env as Yaml.YAMLSeq;
    if (inline !== undefined) {
      const value = new Y.Scalar(inline);
      value.type = "BLOCK_LITERAL";
      list.items.push(doc.createNode({ name: INLINE_ENV, value }));
    }
    if (!envNames.includes(GRACE_ENV)) {
      list.items.push(doc.createNode({ name: GRACE_ENV, value: String(grace) }));
    }
    if (readyAddress !== undefined)
      list.items.push(doc.createNode({ name: READY_ENV, value: readyAddress }));
  }

  if (!Y.isSeq(mounts)) {
    mounts = new Y.YAMLSeq();
    container.set("volumeMounts", mounts);
  }
  (mounts as Yaml.YAMLSeq).items.push(
    doc.createNode({ name: volume, mountPath: HOOKINIT_DIR, readOnly: true }),
  );

  if (probe !== undefined) container.set("readinessProbe", doc.createNode(probe));
}

/**
 * The probe --readiness adds: hookinit's GET /ready (200 while the program
 * runs and postStart has succeeded). An httpGet probe rather than exec
 * `hookinit ready`: the kubelet sends it itself, with no process started in
 * the container every period.
 */
export function readinessProbe(port: number) {
  return { httpGet: { path: "/ready", port } };
}

/**
 * The text of HOOKINIT_CONFIG_INLINE: the lifecycle block as written
 * (comments and all), or, when a handler names a port, a container snippet
 * with the container's ports so that the name resolves as the kubelet would.
 * Validated here with hookinit's own checks, so a config hookinit would
 * refuse at start is refused now.
 */
function inlineConfig(
  container: Yaml.YAMLMap,
  lifecycle: Yaml.YAMLMap,
  where: string,
  style: Yaml.ToStringOptions = { lineWidth: 0 },
  json = false,
): string {
  const Y = yaml();
  const data = lifecycle.toJSON() as Record<string, unknown>;
  const namedPort = Object.values(data).some((handler) => {
    if (typeof handler !== "object" || handler === null) return false;
    return Object.values(handler).some(
      (action) =>
        typeof action === "object" &&
        action !== null &&
        typeof (action as { port?: unknown }).port === "string",
    );
  });
  const ports = container.get("ports");
  const check = namedPort ? { lifecycle: data, ports: plain(ports) } : { lifecycle: data };
  try {
    parseConfig(JSON.stringify(check), "-");
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new InjectError(`${where}: ${error.message.replace(/^config -: /, "")}`);
  }
  if (json) return JSON.stringify(namedPort ? check : data);
  const inlineDoc = new Y.Document();
  if (namedPort) {
    inlineDoc.contents = inlineDoc.createNode({}) as Yaml.YAMLMap;
    (inlineDoc.contents as Yaml.YAMLMap).set("lifecycle", lifecycle.clone());
    (inlineDoc.contents as Yaml.YAMLMap).set("ports", Y.isNode(ports) ? ports.clone() : ports);
  } else {
    inlineDoc.contents = lifecycle.clone() as never;
  }
  return inlineDoc.toString(style);
}

// ---- undo --------------------------------------------------------------------

function undoPodSpec(
  spec: Yaml.YAMLMap,
  name: string,
  specPath: string,
  context: Context,
): boolean {
  const Y = yaml();
  const install = installContainer(spec);
  const volume = install ? scalarString(install.getIn(["volumeMounts", 0, "name"])) : undefined;
  let changed = false;
  const grace = graceFor(spec, name, specPath);
  for (const field of ["containers", "initContainers"] as const) {
    const list = spec.get(field);
    if (!Y.isSeq(list)) continue;
    for (const item of list.items) {
      if (!Y.isMap(item)) continue;
      const containerName = scalarString(item.get("name")) ?? "";
      if (containerName === INSTALL_CONTAINER) continue;
      const named = context.options.containers;
      if (named.length > 0 && !named.includes(containerName)) continue;
      if (named.length > 0) context.seen.add(containerName);
      const where = `${name}, container ${containerName}`;
      if (undoContainer(item, where, volume, grace)) {
        context.report.changed.push(where);
        changed = true;
      }
    }
  }
  // The install container and the volume go once no container uses hookinit.
  if (install !== undefined && !anyContainerRunsHookinit(spec, volume)) {
    const init = spec.get("initContainers") as Yaml.YAMLSeq;
    init.items = init.items.filter((c) => c !== install);
    if (init.items.length === 0) spec.delete("initContainers");
    const volumes = spec.get("volumes");
    if (Y.isSeq(volumes) && volume !== undefined) {
      volumes.items = volumes.items.filter(
        (v) => !(Y.isMap(v) && scalarString(v.get("name")) === volume),
      );
      if (volumes.items.length === 0) spec.delete("volumes");
    }
    changed = true;
  }
  return changed;
}

function anyContainerRunsHookinit(spec: Yaml.YAMLMap, volume: string | undefined): boolean {
  const Y = yaml();
  return ["containers", "initContainers"].some((field) => {
    const list = spec.get(field);
    return (
      Y.isSeq(list) &&
      list.items.some(
        (c) =>
          Y.isMap(c) && scalarString(c.get("name")) !== INSTALL_CONTAINER && isInjected(c, volume),
      )
    );
  });
}

/**
 * Injected by us: `command: [/hookinit/hookinit, --, ...]` and our volume
 * at /hookinit. An image built with hookinit has the same command but not
 * the volume: undo leaves it alone.
 */
function isInjected(container: Yaml.YAMLMap, volume: string | undefined): boolean {
  const Y = yaml();
  if (volume === undefined) return false;
  if (
    plain(container.getIn(["command", 0])) !== HOOKINIT_ENTRY ||
    plain(container.getIn(["command", 1])) !== "--"
  ) {
    return false;
  }
  const mounts = container.get("volumeMounts");
  return (
    Y.isSeq(mounts) &&
    mounts.items.some(
      (m) =>
        Y.isMap(m) &&
        plain(m.get("mountPath")) === HOOKINIT_DIR &&
        scalarString(m.get("name")) === volume,
    )
  );
}

function undoContainer(
  container: Yaml.YAMLMap,
  where: string,
  volume: string | undefined,
  grace: number,
): boolean {
  const Y = yaml();
  if (!isInjected(container, volume)) return false;
  const command = container.get("command") as Yaml.YAMLSeq;
  command.items.splice(0, 2);

  const env = container.get("env");
  if (Y.isSeq(env)) {
    const inlineEntry = env.items.find(
      (e) => Y.isMap(e) && scalarString(e.get("name")) === INLINE_ENV,
    ) as Yaml.YAMLMap | undefined;
    if (inlineEntry !== undefined) {
      const text = plain(inlineEntry.get("value"));
      if (typeof text !== "string") throw new InjectError(`${where}: env ${INLINE_ENV}: no value`);
      const parsed = yaml().parseDocument(text);
      if (parsed.errors.length > 0) {
        throw new InjectError(
          `${where}: env ${INLINE_ENV}: invalid YAML: ${parsed.errors[0]?.message.split("\n")[0]}`,
        );
      }
      let original = parsed.contents as unknown;
      if (Y.isMap(original) && original.has("lifecycle") && original.has("ports")) {
        original = original.get("lifecycle");
      }
      if (Y.isMap(original)) {
        // Comments on the block itself travel with the text.
        if (parsed.commentBefore && !original.commentBefore)
          original.commentBefore = parsed.commentBefore;
        container.set("lifecycle", original);
      }
    }
    env.items = env.items.filter((e) => {
      if (!Y.isMap(e)) return true;
      const envName = scalarString(e.get("name"));
      if (envName === INLINE_ENV) return false;
      return !(envName === GRACE_ENV && plain(e.get("value")) === String(grace));
    });
    if (env.items.length === 0) container.delete("env");
  }

  const mounts = container.get("volumeMounts");
  if (Y.isSeq(mounts)) {
    mounts.items = mounts.items.filter(
      (m) =>
        !(
          Y.isMap(m) &&
          plain(m.get("mountPath")) === HOOKINIT_DIR &&
          (volume === undefined || scalarString(m.get("name")) === volume)
        ),
    );
    if (mounts.items.length === 0) container.delete("volumeMounts");
  }

  const probe = container.get("readinessProbe");
  const envNow = container.get("env");
  const readyPort = readyPortOf(Y.isSeq(envNow) ? envNow.toJSON() : undefined);
  if (
    readyPort !== undefined &&
    Y.isMap(probe) &&
    JSON.stringify(probe.toJSON()) === JSON.stringify(readinessProbe(readyPort))
  ) {
    container.delete("readinessProbe");
    if (Y.isSeq(envNow)) {
      envNow.items = envNow.items.filter(
        (e) => !(Y.isMap(e) && scalarString(e.get("name")) === READY_ENV),
      );
      if (envNow.items.length === 0) container.delete("env");
    }
  }
  return true;
}

// ---- helpers -----------------------------------------------------------------

function plain(node: unknown): unknown {
  const Y = yaml();
  if (Y.isScalar(node)) return node.value;
  if (Y.isNode(node)) return node.toJSON();
  return node;
}

function scalarString(node: unknown): string | undefined {
  const value = plain(node);
  return typeof value === "string" ? value : undefined;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
