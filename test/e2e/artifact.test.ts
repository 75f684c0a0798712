import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { HOOKINIT, HOOKINIT_HELPER } from "../support/hookinit.js";

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

describe("the shipped artifacts", () => {
  it("need glibc 2.28 at most, as the README promises (Node's own floor)", () => {
    expect(newestGlibc(HOOKINIT) <= "2.28").toBe(true);
    expect(newestGlibc(HOOKINIT_HELPER) <= "2.28").toBe(true);
  });

  it("are one executable plus its native helper", () => {
    expect(statSync(HOOKINIT).mode & 0o111).not.toBe(0);
    expect(statSync(HOOKINIT_HELPER).size).toBeLessThan(200 * 1024);
    expect(execFileSync(HOOKINIT, ["--version"], { encoding: "utf8" })).toMatch(
      /^hookinit \S+ \(node v24\./,
    );
  });
});
