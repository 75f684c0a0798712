#!/usr/bin/env node
// npm run demo: hookinit as PID 1 of a fresh pid namespace, supervising a
// small HTTP server with postStart, preStop (httpGet /drain) and postStop.
// Then the stop a runtime without hooks would do (`docker stop`: SIGTERM to
// PID 1): hookinit runs preStop first, and only then forwards SIGTERM.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { get } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const hookinit = join(root, "dist", "hookinit", "hookinit");
const say = (text) => console.error(`\n\x1b[1mdemo: ${text}\x1b[0m`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (process.getuid?.() !== 0) {
  console.error("demo: needs root for unshare --pid (a fresh pid namespace)");
  process.exit(1);
}
if (!existsSync(hookinit)) {
  say("building dist/hookinit/");
  // The build prints its own one-line reason (e.g. a missing C compiler).
  const build = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], {
    stdio: "inherit",
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

say(
  "starting: unshare --pid --fork --mount-proc dist/hookinit/hookinit --config examples/demo/hooks.yaml -- node server.mjs",
);
const pid1 = spawn(
  "unshare",
  [
    "--pid",
    "--fork",
    "--mount-proc",
    hookinit,
    "--log-format",
    "text",
    "--grace",
    "10",
    "--config",
    join(root, "examples", "demo", "hooks.yaml"),
    "--",
    process.execPath,
    join(root, "examples", "demo", "server.mjs"),
  ],
  { stdio: ["ignore", "inherit", "inherit"] },
);
const exited = new Promise((resolve) => pid1.on("exit", (code, signal) => resolve(code ?? signal)));

// hookinit's pid as the host sees it: the child of unshare.
let hostPid;
for (let i = 0; i < 100 && hostPid === undefined; i++) {
  await sleep(50);
  const children = readFileSync(`/proc/${pid1.pid}/task/${pid1.pid}/children`, "utf8").trim();
  if (children) hostPid = Number(children.split(" ")[0]);
}
const inside = (...args) =>
  execFileSync("nsenter", ["--target", String(hostPid), "--pid", "--mount", hookinit, ...args], {
    encoding: "utf8",
  });

say(
  "waiting for `hookinit ready` (program running and postStart succeeded), as a readinessProbe would",
);
for (let i = 0; i < 100; i++) {
  try {
    inside("ready");
    break;
  } catch {
    await sleep(100);
  }
}

say("a request to the program");
await new Promise((resolve) =>
  get("http://127.0.0.1:18080/", (response) => {
    response.setEncoding("utf8");
    response.on("data", (text) => process.stderr.write(`demo: got ${text}`));
    response.on("end", resolve);
  }).on("error", resolve),
);

say("`hookinit status` from inside the container (nsenter, as a runtime's exec does)");
process.stderr.write(inside("status"));

say(
  "SIGTERM to PID 1, as `docker stop` does without running any hook: watch preStop run before the program's SIGTERM",
);
process.kill(hostPid, "SIGTERM");
const code = await exited;
say(`hookinit exited with ${code} (the program's own exit code)`);
process.exit(typeof code === "number" ? code : 1);
