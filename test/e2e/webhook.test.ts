/**
 * `hookinit webhook`: real AdmissionReview requests (the shape of the
 * Kubernetes documentation's example) over TLS, with a self-signed
 * certificate made here with openssl.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { renameSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { DEFAULT_OPTIONS, injectText } from "../../src/inject/manifest.js";
import { selfSignedCert, tempDir } from "../support/files.js";
import { HOOKINIT } from "../support/hookinit.js";
import { cleanupAfterEach } from "../support/process.js";
import { waitFor } from "../support/wait.js";

cleanupAfterEach();

const IMAGE = "registry.example/hookinit:1.0";

// biome-ignore lint/suspicious/noExplicitAny: JSON walked loosely in assertions
type Json = any;

interface Reply {
  status: number;
  body: string;
  json: () => Json;
  peerCN: string | undefined;
}

function post(
  port: number,
  body: string | Buffer,
  path = "/mutate",
  method = "POST",
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method,
        rejectUnauthorized: false, // self-signed; the test checks which certificate it got
        headers: { "content-type": "application/json" },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const peer = (res.socket as import("node:tls").TLSSocket).getPeerCertificate();
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          resolve({
            status: res.statusCode ?? 0,
            body: text,
            json: () => JSON.parse(text),
            peerCN: String(peer?.subject?.CN),
          });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const POD = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "web", namespace: "shop", labels: { app: "web" } },
  spec: {
    terminationGracePeriodSeconds: 45,
    containers: [
      {
        name: "app",
        image: "nginx:1.27",
        command: ["/docker-entrypoint.sh", "nginx"],
        args: ["-g", "daemon off;"],
        ports: [{ name: "http", containerPort: 80 }],
        lifecycle: { preStop: { httpGet: { path: "/drain", port: "http" } } },
      },
    ],
  },
};

/** The Kubernetes documentation's AdmissionReview request, around a pod. */
function review(pod: unknown, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      requestKind: { group: "", version: "v1", kind: "Pod" },
      requestResource: { group: "", version: "v1", resource: "pods" },
      name: "web",
      namespace: "shop",
      operation: "CREATE",
      userInfo: { username: "admin", uid: "014fbff9a07c", groups: ["system:authenticated"] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
      ...extra,
    },
  };
}

/** RFC 6902 add and replace, enough to apply the webhook's patch. */
function applyPatch(document: Json, ops: { op: string; path: string; value: unknown }[]): Json {
  const result = structuredClone(document);
  for (const { op, path, value } of ops) {
    expect(["add", "replace"]).toContain(op);
    const keys = path
      .split("/")
      .slice(1)
      .map((k) => k.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = keys.pop() as string;
    let parent = result;
    for (const key of keys) parent = parent[key];
    if (op === "replace") expect(parent).toHaveProperty(last);
    if (Array.isArray(parent) && last === "-") parent.push(value);
    else parent[last] = value;
  }
  return result;
}

describe("hookinit webhook over TLS (the built executable)", () => {
  const dir = tempDir();
  /** Its JSON log lines on stdout, as parsed so far. */
  const logs: Json[] = [];
  let child: ChildProcess;
  let port = 0;
  let files: { cert: string; key: string };

  /** The first log line after the first `from` lines that matches. */
  const logAfter = (from: number, match: (line: Json) => boolean) =>
    waitFor(
      `a log line after line ${from}`,
      () => logs.slice(from).find(match),
      20_000,
      () => JSON.stringify(logs.slice(from)),
    );

  beforeAll(async () => {
    files = selfSignedCert(dir, "first", "hookinit-webhook.first");
    child = spawn(
      HOOKINIT,
      ["webhook", "--cert", files.cert, "--key", files.key, "--listen", "127.0.0.1:0"].concat([
        "--max-body-bytes",
        "65536",
        "--cert-check",
        "0.2",
        "--image",
        IMAGE,
      ]),
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let pending = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) logs.push(JSON.parse(line));
    });
    const listening = await logAfter(0, (line) => line.msg === "webhook listening");
    port = listening.port;
  });
  afterAll(async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  });

  it("a pod to inject: the JSONPatch, applied, equals hookinit inject's output", async () => {
    const from = logs.length;
    const reply = await post(port, JSON.stringify(review(POD)));
    expect(reply.status).toBe(200);
    const body = reply.json();
    expect(body).toMatchObject({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: {
        uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
        allowed: true,
        patchType: "JSONPatch",
      },
    });
    const patch = JSON.parse(Buffer.from(body.response.patch, "base64").toString());
    const patched = applyPatch(POD, patch);
    // What `kubectl get pod -o json | hookinit inject --image ...` writes.
    const injected = parseAllDocuments(
      injectText(JSON.stringify(POD), "stdin", { ...DEFAULT_OPTIONS, image: IMAGE }),
    )[0]?.toJS();
    expect(patched).toEqual(injected);
    expect(patched.spec.containers[0].command.slice(0, 2)).toEqual(["/hookinit/hookinit", "--"]);
    expect(patched.spec.initContainers[0].image).toBe(IMAGE);
    expect(await logAfter(from, (l) => l.msg.startsWith("inject"))).toMatchObject({
      level: "info",
      msg: "injected",
      containers: ["app"],
    });
  });

  it("a pod that opts out (label or annotation) is admitted unchanged", async () => {
    for (const where of ["labels", "annotations"] as const) {
      const pod = structuredClone(POD) as Json;
      pod.metadata[where] = { ...(pod.metadata[where] ?? {}), "hookinit-inject": "disabled" };
      const body = (await post(port, JSON.stringify(review(pod)))).json();
      expect(body.response).toEqual({ uid: "705ab4f5-6393-11e8-b7cc-42010a800002", allowed: true });
    }
  });

  it("dryRun: the same answer, logged as a dry run", async () => {
    const from = logs.length;
    const body = (await post(port, JSON.stringify(review(POD, { dryRun: true })))).json();
    expect(body.response.allowed).toBe(true);
    expect(body.response.patchType).toBe("JSONPatch");
    expect(await logAfter(from, (l) => l.msg.startsWith("inject"))).toMatchObject({
      msg: "injected (dry run)",
      dryRun: true,
    });
  });

  it("a pod it cannot inject is admitted unchanged, with a warning in the response and the log", async () => {
    const pod = structuredClone(POD) as Json;
    delete pod.spec.containers[0].command;
    const from = logs.length;
    const body = (await post(port, JSON.stringify(review(pod)))).json();
    expect(body.response.allowed).toBe(true);
    expect(body.response.patch).toBeUndefined();
    expect(body.response.warnings).toEqual([expect.stringContaining("container app: no command")]);
    expect(await logAfter(from, (l) => l.level === "warn")).toMatchObject({
      msg: "not injected: admitted unchanged",
      reason: expect.stringContaining("no command"),
    });

    // The annotation gives the command, as --command does for inject.
    pod.metadata.annotations = {
      "hookinit-inject/command.app": '["/docker-entrypoint.sh","nginx"]',
    };
    const fixed = (await post(port, JSON.stringify(review(pod)))).json();
    expect(fixed.response.patchType).toBe("JSONPatch");
  });

  it("not a pod creation: admitted unchanged", async () => {
    const body = (await post(port, JSON.stringify(review(POD, { operation: "UPDATE" })))).json();
    expect(body.response).toEqual({ uid: "705ab4f5-6393-11e8-b7cc-42010a800002", allowed: true });
  });

  it("malformed JSON, a body that is not an AdmissionReview, an oversized body: an error each, and it keeps serving", async () => {
    const bad = await post(port, '{"apiVersion": "admission.k8s.io/v1", "kind": ');
    expect(bad.status).toBe(400);
    expect(bad.json().error).toMatch(/^not JSON/);
    const notReview = await post(port, JSON.stringify({ hello: "world" }));
    expect(notReview.status).toBe(400);
    const big = await post(port, Buffer.alloc(200_000, "x")).catch((error: Error) => error);
    // The server answers 413 and closes; the client may see the answer or a reset while still sending.
    if (!(big instanceof Error)) expect(big.status).toBe(413);
    const get = await post(port, "", "/mutate", "GET");
    expect(get.status).toBe(405);
    const health = await post(port, "", "/healthz", "GET");
    expect(health.status).toBe(200);
    const good = await post(port, JSON.stringify(review(POD)));
    expect(good.json().response.patchType).toBe("JSONPatch");
  });

  it("reloads the certificate and key when their files change", async () => {
    expect((await post(port, "", "/healthz", "GET")).peerCN).toBe("hookinit-webhook.first");
    const next = selfSignedCert(dir, "second", "hookinit-webhook.second");
    // Replace both files the way a Secret volume does: each appears whole at once.
    renameSync(next.key, files.key);
    renameSync(next.cert, files.cert);
    await waitFor(
      "the new certificate",
      async () => (await post(port, "", "/healthz", "GET")).peerCN === "hookinit-webhook.second",
    );
    // A broken certificate is not loaded: the previous one keeps serving.
    writeFileSync(files.cert, "not a certificate");
    await waitFor("the refusal in the log", () =>
      logs.some((l) => l.msg.startsWith("certificate not reloaded")),
    );
    expect((await post(port, "", "/healthz", "GET")).peerCN).toBe("hookinit-webhook.second");
  });
});
