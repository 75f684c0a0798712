/**
 * The manifests that deploy the webhook (docker/examples/webhook.yaml) and
 * the kustomize example (docker/examples/kustomize/) validate against the
 * Kubernetes API schema, and say what the README promises.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MutatingWebhookConfiguration } from "kubernetes-models/admissionregistration.k8s.io/v1/MutatingWebhookConfiguration";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { injectOptions } from "../../src/inject/command.js";
import { fromFunctionConfig, runKrm } from "../../src/inject/krm.js";
import { OPT_IN_KEY, webhookUsage } from "../../src/inject/webhook.js";

const EXAMPLES = join(import.meta.dirname, "..", "..", "docker", "examples");
// biome-ignore lint/suspicious/noExplicitAny: manifests walked loosely
type Obj = Record<string, any>;

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  Namespace,
  ServiceAccount,
  Deployment,
  Service,
  MutatingWebhookConfiguration,
};

describe("docker/examples/webhook.yaml", () => {
  const docs = parseAllDocuments(readFileSync(join(EXAMPLES, "webhook.yaml"), "utf8")).map(
    (d) => d.toJS() as Obj,
  );
  const byKind = (kind: string) => docs.find((d) => d.kind === kind) as Obj;

  it("has the Deployment, the Service and the MutatingWebhookConfiguration, valid for the API", () => {
    expect(docs.map((d) => d.kind)).toEqual([
      "Namespace",
      "ServiceAccount",
      "Deployment",
      "Service",
      "MutatingWebhookConfiguration",
    ]);
    for (const doc of docs) {
      const Model = MODELS[doc.kind] as (typeof MODELS)[string];
      expect(() => new Model(doc as never).validate()).not.toThrow();
    }
  });

  it("never fails closed, has no side effects, and selects by the one opt-in key", () => {
    const config = byKind("MutatingWebhookConfiguration");
    for (const webhook of config.webhooks) {
      expect(webhook.failurePolicy).toBe("Ignore");
      expect(webhook.sideEffects).toBe("None");
      expect(webhook.admissionReviewVersions).toEqual(["v1"]);
      expect(webhook.rules).toEqual([
        expect.objectContaining({ operations: ["CREATE"], resources: ["pods"] }),
      ]);
      expect(webhook.namespaceSelector).toBeDefined();
      expect(JSON.stringify([webhook.namespaceSelector, webhook.objectSelector])).toContain(
        OPT_IN_KEY,
      );
      expect(webhook.clientConfig.service).toMatchObject({
        name: "hookinit-webhook",
        path: "/mutate",
      });
    }
  });

  it("runs hookinit webhook with options it has, behind the Service", () => {
    const deployment = byKind("Deployment");
    const container = deployment.spec.template.spec.containers[0];
    expect(container.args[0]).toBe("webhook");
    for (const arg of container.args.slice(1)) {
      expect(webhookUsage()).toContain(String(arg).split("=")[0]);
    }
    const service = byKind("Service");
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports[0].targetPort).toBe(container.ports[0].name);
  });
});

describe("docker/examples/kustomize", () => {
  const read = (file: string) => readFileSync(join(EXAMPLES, "kustomize", file), "utf8");

  it("names the transformer, whose config is a KRM exec function", () => {
    const kustomization = parse(read("kustomization.yaml"));
    expect(kustomization.transformers).toEqual(["hookinit-inject.yaml"]);
    const config = parse(read("hookinit-inject.yaml"));
    expect(parse(config.metadata.annotations["config.kubernetes.io/function"])).toEqual({
      exec: { path: "./hookinit-inject.sh" },
    });
    expect(read("hookinit-inject.sh")).toContain("hookinit inject --krm");
    expect(injectOptions(fromFunctionConfig(config))).toMatchObject({ readiness: true });
  });

  it("as kustomize would run it: the injected Deployment is valid for the API", () => {
    const list = [
      "apiVersion: config.kubernetes.io/v1",
      "kind: ResourceList",
      "items:",
      ...read("deployment.yaml")
        .trimEnd()
        .split("\n")
        .map((line, i) => (i === 0 ? `  - ${line}` : `    ${line}`)),
      "functionConfig:",
      ...read("hookinit-inject.yaml")
        .trimEnd()
        .split("\n")
        .map((line) => `  ${line}`),
    ].join("\n");
    const out = parse(runKrm(`${list}\n`, {}));
    const deployment = out.items[0];
    expect(() => new Deployment(deployment).validate()).not.toThrow();
    const pod = deployment.spec.template.spec;
    expect(pod.initContainers[0].image).toBe("registry.example/hookinit:0.1.0");
    expect(pod.containers[0].lifecycle.preStop).toEqual({
      exec: { command: ["/hookinit/hookinit", "hook", "preStop"] },
    });
  });
});
