import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { FIXTURE_BIN, ROOT as root } from "./support/hookinit.js";

/**
 * The e2e tests run the built artifact, never the sources: build it if it is
 * missing or older than any source file (unless E2E_HOOKINIT names another
 * build), and compile the C fixtures (static, so they also run in a
 * busybox-only root filesystem).
 */
export default function setup(): void {
  // With E2E_HOOKINIT the suite tests that build as it is: nothing to build.
  const exe = join(root, "dist", "hookinit", "hookinit");
  if (
    process.env.E2E_HOOKINIT === undefined &&
    (!existsSync(exe) || newestSource() > statSync(exe).mtimeMs)
  ) {
    // The build prints its own one-line reason (e.g. a missing C compiler).
    const build = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], {
      stdio: "inherit",
      cwd: root,
    });
    if (build.status !== 0) throw new Error("npm run build failed: see the line above");
  }
  mkdirSync(FIXTURE_BIN, { recursive: true });
  for (const file of readdirSync(join(root, "test", "fixtures"))) {
    if (!file.endsWith(".c")) continue;
    const source = join(root, "test", "fixtures", file);
    const out = join(FIXTURE_BIN, file.slice(0, -2));
    if (existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs) continue;
    execFileSync("gcc", ["-O2", "-static", "-Wall", "-o", out, source], { stdio: "inherit" });
  }
}

function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of ["src", "native"]) walk(join(root, dir));
  return Math.max(newest, statSync(join(root, "scripts", "build.mjs")).mtimeMs);
}
