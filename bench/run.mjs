#!/usr/bin/env node
// `npm run bench`: measures hookinit next to tini, dumb-init and catatonit in
// one run and writes docs/benchmarks.md (raw numbers in .bench/results.json).
//
// Needs root (pid namespaces, apt-get). Installs the peers and gcc from
// Debian if they are missing, builds dist/ if it is missing, compiles the C
// helpers in bench/c/ into .bench/bin/, then measures the figures (start,
// memory, signals, reaping, hooks, output, stop, concurrency, webhook; the
// targets are in bench/lib/report.mjs). BENCH_QUICK=1 makes it a one-minute
// smoke run; see bench/README.md for every knob. Nothing here asserts anything about the numbers.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { relative } from "node:path";
import { BENCH_DIR, COUNTS, ONLY, QUICK, REPORT, RESULTS_JSON, ROOT } from "./lib/config.mjs";
import { killAllRunning, Scratch } from "./lib/proc.mjs";
import { writeReport } from "./lib/report.mjs";
import { compileHelpers, describeMachine, ensureDist, ensurePackages } from "./lib/setup.mjs";

const FIGURES = [
  { id: 1, title: "Start to program", module: "./figures/start.mjs" },
  { id: 2, title: "Signal forwarding latency", module: "./figures/signals.mjs" },
  { id: 3, title: "Stop latency", module: "./figures/stop.mjs" },
  { id: 4, title: "Zombie reaping", module: "./figures/reaping.mjs" },
  { id: 5, title: "Idle memory", module: "./figures/memory.mjs" },
  { id: 6, title: "Hook round trip (hookinit only)", module: "./figures/hooks.mjs" },
  { id: 7, title: "Concurrent hook calls (hookinit only)", module: "./figures/concurrent.mjs" },
  { id: 8, title: "Hook output throughput (hookinit only)", module: "./figures/output.mjs" },
  { id: 9, title: "Admission webhook (hookinit only)", module: "./figures/webhook.mjs" },
  { id: 10, title: "Probe and client cost (hookinit only)", module: "./figures/probes.mjs" },
];

const started = Date.now();
const progress = (message) =>
  process.stderr.write(
    `bench [${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}\n`,
  );

async function main() {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "run as root: every init runs as PID 1 of its own pid namespace (unshare needs CAP_SYS_ADMIN)",
    );
  }
  progress(`${QUICK ? "quick smoke run" : "full run"}; counts: ${JSON.stringify(COUNTS)}`);
  ensurePackages();
  ensureDist();
  compileHelpers();
  const machine = describeMachine();

  const scratch = new Scratch();
  const interrupted = (signal) => {
    process.stderr.write(`bench: ${signal}: stopping what is running\n`);
    killAllRunning();
    scratch.remove();
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);

  const figures = [];
  const skipped = [];
  try {
    for (const figure of FIGURES) {
      if (ONLY.length > 0 && !ONLY.includes(figure.id)) {
        skipped.push(figure.id);
        continue;
      }
      progress(`figure ${figure.id}: ${figure.title}`);
      try {
        const { run } = await import(figure.module);
        figures.push(await run({ scratch, progress }));
      } catch (error) {
        // One broken figure must not cost the others: it is reported as failed.
        progress(`figure ${figure.id} failed: ${error.stack ?? error}`);
        figures.push({ id: figure.id, title: figure.title, error: String(error.message ?? error) });
      }
    }
  } finally {
    killAllRunning();
    if (!process.env.BENCH_KEEP) scratch.remove();
  }

  machine.loadAfter = os.loadavg();
  const durationS = (Date.now() - started) / 1000;
  writeReport(REPORT, { machine, figures, skipped, durationS });
  mkdirSync(BENCH_DIR, { recursive: true });
  writeFileSync(
    RESULTS_JSON,
    `${JSON.stringify({ machine, counts: COUNTS, figures, durationS }, null, 2)}\n`,
  );
  progress(`wrote ${relative(ROOT, REPORT)} and ${relative(ROOT, RESULTS_JSON)}`);
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  killAllRunning();
  process.exit(1);
});
