import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { helpText } from "../../src/cli/help.js";
import { envName, OPTION_SPECS } from "../../src/cli/options.js";

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
