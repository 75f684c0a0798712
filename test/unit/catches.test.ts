/**
 * Every `catch` in src/ looks at what it caught: it binds the error and its
 * block uses it (to name the codes it expects, rethrow, translate, or log the
 * rest). An empty `catch {}` ("already gone, or not empty, or read-only now")
 * once hid that the control socket's directory was never removed, and a
 * restarted container lost its socket to that leftover.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "..", "..", "src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(ts|mts|cts)$/.test(entry.name) ? [path] : [];
  });
}

/** The text between the `{` at `open` and its matching `}`. */
function block(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return text.slice(open + 1, i);
  }
  return text.slice(open + 1);
}

function problems(): string[] {
  const found: string[] = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, "utf8");
    const where = (index: number) =>
      `${relative(SRC, file)}:${text.slice(0, index).split("\n").length}`;
    for (const match of text.matchAll(/(?<![.\w])catch\s*(?:\(\s*(\w+)[^)]*\))?\s*\{/g)) {
      const name = match[1];
      if (name === undefined) {
        found.push(`${where(match.index)}: catch without a binding`);
        continue;
      }
      const body = block(text, match.index + match[0].length - 1);
      if (!new RegExp(`\\b${name}\\b`).test(body))
        found.push(`${where(match.index)}: catch (${name}) never looks at ${name}`);
    }
    for (const match of text.matchAll(/\.catch\(\s*(?:\(\s*\)|_\w*)\s*=>/g))
      found.push(`${where(match.index)}: .catch() handler ignores the error`);
  }
  return found;
}

describe("error handling in src/", () => {
  it("every catch binds the error and looks at it (expected codes named, the rest reported)", () => {
    expect(problems()).toEqual([]);
  });

  it("the check itself finds an empty catch", () => {
    const text = "try { f(); } catch {\n  // gone\n}\ntry { g(); } catch (error) { h(); }";
    const hits = [...text.matchAll(/(?<![.\w])catch\s*(?:\(\s*(\w+)[^)]*\))?\s*\{/g)];
    expect(hits.map((m) => m[1])).toEqual([undefined, "error"]);
    expect(block(text, (hits[1]?.index ?? 0) + (hits[1]?.[0].length ?? 0) - 1)).toBe(" h(); ");
  });
});
