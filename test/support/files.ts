/** Temporary directories and files the tests write. */
import { execFileSync } from "node:child_process";
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

/**
 * A self-signed TLS certificate (EC P-256, two days) for the name CN, also
 * valid for 127.0.0.1, made with openssl: DIR/NAME.crt and its key
 * DIR/NAME.key.
 */
export function selfSignedCert(
  dir: string,
  name: string,
  cn: string,
): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      `/CN=${cn}`,
      "-addext",
      `subjectAltName=DNS:${cn},IP:127.0.0.1`,
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}
