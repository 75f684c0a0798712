// Figure 10: what a probe or a client call costs the container (hookinit
// only). A readiness probe runs every periodSeconds in every container,
// inside the container's own cgroup, so its CPU time and peak memory are
// what the fleet pays. Rows: each client command through the entry
// executable as shipped (dist/hookinit), the TypeScript client on Node 24
// (dist/hookinit.cjs), and the C client (dist/hookinit-client); plus the
// HTTP GET /ready the kubelet sends itself, and what each costs the
// supervisor.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { COUNTS, HOOKINIT, helper, node24, ROOT } from "../lib/config.mjs";
import { clientEnv, rotate, runSync, startInit, waitFor, writeHookConfig } from "../lib/proc.mjs";
import { fmtInt, fmtNs, summarize } from "../lib/stats.mjs";
import { postStartDone } from "./hooks.mjs";

const C_CLIENT = join(ROOT, "dist", "hookinit-client");
const TS_CLIENT = [node24(), "--disable-sigusr1", join(ROOT, "dist", "hookinit.cjs")];
const PORT = 18_086;

/** `cost COUNT -- argv`: [{ ns, exit, cpuUs, maxrssKiB }] per run. */
function cost(argv, count, env) {
  const result = runSync(helper("cost"), [String(count), "--", ...argv], {
    env,
    timeoutMs: 600_000,
  });
  if (result.status !== 0) throw new Error(`cost ${argv.join(" ")}: ${result.stderr}`);
  return result.stdout
    .trim()
    .split("\n")
    .map((line) => {
      const [ns, exit, cpuUs, maxrssKiB] = line.split(" ").map(Number);
      return { ns, exit, cpuUs, maxrssKiB };
    });
}

/**
 * CPU time a process (all its threads) has used so far, in µs, from each
 * thread's /proc/PID/task/TID/schedstat (nanoseconds on the CPU).
 */
function cpuUsOf(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return ns / 1000;
}

export async function run({ scratch, progress }) {
  const runs = COUNTS.probeRuns;
  const chunk = 10;
  const commands = [
    { key: "ready", args: ["ready"] },
    { key: "status", args: ["status"] },
    { key: "hook", args: ["hook", "postStart"] },
  ];
  const clients = [
    { key: "entry", label: "`hookinit` (the entry executable as built)", argv: [HOOKINIT] },
    { key: "ts", label: "TypeScript client (Node 24, `hookinit.cjs`)", argv: TS_CLIENT },
    { key: "c", label: "C client (`native/client.c`, static)", argv: [C_CLIENT] },
  ];
  if (!existsSync(C_CLIENT)) throw new Error(`${C_CLIENT} is missing: run npm run build`);

  const config = writeHookConfig(scratch, { postStart: ["true"] });
  const supervisor = startInit(scratch, {
    init: "hookinit",
    config,
    program: ["/bin/sleep", "3600"],
    launcher: ["/usr/bin/env", `HOOKINIT_READY_ADDRESS=127.0.0.1:${PORT}`],
  });
  const samples = {};
  const serverCpu = {};
  let http;
  let httpServerCpuUs;
  try {
    const env = clientEnv(supervisor.socket);
    await waitFor(() => existsSync(supervisor.socket), {
      timeoutMs: 15_000,
      what: "hookinit's socket",
    });
    await waitFor(
      () => {
        const r = runSync(C_CLIENT, ["status"], { env, timeoutMs: 10_000 });
        return r.status === 0 && postStartDone(JSON.parse(r.stdout));
      },
      { timeoutMs: 15_000, intervalMs: 20, what: "postStart to finish" },
    );
    const pid = supervisor.pid();
    for (const command of commands) {
      for (const client of clients) {
        samples[`${command.key}/${client.key}`] = [];
        serverCpu[`${command.key}/${client.key}`] = { us: 0, calls: 0 };
      }
    }
    for (let i = 0; i * chunk < runs; i++) {
      if (i % 5 === 0) progress(`figure 10: client calls ${i * chunk}/${runs}`);
      for (const command of commands) {
        for (const client of rotate(clients, i)) {
          const key = `${command.key}/${client.key}`;
          const before = cpuUsOf(pid);
          samples[key].push(...cost([...client.argv, ...command.args], chunk, env));
          serverCpu[key].us += cpuUsOf(pid) - before;
          serverCpu[key].calls += chunk;
        }
      }
    }
    progress("figure 10: HTTP GET /ready");
    const probes = COUNTS.httpProbes;
    runSync(helper("httpget"), [String(PORT), "200"], { timeoutMs: 60_000 }); // warm-up
    const before = cpuUsOf(pid);
    const result = runSync(helper("httpget"), [String(PORT), String(probes)], {
      timeoutMs: 600_000,
    });
    httpServerCpuUs = (cpuUsOf(pid) - before) / probes;
    if (result.status !== 0) throw new Error(`httpget: ${result.stderr}`);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => line.split(" ").map(Number));
    http = {
      ...summarize(lines.map(([ns]) => ns)),
      failures: lines.filter(([, status]) => status !== 200).length,
    };
  } finally {
    await supervisor.stop();
  }

  const metrics = { http: { ...http, serverCpuUs: httpServerCpuUs } };
  const rows = [];
  for (const command of commands) {
    for (const client of clients) {
      const key = `${command.key}/${client.key}`;
      const list = samples[key];
      const failures = list.filter((s) => s.exit !== 0).length;
      const cpu = summarize(list.map((s) => s.cpuUs * 1000));
      const rss = summarize(list.map((s) => s.maxrssKiB));
      const wall = summarize(list.map((s) => s.ns));
      const server = serverCpu[key].us / serverCpu[key].calls;
      metrics[key] = { cpu, rss, wall, failures, serverCpuUs: server };
      rows.push([
        `\`${command.args.join(" ")}\``,
        client.label,
        cpu.n,
        failures,
        fmtNs(cpu.median),
        fmtNs(cpu.p99),
        `${(rss.median / 1024).toFixed(1)} MiB`,
        `${(rss.max / 1024).toFixed(1)} MiB`,
        fmtNs(wall.median),
        fmtNs(server * 1000),
      ]);
    }
  }
  rows.push([
    "`GET /ready` (httpGet probe)",
    "sent by the kubelet: no process in the container",
    http.n,
    http.failures,
    "0",
    "0",
    "0",
    "0",
    `${fmtNs(http.median)} (p99 ${fmtNs(http.p99)})`,
    fmtNs(httpServerCpuUs * 1000),
  ]);
  return {
    id: 10,
    title: "Probe and client cost (hookinit only)",
    method:
      `One supervisor (PID 1 of a pid namespace, \`/bin/sleep 3600\`, \`postStart: true\` finished, ` +
      `\`HOOKINIT_READY_ADDRESS=127.0.0.1:${PORT}\`). Each client call is a whole process run by ` +
      `\`bench/c/cost.c\` (posix_spawn, then wait4): CPU is that child's user + system time from its rusage, ` +
      `peak memory its ru_maxrss (resident set, shared pages of the executable included), one after another ` +
      `in batches of ${chunk}, the three clients interleaved. "Supervisor CPU per call" is the supervisor's own ` +
      `CPU time (every thread's /proc/PID/task/TID/schedstat) over all calls of that row, divided by their number: ` +
      `what answering costs the container besides the client. \`GET /ready\`: \`bench/c/httpget.c\` sends ` +
      `${fmtInt(COUNTS.httpProbes)} probes as the kubelet does (a new TCP connection each, Connection: close), ` +
      `one after another; latency from connect() to the server's close.`,
    tables: [
      {
        columns: [
          "command",
          "client",
          "n",
          "failures",
          "CPU median",
          "CPU p99",
          "peak memory median",
          "peak memory max",
          "wall median",
          "supervisor CPU per call",
        ],
        rows,
      },
    ],
    notes: [
      "Targets: ≤ 5 ms CPU and ≤ 4 MiB peak per exec call; HTTP /ready p99 ≤ 1 ms on a quiet machine.",
    ],
    metrics,
  };
}
