// Figure 8: hook output throughput (hookinit only): lines per second from a
// handler into PID 1's stdout, with every line accounted for and in order.
import { createReadStream, existsSync, rmSync } from "node:fs";
import { createInterface } from "node:readline";
import { COUNTS, helper, hookinitExe, perHookinitColumn } from "../lib/config.mjs";
import {
  clientEnv,
  readNumber,
  sleep,
  startInit,
  waitFor,
  wall,
  writeHookConfig,
} from "../lib/proc.mjs";
import { fmtInt, fmtNs, summarize } from "../lib/stats.mjs";

/** Reads hookinit's stdout: the hook's stdout records, in order, and its "hook finished" record. */
async function checkLog(file, hook, expected) {
  let count = 0;
  let previous = 0;
  let disorder = 0;
  let finished;
  const lines = createInterface({
    input: createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) {
    if (!line.includes(`"hook":"${hook}"`)) continue;
    let record;
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    if (record.msg === "hook finished") finished = record;
    if (record.stream !== "stdout") continue;
    count += 1;
    const value = Number(record.msg);
    if (!(value === previous + 1)) disorder += 1;
    previous = value;
  }
  return { count, lost: expected - count, inOrder: disorder === 0 && count > 0, finished };
}

/** Reads the client's own copy: plain lines 1..N. */
async function checkClient(file, expected) {
  let count = 0;
  let disorder = 0;
  const lines = createInterface({
    input: createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of lines) {
    count += 1;
    if (line !== String(count)) disorder += 1;
  }
  return { count, lost: expected - count, inOrder: disorder === 0 && count > 0 };
}

async function sample(scratch, hook, init) {
  const n = COUNTS.lines;
  const stampFile = scratch.path("emit-start");
  const logFile = scratch.path("pid1-stdout.jsonl");
  const markFile = scratch.path("mark");
  const config = writeHookConfig(scratch, { [hook]: [helper("emit"), String(n), stampFile] });
  // capture owns PID 1's stdout pipe and notes when the handler's last line arrives.
  const launched = startInit(scratch, {
    init,
    config,
    program: ["/bin/sleep", "3600"],
    launcher: [helper("capture"), logFile, markFile, `"msg":"${n}"}`, "--"],
  });
  const waitMs = Math.max(60_000, n / 10);
  let client;
  let clientFile;
  let note = "";
  try {
    if (hook === "preStop") {
      await waitFor(() => existsSync(launched.socket), {
        timeoutMs: 15_000,
        what: "control socket",
      });
      await sleep(COUNTS.settleMs);
      clientFile = scratch.path("client-stdout.txt");
      client = wall([hookinitExe(init), "hook", "preStop"], {
        env: clientEnv(launched.socket),
        stdoutFile: clientFile,
      }).runs[0];
    }
    await waitFor(() => readNumber(markFile), {
      timeoutMs: waitMs,
      intervalMs: 50,
      what: "the last line",
    }).catch(() => {
      note = `the last line never reached PID 1's stdout within ${waitMs / 1000} s`;
    });
  } finally {
    await launched.stop();
  }
  const start = readNumber(stampFile);
  const mark = readNumber(markFile);
  const log = await checkLog(logFile, hook, n);
  const copy = clientFile ? await checkClient(clientFile, n) : undefined;
  for (const file of [logFile, clientFile]) if (file) rmSync(file, { force: true });
  const seconds = mark !== undefined && start !== undefined ? (mark - start) / 1e9 : undefined;
  return {
    n,
    linesPerSecond: seconds ? n / seconds : undefined,
    ns: seconds ? seconds * 1e9 : undefined,
    ownDurationMs: log.finished?.durationMs,
    exitCode: log.finished?.exitCode,
    log,
    copy,
    client,
    note,
  };
}

async function runFor(init, { scratch, progress }) {
  const cases = [
    { hook: "postStart", label: "postStart, run by the supervisor (container log only)" },
    {
      hook: "preStop",
      label: "preStop, called by `hookinit hook preStop` (container log and the client)",
    },
  ];
  const results = {};
  for (const { hook } of cases) {
    results[hook] = [];
    for (let i = 0; i < COUNTS.outputRuns; i++) {
      progress(`figure 8 (${init}): ${hook} run ${i + 1}/${COUNTS.outputRuns}`);
      results[hook].push(await sample(scratch, hook, init));
    }
  }
  const rows = cases.map(({ hook, label }) => {
    const runs = results[hook];
    const rate = summarize(runs.map((r) => r.linesPerSecond));
    const time = summarize(runs.map((r) => r.ns));
    const lost = Math.max(...runs.map((r) => r.log.lost));
    const ordered = runs.every((r) => r.log.inOrder);
    const own = summarize(runs.map((r) => r.ownDurationMs));
    const client = runs.filter((r) => r.copy);
    const clientText = client.length
      ? `client got ${fmtInt(Math.min(...client.map((r) => r.copy.count)))} lines, ${client.every((r) => r.copy.inOrder) ? "in order" : "**out of order**"}, exit ${[...new Set(client.map((r) => r.client?.exit))].join(",")}, client wall ${fmtNs(summarize(client.map((r) => r.client?.ns)).median)}`
      : "";
    const notes = [clientText, ...new Set(runs.map((r) => r.note).filter(Boolean))]
      .filter(Boolean)
      .join("; ");
    return [
      label,
      runs.length,
      fmtInt(COUNTS.lines),
      fmtInt(lost),
      ordered ? "yes" : "**no**",
      fmtNs(time.median),
      fmtInt(rate.median),
      fmtInt(rate.min),
      own.median === undefined ? "n/a" : `${fmtInt(own.median)} ms`,
      notes,
    ];
  });
  return {
    id: 8,
    title: "Hook output throughput (hookinit only)",
    method:
      `hookinit runs as PID 1 of a pid namespace; the handler is \`bench/c/emit.c\`, which notes CLOCK_MONOTONIC ` +
      `at its start and writes the lines 1..${fmtInt(COUNTS.lines)} to stdout like \`seq\`. hookinit's stdout is a ` +
      `pipe read by \`bench/c/capture.c\`, which notes the time of the read that brings the record of the last ` +
      `line. Lines/s = lines ÷ (that time − the handler's start). Afterwards every JSON record with the hook's ` +
      `name and \`"stream":"stdout"\` is counted and checked to be 1, 2, 3, … in order; for preStop the ` +
      `client's own copy (its stdout, to a file) is checked the same way. "hookinit's durationMs" is the hook's ` +
      `duration from its own "hook finished" record. ${COUNTS.outputRuns} run(s) per case.`,
    tables: [
      {
        columns: [
          "case",
          "runs",
          "lines",
          "lost (max)",
          "order kept",
          "time to last line (median)",
          "lines/s median",
          "lines/s min",
          "hookinit's durationMs",
          "notes",
        ],
        rows,
      },
    ],
    notes: ["tini, dumb-init and catatonit: n/a, they run no hooks."],
    metrics: Object.fromEntries(
      cases.map(({ hook }) => {
        const runs = results[hook];
        return [
          hook,
          {
            linesPerSecond: summarize(runs.map((r) => r.linesPerSecond)),
            lost: Math.max(...runs.map((r) => r.log.lost)),
            inOrder: runs.every((r) => r.log.inOrder),
            clientLost: runs.some((r) => r.copy)
              ? Math.max(...runs.filter((r) => r.copy).map((r) => r.copy.lost))
              : undefined,
            lines: COUNTS.lines,
          },
        ];
      }),
    ),
  };
}

/** Once per hookinit column (runtime). */
export const run = (context) => perHookinitColumn(runFor, context);
