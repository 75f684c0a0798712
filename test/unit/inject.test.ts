/**
 * `hookinit inject`: a table of manifests before (test/fixtures/inject/
 * NAME.in.yaml) and after (NAME.out.yaml). For each case: the output is the
 * expected one; it validates against the Kubernetes API schema; injecting
 * again changes nothing; undo gives the input back; the inline config is
 * one hookinit accepts and equals the lifecycle that was there.
 *
 * UPDATE_GOLDEN=1 rewrites the .out.yaml files (review the diff).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ReplicaSet } from "kubernetes-models/apps/v1/ReplicaSet";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Job } from "kubernetes-models/batch/v1/Job";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Pod } from "kubernetes-models/v1/Pod";
import { Service } from "kubernetes-models/v1/Service";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/hooks/config.js";
import {
  DEFAULT_OPTIONS,
  InjectError,
  type InjectOptions,
  injectObject,
  injectText,
} from "../../src/inject/manifest.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "inject");
const IMAGE = "registry.example/hookinit:1.0";

interface Case {
  name: string;
  options?: Partial<InjectOptions>;
  /** Kinds in the output, in order (List items flattened). */
  kinds: string[];
  /** Containers that must end up running hookinit. */
  wrapped: string[];
}

const CASES: Case[] = [
  { name: "pod", kinds: ["Pod"], wrapped: ["app"] },
  { name: "deployment", kinds: ["Deployment"], wrapped: ["nginx", "exporter"] },
  { name: "statefulset", kinds: ["StatefulSet"], wrapped: ["db"] },
  { name: "daemonset", kinds: ["DaemonSet"], wrapped: ["agent"] },
  { name: "replicaset", kinds: ["ReplicaSet"], wrapped: ["worker"] },
  { name: "job", kinds: ["Job"], wrapped: ["migrate"] },
  { name: "cronjob", kinds: ["CronJob"], wrapped: ["report"] },
  { name: "list", kinds: ["Service", "Pod"], wrapped: ["app"] },
  { name: "multi", kinds: ["ConfigMap", "Service", "Pod"], wrapped: ["app"] },
  {
    name: "sidecar",
    options: { containers: ["proxy", "app"] },
    kinds: ["Pod"],
    wrapped: ["proxy", "app"],
  },
  { name: "volume-taken", kinds: ["Pod"], wrapped: ["app"] },
  { name: "stopsignal", kinds: ["Pod"], wrapped: ["app"] },
  {
    name: "no-command",
    options: { commands: new Map([["app", ["/docker-entrypoint.sh", "nginx"]]]) },
    kinds: ["Pod"],
    wrapped: ["app"],
  },
  { name: "already", kinds: ["Pod"], wrapped: ["app"] },
  // `kubectl get -o json | hookinit inject`: JSON in, JSON out (same indentation), inline config as JSON.
  { name: "json", kinds: ["Pod"], wrapped: ["app"] },
  {
    name: "readiness",
    options: { readiness: true },
    kinds: ["Pod"],
    wrapped: ["app", "worker", "probed"],
  },
];

const options = (extra: Partial<InjectOptions> = {}): InjectOptions => ({
  ...DEFAULT_OPTIONS,
  image: IMAGE,
  ...extra,
});

const read = (file: string) => readFileSync(join(FIXTURES, file), "utf8");

// biome-ignore lint/suspicious/noExplicitAny: manifests are walked loosely in assertions
type Obj = Record<string, any>;

/** Every object of a YAML text, List items flattened. */
function objects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((doc) => doc.toJS() as Obj)
    .filter((doc) => doc !== null)
    .flatMap((doc) => (doc.kind === "List" ? doc.items : [doc]));
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Pod,
  Deployment,
  StatefulSet,
  DaemonSet,
  ReplicaSet,
  Job,
  CronJob,
  Service,
  ConfigMap,
};

function podSpec(object: Obj): Obj | undefined {
  switch (object.kind) {
    case "Pod":
      return object.spec;
    case "CronJob":
      return object.spec.jobTemplate.spec.template.spec;
    case "Deployment":
    case "StatefulSet":
    case "DaemonSet":
    case "ReplicaSet":
    case "Job":
      return object.spec.template.spec;
    default:
      return undefined;
  }
}

function allContainers(spec: Obj): Obj[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

describe("inject: manifests before and after", () => {
  it("every workload kind is in the table", () => {
    const kinds = new Set(CASES.flatMap((c) => c.kinds));
    for (const kind of [
      "Pod",
      "Deployment",
      "StatefulSet",
      "DaemonSet",
      "ReplicaSet",
      "Job",
      "CronJob",
    ]) {
      expect(kinds).toContain(kind);
    }
  });

  for (const c of CASES) {
    describe(c.name, () => {
      const ext = existsSync(join(FIXTURES, `${c.name}.in.json`)) ? "json" : "yaml";
      const input = read(
        existsSync(join(FIXTURES, `${c.name}.in.${ext}`)) ? `${c.name}.in.${ext}` : "pod.in.yaml",
      );
      const output = injectText(input, `${c.name}.in.yaml`, options(c.options));

      it("gives the expected output", () => {
        const golden = join(FIXTURES, `${c.name}.out.${ext}`);
        if (process.env.UPDATE_GOLDEN === "1") writeFileSync(golden, output);
        expect(output).toBe(readFileSync(golden, "utf8"));
      });

      it("validates against the Kubernetes API schema (kubernetes-models)", () => {
        const found = objects(output);
        expect(found.map((o) => o.kind)).toEqual(c.kinds);
        for (const object of found) {
          const Model = MODELS[object.kind];
          if (Model === undefined) throw new Error(`no model for ${object.kind}`);
          expect(() => new Model(object as never).validate()).not.toThrow();
        }
      });

      it("wraps the selected containers and mounts hookinit read-only", () => {
        for (const object of objects(output)) {
          const spec = podSpec(object);
          if (spec === undefined) continue;
          for (const container of allContainers(spec)) {
            if (container.name === "hookinit-install") continue;
            const wrapped = container.command?.[0] === "/hookinit/hookinit";
            expect(wrapped, container.name).toBe(c.wrapped.includes(container.name));
            if (!wrapped || c.name === "already") continue;
            expect(container.command[1]).toBe("--");
            expect(container.volumeMounts).toContainEqual({
              name: expect.stringMatching(/^hookinit/),
              mountPath: "/hookinit",
              readOnly: true,
            });
            for (const [hook, handler] of Object.entries(container.lifecycle ?? {})) {
              if (hook === "stopSignal") continue;
              expect(handler).toEqual({ exec: { command: ["/hookinit/hookinit", "hook", hook] } });
            }
          }
          if (c.name === "already") continue;
          const install = spec.initContainers[0];
          expect(install).toMatchObject({
            name: "hookinit-install",
            image: IMAGE,
            command: ["/hookinit/hookinit", "install", "/hookinit-volume"],
          });
          const volume = spec.volumes.find((v: Obj) => v.name === install.volumeMounts[0].name);
          expect(volume).toEqual({ name: install.volumeMounts[0].name, emptyDir: {} });
        }
      });

      it("moves the lifecycle into HOOKINIT_CONFIG_INLINE, which hookinit accepts as it was", () => {
        const before = objects(input);
        const after = objects(output);
        after.forEach((object, i) => {
          const spec = podSpec(object);
          if (spec === undefined || c.name === "already") return;
          const original = allContainers(podSpec(before[i] as Obj) as Obj);
          for (const container of allContainers(spec)) {
            if (!c.wrapped.includes(container.name)) continue;
            const was = original.find((o) => o.name === container.name) as Obj;
            const inline = container.env?.find((e: Obj) => e.name === "HOOKINIT_CONFIG_INLINE");
            if (was.lifecycle === undefined) {
              expect(inline).toBeUndefined();
              continue;
            }
            const fromInline = parseConfig(inline.value, "HOOKINIT_CONFIG_INLINE");
            const fromManifest = parseConfig(
              JSON.stringify({ lifecycle: was.lifecycle, ports: was.ports }),
              "x",
            );
            expect(fromInline).toEqual(fromManifest);
            expect(container.lifecycle.stopSignal).toBe(was.lifecycle.stopSignal);
          }
        });
      });

      it("injecting twice gives the same output as once", () => {
        expect(injectText(output, "again", options(c.options))).toBe(output);
      });

      it("undo gives the input back", () => {
        const undone = injectText(output, "undo", {
          ...DEFAULT_OPTIONS,
          undo: true,
          containers: c.options?.containers ?? [],
        });
        if (c.name === "no-command") {
          // The command given with --command stays: it is the image's ENTRYPOINT, so the container runs the same.
          expect(objects(undone)).toEqual(
            objects(input).map((pod) => {
              pod.spec.containers[0].command = ["/docker-entrypoint.sh", "nginx"];
              return pod;
            }),
          );
          return;
        }
        expect(undone).toBe(input);
      });
    });
  }

  it("sets HOOKINIT_GRACE so that hookinit's SIGKILL comes before the kubelet's", () => {
    const grace = (text: string, name: string) =>
      objects(injectText(text, "x", options()))
        .flatMap((o) => allContainers(podSpec(o) ?? {}))
        .find((c) => c.name === name)
        ?.env.find((e: Obj) => e.name === "HOOKINIT_GRACE")?.value;
    expect(grace(read("pod.in.yaml"), "app")).toBe("27"); // default 30
    expect(grace(read("deployment.in.yaml"), "nginx")).toBe("57");
    expect(grace(read("statefulset.in.yaml"), "db")).toBe("7");
    expect(grace(read("stopsignal.in.yaml"), "app")).toBe("0");
  });

  it("--readiness: hookinit's GET /ready on a port no container uses, where there is no probe", () => {
    const pod = objects(
      injectText(read("readiness.in.yaml"), "x", options({ readiness: true })),
    )[0] as Obj;
    const [app, worker, probed] = pod.spec.containers;
    const ready = (c: Obj) => c.env.find((e: Obj) => e.name === "HOOKINIT_READY_ADDRESS")?.value;
    expect(ready(app)).toBe(":8087");
    expect(app.readinessProbe).toEqual({ httpGet: { path: "/ready", port: 8087 } });
    expect(ready(worker)).toBe(":8088");
    expect(worker.readinessProbe).toEqual({ httpGet: { path: "/ready", port: 8088 } });
    expect(ready(probed)).toBeUndefined();
    expect(probed.readinessProbe).toEqual({ tcpSocket: { port: 9000 } });
  });

  it("an unknown kind passes through byte for byte, and --strict refuses it", () => {
    const rollout = `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: app, image: app:1, command: [/app]}]
`;
    expect(injectText(rollout, "r.yaml", options())).toBe(rollout);
    expect(() => injectText(rollout, "r.yaml", options({ strict: true }))).toThrow(
      "r.yaml (Rollout web): kind Rollout is not a workload inject knows",
    );
    const service = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n";
    expect(injectText(service, "s.yaml", options({ strict: true }))).toBe(service);
  });

  it("keeps an injected pod's install image up to date on a second run with another image", () => {
    const once = injectText(read("pod.in.yaml"), "x", options());
    const twice = injectText(once, "x", options({ image: "registry.example/hookinit:2.0" }));
    expect(twice).toBe(once.replace(IMAGE, "registry.example/hookinit:2.0"));
  });
});

const ERRORS: { name: string; text: string; options?: Partial<InjectOptions>; message: string }[] =
  [
    {
      name: "no command",
      text: read("no-command.in.yaml"),
      message:
        "no-command.yaml (Pod web), container app: no command: the image's ENTRYPOINT cannot be known offline; give it with --command app=ENTRYPOINT... or add command: to the container",
    },
    {
      name: "empty command",
      text: read("pod.in.yaml").replace(/command: \["sh", "-c", "exec httpd[^\n]*/, "command: []"),
      message: "(Pod web), container app: command is empty",
    },
    {
      name: "a lifecycle hookinit's schema refuses",
      text: read("statefulset.in.yaml").replace("port: 5432", "port: 70000"),
      message: "(StatefulSet db), container db: lifecycle.preStop.tcpSocket.port: ",
    },
    {
      name: "two handlers in one hook",
      text: read("daemonset.in.yaml").replace(
        "sleep:\n                seconds: 5",
        "sleep:\n                seconds: 5\n              exec:\n                command: [x]",
      ),
      message: "(DaemonSet agent), container agent: lifecycle.preStop",
    },
    {
      name: "an unknown --container",
      text: read("pod.in.yaml"),
      options: { containers: ["nope"] },
      message: 'no workload has a container named "nope"',
    },
    {
      name: "an init container that is not a sidecar",
      text: read("sidecar.in.yaml"),
      options: { containers: ["setup"] },
      message:
        "(Pod web), container setup: an init container that runs to completion, not a sidecar",
    },
    {
      name: "something mounted at /hookinit",
      text: read("volume-taken.in.yaml").replace("/etc/hookinit", "/hookinit"),
      message: "(Pod web), container app: volumeMounts: something is already mounted at /hookinit",
    },
    {
      name: "HOOKINIT_CONFIG already set next to a lifecycle",
      text: read("pod.in.yaml").replace(
        "      lifecycle:",
        "      env:\n        - name: HOOKINIT_CONFIG\n          value: /etc/hooks.yaml\n      lifecycle:",
      ),
      message: "(Pod web), container app: env HOOKINIT_CONFIG is already set",
    },
    {
      name: "no --image",
      text: read("pod.in.yaml"),
      options: { image: undefined },
      message: "--image IMAGE is required",
    },
    {
      name: "invalid YAML",
      text: "kind: Pod\nspec: [\n",
      message: "invalid YAML",
    },
    {
      name: "the document is named in a multi-document file",
      text: `${read("multi.in.yaml")}---\n${read("no-command.in.yaml")}`,
      message: "bad.yaml: document 4 (Pod web), container app: no command",
    },
  ];

describe("inject: errors are one line naming the document, the container and the problem", () => {
  it.each(ERRORS)("$name", ({ text, options: extra, message, name }) => {
    const source = name === "no command" ? "no-command.yaml" : "bad.yaml";
    let error: unknown;
    try {
      injectText(text, source, options(extra));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InjectError);
    const text1 = (error as Error).message;
    expect(text1).toContain(message);
    expect(text1).not.toContain("\n");
  });
});

describe("injectObject (the webhook's entry)", () => {
  it("gives the same pod as injectText", () => {
    const pod = objects(read("pod.in.yaml"))[0];
    const { object, changed } = injectObject(structuredClone(pod), "pod", options());
    expect(changed).toBe(true);
    expect(object).toEqual(objects(injectText(JSON.stringify(pod), "x", options()))[0]);
  });
});
