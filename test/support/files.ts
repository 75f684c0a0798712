/** Temporary directories and files the tests write. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const tempDirs: string[] = [];

/** A fresh temporary directory, removed by removeTempDirs() (cleanupAfterEach does it after the file). */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hookinit-e2e-"));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Writes a config file: an object as JSON, a string as it is (YAML). */
export function writeConfig(dir: string, config: unknown, name?: string): string {
  const isText = typeof config === "string";
  const file = join(dir, name ?? (isText ? "hooks.yaml" : "hooks.json"));
  writeFileSync(file, isText ? config : JSON.stringify(config, null, 2));
  return file;
}

/** The non-empty lines of a file, or none while it does not exist. */
export function readLines(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}
