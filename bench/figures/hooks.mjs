// Figure 6: hook round trip (hookinit only): from exec of `hookinit hook
// NAME` to its exit, with a no-op exec handler `true`; next to the client's
// own start (`hookinit ready` with no supervisor: the entry executable
// starts, finds no socket and exits), `hookinit --version` (the runtime's
// start) and `node -e 0`. Once per hookinit column (runtime).
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { COUNTS, HOOKINITS, hookinitExe, node24 } from "../lib/config.mjs";
import {
  clientEnv,
  hookinitStatus,
  rotate,
  sleep,
  startInit,
  waitFor,
  wall,
  writeHookConfig,
} from "../lib/proc.mjs";
import { fmtInt, fmtNs, fmtRatio, median, ratio, summarize } from "../lib/stats.mjs";

/** Starts a supervisor (PID 1 of a namespace, program sleeps) and waits for its socket. */
export async function startSupervisor(
  scratch,
  hooks,
  { stdout = "ignore", waitFor: state, init = "hookinit" } = {},
) {
  const config = writeHookConfig(scratch, hooks);
  const handle = startInit(scratch, {
    init,
    config,
    program: ["/bin/sleep", "3600"],
    stdout,
  });
  await waitFor(() => existsSync(handle.socket), {
    timeoutMs: 15_000,
    what: "hookinit's control socket",
  });
  if (state) {
    await waitFor(() => state(hookinitStatus(handle.socket)), {
      timeoutMs: 15_000,
      intervalMs: 20,
      what: "hookinit's status",
    });
  }
  return handle;
}

/** The supervisor's JSON log records about one hook with one message, e.g. "hook finished". */
export function hookRecords(logFile, hook, msg) {
  const records = [];
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes(`"${msg}"`)) continue;
    try {
      const record = JSON.parse(line);
      if (record.hook === hook && record.msg === msg) records.push(record);
    } catch {
      // Not one of hookinit's records.
    }
  }
  return records;
}

export const postStartDone = (status) => status?.hooks?.postStart?.state === "succeeded";

/** One hookinit column: its supervisor answers its own entry executable. */
async function measure(scratch, progress, init) {
  const chunk = 10;
  const exe = hookinitExe(init);
  const series = {
    joined: { argv: [exe, "hook", "postStart"], samples: [], failures: 0, stderr: "" },
    // No supervisor behind this socket: `ready` exits 1 at once. The C
    // client's own cost: exec, find no socket, exit.
    client: {
      argv: [exe, "ready"],
      expect: 1,
      env: clientEnv(scratch.path("nobody-listens.sock")),
      samples: [],
      failures: 0,
      stderr: "",
    },
    version: { argv: [exe, "--version"], samples: [], failures: 0, stderr: "" },
    node: { argv: [node24(), "-e", "0"], samples: [], failures: 0, stderr: "" },
    fresh: { samples: [], failures: 0, stderr: "", hookMs: [] },
  };
  const record = (entry, timed) => {
    for (const { ns, exit } of timed.runs) {
      if (exit === (entry.expect ?? 0)) entry.samples.push(ns);
      else entry.failures += 1;
    }
    if (timed.stderr && entry.expect === undefined) {
      entry.stderr = timed.stderr.trim().split("\n").slice(-2).join(" ");
    }
  };

  // Repeated calls against one supervisor whose postStart has finished.
  progress(`figure 6 (${init}): repeated postStart calls`);
  const supervisor = await startSupervisor(
    scratch,
    { postStart: ["true"] },
    { waitFor: postStartDone, init },
  );
  try {
    const env = clientEnv(supervisor.socket);
    for (let i = 0; i * chunk < COUNTS.hookRuns; i++) {
      for (const key of rotate(["joined", "client", "version", "node"], i)) {
        const entry = series[key];
        record(entry, wall(entry.argv, { count: chunk, env: entry.env ?? env }));
      }
    }
  } finally {
    await supervisor.stop();
  }

  // The first preStop call of a fresh supervisor: starts the run, runs `true`.
  for (let i = 0; i < COUNTS.freshHookRuns; i++) {
    if (i % 10 === 0) {
      progress(`figure 6 (${init}): fresh preStop ${i + 1}/${COUNTS.freshHookRuns}`);
    }
    const logFile = scratch.path("supervisor.log");
    const fd = openSync(logFile, "w");
    const fresh = await startSupervisor(scratch, { preStop: ["true"] }, { stdout: fd, init });
    try {
      await sleep(COUNTS.settleMs);
      record(series.fresh, wall([exe, "hook", "preStop"], { env: clientEnv(fresh.socket) }));
    } finally {
      await fresh.stop();
      closeSync(fd);
    }
    // How long the supervisor itself says the run took (load execa, spawn `true`, wait).
    const finished = hookRecords(logFile, "preStop", "hook finished")[0];
    if (finished) series.fresh.hookMs.push(finished.durationMs);
  }
  return series;
}

export async function run({ scratch, progress }) {
  const columns = [];
  for (const { init, label } of HOOKINITS) {
    columns.push({ init, label, series: await measure(scratch, progress, init) });
  }
  const chunk = 10;
  const tables = columns.map(({ label, series }) => {
    const client = summarize(series.client.samples);
    const version = summarize(series.version.samples);
    const node = summarize(series.node.samples);
    const row = (name, entry) => {
      const s = summarize(entry.samples);
      return [
        name,
        s.n,
        entry.failures ? `${entry.failures} (${entry.stderr})` : "0",
        fmtNs(s.median),
        fmtNs(s.p99),
        fmtRatio(ratio(s.median, client.median)),
        fmtRatio(ratio(s.median, version.median)),
        fmtRatio(ratio(s.median, node.median)),
        entry.hookMs?.length ? `${fmtInt(median(entry.hookMs))} ms` : "",
      ];
    };
    return {
      caption: label,
      columns: [
        "command",
        "n",
        "failures",
        "median",
        "p99",
        "median ÷ client start",
        "median ÷ hookinit --version",
        "median ÷ node -e 0",
        "the run inside the supervisor (median durationMs)",
      ],
      rows: [
        row("`hookinit hook preStop`, fresh supervisor (runs `true`)", series.fresh),
        row("`hookinit hook postStart`, joins the finished run (no handler)", series.joined),
        row("`hookinit ready`, no supervisor (the client's own start)", series.client),
        row("`hookinit --version` (the runtime's start)", series.version),
        row("`node -e 0`", series.node),
      ],
    };
  });
  const metricsOf = (series) => ({
    fresh: { ...summarize(series.fresh.samples), hookMs: median(series.fresh.hookMs) },
    joined: summarize(series.joined.samples),
    client: summarize(series.client.samples),
    version: summarize(series.version.samples),
    node: summarize(series.node.samples),
    failures: series.fresh.failures + series.joined.failures,
  });
  return {
    id: 6,
    title: "Hook round trip (hookinit only)",
    method:
      `hookinit runs as PID 1 of a pid namespace with \`/bin/sleep 3600\` as the program and \`--socket\` in a ` +
      `scratch directory; the client finds it through HOOKINIT_SOCKET. Every row is a whole process, exec to ` +
      `exit, timed by \`bench/c/wall.c\` (posix_spawn, waitpid), stdout to /dev/null. Fresh: a new supervisor ` +
      `configured with \`preStop: {exec: {command: ["true"]}}\` per sample, ${COUNTS.settleMs} ms after its ` +
      `socket appeared, then \`hookinit hook preStop\`: the call starts the run, the handler \`true\` runs, the ` +
      `result comes back (then the benchmark sends SIGTERM); the supervisor's own "hook finished" record gives the ` +
      `run's durationMs (from the request to the handler's exit, whole milliseconds). Joined: one supervisor configured with ` +
      `\`postStart: {exec: {command: ["true"]}}\` whose postStart has finished; each \`hookinit hook ` +
      `postStart\` joins the finished run and gets its result, so this is the round trip without the handler. ` +
      `The client's own start: \`hookinit ready\` with HOOKINIT_SOCKET naming a socket nobody listens on (the ` +
      `entry executable, which is the C client for hook, status and ready, starts, fails to connect and exits 1). ` +
      `\`hookinit --version\` starts the runtime. Joined calls and the references are interleaved in batches of ` +
      `${chunk}. One table per hookinit column; both use the same C client, so the columns differ in the supervisor.`,
    tables,
    notes: [
      "tini, dumb-init and catatonit: n/a. They have no lifecycle hooks and no control socket, so there is nothing to call; ratios to tini do not exist for this figure.",
    ],
    metrics: Object.fromEntries(columns.map(({ init, series }) => [init, metricsOf(series)])),
  };
}
