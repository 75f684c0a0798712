/**
 * Assembles a minimal root filesystem for the container tests and imports it
 * as a podman image: no registry needed.
 *
 *   /bin/busybox + a symlink per applet (sh, sleep, cat, ls, kill, seq, ...)
 *   /hookinit, /hookinit.node      the executable under test (HOOKINIT) and its native helper
 *   the shared libraries `ldd` lists for both (glibc, libstdc++, libgcc_s,
 *   ld-linux), at the paths ldd gives
 *   /usr/bin/<fixture>             the static C fixtures of test/fixtures/bin
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
import { FIXTURE_BIN, HOOKINIT, HOOKINIT_HELPER } from "./hookinit.ts";

const BUSYBOX = "/bin/busybox";

export interface ExtraFile {
  /** Path inside the root filesystem, e.g. "/etc/hookinit/hooks.yaml". */
  path: string;
  content: string;
  mode?: number;
}

export interface Rootfs {
  dir: string;
  /** The shared libraries copied in, as ldd names them on the host. */
  libraries: string[];
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

/** Builds the root filesystem in DIR (a fresh temp dir by default). */
export function buildRootfs(options: { dir?: string; extraFiles?: ExtraFile[] } = {}): Rootfs {
  for (const file of [HOOKINIT, HOOKINIT_HELPER, BUSYBOX]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: run npm run build and test/container-setup.sh`);
    }
  }
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "hookinit-rootfs-"));
  for (const sub of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "run"]) {
    mkdirSync(join(dir, sub), { recursive: true });
  }
  mkdirSync(join(dir, "tmp"), { recursive: true });
  chmodSync(join(dir, "tmp"), 0o1777);

  // busybox and one symlink per applet, where busybox would install it.
  copyFileSync(BUSYBOX, join(dir, "bin/busybox"));
  chmodSync(join(dir, "bin/busybox"), 0o755);
  const applets = execFileSync(BUSYBOX, ["--list-full"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line !== "" && line !== "bin/busybox");
  for (const applet of applets) {
    const target = join(dir, applet);
    if (existsSync(target)) continue;
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync("/bin/busybox", target);
  }

  // hookinit and what its loader needs.
  copyFileSync(HOOKINIT, join(dir, "hookinit"));
  chmodSync(join(dir, "hookinit"), 0o755);
  copyFileSync(HOOKINIT_HELPER, join(dir, "hookinit.node"));
  chmodSync(join(dir, "hookinit.node"), 0o755);
  const libraries = [
    ...new Set([...sharedLibraries(HOOKINIT), ...sharedLibraries(HOOKINIT_HELPER)]),
  ];
  for (const library of libraries) {
    const target = join(dir, library);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(library, target); // follows symlinks: the real file
    chmodSync(target, 0o755);
  }

  // The static test fixtures, if global-setup built them.
  if (existsSync(FIXTURE_BIN)) {
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
  return { dir, libraries };
}

/**
 * Tars DIR and imports it as IMAGE with hookinit as the ENTRYPOINT. Returns
 * the image id.
 */
export function importImage(dir: string, image: string, changes: string[] = []): string {
  const tarDir = mkdtempSync(join(tmpdir(), "hookinit-rootfs-tar-"));
  try {
    const tar = join(tarDir, "rootfs.tar");
    execFileSync("tar", ["--numeric-owner", "--owner=0", "--group=0", "-C", dir, "-cf", tar, "."]);
    const args = ["import", "--quiet"];
    for (const change of ["ENV PATH=/bin:/usr/bin", 'ENTRYPOINT ["/hookinit","--"]', ...changes]) {
      args.push("--change", change);
    }
    args.push(tar, image);
    return execFileSync("podman", args, { encoding: "utf8" }).trim();
  } finally {
    rmSync(tarDir, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename) {
  const [image, dir] = process.argv.slice(2);
  if (image === undefined) {
    process.stderr.write("usage: node test/rootfs.ts IMAGE-NAME [DIR]\n");
    process.exit(2);
  }
  const rootfs = buildRootfs(dir === undefined ? {} : { dir });
  const id = importImage(rootfs.dir, image);
  process.stdout.write(
    `rootfs ${rootfs.dir}\nimage ${image} ${id}\nlibraries:\n${rootfs.libraries.map((l) => `  ${l}`).join("\n")}\n`,
  );
}
