/**
 * Assembles a minimal root filesystem for the container tests and imports it
 * as a podman image: no registry needed.
 *
 *   /hookinit/                     the hookinit directory under test (the
 *                                  entry executable, lib/ with its runtime,
 *                                  helper, ELF loader and libraries), as is
 *   the image's own userland, one of:
 *     busybox  /bin/busybox (static) + a symlink per applet; no libc at all
 *     musl     Debian's musl loader /lib/ld-musl-x86_64.so.1 and programs
 *              built with musl-gcc (test/fixtures/userland/userland.c)
 *     glibc    the host's glibc at its usual paths and programs built with gcc
 *   /usr/bin/<fixture>             the static C fixtures of test/fixtures/bin
 *                                  (busybox userland only)
 *   /etc/passwd, /etc/group        root and nobody only (uid 1000 has no entry,
 *                                  as with Kubernetes' runAsUser)
 *   extra files given by the caller (hook configs, test programs)
 *
 * Command line (node 24 runs TypeScript directly):
 *   node test/support/rootfs.ts IMAGE-NAME [DIR]   build, import, print the library list
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

// .ts, not .js: Node runs this file directly too (see above), and it resolves only real file names.
import { FIXTURE_BIN, HOOKINIT_DIR, ROOT } from "./hookinit.ts";

/** Where images hold the hookinit directory, and its entry executable. */
export const IMAGE_HOOKINIT = "/hookinit/hookinit";
const BUSYBOX = "/bin/busybox";

export type Userland = "busybox" | "musl" | "glibc";

export interface ExtraFile {
  /** Path inside the root filesystem, e.g. "/etc/hookinit/hooks.yaml". */
  path: string;
  content: string;
  mode?: number;
}

export interface Rootfs {
  dir: string;
  /** The shared libraries hookinit brings, inside /hookinit/lib. */
  libraries: string[];
  /** The image's own files outside /hookinit, relative to `dir`. */
  imageFiles: string[];
}

/**
 * The absolute paths of the shared libraries ldd lists for FILE, including
 * the dynamic loader; none for a static file.
 */
export function sharedLibraries(file: string): string[] {
  let out: string;
  try {
    out = execFileSync("ldd", [file], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    // ldd exits 1 for "not a dynamic executable".
    const text = `${(error as { stdout?: string }).stdout ?? ""}${(error as { stderr?: string }).stderr ?? ""}`;
    if (/not a dynamic executable|statically linked/.test(text)) return [];
    throw error;
  }
  const libraries: string[] = [];
  for (const line of out.split("\n")) {
    if (/not found/.test(line)) throw new Error(`ldd ${file}: ${line.trim()}`);
    const path = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
    if (path !== undefined) libraries.push(path);
  }
  return libraries;
}

/** The musl loader from Debian's musl package (it is musl's libc as well). */
export const MUSL_LOADER = "/lib/ld-musl-x86_64.so.1";

/**
 * test/fixtures/userland.c built against the image's libc: dynamically
 * linked, so it runs only if the image's own libc is intact.
 */
export function buildUserlandProgram(userland: "musl" | "glibc", out: string): void {
  const source = join(ROOT, "test", "fixtures", "userland", "userland.c");
  const cc = userland === "musl" ? "musl-gcc" : "gcc";
  execFileSync(cc, ["-O2", "-Wall", "-o", out, source], { stdio: "inherit" });
}

function copyInto(dir: string, from: string, to = from): void {
  const target = join(dir, to);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(from, target); // follows symlinks: the real file
  chmodSync(target, 0o755);
}

function listFiles(dir: string, under = ""): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(dir, under), { withFileTypes: true })) {
    const path = join(under, entry.name);
    if (entry.isDirectory()) files.push(...listFiles(dir, path));
    else files.push(path);
  }
  return files;
}

/** Builds the root filesystem in DIR (a fresh temp dir by default). */
export function buildRootfs(
  options: { dir?: string; extraFiles?: ExtraFile[]; userland?: Userland } = {},
): Rootfs {
  const userland = options.userland ?? "busybox";
  const needed = [join(HOOKINIT_DIR, "hookinit")];
  if (userland === "busybox") needed.push(BUSYBOX);
  if (userland === "musl") needed.push(MUSL_LOADER);
  for (const file of needed) {
    if (!existsSync(file)) {
      throw new Error(
        `${file} is missing: run npm run build and test/container-setup.sh (musl: apt-get install musl musl-tools)`,
      );
    }
  }
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "hookinit-rootfs-"));
  for (const sub of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "run"]) {
    mkdirSync(join(dir, sub), { recursive: true });
  }
  mkdirSync(join(dir, "tmp"), { recursive: true });
  chmodSync(join(dir, "tmp"), 0o1777);

  if (userland === "busybox") {
    // busybox and one symlink per applet, where busybox would install it.
    copyInto(dir, BUSYBOX);
    const applets = execFileSync(BUSYBOX, ["--list-full"], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line !== "" && line !== "bin/busybox");
    for (const applet of applets) {
      const target = join(dir, applet);
      if (existsSync(target)) continue;
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync("/bin/busybox", target);
    }
  } else {
    const program = join(dir, "usr/bin/userland");
    buildUserlandProgram(userland, program);
    const libraries = userland === "musl" ? [MUSL_LOADER] : sharedLibraries(program);
    for (const library of libraries) copyInto(dir, library);
  }

  // The hookinit directory, as it ships; it brings its own loader and libraries.
  const home = join(dir, "hookinit");
  cpSync(HOOKINIT_DIR, home, { recursive: true });
  const libraries = readdirSync(join(home, "lib"))
    .filter((name) => /\.so/.test(name))
    .map((name) => `/hookinit/lib/${name}`);

  // The static test fixtures, if global-setup built them.
  if (userland === "busybox" && existsSync(FIXTURE_BIN)) {
    for (const name of readdirSync(FIXTURE_BIN)) {
      const target = join(dir, "usr/bin", name);
      rmSync(target, { force: true });
      copyFileSync(join(FIXTURE_BIN, name), target);
      chmodSync(target, 0o755);
    }
  }

  writeFileSync(
    join(dir, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  writeFileSync(join(dir, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  for (const file of options.extraFiles ?? []) {
    const target = join(dir, file.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, file.content);
    chmodSync(target, file.mode ?? 0o644);
  }
  const imageFiles = listFiles(dir).filter((path) => !path.startsWith("hookinit/"));
  return { dir, libraries, imageFiles };
}

/**
 * Tars DIR (every file owned by root) and imports it as IMAGE with the
 * Dockerfile instructions CHANGES (`podman import --change`). Returns the
 * image id.
 */
export function importDirectory(dir: string, image: string, changes: string[]): string {
  const tarDir = mkdtempSync(join(tmpdir(), "hookinit-rootfs-tar-"));
  try {
    const tar = join(tarDir, "rootfs.tar");
    execFileSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-cf", tar, "."]);
    const args = ["import", "--quiet", ...changes.flatMap((change) => ["--change", change])];
    return execFileSync("podman", [...args, tar, image], { encoding: "utf8" }).trim();
  } finally {
    rmSync(tarDir, { recursive: true, force: true });
  }
}

/**
 * Tars DIR and imports it as IMAGE with hookinit as the ENTRYPOINT. Returns
 * the image id.
 */
export function importImage(dir: string, image: string, changes: string[] = []): string {
  return importDirectory(dir, image, [
    "ENV PATH=/bin:/usr/bin",
    `ENTRYPOINT ["${IMAGE_HOOKINIT}","--"]`,
    ...changes,
  ]);
}

if (process.argv[1] === import.meta.filename) {
  const [image, dir] = process.argv.slice(2);
  if (image === undefined) {
    process.stderr.write("usage: node test/support/rootfs.ts IMAGE-NAME [DIR]\n");
    process.exit(2);
  }
  const rootfs = buildRootfs(dir === undefined ? {} : { dir });
  const id = importImage(rootfs.dir, image);
  process.stdout.write(
    `rootfs ${rootfs.dir}\nimage ${image} ${id}\nlibraries:\n${rootfs.libraries.map((l) => `  ${l}`).join("\n")}\n`,
  );
}
