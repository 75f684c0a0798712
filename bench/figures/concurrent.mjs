// Figure 7: 100 concurrent hook calls (hookinit only): total time and failures.
import { closeSync, openSync } from "node:fs";
import { COUNTS, hookinitExe, perHookinitColumn } from "../lib/config.mjs";
import { clientEnv, sleep, wall } from "../lib/proc.mjs";
import { fmtNs, fmtRatio, ratio, summarize } from "../lib/stats.mjs";
import { hookRecords, postStartDone, startSupervisor } from "./hooks.mjs";

async function runFor(init, { scratch, progress }) {
  const HOOKINIT = hookinitExe(init);
  const n = COUNTS.concurrent;
  const series = {
    fresh: { totals: [], failures: 0, codes: new Set(), runsOfHook: [] },
    joined: { totals: [], failures: 0, codes: new Set() },
    version: { totals: [], failures: 0, codes: new Set() },
  };
  const record = (entry, batch) => {
    entry.totals.push(batch.ns);
    entry.failures += batch.failures;
    for (const code of batch.codes) entry.codes.add(code);
    if (batch.stderr) entry.stderr = batch.stderr.trim().split("\n").slice(-2).join(" ");
  };

  for (let round = 0; round < COUNTS.concurrentRuns; round++) {
    progress(`figure 7 (${init}): round ${round + 1}/${COUNTS.concurrentRuns}`);
    // N callers of preStop on a fresh supervisor: all must join one run.
    const logFile = scratch.path("supervisor.log");
    const fd = openSync(logFile, "w");
    const fresh = await startSupervisor(scratch, { preStop: ["true"] }, { stdout: fd, init });
    try {
      await sleep(COUNTS.settleMs);
      record(
        series.fresh,
        wall([HOOKINIT, "hook", "preStop"], {
          count: n,
          parallel: true,
          env: clientEnv(fresh.socket),
        }),
      );
    } finally {
      await fresh.stop();
      closeSync(fd);
    }
    series.fresh.runsOfHook.push(hookRecords(logFile, "preStop", "hook started").length);

    // N callers of postStart after it finished: all join the finished run.
    const joined = await startSupervisor(
      scratch,
      { postStart: ["true"] },
      { waitFor: postStartDone, init },
    );
    try {
      record(
        series.joined,
        wall([HOOKINIT, "hook", "postStart"], {
          count: n,
          parallel: true,
          env: clientEnv(joined.socket),
        }),
      );
    } finally {
      await joined.stop();
    }

    // Reference: N clients that only start and exit.
    record(series.version, wall([HOOKINIT, "--version"], { count: n, parallel: true }));
  }

  const version = summarize(series.version.totals);
  const row = (label, entry, extra = "") => {
    const s = summarize(entry.totals);
    const failures = entry.failures
      ? `${entry.failures} (exit codes ${[...entry.codes].join(", ")}${entry.stderr ? `; ${entry.stderr}` : ""})`
      : "0";
    return [
      label,
      s.n,
      failures,
      fmtNs(s.median),
      fmtNs(s.p99),
      fmtNs(s.median / n),
      fmtRatio(ratio(s.median, version.median)),
      extra,
    ];
  };
  const preStopRuns = [...new Set(series.fresh.runsOfHook)].join(", ");
  return {
    id: 7,
    title: `${n} concurrent hook calls (hookinit only)`,
    method:
      `\`bench/c/wall.c --parallel\` starts ${n} clients at once with posix_spawn and times from the first spawn ` +
      `to the last exit; a failure is a non-zero exit. Fresh: ${n} × \`hookinit hook preStop\` against a new ` +
      `supervisor (preStop exec \`true\`, ${COUNTS.settleMs} ms after its socket appeared); all must join one ` +
      `run, which the supervisor's log confirms. Joined: ${n} × \`hookinit hook postStart\` against a supervisor ` +
      `whose postStart exec \`true\` has finished. Reference: ${n} × \`hookinit --version\` at once, i.e. the cost ` +
      `of starting that many Node processes on this machine. ${COUNTS.concurrentRuns} round(s) each.`,
    tables: [
      {
        columns: [
          "what",
          "rounds",
          "failures",
          "total median",
          "total p99",
          "per call",
          "÷ same number of --version",
          "notes",
        ],
        rows: [
          row(
            `${n} × \`hookinit hook preStop\`, fresh supervisor`,
            series.fresh,
            `preStop ran ${preStopRuns} time(s) per round`,
          ),
          row(`${n} × \`hookinit hook postStart\`, finished run`, series.joined),
          row(`${n} × \`hookinit --version\` (reference)`, series.version),
        ],
      },
    ],
    notes: ["tini, dumb-init and catatonit: n/a, they have no hooks to call."],
    metrics: {
      fresh: {
        ...summarize(series.fresh.totals),
        failures: series.fresh.failures,
        runsOfHook: series.fresh.runsOfHook,
      },
      joined: { ...summarize(series.joined.totals), failures: series.joined.failures },
      version: { ...version, failures: series.version.failures },
      callers: n,
    },
  };
}

/** Once per hookinit column (runtime). */
export const run = (context) => perHookinitColumn(runFor, context);
