// Figure 9: the admission webhook (hookinit only): requests per second and
// latency for a typical pod, over TLS with keep-alive, at 1 and 8
// concurrent requests.
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { COUNTS, HOOKINIT } from "../lib/config.mjs";
import { childEnv, waitFor } from "../lib/proc.mjs";
import { fmtInt, fmtNs, summarize } from "../lib/stats.mjs";

/** A typical pod: one app container with a command, ports, env, resources and a preStop. */
export const TYPICAL_POD = {
  apiVersion: "v1",
  kind: "Pod",
  metadata: {
    generateName: "web-7c9d8f6b5-",
    namespace: "shop",
    labels: { app: "web", "pod-template-hash": "7c9d8f6b5" },
    ownerReferences: [
      {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: "web-7c9d8f6b5",
        uid: "4f1c2d3e",
        controller: true,
      },
    ],
  },
  spec: {
    terminationGracePeriodSeconds: 45,
    serviceAccountName: "default",
    containers: [
      {
        name: "app",
        image: "registry.example/shop/web:2.14.1",
        command: ["/app/server"],
        args: ["--listen=:8080", "--log-format=json"],
        ports: [{ name: "http", containerPort: 8080 }],
        env: [
          { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "db", key: "url" } } },
          { name: "LOG_LEVEL", value: "info" },
        ],
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
        readinessProbe: { httpGet: { path: "/healthz", port: "http" } },
        lifecycle: { preStop: { httpGet: { path: "/drain", port: "http" } } },
        volumeMounts: [
          {
            name: "kube-api-access",
            mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
            readOnly: true,
          },
        ],
      },
    ],
    volumes: [
      {
        name: "kube-api-access",
        projected: { sources: [{ serviceAccountToken: { path: "token" } }] },
      },
    ],
  },
};

function admissionReview(i) {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace: "shop",
      operation: "CREATE",
      userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller" },
      object: TYPICAL_POD,
      dryRun: false,
    },
  });
}

function post(agent, port, body) {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/mutate",
        method: "POST",
        agent,
        rejectUnauthorized: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function load(port, concurrency, total) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  let failures = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const body = admissionReview(i);
      const t0 = process.hrtime.bigint();
      try {
        const reply = await post(agent, port, body);
        const ok =
          reply.status === 200 && JSON.parse(reply.body).response?.patchType === "JSONPatch";
        if (ok) latencies.push(Number(process.hrtime.bigint() - t0));
        else failures += 1;
      } catch {
        failures += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return { ...summarize(latencies), failures, rps: latencies.length / seconds, concurrency };
}

export async function run({ scratch, progress }) {
  const cert = scratch.path("webhook.crt");
  const key = scratch.path("webhook.key");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=hookinit-webhook.bench",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  const server = spawn(
    HOOKINIT,
    [
      "webhook",
      "--cert",
      cert,
      "--key",
      key,
      "--listen",
      "127.0.0.1:0",
      "--image",
      "registry.example/hookinit:bench",
    ],
    { env: childEnv, stdio: ["ignore", "pipe", "ignore"] },
  );
  let out = "";
  server.stdout.on("data", (chunk) => {
    // Keep only the first lines: one log line per request follows.
    if (out.length < 4096) out += chunk;
  });
  try {
    const port = await waitFor(
      () =>
        /"msg":"webhook listening".*?"port":(\d+)|"port":(\d+).*?"msg":"webhook listening"/
          .exec(out)
          ?.slice(1)
          .find(Boolean),
      {
        timeoutMs: 15_000,
        what: "the webhook's listening line",
      },
    );
    const total = COUNTS.webhookRequests;
    progress(`figure 9: warm-up`);
    await load(Number(port), 1, Math.min(200, total));
    const rows = [];
    for (const concurrency of [1, 8]) {
      progress(`figure 9: ${total} requests, ${concurrency} at a time`);
      rows.push(await load(Number(port), concurrency, total));
    }
    const rss = Number(
      /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))?.[1],
    );
    return {
      id: 9,
      title: "Admission webhook (hookinit only)",
      method:
        `\`hookinit webhook\` (the built executable) on 127.0.0.1 with a self-signed P-256 certificate; the ` +
        `benchmark (Node, in this process) sends admission.k8s.io/v1 AdmissionReview requests for a typical ` +
        `pod (${JSON.stringify(TYPICAL_POD).length} bytes of JSON: one container with command, ports, env, ` +
        `resources, a readiness probe and an httpGet preStop) over HTTPS with keep-alive; every answer is ` +
        `checked to carry a JSONPatch. Latency is from the request's start to the end of the answer, as the ` +
        `client sees it; after a ${Math.min(200, total)}-request warm-up, ${total} requests at each ` +
        `concurrency. The client shares the machine's 2 cores with the server, so the figures are a floor.`,
      tables: [
        {
          columns: ["concurrent requests", "n", "failures", "requests/s", "median", "p99", "max"],
          rows: rows.map((r) => [
            r.concurrency,
            r.n,
            r.failures,
            fmtInt(r.rps),
            fmtNs(r.median),
            fmtNs(r.p99),
            fmtNs(r.max),
          ]),
        },
      ],
      notes: [`The webhook's RSS after the run: ${fmtInt(rss)} KiB.`],
      metrics: { rows, rssKiB: rss },
    };
  } finally {
    server.kill("SIGTERM");
  }
}
