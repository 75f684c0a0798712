import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { helpText } from "../../src/cli/help.js";
import { envName, OPTION_SPECS } from "../../src/cli/options.js";
import { EXIT, SIGNAL_EXIT_BASE } from "../../src/core/exit-codes.js";

const readme = readFileSync(join(import.meta.dirname, "..", "..", "README.md"), "utf8");

describe("README and --help match the code", () => {
  for (const [name, spec] of Object.entries(OPTION_SPECS)) {
    it(`documents --${name}`, () => {
      expect(readme).toContain(`\`--${name}`);
      expect(helpText()).toContain(`--${name}`);
      if (name !== "help" && name !== "version") {
        const env = envName(name as keyof typeof OPTION_SPECS);
        expect(readme).toContain(env);
        expect(helpText()).toContain(env);
      }
      if ("default" in spec) expect(helpText()).toContain(`default ${spec.default}`);
    });
  }
});

/** The first cells of the table under "### Exit codes". */
function readmeExitCodes(): string[] {
  const section = readme.split(/^### Exit codes$/m)[1]?.split(/^#/m)[0] ?? "";
  return section
    .split("\n")
    .filter((line) => line.startsWith("|") && !/^\|\s*-/.test(line))
    .map((line) => line.split("|")[1]?.trim() ?? "")
    .filter((cell) => cell !== "code");
}

describe("README's exit-code table matches src/core/exit-codes.ts", () => {
  const documented = readmeExitCodes();

  it("has a row for every code of the module, and no other number", () => {
    const numbers = documented.filter((cell) => /^\d+$/.test(cell)).map(Number);
    expect(numbers.sort((a, b) => a - b)).toEqual(
      [...new Set(Object.values(EXIT))].sort((a, b) => a - b),
    );
  });

  it("documents the program's own code and 128+N", () => {
    expect(documented).toContain("the program's");
    expect(documented).toContain(`${SIGNAL_EXIT_BASE}+N`);
  });

  it("--help names every code", () => {
    for (const code of Object.values(EXIT)) expect(helpText()).toMatch(new RegExp(`\\b${code}\\b`));
  });
});
