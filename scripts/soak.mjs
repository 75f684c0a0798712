#!/usr/bin/env node
// npm run soak: hookinit under sustained, mixed load, then a verdict.
//
// ONE supervisor runs for SOAK_SECONDS (default 300) as PID 1 of a fresh pid
// namespace (`unshare --pid --fork --mount-proc dist/hookinit/hookinit --config ...
// -- node program.mjs`), with a postStart that printed 2,000 lines and a
// preStop. Against it, at a bounded rate:
//   - calls: status and ready, postStart joins (each replays the 2,000 lines),
//     mostly straight on the control socket, some through the real client
//     (`nsenter ... hookinit status|ready|hook postStart`); at most
//     SOAK_CONCURRENCY (default 8) at once;
//   - signal storms: bursts of SIGUSR1, SIGUSR2 and SIGHUP to PID 1, which
//     forwards them to the program, which counts them;
//   - orphan storms: SIGALRM bursts make the program leave double-forked
//     orphans (they reparent to hookinit, which must reap them);
//   - output floods: SIGWINCH makes the program print 5,000 lines; and every
//     SOAK_CYCLE_SECONDS (default 15) a short-lived second supervisor runs a
//     preStop that prints 20,000 lines to 3 concurrent callers, then stops
//     on SIGTERM (preStop must run once, every caller gets every line).
// preStop stops the program, so it is exercised on the short-lived
// supervisors; the long-lived one gets it once, at the very end.
//
// Report: calls made, failures (with the first few reasons), zombies left in
// the namespace at the end, the supervisor's RSS after the warm-up (20 s) and
// at the end. Exit 1 when failures > 0, zombies > 0 or the end RSS is more
// than 110% of the warm-up RSS. Traffic: unix sockets and signals only.
// Needs root (unshare) and dist/hookinit/ (built if missing).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const hookinit = join(root, "dist", "hookinit", "hookinit");
/** The supervisor under test (clients always use dist/hookinit/hookinit); e.g. a wrapper running node with V8 flags. */
const supervisorCommand = process.env.SOAK_HOOKINIT ?? hookinit;
const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const WARMUP_SECONDS = Math.min(20, SECONDS / 3);
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 8);
const CALLS_PER_SECOND = Number(process.env.SOAK_RATE ?? 40);
const CYCLE_SECONDS = Number(process.env.SOAK_CYCLE_SECONDS ?? 15);
const POSTSTART_LINES = 2000;
const PRESTOP_LINES = 20_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (text) => console.error(`soak: ${text}`);

if (process.getuid?.() !== 0) {
  console.error("soak: needs root for unshare --pid (a fresh pid namespace)");
  process.exit(2);
}
if (!Number.isFinite(SECONDS) || SECONDS < 3) {
  console.error("soak: SOAK_SECONDS must be a number of seconds, at least 3");
  process.exit(2);
}
if (!existsSync(hookinit)) {
  log("building dist/hookinit/");
  execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });
}

const work = mkdtempSync(join(tmpdir(), "hookinit-soak-"));
const failures = [];
const fail = (reason) => {
  failures.push(reason);
  if (failures.length <= 20) log(`FAILURE: ${reason}`);
};
const counters = {
  statusCalls: 0,
  readyCalls: 0,
  postStartJoins: 0,
  clientProcesses: 0,
  signalsSent: { SIGUSR1: 0, SIGUSR2: 0, SIGHUP: 0, SIGALRM: 0, SIGWINCH: 0 },
  orphanStorms: 0,
  programFloods: 0,
  preStopCycles: 0,
  preStopCallers: 0,
};

// ---- the supervised program -------------------------------------------------

// Counts signals; SIGALRM: a burst of orphans; SIGWINCH: 5,000 lines. Writes
// with writeSync(1): process.stdout would make the shared pipe non-blocking.
const program = join(work, "program.mjs");
writeFileSync(
  program,
  `import { spawn } from "node:child_process";
import { writeSync } from "node:fs";
const counts = { SIGUSR1: 0, SIGUSR2: 0, SIGHUP: 0, SIGALRM: 0, SIGWINCH: 0 };
const say = (text) => { try { writeSync(1, text); } catch {} };
for (const name of Object.keys(counts)) process.on(name, () => {
  counts[name]++;
  if (name === "SIGALRM") {
    // 40 orphans: each ( sleep & ) subshell exits at once, its sleep goes to PID 1.
    spawn("sh", ["-c", "i=0; while [ $i -lt 40 ]; do (sleep 0.2 &); i=$((i+1)); done"], { stdio: "ignore" });
    say("soak-orphans 40\\n");
  }
  if (name === "SIGWINCH") {
    let text = "";
    for (let i = 0; i < 5000; i++) text += "soak-flood " + i + "\\n";
    say(text);
  }
});
process.on("SIGTERM", () => { say("soak-counts " + JSON.stringify(counts) + "\\n"); process.exit(0); });
say("soak-program-up\\n");
setInterval(() => {}, 1 << 30);
`,
);

// ---- a supervisor and its stdout --------------------------------------------

function start(name, configObject, command) {
  const config = join(work, `${name}.json`);
  writeFileSync(config, JSON.stringify(configObject));
  const child = spawn(
    "unshare",
    [
      "--pid",
      "--fork",
      "--mount-proc",
      supervisorCommand,
      "--config",
      config,
      "--grace",
      "60",
      "--",
      ...command,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const state = {
    child,
    records: [],
    programLines: 0,
    counts: undefined,
    stderr: "",
    hookLines: { postStart: 0, preStop: 0 },
    partial: "",
    exit: undefined,
  };
  child.stderr.setEncoding("utf8").on("data", (chunk) => {
    state.stderr += chunk;
  });
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    const lines = (state.partial + chunk).split("\n");
    state.partial = lines.pop() ?? "";
    for (const line of lines) {
      let record;
      if (line.startsWith('{"level"')) {
        try {
          record = JSON.parse(line);
        } catch {}
      }
      if (record?.name !== "hookinit") {
        state.programLines++;
        if (line.startsWith("soak-counts ")) state.counts = JSON.parse(line.slice(12));
        continue;
      }
      if (record.stream !== undefined) {
        if (record.hook in state.hookLines) state.hookLines[record.hook]++;
        continue;
      }
      state.records.push(record);
      if (record.level === "error" || /internal error/.test(record.msg)) {
        fail(`${name}: hookinit logged ${record.level}: ${line.slice(0, 300)}`);
      }
    }
  });
  state.exited = new Promise((resolve) => {
    child.once("close", (code, signal) => {
      state.exit = { code, signal };
      resolve(state.exit);
    });
  });
  return state;
}

async function until(what, probe, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function ready(state) {
  const record = await until("control socket ready", () =>
    state.records.find((r) => r.msg === "control socket ready"),
  );
  const pid = await until("hookinit's host pid", () => {
    try {
      const text = readFileSync(
        `/proc/${state.child.pid}/task/${state.child.pid}/children`,
        "utf8",
      );
      return Number(text.trim().split(/\s+/)[0]) || undefined;
    } catch {
      return undefined;
    }
  });
  return { socket: String(record.socket), pid };
}

/** The default socket directory is in the host's /dev/shm: remove it once its supervisor is gone. */
function removeSocketDir(socket) {
  const dir = dirname(socket);
  if (/^\/dev\/shm\/hookinit-\d+-\d+(\.\d)?$/.test(dir))
    rmSync(dir, { recursive: true, force: true });
}

function rssKb(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  } catch {
    return Number.NaN;
  }
}

/** RssAnon and RssFile (pages of the 120 MB executable mapped in so far) in kB. */
function rssParts(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text)?.[1]);
    return { anon: field("RssAnon"), file: field("RssFile") };
  } catch {
    return { anon: Number.NaN, file: Number.NaN };
  }
}

/** Median of a few samples over ~1 s: one reading can catch a GC mid-way. */
async function rssNow(pid) {
  const samples = [];
  for (let i = 0; i < 5; i++) {
    samples.push(rssKb(pid));
    await sleep(200);
  }
  samples.sort((a, b) => a - b);
  return { kb: samples[2], ...rssParts(pid) };
}

// ---- calls ------------------------------------------------------------------

/** One request on the control socket; resolves with the events, rejects on a hang. */
function request(socketPath, line, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let raw = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer in ${timeoutMs} ms to ${line.trim()}`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => {
      raw += chunk;
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(
        raw
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l)),
      );
    });
    socket.on("connect", () => socket.write(line));
  });
}

function inside(pid, args, timeoutMs = 60_000) {
  return new Promise((resolve) => {
    const child = spawn(
      "nsenter",
      ["--target", String(pid), "--pid", "--mount", hookinit, ...args],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let lines = 0;
    let stderr = "";
    let partial = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      lines += parts.length;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, lines, stderr: stderr.trim() });
    });
  });
}

async function oneCall(main, n) {
  const viaClient = n % 10 === 0;
  const kind = ["status", "ready", "postStart"][n % 3];
  try {
    if (viaClient) {
      counters.clientProcesses++;
      const args = kind === "postStart" ? ["hook", "postStart"] : [kind];
      const result = await inside(main.pid, args);
      if (kind === "status") counters.statusCalls++;
      if (kind === "ready") counters.readyCalls++;
      if (kind === "postStart") counters.postStartJoins++;
      if (result.code !== 0)
        fail(`client ${args.join(" ")}: exit ${result.code ?? result.signal}: ${result.stderr}`);
      if (kind === "postStart" && result.lines !== POSTSTART_LINES) {
        fail(`client hook postStart: ${result.lines} lines, expected ${POSTSTART_LINES}`);
      }
      return;
    }
    if (kind === "postStart") {
      counters.postStartJoins++;
      const events = await request(main.socket, '{"v":1,"op":"hook","hook":"postStart"}\n');
      const output = events.filter((e) => e.type === "output").length;
      const result = events.at(-1);
      if (result?.type !== "result" || result.exitCode !== 0 || output !== POSTSTART_LINES) {
        fail(`postStart join: ${output} lines, last event ${JSON.stringify(result)}`);
      }
      return;
    }
    if (kind === "status") counters.statusCalls++;
    else counters.readyCalls++;
    const events = await request(main.socket, '{"v":1,"op":"status"}\n');
    const status = events[0];
    if (events.length !== 1 || status.type !== "status") fail(`status: ${JSON.stringify(events)}`);
    else if (kind === "ready" && status.ready !== true)
      fail(`ready: not ready: ${JSON.stringify(status)}`);
    else if (status.phase !== "running") fail(`status: phase ${status.phase}`);
  } catch (error) {
    fail(`${viaClient ? "client " : ""}${kind}: ${error.message}`);
  }
}

// ---- preStop cycles on short-lived supervisors --------------------------------

async function preStopCycle(index) {
  const state = start(
    `cycle-${index}`,
    {
      preStop: {
        exec: { command: ["sh", "-c", `seq 1 ${PRESTOP_LINES}; echo prestop-run >&2`] },
        timeoutSeconds: 60,
      },
    },
    ["sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"],
  );
  let socket;
  try {
    const info = await ready(state);
    const pid = info.pid;
    socket = info.socket;
    const callers = await Promise.all([0, 1, 2].map(() => inside(pid, ["hook", "preStop"])));
    counters.preStopCallers += callers.length;
    for (const result of callers) {
      // seq's lines on stdout, "prestop-run" on stderr.
      if (result.code !== 0 || result.lines !== PRESTOP_LINES) {
        fail(
          `cycle ${index}: preStop caller exit ${result.code ?? result.signal}, ${result.lines} lines: ${result.stderr}`,
        );
      }
    }
    process.kill(pid, "SIGTERM");
    const exit = await Promise.race([state.exited, sleep(60_000).then(() => undefined)]);
    if (exit === undefined) {
      fail(`cycle ${index}: the supervisor did not exit after SIGTERM`);
      state.child.kill("SIGKILL");
      return;
    }
    if (exit.code !== 0) fail(`cycle ${index}: exit ${exit.code ?? exit.signal}: ${state.stderr}`);
    const runs = state.records.filter((r) => r.msg === "hook started").length;
    if (runs !== 1) fail(`cycle ${index}: preStop started ${runs} times`);
    if (state.hookLines.preStop !== PRESTOP_LINES + 1) {
      fail(
        `cycle ${index}: ${state.hookLines.preStop} preStop lines in the log, expected ${PRESTOP_LINES + 1}`,
      );
    }
    counters.preStopCycles++;
  } catch (error) {
    fail(`cycle ${index}: ${error.message}`);
    state.child.kill("SIGKILL");
  } finally {
    await Promise.race([state.exited, sleep(10_000)]);
    if (socket !== undefined) removeSocketDir(socket);
  }
}

// ---- the run ----------------------------------------------------------------

const main = start(
  "main",
  {
    postStart: {
      exec: { command: ["sh", "-c", `seq 1 ${POSTSTART_LINES}`] },
    },
    preStop: { exec: { command: ["sh", "-c", "echo soak-prestop"] } },
  },
  [process.execPath, program],
);
let mainInfo;
try {
  mainInfo = await ready(main);
  await until("the program", () => main.programLines > 0);
  await until("postStart to succeed", async () => {
    const [status] = await request(mainInfo.socket, '{"v":1,"op":"status"}\n');
    return status?.ready === true;
  });
} catch (error) {
  console.error(`soak: the supervisor did not start: ${error.message}\n${main.stderr}`);
  main.child.kill("SIGKILL");
  process.exit(1);
}
const { pid } = mainInfo;
log(`supervisor pid ${pid} (host view), socket ${mainInfo.socket}; running ${SECONDS} s`);

const startedAt = Date.now();
const endAt = startedAt + SECONDS * 1000;
let warmupRssKb;
let warmupRss;
const warmup = (async () => {
  await sleep(WARMUP_SECONDS * 1000);
  warmupRss = await rssNow(pid);
  warmupRssKb = warmupRss.kb;
  log(`RSS after ${WARMUP_SECONDS} s warm-up: ${(warmupRssKb / 1024).toFixed(1)} MB`);
})();

// Calls: CALLS_PER_SECOND started per second, at most CONCURRENCY at once.
const calls = (async () => {
  let n = 0;
  let inFlight = 0;
  const pending = new Set();
  while (Date.now() < endAt) {
    const tickStart = Date.now();
    for (let i = 0; i < CALLS_PER_SECOND / 10 && Date.now() < endAt; i++) {
      while (inFlight >= CONCURRENCY) await Promise.race(pending);
      inFlight++;
      const call = oneCall(mainInfo, n++).finally(() => {
        inFlight--;
        pending.delete(call);
      });
      pending.add(call);
    }
    await sleep(Math.max(0, 100 - (Date.now() - tickStart)));
  }
  await Promise.all(pending);
})();

// Signal storms every 2 s; an orphan storm every 3 s; a program flood every 5 s.
const storms = (async () => {
  let tick = 0;
  while (Date.now() < endAt) {
    await sleep(1000);
    tick++;
    const burst = (signal, count) => {
      for (let i = 0; i < count; i++) {
        try {
          process.kill(pid, signal);
          counters.signalsSent[signal]++;
        } catch (error) {
          fail(`kill ${signal}: ${error.message}`);
        }
      }
    };
    if (tick % 2 === 0) for (const signal of ["SIGUSR1", "SIGUSR2", "SIGHUP"]) burst(signal, 50);
    if (tick % 3 === 0) {
      burst("SIGALRM", 1);
      counters.orphanStorms++;
    }
    if (tick % 5 === 0) {
      burst("SIGWINCH", 1);
      counters.programFloods++;
    }
  }
})();

// Short-lived supervisors with a preStop, one after the other.
const cycles = (async () => {
  let index = 0;
  while (Date.now() + CYCLE_SECONDS * 1000 <= endAt) {
    const cycleStart = Date.now();
    await preStopCycle(index++);
    await sleep(Math.max(0, CYCLE_SECONDS * 1000 - (Date.now() - cycleStart)));
  }
})();

// Progress every SOAK_PROGRESS_SECONDS (default 30).
const progress = setInterval(
  () => {
    const s = Math.round((Date.now() - startedAt) / 1000);
    log(
      `${s} s: ${counters.statusCalls + counters.readyCalls + counters.postStartJoins} calls, ${counters.preStopCycles} preStop cycles, ${failures.length} failures, RSS ${(rssKb(pid) / 1024).toFixed(1)} MB`,
    );
  },
  Number(process.env.SOAK_PROGRESS_SECONDS ?? 30) * 1000,
);

await Promise.all([warmup, calls, storms, cycles]);
clearInterval(progress);

// Let the last orphans exit and be reaped (they sleep 0.2 s; the reaper sweeps every second).
await sleep(3000);
const zombiesText = execFileSync(
  "nsenter",
  [
    "--target",
    String(pid),
    "--pid",
    "--mount",
    "sh",
    "-c",
    "cat /proc/[0-9]*/status 2>/dev/null | grep -c '^State:[[:space:]]*Z' || true",
  ],
  { encoding: "utf8" },
);
const zombies = Number(zombiesText.trim());
const endRss = await rssNow(pid);
const endRssKb = endRss.kb;

// The end: one preStop on the long-lived supervisor too, then its exit code.
const signalsForwarded = main.records.filter((r) => r.msg === "signal forwarded").length;
const orphansReaped = main.records
  .filter((r) => r.msg === "orphans reaped")
  .reduce((sum, r) => sum + Number(r.count), 0);
process.kill(pid, "SIGTERM");
const exit = await Promise.race([main.exited, sleep(60_000).then(() => undefined)]);
if (exit === undefined) {
  fail("the supervisor did not exit after SIGTERM");
  main.child.kill("SIGKILL");
} else if (exit.code !== 0) {
  fail(`the supervisor exited ${exit.code ?? exit.signal}: ${main.stderr}`);
}
await sleep(100);
const received = main.counts ?? {};
if (main.counts === undefined) fail("the program did not report its signal counts");
for (const signal of ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGALRM", "SIGWINCH"]) {
  const sent = counters.signalsSent[signal];
  const got = received[signal] ?? 0;
  // Standard signals coalesce: a burst may arrive as fewer, never as more, never as none.
  if (sent > 0 && got === 0) fail(`${signal}: sent ${sent}, the program got none`);
  if (got > sent) fail(`${signal}: the program got ${got}, more than the ${sent} sent`);
}
if (main.hookLines.preStop !== 1)
  fail(`the final preStop logged ${main.hookLines.preStop} lines, expected 1`);
rmSync(work, { recursive: true, force: true });
removeSocketDir(mainInfo.socket);

const calls_ = counters.statusCalls + counters.readyCalls + counters.postStartJoins;
const rssOk = endRssKb <= warmupRssKb * 1.1;
const mb = (kb) => `${(kb / 1024).toFixed(1)} MB`;
const report = [
  `soak: ${SECONDS} s against one supervisor (PID 1 of its pid namespace)`,
  `  calls made:        ${calls_} (status ${counters.statusCalls}, ready ${counters.readyCalls}, postStart joins ${counters.postStartJoins}; ${counters.clientProcesses} through the hookinit client)`,
  `  preStop cycles:    ${counters.preStopCycles} short-lived supervisors, ${counters.preStopCallers} preStop callers, ${PRESTOP_LINES} lines each`,
  `  signals sent:      ${Object.entries(counters.signalsSent)
    .map(([s, n]) => `${s} ${n}`)
    .join(", ")}`,
  `  program received:  ${Object.entries(received)
    .map(([s, n]) => `${s} ${n}`)
    .join(", ")} (coalesced bursts); hookinit forwarded ${signalsForwarded}`,
  `  orphan storms:     ${counters.orphanStorms} (up to 40 orphans each: group-wide signal storms cut some bursts short); orphans reaped: ${orphansReaped}`,
  `  output floods:     ${counters.programFloods} program floods of 5000 lines; postStart joins replay ${POSTSTART_LINES} lines each`,
  `  failures:          ${failures.length}${failures.length > 0 ? ` (first: ${failures.slice(0, 5).join(" | ")})` : ""}`,
  `  zombies left:      ${zombies}`,
  `  RSS after warm-up: ${mb(warmupRssKb)} (at ${WARMUP_SECONDS} s; anon ${mb(warmupRss.anon)}, file ${mb(warmupRss.file)})`,
  `  RSS at the end:    ${mb(endRssKb)} (${((endRssKb / warmupRssKb) * 100).toFixed(1)}% of warm-up; limit 110%; anon ${mb(endRss.anon)}, file ${mb(endRss.file)})`,
  `  supervisor exit:   ${exit?.code ?? exit?.signal ?? "none"}`,
];
console.log(report.join("\n"));
const ok = failures.length === 0 && zombies === 0 && rssOk;
console.log(`soak: ${ok ? "PASS" : "FAIL"}`);
process.exit(ok ? 0 : 1);
