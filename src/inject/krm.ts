/**
 * `hookinit inject --krm`: the same transformation as a KRM function
 * (kustomize / kpt function specification, config.kubernetes.io/v1): a
 * ResourceList on stdin, the same list with its items injected on stdout.
 * Comments and annotations of the items (config.kubernetes.io/index, ...)
 * are kept, since the list is edited with the yaml Document API.
 *
 * Options come from `functionConfig`: a ConfigMap's `data` (strings:
 * image, container as a comma-separated list, command as NAME=CMD lines,
 * readiness/strict/undo as "true"), or any kind with the same fields in
 * `spec` (containers and commands as lists), overriding command-line flags.
 */
import type * as Yaml from "yaml";
import { injectOptions } from "./command.js";
import { InjectError, injectItems } from "./manifest.js";

export function runKrm(text: string, flags: Record<string, unknown>): string {
  const Y = require("yaml") as typeof Yaml;
  const doc = Y.parseDocument(text, { merge: true });
  if (doc.errors.length > 0) {
    throw new InjectError(
      `ResourceList on stdin: invalid YAML: ${doc.errors[0]?.message.split("\n")[0]}`,
    );
  }
  const root = doc.contents;
  if (!Y.isMap(root) || (root.toJSON() as { kind?: unknown }).kind !== "ResourceList") {
    throw new InjectError("stdin: expected a ResourceList (config.kubernetes.io/v1) for --krm");
  }
  const items = root.get("items");
  const config = root.get("functionConfig");
  const options = injectOptions({
    ...flags,
    ...fromFunctionConfig(Y.isNode(config) ? config.toJSON() : config),
  });
  if (Y.isSeq(items)) injectItems(doc, items, "ResourceList", options);
  return doc.toString({ lineWidth: 0 });
}

/** functionConfig's data (ConfigMap) or spec, as parseArgs-style values. */
export function fromFunctionConfig(config: unknown): Record<string, unknown> {
  if (typeof config !== "object" || config === null) return {};
  const { data, spec } = config as {
    data?: Record<string, unknown>;
    spec?: Record<string, unknown>;
  };
  const source = data ?? spec;
  if (typeof source !== "object" || source === null) return {};
  const values: Record<string, unknown> = {};
  const text = (key: string) => {
    const value = source[key];
    return value === undefined || value === null ? undefined : String(value);
  };
  const flag = (key: string) => {
    const value = source[key];
    return value === true || (typeof value === "string" && /^(true|yes|on|1)$/i.test(value.trim()));
  };
  if (text("image") !== undefined) values.image = text("image");
  const containers = source.containers ?? source.container;
  if (Array.isArray(containers)) values.container = containers.map(String);
  else if (typeof containers === "string")
    values.container = containers.split(/[\s,]+/).filter(Boolean);
  const commands = source.commands ?? source.command;
  if (typeof commands === "string")
    values.command = commands
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
  else if (typeof commands === "object" && commands !== null && !Array.isArray(commands)) {
    values.command = Object.entries(commands).map(
      ([name, cmd]) => `${name}=${JSON.stringify(cmd)}`,
    );
  }
  for (const key of ["readiness", "strict", "undo"]) if (key in source) values[key] = flag(key);
  return values;
}

/** The input ResourceList with the error in `results` (severity error), for a failed run. */
export function krmFailure(text: string, message: string): string {
  const Y = require("yaml") as typeof Yaml;
  const doc = Y.parseDocument(text);
  const result = { message: `hookinit inject: ${message}`, severity: "error" };
  if (Y.isMap(doc.contents)) {
    (doc.contents as Yaml.YAMLMap).set("results", doc.createNode([result]));
    return doc.toString({ lineWidth: 0 });
  }
  return Y.stringify({
    apiVersion: "config.kubernetes.io/v1",
    kind: "ResourceList",
    items: [],
    results: [result],
  });
}
