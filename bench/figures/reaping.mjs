// Figure 4: zombie reaping. A program makes N orphans that exit at once;
// how long until the init has reaped them all, and how many zombies piled up.
import { readFileSync } from "node:fs";
import { COUNTS, helper, INITS } from "../lib/config.mjs";
import { rotate, startInit } from "../lib/proc.mjs";
import { fmtInt, fmtNs, fmtRatio, median, ratio, summarize } from "../lib/stats.mjs";

function parse(path) {
  try {
    const fields = {};
    for (const line of readFileSync(path, "utf8").trim().split("\n")) {
      const [key, value] = line.split(" ");
      fields[key] = Number(value);
    }
    return fields;
  } catch {
    return undefined;
  }
}

async function sample(scratch, init) {
  const out = scratch.path("orphans.txt");
  const launched = startInit(scratch, {
    init,
    program: [helper("orphans"), String(COUNTS.orphans), out, String(COUNTS.reapIntervalUs)],
  });
  const timer = setTimeout(() => launched.kill("SIGKILL"), 600_000);
  const exit = await launched.exited;
  clearTimeout(timer);
  const fields = parse(out);
  if (fields === undefined)
    return { error: `no result (exit ${exit.code ?? exit.signal}) ${launched.stderr()}` };
  return {
    total: fields.end - fields.start,
    create: fields.done - fields.start,
    drain: fields.end - fields.done,
    peakZombies: fields.peak_zombies,
    peakUnreaped: fields.peak_unreaped,
    samples: fields.samples,
    left: fields.left,
    cpuMs: fields.init_cpu_ms >= 0 ? fields.init_cpu_ms : undefined,
    stderr: launched.stderr(),
  };
}

export async function run({ scratch, progress }) {
  const results = Object.fromEntries(INITS.map((init) => [init, []]));
  const errors = {};
  for (let i = 0; i < COUNTS.reapRuns; i++) {
    for (const init of rotate(INITS, i)) {
      progress(`figure 4: ${init}, run ${i + 1}/${COUNTS.reapRuns}`);
      const outcome = await sample(scratch, init);
      if (outcome.error) errors[init] = outcome.error;
      else results[init].push(outcome);
    }
  }
  const pick = (init, key) => results[init].map((r) => r[key]);
  const tiniTotal = median(pick("tini", "total"));
  const tiniPeak = median(pick("tini", "peakZombies"));
  const onePercent = COUNTS.orphans / 100;
  return {
    id: 4,
    title: "Zombie reaping",
    method:
      `Each init runs as PID 1 of a fresh pid namespace; the program \`bench/c/orphans.c\` forks a sampler, then ` +
      `makes ${fmtInt(COUNTS.orphans)} orphans (fork a child that forks a grandchild and exits; the program ` +
      `reaps the child; the grandchild exits at once and is reparented to PID 1). The sampler scans the ` +
      `namespace's /proc every ${COUNTS.reapIntervalUs} µs and counts PID 1's children other than the program ` +
      `and itself: zombies (state Z) and all unreaped orphans. "Until none left" runs from the first fork to the ` +
      `first scan after the last orphan was made that finds none; "after the last" is the part after the last ` +
      `orphan was made. "Init CPU time" is the user+system time of the init (all its threads) over that span, ` +
      `from /proc/PID/stat (10 ms resolution): on 2 cores an init that burns CPU per orphan slows the program that makes them. ${COUNTS.reapRuns} run(s) per init; the table shows medians over runs and the largest peak.`,
    tables: [
      {
        columns: [
          "init",
          "runs",
          "until none left (median)",
          "after the last orphan",
          "making them took",
          "peak zombies (median / max)",
          "peak unreaped",
          "init CPU time (median)",
          "until none left ÷ tini",
          "peak zombies ÷ tini",
          "notes",
        ],
        rows: INITS.map((init) => {
          const total = median(pick(init, "total"));
          const peak = median(pick(init, "peakZombies"));
          const notes = [];
          const left = Math.max(0, ...pick(init, "left"));
          if (left > 0) notes.push(`${left} orphans were still unreaped after 300 s`);
          if (errors[init]) notes.push(`failures, last: ${errors[init]}`);
          return [
            init,
            results[init].length,
            fmtNs(total),
            fmtNs(median(pick(init, "drain"))),
            fmtNs(median(pick(init, "create"))),
            `${fmtInt(peak)} / ${fmtInt(Math.max(...pick(init, "peakZombies")))}`,
            fmtInt(Math.max(...pick(init, "peakUnreaped"))),
            Number.isFinite(median(pick(init, "cpuMs")))
              ? `${fmtInt(median(pick(init, "cpuMs")))} ms`
              : "n/a",
            fmtRatio(ratio(total, tiniTotal)),
            fmtRatio(ratio(peak, tiniPeak)),
            notes.join("; "),
          ];
        }),
      },
    ],
    notes: [
      `Target for hookinit: peak zombies under 1% of the orphans made (${fmtInt(onePercent)}).`,
    ],
    metrics: Object.fromEntries(
      INITS.map((init) => [
        init,
        {
          total: summarize(pick(init, "total")),
          drain: summarize(pick(init, "drain")),
          peakZombies: Math.max(...pick(init, "peakZombies")),
          peakZombiesMedian: median(pick(init, "peakZombies")),
          left: Math.max(0, ...pick(init, "left")),
          orphans: COUNTS.orphans,
        },
      ]),
    ),
  };
}
