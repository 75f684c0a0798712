// Figure 1: start to program. From the execve() of the init to the first
// instruction of the program it starts (a static stand-in for /bin/true).
import { existsSync, rmSync } from "node:fs";
import { COUNTS, HOOKINITS, helper, INITS, node24 } from "../lib/config.mjs";
import { initArgv, launchArgs, readNumber, rotate, runSync, wall } from "../lib/proc.mjs";
import { fmtNs, fmtRatio, ratio, summarize } from "../lib/stats.mjs";

const MODES = [
  { mode: "pid1", label: "PID 1 of a new pid namespace" },
  { mode: "child", label: "plain child process" },
];

/** One start: launch records t0 before exec of the init, stamp records t1. */
function sample(scratch, init, mode) {
  const t0File = scratch.path("t0");
  const t1File = scratch.path("t1");
  const program = [helper("stamp"), t1File];
  const argv =
    init === "none"
      ? program
      : [...initArgv(init, { mode, socket: scratch.path("control.sock") }), ...program];
  const result = runSync(helper("launch"), launchArgs({ mode, stamp: t0File }, argv), {
    stdout: "ignore",
    timeoutMs: 60_000,
  });
  const t0 = readNumber(t0File);
  const t1 = readNumber(t1File);
  for (const file of [t0File, t1File]) if (existsSync(file)) rmSync(file);
  if (t0 === undefined || t1 === undefined || result.status !== 0) {
    return { error: `exit ${result.status}${result.stderr ? `: ${result.stderr.trim()}` : ""}` };
  }
  return { ns: t1 - t0 };
}

export async function run({ scratch, progress }) {
  const runs = COUNTS.startRuns;
  const variants = [];
  for (const { mode } of MODES)
    for (const init of ["none", ...INITS]) variants.push({ init, mode });
  const samples = new Map(variants.map((v) => [`${v.init}/${v.mode}`, []]));
  const errors = new Map();
  const references = {
    "node -e 0": { argv: [node24(), "-e", "0"], samples: [] },
    ...Object.fromEntries(
      HOOKINITS.map(({ init, exe }) => [
        `${init} --version`,
        { argv: [exe, "--version"], samples: [] },
      ]),
    ),
  };

  for (let i = 0; i < runs; i++) {
    if (i % 10 === 0) progress(`figure 1: round ${i + 1}/${runs}`);
    // Interleaved and rotated, so that background noise falls on all alike.
    for (const { init, mode } of rotate(variants, i)) {
      const outcome = sample(scratch, init, mode);
      if (outcome.error) errors.set(`${init}/${mode}`, outcome.error);
      else samples.get(`${init}/${mode}`).push(outcome.ns);
    }
    for (const ref of Object.values(references)) {
      const { runs: timed } = wall(ref.argv);
      if (timed[0].exit === 0) ref.samples.push(timed[0].ns);
    }
  }

  const node = summarize(references["node -e 0"].samples);
  const tables = MODES.map(({ mode, label }) => {
    const tini = summarize(samples.get(`tini/${mode}`));
    const rows = ["none", ...INITS].map((init) => {
      const s = summarize(samples.get(`${init}/${mode}`));
      const name = init === "none" ? "no init (program exec'd directly)" : init;
      const error = errors.get(`${init}/${mode}`);
      return [
        name,
        s.n,
        fmtNs(s.median),
        fmtNs(s.p99),
        fmtRatio(ratio(s.median, tini.median)),
        fmtRatio(ratio(s.p99, tini.p99)),
        fmtRatio(ratio(s.median, node.median)),
        error ? `failures, last: ${error}` : "",
      ];
    });
    return {
      caption: `Start to program, init as ${label}`,
      columns: [
        "init",
        "n",
        "median",
        "p99",
        "median ÷ tini",
        "p99 ÷ tini",
        "median ÷ node -e 0",
        "notes",
      ],
      rows,
    };
  });
  tables.push({
    caption: "References: whole process, exec to exit (same Node 24 as the single executable)",
    columns: ["command", "n", "median", "p99"],
    rows: Object.entries(references).map(([name, ref]) => {
      const s = summarize(ref.samples);
      return [name, s.n, fmtNs(s.median), fmtNs(s.p99)];
    }),
  });

  const metric = (init, mode) => summarize(samples.get(`${init}/${mode}`));
  return {
    id: 1,
    title: "Start to program",
    method:
      "A small C launcher (`bench/c/launch.c`) reads CLOCK_MONOTONIC immediately before `execve()` of the init; " +
      "the program is `bench/c/stamp.c`, a static stand-in for `/bin/true` with its own `_start` that reads " +
      "CLOCK_MONOTONIC at its first instruction; the figure is the difference. Each init runs both as PID 1 of a " +
      "fresh pid namespace with its own /proc (the launcher does what `unshare --pid --fork --mount-proc` does, " +
      "then execs the init) and as a plain child (tini with `-s`); hookinit with its defaults plus `--socket` in " +
      "a scratch directory. Samples of all inits and modes are interleaved. The reference `node -e 0` is the " +
      "whole process (exec to exit, timed by `bench/c/wall.c`) of the Node 24 binary the single executable is " +
      "built from.",
    tables,
    metrics: {
      pid1: Object.fromEntries(INITS.map((init) => [init, metric(init, "pid1")])),
      child: Object.fromEntries(INITS.map((init) => [init, metric(init, "child")])),
      nodeE0: node,
      version: summarize(references["hookinit --version"].samples),
      versions: Object.fromEntries(
        HOOKINITS.map(({ init }) => [init, summarize(references[`${init} --version`].samples)]),
      ),
    },
  };
}
