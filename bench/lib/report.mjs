// Writes docs/benchmarks.md from the figures' results.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { COUNTS, HOOKINITS, INITS, QUICK } from "./config.mjs";
import { fmtInt, fmtKiB, fmtNs, fmtRatio, ratio } from "./stats.mjs";

const cell = (value) =>
  String(value ?? "")
    .replaceAll("|", "\\|")
    .replaceAll("\n", " ");

/** A Markdown table; `align` holds each column's separator ("---", "--:"), left-aligned by default. */
export function table(columns, rows, align = columns.map(() => "---")) {
  return [
    `| ${columns.map(cell).join(" | ")} |`,
    `| ${align.join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ].join("\n");
}

/** One line per figure: every init's headline number and each hookinit column ÷ tini. */
function summaryTable(byId) {
  const rows = [];
  const perInit = (label, values, format) => {
    const tini = values.tini;
    rows.push([
      label,
      ...INITS.map((init) => format(values[init])),
      ...HOOKINITS.map(({ init }) => fmtRatio(ratio(values[init], tini))),
    ]);
  };
  const pick = (metrics, key) =>
    Object.fromEntries(INITS.map((init) => [init, metrics?.[init]?.[key]]));
  const f1 = byId[1]?.metrics;
  if (f1) {
    perInit("1. start to program, PID 1 (median)", pick(f1.pid1, "median"), fmtNs);
    perInit("1. start to program, plain child (median)", pick(f1.child, "median"), fmtNs);
  }
  const f2 = byId[2]?.metrics;
  if (f2) {
    for (const signal of ["SIGUSR1", "SIGUSR2"]) {
      for (const stat of ["median", "p99"]) {
        const values = Object.fromEntries(
          INITS.map((init) => [init, f2[`${init}/${signal}`]?.[stat]]),
        );
        const notForwarded = INITS.filter((init) => f2[`${init}/${signal}`]?.gaveUp !== undefined);
        rows.push([
          `2. ${signal} forwarding (${stat})`,
          ...INITS.map((init) =>
            notForwarded.includes(init) ? "not forwarded" : fmtNs(values[init]),
          ),
          ...HOOKINITS.map(({ init }) => fmtRatio(ratio(values[init], values.tini))),
        ]);
      }
    }
  }
  const f3 = byId[3]?.metrics;
  if (f3) {
    perInit("3. stop latency (median)", pick(f3, "median"), fmtNs);
    perInit("3. stop latency (p99)", pick(f3, "p99"), fmtNs);
  }
  const f4 = byId[4]?.metrics;
  if (f4) {
    perInit(
      `4. ${fmtInt(COUNTS.orphans)} orphans: until none left (median)`,
      Object.fromEntries(INITS.map((init) => [init, f4[init]?.total?.median])),
      fmtNs,
    );
    perInit("4. peak zombies (max over runs)", pick(f4, "peakZombies"), fmtInt);
  }
  const f5 = byId[5]?.metrics;
  if (f5) {
    const mem = (key) => Object.fromEntries(INITS.map((init) => [init, f5[init]?.[key]?.median]));
    perInit("5. idle RssAnon (median)", mem("rssAnon"), fmtKiB);
    perInit("5. idle VmRSS (median)", mem("vmRss"), fmtKiB);
  }
  // Figures only hookinit has: one cell per hookinit column, from `text(metrics of that column)`.
  const peers = INITS.filter((init) => !HOOKINITS.some((c) => c.init === init));
  const perColumn = (label, metrics, text) =>
    rows.push([
      label,
      ...peers.map(() => "n/a"),
      ...HOOKINITS.map(({ init }) => (metrics?.[init] ? text(metrics[init]) : "")),
      ...HOOKINITS.map(() => "n/a"),
    ]);
  const hookOnly = (label, text) =>
    rows.push([
      label,
      ...peers.map(() => "n/a"),
      text,
      ...HOOKINITS.slice(1).map(() => ""),
      ...HOOKINITS.map(() => "n/a"),
    ]);
  const f6 = byId[6]?.metrics;
  if (f6) {
    perColumn(
      "6. hook round trip, fresh preStop (median / p99)",
      f6,
      (m) => `${fmtNs(m.fresh.median)} / ${fmtNs(m.fresh.p99)}`,
    );
    perColumn(
      "6. hook round trip, joined postStart (median / p99)",
      f6,
      (m) => `${fmtNs(m.joined.median)} / ${fmtNs(m.joined.p99)}`,
    );
    perColumn(
      "6. client start / `hookinit --version` / `node -e 0` (median)",
      f6,
      (m) => `${fmtNs(m.client.median)} / ${fmtNs(m.version.median)} / ${fmtNs(m.node.median)}`,
    );
  }
  const f7 = byId[7]?.metrics;
  if (f7) {
    const callers = Object.values(f7)[0]?.callers;
    perColumn(
      `7. ${callers} concurrent preStop calls: total (median), failures`,
      f7,
      (m) => `${fmtNs(m.fresh.median)}, ${m.fresh.failures} failed`,
    );
    perColumn(
      `7. ${callers} concurrent postStart calls: total (median), failures`,
      f7,
      (m) => `${fmtNs(m.joined.median)}, ${m.joined.failures} failed`,
    );
  }
  const f8 = byId[8]?.metrics;
  if (f8) {
    for (const hook of ["postStart", "preStop"]) {
      perColumn(`8. hook output, ${hook} (lines/s median; lost; order)`, f8, (metrics) => {
        const m = metrics[hook];
        return m
          ? `${fmtInt(m.linesPerSecond.median)}/s; ${fmtInt(m.lost)} lost; ${m.inOrder ? "in order" : "out of order"}`
          : "";
      });
    }
  }
  const f10 = byId[10]?.metrics;
  if (f10) {
    for (const [key, label] of [
      ["ready/c", "`ready`, C client"],
      ["ready/ts", "`ready`, TypeScript client"],
    ]) {
      const m = f10[key];
      if (m)
        hookOnly(
          `10. ${label} (CPU; peak memory)`,
          `${fmtNs(m.cpu.median)}; ${fmtKiB(m.rss.median)}`,
        );
    }
    if (f10.http?.n) hookOnly("10. `GET /ready` (p99)", fmtNs(f10.http.p99));
  }
  return table(["figure", ...INITS, ...HOOKINITS.map(({ init }) => `${init} ÷ tini`)], rows);
}

/** The targets next to what this run reached, for each hookinit column. */
function targetsTable(byId, machine) {
  const rows = [];
  const verdict = (ok) => (ok === undefined ? "not measured" : ok ? "met" : "**missed**");
  const MiB = 1024;
  for (const { init, label } of HOOKINITS) {
    const add = (target, reached, ok) => rows.push([label, target, reached, verdict(ok)]);
    const f5 = byId[5]?.metrics?.[init];
    if (f5) {
      add("idle RssAnon ≤ 4 MiB", fmtKiB(f5.rssAnon.median), f5.rssAnon.median <= 4 * MiB);
      add("idle VmRSS ≤ 30 MiB", fmtKiB(f5.vmRss.median), f5.vmRss.median <= 30 * MiB);
    }
    const f1 = byId[1]?.metrics;
    if (f1?.pid1?.[init]) {
      const r = ratio(f1.pid1[init].median, f1.pid1.tini.median);
      add(
        "start to program, PID 1 ≤ 10 × tini",
        `${fmtNs(f1.pid1[init].median)} vs ${fmtNs(f1.pid1.tini.median)}: ${fmtRatio(r)}`,
        r === undefined ? undefined : r <= 10,
      );
    }
    const f6 = byId[6]?.metrics?.[init];
    if (f6) {
      add(
        "fresh preStop round trip (handler `true`) ≤ 25 ms",
        fmtNs(f6.fresh.median),
        f6.fresh.median <= 25e6,
      );
      const r = ratio(f6.joined.median, f6.client.median);
      add(
        "joined hook round trip ≤ 1.1 × client start",
        `${fmtNs(f6.joined.median)} vs ${fmtNs(f6.client.median)}: ${fmtRatio(r)}`,
        r === undefined ? undefined : r <= 1.1,
      );
    }
    const f3 = byId[3]?.metrics;
    if (f3?.[init]) {
      const r = ratio(f3[init].median, f3.tini.median);
      add(
        "stop latency, no hooks ≤ 5 × tini",
        `${fmtNs(f3[init].median)} vs ${fmtNs(f3.tini.median)}: ${fmtRatio(r)}`,
        r === undefined ? undefined : r <= 5,
      );
    }
    const size = machine.sizes?.[init];
    if (size) {
      add(
        "directory (executable + helper + libraries) ≤ 110 MB, no library from the image",
        `${(size.bytes / 1e6).toFixed(1)} MB (${(size.bytes / 2 ** 20).toFixed(1)} MiB), ${size.files} files`,
        size.bytes <= 110e6,
      );
    }
    // The rest must be no worse than before: the earlier targets.
    const f2 = byId[2]?.metrics;
    if (f2?.[`${init}/SIGUSR1`]) {
      const m = f2[`${init}/SIGUSR1`];
      const forwarded = m.gaveUp === undefined && m.lost === 0;
      add(
        "signal forwarding p99 < 1 ms (SIGUSR1)",
        forwarded ? fmtNs(m.p99) : "not forwarded",
        forwarded && m.p99 < 1e6,
      );
    }
    const f4 = byId[4]?.metrics?.[init];
    if (f4) {
      add(
        "peak zombies < 1% of orphans made",
        `${fmtInt(f4.peakZombies)} of ${fmtInt(f4.orphans)}`,
        f4.peakZombies < f4.orphans / 100 && f4.left === 0,
      );
    }
    const f8 = byId[8]?.metrics?.[init];
    for (const hook of ["postStart", "preStop"]) {
      const m = f8?.[hook];
      if (!m) continue;
      add(
        `hook output ≥ 200,000 lines/s, nothing lost (${hook})`,
        `${fmtInt(m.linesPerSecond.median)} lines/s, ${fmtInt(m.lost)} lost`,
        m.linesPerSecond.median >= 200_000 && m.lost === 0 && m.inOrder,
      );
    }
  }
  const f10 = byId[10]?.metrics;
  if (f10) {
    for (const command of ["ready", "status", "hook"]) {
      const m = f10[`${command}/c`];
      if (!m) continue;
      rows.push([
        "C client",
        `\`${command}\`: ≤ 5 ms CPU and ≤ 4 MiB peak per call`,
        `${fmtNs(m.cpu.median)} (p99 ${fmtNs(m.cpu.p99)}), ${fmtKiB(m.rss.max)} at most`,
        verdict(m.failures === 0 && m.cpu.p99 <= 5e6 && m.rss.max <= 4096),
      ]);
    }
    if (f10.http?.n) {
      rows.push([
        "hookinit (Bun)",
        "HTTP `GET /ready` p99 ≤ 1 ms (quiet machine)",
        `${fmtNs(f10.http.p99)}, ${f10.http.failures} not 200`,
        verdict(f10.http.failures === 0 && f10.http.p99 <= 1e6),
      ]);
    }
  }
  return table(["column", "target", "reached in this run", "verdict"], rows);
}

export function writeReport(path, { machine, figures, skipped, durationS }) {
  const byId = Object.fromEntries(figures.filter((f) => !f.error).map((f) => [f.id, f]));
  const load = (l) => l.map((x) => x.toFixed(2)).join(" ");
  const out = [];
  out.push("# Benchmarks: hookinit next to tini, dumb-init and catatonit");
  out.push("");
  out.push(
    `Written by \`npm run bench\` (\`bench/run.mjs\`) on ${machine.date.slice(0, 10)}, in one run that measured ` +
      `every init side by side, so each ratio compares numbers taken on the same machine at the same time. ` +
      `Rerun with \`npm run bench\` (as root: pid namespaces need it; this run took ${Math.ceil(durationS / 60)} ` +
      `min), or \`BENCH_QUICK=1 npm run bench\` for a smoke run of about a minute with fewer samples. Every ` +
      `count can be changed with an environment variable (see \`bench/README.md\`).`,
  );
  out.push("");
  out.push(
    "Times are CLOCK_MONOTONIC differences. Medians and p99s are nearest-rank over the samples; with fewer than " +
      "100 samples the p99 is simply the largest. The machine is a 2-core VM that was running other work too " +
      "(see the load average), so single numbers are noisy; the ratios, measured in one interleaved run, are " +
      "the figures to compare.",
  );
  out.push("");
  out.push("## Machine");
  out.push("");
  out.push(
    table(
      ["", ""],
      [
        ["date", machine.date],
        [
          "CPU",
          `${machine.cpu}${machine.virtualization ? ` (${machine.virtualization} guest)` : ""}`,
        ],
        [
          "cores",
          `${machine.cores} (logical CPUs ${machine.logicalCpus}, \`nproc\` ${machine.nproc})`,
        ],
        ["memory", machine.memory],
        ["kernel", machine.kernel],
        ["OS", machine.os],
        [
          "load average (1/5/15 min) before / after",
          `${load(machine.loadBefore)} / ${load(machine.loadAfter)}`,
        ],
        [
          "hookinit",
          `${Object.entries(machine.hookinitRuntimes ?? {})
            .map(([init, version]) => `${init}: ${version}`)
            .join("; ")}${machine.git ? `; git ${machine.git}` : ""}`,
        ],
        [
          "directories",
          Object.entries(machine.sizes ?? {})
            .map(([init, size]) => `${init}: \`${size.dir}\` ${(size.bytes / 1e6).toFixed(1)} MB`)
            .join("; "),
        ],
        [
          "Node for the `node -e 0` references",
          `${machine.node} (\`${machine.nodePath.replace(/.*node_modules/, "node_modules")}\`)`,
        ],
        ...Object.entries(machine.peers).map(([name, version]) => [name, version]),
        [
          "run",
          `${QUICK ? "BENCH_QUICK=1 (smoke run)" : "full"}; ${Math.round(durationS)} s in all`,
        ],
        [
          "counts",
          Object.entries(COUNTS)
            .map(([k, v]) => `${k} ${v}`)
            .join(", "),
        ],
      ],
    ),
  );
  out.push("");
  if (machine.distStale) {
    out.push(
      "**Warning:** `dist/hookinit/` was older than the newest file in src/ or native/ when this ran; " +
        "run `npm run build` and measure again.",
    );
    out.push("");
  }
  if (skipped.length > 0) {
    out.push(`Not measured in this run (BENCH_ONLY): figures ${skipped.join(", ")}.`);
    out.push("");
  }
  out.push("## Summary");
  out.push("");
  out.push(summaryTable(byId));
  out.push("");
  out.push(
    "tini, dumb-init and catatonit have no lifecycle hooks and no control socket, so figures 6 to 8 are n/a for them.",
  );
  out.push("");
  out.push("## Targets");
  out.push("");
  out.push(targetsTable(byId, machine));
  out.push("");
  out.push(
    "The verdicts only compare numbers; nothing in the benchmark fails on them. A ratio within a few percent " +
      "of its target can land on either side in another run on this noisy machine.",
  );
  out.push("");
  for (const figure of figures) {
    out.push(`## ${figure.id}. ${figure.title}`);
    out.push("");
    if (figure.error) {
      out.push(`This figure failed in this run: ${figure.error}`);
      out.push("");
      continue;
    }
    out.push(`Method: ${figure.method}`);
    out.push("");
    for (const t of figure.tables) {
      if (t.caption) {
        out.push(`${t.caption}:`);
        out.push("");
      }
      out.push(table(t.columns, t.rows));
      out.push("");
    }
    for (const note of figure.notes ?? []) {
      out.push(note);
      out.push("");
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${out.join("\n").trimEnd()}\n`);
}
