/**
 * What `npm run build` ships: the self-contained directory dist/hookinit/
 * (in an image, /hookinit/), and dist/hookinit.cjs + dist/hookinit.node for
 * images that already have Node.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HOOKINIT, HOOKINIT_DIR as home, ROOT } from "../support/hookinit.js";

const dist = join(ROOT, "dist");

/** The newest GLIBC_x.y symbol version a binary needs. */
function newestGlibc(file: string): string {
  const versions = [
    ...execFileSync("objdump", ["-T", file], {
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    }).matchAll(/GLIBC_(\d+)\.(\d+)/g),
  ]
    .map((match) => [Number(match[1]), Number(match[2])] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const [major, minor] = versions.at(-1) ?? [0, 0];
  return `${major}.${String(minor).padStart(2, "0")}`;
}

function readelf(args: string[], file: string): string {
  return execFileSync("readelf", [...args, "-W", file], { encoding: "utf8" });
}

describe("the hookinit directory", () => {
  it("has a static entry executable: no ELF loader or library from the image", () => {
    const headers = readelf(["-l"], HOOKINIT);
    expect(headers).not.toMatch(/Requesting program interpreter/);
    expect(readelf(["-d"], HOOKINIT)).not.toMatch(/\(NEEDED\)/);
  });

  it("holds every library its runtime and helper need, and the loader they name", () => {
    const lib = join(home, "lib");
    const present = new Set(readdirSync(lib));
    for (const file of ["hookinit-runtime", "hookinit.node"]) {
      const needed = [
        ...readelf(["-d"], join(lib, file)).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g),
      ].map((m) => m[1] as string);
      for (const name of needed) expect(present.has(name), `${file} needs ${name}`).toBe(true);
    }
    const interpreter = /Requesting program interpreter: ([^\]]+)\]/.exec(
      readelf(["-l"], join(lib, "hookinit-runtime")),
    )?.[1];
    expect(interpreter).toBeDefined();
    expect(present.has((interpreter as string).split("/").pop() as string)).toBe(true);
    expect(existsSync(join(home, "LICENSES", "README.txt"))).toBe(true);
  });

  it("runs from any place it is copied to, and says which runtime it carries", () => {
    expect(statSync(HOOKINIT).mode & 0o111).not.toBe(0);
    expect(execFileSync(HOOKINIT, ["--version"], { encoding: "utf8" })).toMatch(
      /^hookinit \S+ \((bun \d|node v24\.)/,
    );
  });
});

describe("the bundle for images with Node", () => {
  it("needs glibc 2.28 at most, as the README promises (Node's own floor)", () => {
    expect(newestGlibc(join(dist, "hookinit.node")) <= "2.28").toBe(true);
  });

  it("is one file plus its native helper", () => {
    expect(statSync(join(dist, "hookinit.cjs")).size).toBeGreaterThan(0);
    expect(statSync(join(dist, "hookinit.node")).size).toBeLessThan(200 * 1024);
  });
});
