import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Pod } from "kubernetes-models/v1/Pod";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseConfig } from "../../src/hooks/config.js";

const examples = join(import.meta.dirname, "..", "..", "docker", "examples");
const manifests = readdirSync(examples).filter(
  (file) => file.startsWith("pod-") && file.endsWith(".yaml"),
);

/** Every document of an example manifest, as plain objects. */
function documents(file: string): Record<string, unknown>[] {
  const text = readFileSync(join(examples, file), "utf8");
  return parseAllDocuments(text).map((doc) => doc.toJS() as Record<string, unknown>);
}

describe("docker/examples manifests", () => {
  it("has the three pod recipes", () => {
    expect(manifests.sort()).toEqual([
      "pod-exec-only-bci.yaml",
      "pod-full-kubelet.yaml",
      "pod-no-hooks.yaml",
    ]);
  });

  for (const file of manifests) {
    describe(file, () => {
      it("validates against the Kubernetes API schema (kubernetes-models)", () => {
        for (const doc of documents(file)) {
          if (doc.kind === "Pod") expect(() => new Pod(doc as never).validate()).not.toThrow();
          else if (doc.kind === "ConfigMap")
            expect(() => new ConfigMap(doc as never).validate()).not.toThrow();
          else throw new Error(`unexpected kind ${String(doc.kind)} in ${file}`);
        }
      });

      it("carries a hookinit config that hookinit accepts", () => {
        const configMaps = documents(file).filter((doc) => doc.kind === "ConfigMap");
        expect(configMaps).toHaveLength(1);
        const data = (configMaps[0] as { data: Record<string, string> }).data;
        const text = data["hooks.yaml"] as string;
        expect(() => parseConfig(text, `${file}:hooks.yaml`)).not.toThrow();
        expect(parseConfig(text, `${file}:hooks.yaml`).preStop).toBeDefined();
      });

      it("uses only exec lifecycle handlers that call hookinit", () => {
        for (const doc of documents(file).filter((d) => d.kind === "Pod")) {
          const containers = (
            doc as { spec: { containers: { lifecycle?: Record<string, unknown> }[] } }
          ).spec.containers;
          for (const container of containers) {
            for (const handler of Object.values(container.lifecycle ?? {})) {
              expect(handler).toEqual({
                exec: { command: expect.arrayContaining(["/hookinit/hookinit", "hook"]) },
              });
            }
          }
        }
      });
    });
  }

  it("the exec-only example targets the virtual kubelet from the seeds", () => {
    const pod = documents("pod-exec-only-bci.yaml").find((doc) => doc.kind === "Pod") as {
      spec: {
        nodeSelector: Record<string, string>;
        tolerations: { key: string; value?: string }[];
      };
    };
    expect(pod.spec.nodeSelector).toEqual({ type: "virtual-kubelet" });
    expect(pod.spec.tolerations).toContainEqual(
      expect.objectContaining({ key: "virtual-kubelet.io/provider", value: "baidu" }),
    );
  });

  it("the compose file's hook config is one hookinit accepts", () => {
    const compose = parseAllDocuments(
      readFileSync(join(examples, "compose.yaml"), "utf8"),
    )[0]?.toJS() as {
      configs: { hooks: { content: string } };
    };
    expect(parseConfig(compose.configs.hooks.content, "compose.yaml").preStop?.handler.type).toBe(
      "httpGet",
    );
  });
});
