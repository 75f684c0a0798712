// Figure 3: stop latency. SIGTERM to PID 1 until the init has exited, when
// the program dies on TERM at once and no preStop is configured.
import { COUNTS, helper, INITS } from "../lib/config.mjs";
import { mkfifo, rotate, runSync, startInit } from "../lib/proc.mjs";
import { fmtNs, fmtRatio, ratio, summarize } from "../lib/stats.mjs";

async function sample(scratch, init) {
  const fifo = scratch.path("fifo");
  mkfifo(fifo);
  const launched = startInit(scratch, { init, program: [helper("target"), fifo] });
  let result;
  try {
    result = runSync(
      helper("sigbench"),
      ["term", launched.pidfile, fifo, String(COUNTS.settleMs)],
      {
        timeoutMs: 120_000,
      },
    );
  } finally {
    // sigbench already sent SIGTERM; this only cleans up after a failure.
    await launched.stop({ timeoutMs: 5000 });
  }
  const ns = Number(result.stdout.trim());
  if (result.status !== 0 || !Number.isFinite(ns))
    return { error: result.stderr.trim() || `exit ${result.status}` };
  return { ns };
}

export async function run({ scratch, progress }) {
  const samples = Object.fromEntries(INITS.map((init) => [init, []]));
  const errors = {};
  for (let i = 0; i < COUNTS.stopRuns; i++) {
    if (i % 5 === 0) progress(`figure 3: round ${i + 1}/${COUNTS.stopRuns}`);
    for (const init of rotate(INITS, i)) {
      const outcome = await sample(scratch, init);
      if (outcome.error) errors[init] = outcome.error;
      else samples[init].push(outcome.ns);
    }
  }
  const tini = summarize(samples.tini);
  return {
    id: 3,
    title: "Stop latency",
    method:
      `Each sample starts a fresh init as PID 1 of a new pid namespace with \`bench/c/target.c\` as the program ` +
      `(SIGTERM keeps its default action, so it dies at once; hookinit has no --config, so no preStop). ` +
      `\`bench/c/sigbench.c term\` waits until the program is up plus ${COUNTS.settleMs} ms, opens a pidfd on ` +
      `the init, reads CLOCK_MONOTONIC, sends SIGTERM to the init and waits until the pidfd reports that the init ` +
      `has exited (for PID 1 that is after everything else in the namespace is gone). Inits are interleaved.`,
    tables: [
      {
        columns: ["init", "n", "median", "p99", "median ÷ tini", "p99 ÷ tini", "notes"],
        rows: INITS.map((init) => {
          const s = summarize(samples[init]);
          return [
            init,
            s.n,
            fmtNs(s.median),
            fmtNs(s.p99),
            fmtRatio(ratio(s.median, tini.median)),
            fmtRatio(ratio(s.p99, tini.p99)),
            errors[init] ? `failures, last: ${errors[init]}` : "",
          ];
        }),
      },
    ],
    metrics: Object.fromEntries(INITS.map((init) => [init, summarize(samples[init])])),
  };
}
