/**
 * Where the running hookinit's own directory is: the directory `hookinit
 * install` copies, and the one its native helper is loaded from.
 *
 * The single executable (Node SEA) lives in it, so it is the directory of
 * process.execPath. Run as a bundle by an installed Node (`node
 * dist/hookinit.cjs`), it is the bundle's directory, not Node's.
 */
import { dirname, resolve } from "node:path";

export function hookinitHome(): string {
  if (isSingleExecutable()) return dirname(process.execPath);
  const script = process.argv[1];
  return script === undefined ? process.cwd() : dirname(resolve(script));
}

function isSingleExecutable(): boolean {
  try {
    // node:sea exists from Node 20.12; require() keeps it off the start-up path of the tests' Node.
    return (require("node:sea") as { isSea(): boolean }).isSea();
  } catch (error) {
    // A Node without node:sea; anything else is a bug.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "ERR_UNKNOWN_BUILTIN_MODULE" && code !== "MODULE_NOT_FOUND") throw error;
    return false;
  }
}
