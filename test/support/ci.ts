import { relative } from "node:path";
import { ROOT } from "./hookinit.js";

/**
 * Whether this run is CI's: any CI value but empty, 0 or false. Under CI a
 * test that cannot run is a failure, never a skip (a first run on a fresh
 * machine once skipped every container test while the run still passed).
 */
export const CI_REQUIRED = process.env.CI !== undefined && !/^(?:0|false|)$/i.test(process.env.CI);

/**
 * For a test FILE (its import.meta.filename) that cannot run for REASON:
 * throws under CI, so the file fails at collection; elsewhere warns that it
 * is skipped. Returns REASON for `describe.skipIf(reason !== undefined)`.
 */
export function cannotRun(file: string, reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  const name = relative(ROOT, file);
  if (CI_REQUIRED) throw new Error(`${name} cannot run: ${reason}`);
  console.warn(`SKIPPING ${name}: ${reason}`);
  return reason;
}
