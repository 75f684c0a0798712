// Figure 5: idle memory of the init while the program sleeps: RssAnon
// (private memory, what each container really pays) and VmRSS.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { COUNTS, HOOKINITS, INITS, isHookinit, node24 } from "../lib/config.mjs";
import { childEnv, sleep, startInit, waitFor, writeHookConfig } from "../lib/proc.mjs";
import { fmtKiB, fmtRatio, ratio, summarize } from "../lib/stats.mjs";

const IDLE_NODE = "idle node";

/** The memory fields of /proc/PID/status, in KiB. */
function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  return {
    rssAnon: field("RssAnon"),
    vmRss: field("VmRSS"),
    rssFile: field("RssFile"),
    threads: field("Threads"),
  };
}

export async function run({ scratch, progress }) {
  const preStop = writeHookConfig(scratch, { preStop: ["true"] });
  const postStart = writeHookConfig(scratch, { postStart: ["true"] });
  const variants = [
    ...INITS.filter((init) => !isHookinit(init)).map((init) => ({ name: init, init })),
    ...HOOKINITS.flatMap(({ init, label }) => [
      { name: init, init, label: `${label}, no --config (control socket listening)` },
      {
        name: `${init}+preStop`,
        init,
        config: preStop,
        label: `${label}, --config with a preStop exec (not run yet)`,
      },
      {
        name: `${init}+postStart`,
        init,
        config: postStart,
        label: `${label}, --config with a postStart exec (ran once at start)`,
      },
    ]),
  ];
  const samples = Object.fromEntries(
    [...variants.map((v) => v.name), IDLE_NODE].map((name) => [name, []]),
  );

  for (let round = 0; round < COUNTS.memoryRuns; round++) {
    progress(`figure 5: round ${round + 1}/${COUNTS.memoryRuns}`);
    // Everything of one round idles side by side, then /proc is read once.
    const launched = variants.map((v) => ({
      v,
      handle: startInit(scratch, {
        init: v.init,
        config: v.config,
        program: ["/bin/sleep", "3600"],
      }),
    }));
    const idleNode = spawn(node24(), ["-e", "setInterval(()=>{},1e9)"], {
      env: childEnv,
      stdio: "ignore",
    });
    try {
      for (const { handle } of launched) await handle.waitPid();
      await sleep(COUNTS.idleMs);
      for (const { v, handle } of launched) samples[v.name].push(memoryOf(handle.pid()));
      samples[IDLE_NODE].push(memoryOf(idleNode.pid));
    } finally {
      idleNode.kill("SIGKILL");
      await Promise.all(launched.map(({ handle }) => handle.stop()));
    }
    await waitFor(() => idleNode.exitCode !== null || idleNode.signalCode !== null, {
      what: "idle node to exit",
    });
  }

  const stat = (name, key) => summarize(samples[name].map((s) => s[key]));
  const tini = { anon: stat("tini", "rssAnon"), rss: stat("tini", "vmRss") };
  const node = { anon: stat(IDLE_NODE, "rssAnon"), rss: stat(IDLE_NODE, "vmRss") };
  const rows = [
    ...variants,
    { name: IDLE_NODE, label: "reference: `node -e 'setInterval(()=>{},1e9)'` (not an init)" },
  ].map((v) => {
    const anon = stat(v.name, "rssAnon");
    const rss = stat(v.name, "vmRss");
    return [
      v.label ?? v.name,
      anon.n,
      fmtKiB(anon.median),
      fmtKiB(anon.p99),
      fmtKiB(rss.median),
      fmtKiB(rss.p99),
      fmtRatio(ratio(anon.median, tini.anon.median)),
      fmtRatio(ratio(rss.median, tini.rss.median)),
      fmtRatio(ratio(anon.median, node.anon.median)),
      String(samples[v.name][0]?.threads ?? ""),
    ];
  });
  return {
    id: 5,
    title: "Idle memory",
    method:
      `Each round starts every init as PID 1 of its own pid namespace with \`/bin/sleep 3600\` as the program, and ` +
      `an idle \`node -e 'setInterval(()=>{},1e9)'\` of the same Node 24 as a plain process, waits until all are ` +
      `up plus ${COUNTS.idleMs} ms, and reads RssAnon and VmRSS from /proc/PID/status of the init (not the ` +
      `program). hookinit runs without --config (its control socket listens anyway), with a configured preStop ` +
      `exec \`true\` that has not run, and with a postStart exec \`true\` that ran once at start. ` +
      `${COUNTS.memoryRuns} rounds; with fewer than 100 samples p99 is the maximum.`,
    tables: [
      {
        columns: [
          "init",
          "n",
          "RssAnon median",
          "RssAnon p99",
          "VmRSS median",
          "VmRSS p99",
          "RssAnon ÷ tini",
          "VmRSS ÷ tini",
          "RssAnon ÷ idle node",
          "threads",
        ],
        rows,
      },
    ],
    metrics: Object.fromEntries(
      [...variants.map((v) => v.name), IDLE_NODE].map((name) => [
        name,
        { rssAnon: stat(name, "rssAnon"), vmRss: stat(name, "vmRss") },
      ]),
    ),
  };
}
