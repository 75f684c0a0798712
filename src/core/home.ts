/**
 * Where the running hookinit's own directory is: the directory `hookinit
 * install` copies, and the one its native helper is loaded from.
 *
 * The hookinit directory (`/hookinit` in an image, `dist/hookinit` in a
 * checkout) holds the entry executable `hookinit` and `lib/` with the
 * runtime, the native helper and the runtime's own libraries. The entry
 * executable (native/front.c) starts the runtime through the directory's own
 * ELF loader, `lib/ld-linux-*.so*`, so the kernel's idea of our executable
 * (`/proc/self/exe`, hence `process.execPath`) is that loader; the directory
 * is lib's parent. The same holds when the runtime, `lib/hookinit-runtime`,
 * is started directly. A Node single executable built the old way lives in
 * the directory itself. Run as a bundle by an installed Node (`node
 * dist/hookinit.cjs`), it is the bundle's directory, not Node's.
 */
import { basename, dirname, resolve } from "node:path";

export function hookinitHome(execPath: string = process.execPath): string {
  const dir = dirname(execPath);
  const exe = basename(execPath);
  if (basename(dir) === "lib" && (/^ld-(linux|musl)/.test(exe) || exe === "hookinit-runtime")) {
    return dirname(dir);
  }
  if (isSingleExecutable()) return dir;
  const script = process.argv[1];
  return script === undefined ? process.cwd() : dirname(resolve(script));
}

function isSingleExecutable(): boolean {
  // Bun's compiled executables run their program from an embedded file system.
  if (process.argv[1]?.startsWith("/$bunfs/")) return true;
  try {
    // node:sea exists from Node 20.12; require() keeps it off the start-up path of the tests' Node.
    return (require("node:sea") as { isSea(): boolean }).isSea();
  } catch (error) {
    // A Node without node:sea, or Bun; anything else is a bug.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ERR_UNKNOWN_BUILTIN_MODULE" && code !== "MODULE_NOT_FOUND") throw error;
    return false;
  }
}

/** What the entry executable renames so that its loader ignores it (native/front.c). */
const FRONT_PREFIX = "HOOKINIT_FRONT_";

/**
 * Puts back the variables the entry executable hid from the ELF loader
 * (LD_PRELOAD, LD_AUDIT: an image's preloaded library must not be loaded
 * into hookinit, built for another libc). Runs first, before anything reads
 * the environment: the program and the hook handlers get it unchanged.
 */
export function restoreFrontEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  for (const key of Object.keys(env)) {
    if (!key.startsWith(FRONT_PREFIX)) continue;
    const name = key.slice(FRONT_PREFIX.length);
    if (name === "LD_PRELOAD" || name === "LD_AUDIT") env[name] = env[key];
    delete env[key];
  }
}
