/** podman, for the container tests (the image comes from rootfs.ts). */
import { type RunResult, run } from "./process.js";

/** podman ARGS to its exit (at most 2 minutes: pulls and builds are slow). */
export function podman(...args: string[]): Promise<RunResult> {
  return run("podman", args, { env: process.env, timeoutMs: 120_000 });
}

/** podman ARGS, failing the test with podman's stderr when it exits non-zero; returns stdout. */
export async function mustPodman(...args: string[]): Promise<string> {
  const result = await podman(...args);
  if (result.code !== 0) {
    throw new Error(`podman ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}
