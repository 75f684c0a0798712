// Figure 2: signal forwarding latency. A signal sent to PID 1 from outside
// the namespace, until the program's handler runs.
import { COUNTS, helper, INITS } from "../lib/config.mjs";
import { mkfifo, runSync, startInit } from "../lib/proc.mjs";
import { fmtNs, fmtRatio, ratio, summarize } from "../lib/stats.mjs";

const SIGNALS = [
  { name: "SIGUSR1", number: 10, note: "the headline figure" },
  { name: "SIGUSR2", number: 12, note: "the same path with another signal, for comparison" },
];

/** One init, one signal: COUNT signals against one running init. */
async function measure(scratch, init, signal) {
  const fifo = scratch.path("fifo");
  mkfifo(fifo);
  const launched = startInit(scratch, { init, program: [helper("target"), fifo] });
  const { signals, signalWarmup, signalGapUs, settleMs } = COUNTS;
  let result;
  try {
    result = runSync(
      helper("sigbench"),
      [
        "signal",
        String(signal.number),
        launched.pidfile,
        fifo,
        String(signals),
        String(signalWarmup),
        String(signalGapUs),
        String(settleMs),
      ],
      { timeoutMs: 600_000 },
    );
  } finally {
    await launched.stop();
  }
  const lines = result.stdout.trim().split("\n");
  const latencies = lines.filter((line) => /^\d+$/.test(line)).map(Number);
  const lost = Number(/^lost (\d+)$/m.exec(result.stdout)?.[1] ?? 0);
  const gaveUp = /^gave up after (\d+)$/m.exec(result.stdout)?.[1];
  const problems = [result.status !== 0 ? result.stderr.trim() : "", launched.stderr()].filter(
    Boolean,
  );
  return { latencies, lost, gaveUp: gaveUp === undefined ? undefined : Number(gaveUp), problems };
}

export async function run({ scratch, progress }) {
  const results = {};
  for (const signal of SIGNALS) {
    for (const init of INITS) {
      progress(`figure 2: ${init}, ${signal.name}`);
      results[`${init}/${signal.name}`] = await measure(scratch, init, signal);
    }
  }
  const tables = SIGNALS.map((signal) => {
    const tini = summarize(results[`tini/${signal.name}`].latencies);
    return {
      caption: `${signal.name} (${signal.note})`,
      columns: ["init", "n", "lost", "median", "p99", "median ÷ tini", "p99 ÷ tini", "notes"],
      rows: INITS.map((init) => {
        const r = results[`${init}/${signal.name}`];
        const s = summarize(r.latencies);
        const notes = [];
        if (r.gaveUp !== undefined) {
          notes.push(
            `**not forwarded**: none of the first ${r.gaveUp} signals reached the program (the benchmark stops after 5 in a row)`,
          );
        }
        notes.push(...r.problems.map((p) => p.replaceAll("\n", " ")));
        return [
          init,
          s.n,
          r.lost,
          fmtNs(s.median),
          fmtNs(s.p99),
          fmtRatio(ratio(s.median, tini.median)),
          fmtRatio(ratio(s.p99, tini.p99)),
          notes.join("; "),
        ];
      }),
    };
  });
  return {
    id: 2,
    title: "Signal forwarding latency",
    method:
      `Each init runs as PID 1 of a fresh pid namespace with \`bench/c/target.c\` as the program, whose signal ` +
      `handler reads CLOCK_MONOTONIC and writes it to a FIFO. From outside the namespace \`bench/c/sigbench.c\` ` +
      `waits until the program is up plus ${COUNTS.settleMs} ms, then ${COUNTS.signalWarmup} warm-up and ` +
      `${COUNTS.signals} measured times reads the clock, sends the signal to the init's pid with kill(), and ` +
      `reads the handler's timestamp; the next signal goes ${COUNTS.signalGapUs} µs after the previous one ` +
      `arrived. A signal whose handler has not run within 1 s counts as lost.`,
    tables,
    metrics: Object.fromEntries(
      Object.entries(results).map(([key, r]) => [
        key,
        { ...summarize(r.latencies), lost: r.lost, gaveUp: r.gaveUp },
      ]),
    ),
  };
}
