import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without type declarations
import { check, specifiers } from "../../scripts/check-layers.mjs";

describe("layers of src/ (scripts/check-layers.mjs, run by npm run lint)", () => {
  it("finds static, re-exported, dynamic and side-effect imports, not commented ones", () => {
    const text = [
      'import { a } from "../core/a.js";',
      'import type { B } from "./b.js";',
      'export { c } from "../log/c.js";',
      'import "./side.js";',
      'const d = await import("../hooks/d.js");',
      '// import { e } from "../cli/e.js";',
      '/* import { f } from "../cli/f.js"; */',
      'import {\n  g,\n  type H,\n} from "../ipc/g.js";',
    ].join("\n");
    expect(specifiers(text).sort()).toEqual(
      ["../core/a.js", "./b.js", "../log/c.js", "./side.js", "../hooks/d.js", "../ipc/g.js"].sort(),
    );
  });

  it("src/ has no upward import", () => {
    expect(check()).toEqual([]);
  });
});
