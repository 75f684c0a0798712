#!/usr/bin/env node
// The load of bench/shutdown: a tiny load balancer in front of ONE endpoint
// (a container's published port on 127.0.0.1), plus the clients behind it.
//
//   node bench/shutdown/load.mjs --port PORT [--rate 200] [--concurrency 64]
//     [--ready-interval 200] [--ready-failures 1] [--ready-timeout 1000]
//     [--request-timeout 5000] [--keepalive] [--max-ms 60000] [--discover-ms 30000]
//
// What it does, like an endpoint controller plus a load balancer:
//   1. Probes GET /ready every --ready-interval ms until it answers 200: the
//      endpoint joins the rotation (a readiness probe's first success).
//   2. While the endpoint is in rotation, sends GET / at a steady --rate per
//      second (open loop: the schedule does not wait for answers), at most
//      --concurrency at a time (a tick over the limit is counted as skipped),
//      each on a new connection (or on a keep-alive pool with --keepalive).
//   3. Keeps probing /ready every --ready-interval ms (a probe that is still
//      running when the next is due makes that one skipped). After
//      --ready-failures probes in a row that fail (non-200, connection error or
//      --ready-timeout), the endpoint leaves the rotation: no new request is
//      sent to it from then on, as Kubernetes removes a pod whose readiness
//      fails from its Service's endpoints.
//   4. Stops by itself once the endpoint has left the rotation and every
//      request sent has finished, or after --max-ms in rotation at most (then
//      what is still running is aborted and the result says timedOut).
//
// Only 127.0.0.1 is ever contacted. Output: JSON lines on stdout, one per
// event: {"event":"routing"}, {"event":"removed"}, then {"event":"result"}
// with the counters, every probe after the first success, and each failed
// request with its send and end times (epoch ms) and kind:
//   refused   the connection was refused (nothing listens any more)
//   connect   another error before the connection was established
//   cut       the connection was established but closed, reset or timed out
//             before a complete response: a request cut in flight
//   http      a complete response with a status other than 2xx
// Exit code 0 when the run went as described, 1 on a usage or setup error
// (the endpoint never became ready) or a timeout.
import http from "node:http";
import { parseArgs } from "node:util";

const HOST = "127.0.0.1";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    rate: { type: "string", default: "200" },
    concurrency: { type: "string", default: "64" },
    "ready-interval": { type: "string", default: "200" },
    "ready-failures": { type: "string", default: "1" },
    "ready-timeout": { type: "string", default: "1000" },
    "request-timeout": { type: "string", default: "5000" },
    keepalive: { type: "boolean", default: false },
    "max-ms": { type: "string", default: "60000" },
    "discover-ms": { type: "string", default: "30000" },
  },
});

function positive(name) {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`load: --${name} must be a positive number, got ${values[name]}\n`);
    process.exit(1);
  }
  return value;
}

if (values.port === undefined) {
  process.stderr.write("load: --port PORT is required (the endpoint is 127.0.0.1:PORT)\n");
  process.exit(1);
}
const options = {
  port: positive("port"),
  rate: positive("rate"),
  concurrency: positive("concurrency"),
  readyIntervalMs: positive("ready-interval"),
  readyFailures: positive("ready-failures"),
  readyTimeoutMs: positive("ready-timeout"),
  requestTimeoutMs: positive("request-timeout"),
  keepAlive: values.keepalive,
  maxMs: positive("max-ms"),
  discoverMs: positive("discover-ms"),
};

const emit = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

// Requests: one pool for the traffic, none for the probes (new connection
// each, as the kubelet's probes).
const agent = new http.Agent({
  keepAlive: options.keepAlive,
  maxSockets: options.concurrency,
});
const probeAgent = new http.Agent({ keepAlive: false });

/**
 * One GET to 127.0.0.1:PORT. Resolves (never rejects) to
 * { ok, kind, status, code, connected }.
 */
function get(path, { agent: through, timeoutMs }) {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      resolve({ connected, ...outcome });
    };
    const failure = (error) => {
      const code = error?.code ?? error?.message ?? String(error);
      if (!connected) {
        settle({ ok: false, kind: code === "ECONNREFUSED" ? "refused" : "connect", code });
      } else {
        settle({ ok: false, kind: "cut", code });
      }
    };
    const request = http.request({ host: HOST, port: options.port, path, agent: through });
    request.on("socket", (socket) => {
      if (!socket.connecting)
        connected = true; // a reused keep-alive connection
      else socket.once("connect", () => (connected = true));
    });
    request.setTimeout(timeoutMs, () => {
      const error = new Error("timeout");
      error.code = "TIMEOUT";
      request.destroy(error);
    });
    request.on("error", failure);
    request.on("response", (response) => {
      response.on("error", failure);
      response.on("aborted", () => failure({ code: "ABORTED" }));
      response.resume();
      response.on("end", () => {
        if (!response.complete) return failure({ code: "INCOMPLETE" });
        const ok = response.statusCode >= 200 && response.statusCode < 300;
        settle({ ok, kind: ok ? undefined : "http", status: response.statusCode });
      });
    });
    request.end();
  });
}

// --- State -------------------------------------------------------------------

const counters = {
  sent: 0,
  succeeded: 0,
  failed: 0,
  skipped: 0, // ticks not sent because --concurrency requests were running
  aborted: 0, // still running at --max-ms
  byKind: {},
  probes: 0,
  probesFailed: 0,
  probesSkipped: 0,
};
const failures = []; // { at, kind, code, status, sentAt }
const probes = []; // once routing: { sentAt, at, ok, status, code }
const running = new Set();
let inRotation = false;
let routingAt;
let removedAt;
let removedReason;
let consecutiveProbeFailures = 0;
let probePending = false;
let sendTimer;
let probeTimer;
let maxTimer;
let timedOut = false;
let gaveUp = false; // discovery ran out of time

function send() {
  if (running.size >= options.concurrency) {
    counters.skipped++;
    return;
  }
  counters.sent++;
  const sentAt = Date.now();
  const promise = get("/", { agent, timeoutMs: options.requestTimeoutMs }).then((outcome) => {
    running.delete(promise);
    if (outcome.ok) {
      counters.succeeded++;
    } else {
      counters.failed++;
      counters.byKind[outcome.kind] = (counters.byKind[outcome.kind] ?? 0) + 1;
      failures.push({
        at: Date.now(),
        sentAt,
        kind: outcome.kind,
        code: outcome.code,
        status: outcome.status,
      });
    }
    maybeFinish();
  });
  running.add(promise);
}

function startRouting() {
  inRotation = true;
  routingAt = Date.now();
  emit({ event: "routing", at: routingAt });
  // Open loop: every 5 ms, send what the schedule says is due by now.
  const periodMs = 1000 / options.rate;
  let due = 0;
  sendTimer = setInterval(() => {
    if (!inRotation) return;
    const target = Math.floor((Date.now() - routingAt) / periodMs) + 1;
    while (due < target) {
      due++;
      send();
    }
  }, 5);
  maxTimer = setTimeout(() => {
    timedOut = true;
    removeFromRotation(`still in rotation after --max-ms ${options.maxMs}`);
    // Abort what is still running; each counts as aborted, not as failed.
    counters.aborted = running.size;
    agent.destroy();
    finish();
  }, options.maxMs);
}

function removeFromRotation(reason) {
  if (!inRotation) return;
  inRotation = false;
  removedAt = Date.now();
  removedReason = reason;
  clearInterval(sendTimer);
  clearInterval(probeTimer);
  emit({ event: "removed", at: removedAt, reason, running: running.size });
  maybeFinish();
}

function probe() {
  if (probePending) {
    counters.probesSkipped++;
    return;
  }
  probePending = true;
  counters.probes++;
  const sentAt = Date.now();
  get("/ready", { agent: probeAgent, timeoutMs: options.readyTimeoutMs }).then((outcome) => {
    probePending = false;
    if (gaveUp || finished) return;
    if (routingAt !== undefined) {
      const { ok, status, code } = outcome;
      probes.push({ sentAt, at: Date.now(), ok: ok && status === 200, status, code });
    }
    if (outcome.ok && outcome.status === 200) {
      consecutiveProbeFailures = 0;
      if (routingAt === undefined) startRouting();
      return;
    }
    if (routingAt === undefined) return; // not discovered yet: keep trying
    counters.probesFailed++;
    consecutiveProbeFailures++;
    if (consecutiveProbeFailures >= options.readyFailures) {
      const why = outcome.status === undefined ? outcome.code : `HTTP ${outcome.status}`;
      removeFromRotation(`/ready failed ${consecutiveProbeFailures}x (last: ${why})`);
    }
  });
}

function maybeFinish() {
  if (!inRotation && routingAt !== undefined && running.size === 0) finish();
}

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  clearInterval(sendTimer);
  clearInterval(probeTimer);
  clearTimeout(maxTimer);
  emit({
    event: "result",
    options,
    routingAt,
    removedAt,
    removedReason,
    timedOut,
    ...counters,
    failures,
    probes,
  });
  process.exitCode = timedOut ? 1 : 0;
  agent.destroy();
  probeAgent.destroy();
}

// Discovery: probe until the first 200, for at most --discover-ms.
probeTimer = setInterval(probe, options.readyIntervalMs);
probe();
setTimeout(() => {
  if (routingAt !== undefined) return;
  gaveUp = true;
  clearInterval(probeTimer);
  process.stderr.write(
    `load: 127.0.0.1:${options.port}/ready did not answer 200 within ${options.discoverMs} ms\n`,
  );
  process.exitCode = 1;
}, options.discoverMs).unref();
