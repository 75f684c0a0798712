// Everything the benchmark needs before it measures: the peers from Debian,
// a C compiler, dist/ built, our C helpers compiled, and a description of
// the machine for the report.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import os from "node:os";
import { dirname, join, relative } from "node:path";
import {
  BIN_DIR,
  C_DIR,
  HELPERS,
  HOOKINIT,
  HOOKINIT_HELPER,
  HOOKINIT_NODE_SEA,
  HOOKINITS,
  helper,
  node24,
  PEERS,
  ROOT,
} from "./config.mjs";

const log = (message) => process.stderr.write(`bench: ${message}\n`);

/** stdout of a command, trimmed; undefined if it failed. */
export function output(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { encoding: "utf8", ...options });
  if (result.status !== 0 || result.error) return undefined;
  return `${result.stdout}${options.withStderr ? result.stderr : ""}`.trim();
}

function hasCommand(name) {
  return spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0;
}

/** True when gcc can link statically (libc.a from libc6-dev is there). */
function hasStaticLibc() {
  const path = output("gcc", ["-print-file-name=libc.a"]);
  return path?.startsWith("/") === true && existsSync(path);
}

/** Installs what is missing with apt-get (one `apt-get update` first). */
export function ensurePackages() {
  const missing = [];
  for (const { bin, pkg } of Object.values(PEERS)) if (!existsSync(bin)) missing.push(pkg);
  if (!hasCommand("gcc")) missing.push("gcc", "libc6-dev");
  else if (!hasStaticLibc()) missing.push("libc6-dev");
  if (!hasCommand("mkfifo")) missing.push("coreutils");
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`missing packages ${missing.join(" ")}: run as root, or apt-get install them`);
  }
  log(`installing ${missing.join(" ")} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update"], { stdio: ["ignore", "ignore", "inherit"], env });
  execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...missing], {
    stdio: ["ignore", "ignore", "inherit"],
    env,
  });
}

/** `npm run build` (and `build:node` for the Node column) when a directory is missing or stale. */
export function ensureDist() {
  if (!existsSync(HOOKINIT) || !existsSync(HOOKINIT_HELPER) || distIsStale(HOOKINIT)) {
    log("dist/hookinit/ is missing or stale: npm run build");
    execFileSync("npm", ["run", "build"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  }
  const node = HOOKINITS.some((c) => c.runtime === "node");
  if (node && (!existsSync(HOOKINIT_NODE_SEA) || distIsStale(HOOKINIT_NODE_SEA))) {
    log("dist/node/hookinit/ is missing or stale: npm run build:node");
    execFileSync("npm", ["run", "build:node"], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
    });
  }
}

/** Compiles bench/c/NAME.c into .bench/bin/NAME when the binary is older than its sources. */
export function compileHelpers() {
  mkdirSync(BIN_DIR, { recursive: true });
  const common = join(C_DIR, "common.h");
  for (const name of HELPERS) {
    const source = join(C_DIR, `${name}.c`);
    const binary = helper(name);
    if (existsSync(binary)) {
      const built = statSync(binary).mtimeMs;
      if (built > statSync(source).mtimeMs && built > statSync(common).mtimeMs) continue;
    }
    // Static: no dynamic loader in the way of any timing. The stamp program
    // has its own _start and no libc at all on x86-64 (see stamp.c).
    const flags = ["-O2", "-Wall", "-Wextra", "-static"];
    if (name === "stamp" && process.arch === "x64") {
      flags.push("-no-pie", "-nostdlib", "-ffreestanding", "-fno-stack-protector");
    }
    execFileSync("gcc", [...flags, "-o", binary, source], { stdio: "inherit" });
  }
}

/** Newest modification time of any file under a directory (0 if there is none). */
function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    if (path.includes(`${"/"}build${"/"}`)) continue; // native/build is an output
    newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** True when a built directory's entry is older than the sources it is built from. */
function distIsStale(exe = HOOKINIT) {
  const built = statSync(exe).mtimeMs;
  return Math.max(newestMtime(join(ROOT, "src")), newestMtime(join(ROOT, "native"))) > built;
}

/** Bytes and files of a hookinit directory, everything in it counted. */
function directorySize(dir) {
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    bytes += statSync(join(entry.parentPath ?? entry.path, entry.name)).size;
    files += 1;
  }
  return { dir: relative(ROOT, dir), bytes, files };
}

/** What the report says about the machine and the software measured. */
export function describeMachine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model;
  const lscpu = output("lscpu", []) ?? "";
  const field = (name) => new RegExp(`^${name}:\\s*(.+)$`, "m").exec(lscpu)?.[1]?.trim();
  const sockets = Number(field("Socket\\(s\\)") ?? 1);
  const coresPerSocket = Number(field("Core\\(s\\) per socket") ?? Number.NaN);
  const version = (cmd, args) => output(cmd, args, { withStderr: true })?.split("\n")[0];
  // dpkg-query's own ${Version} placeholder, not a JavaScript template.
  const pkg = (name) => output("dpkg-query", ["-W", `-f=${"$"}{Version}`, name]);
  const hookinitVersion = version(HOOKINIT, ["--version"]);
  const gitHead = output("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT });
  const gitDirty = output("git", ["status", "--porcelain", "--", "src", "native", "scripts"], {
    cwd: ROOT,
  });
  return {
    date: new Date().toISOString(),
    cpu: model,
    cores: Number.isFinite(coresPerSocket) ? coresPerSocket * sockets : os.cpus().length,
    logicalCpus: os.cpus().length,
    nproc: output("nproc", []),
    kernel: `${os.type()} ${os.release()}`,
    os: readFileSync("/etc/os-release", "utf8").match(/^PRETTY_NAME="?([^"\n]+)/m)?.[1],
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    virtualization: field("Hypervisor vendor"),
    loadBefore: os.loadavg(),
    distStale: distIsStale(),
    hookinit: hookinitVersion,
    sizes: Object.fromEntries(HOOKINITS.map((c) => [c.init, directorySize(dirname(c.exe))])),
    hookinitRuntimes: Object.fromEntries(
      HOOKINITS.map((c) => [c.init, version(c.exe, ["--version"])]),
    ),
    hookinitNode: /node (v[\d.]+)/.exec(hookinitVersion ?? "")?.[1],
    node: output(node24(), ["--version"]),
    nodePath: node24(),
    git:
      gitHead === undefined ? undefined : `${gitHead}${gitDirty ? " (uncommitted changes)" : ""}`,
    peers: {
      tini: `${version(PEERS.tini.bin, ["--version"])} (Debian ${pkg("tini")})`,
      "dumb-init": `${version(PEERS["dumb-init"].bin, ["--version"])} (Debian ${pkg("dumb-init")})`,
      catatonit: `${version(PEERS.catatonit.bin, ["--version"])} (Debian ${pkg("catatonit")})`,
    },
  };
}
