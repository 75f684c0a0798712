#!/usr/bin/env node
// Fails when a module of src/ imports from a folder above its own layer.
// The layers (docs/ARCHITECTURE.md, "Layers"), top to bottom:
//
//   cli → {supervisor, inject} → {hooks, ipc} → {native, log} → core
//
// A folder may import its own files and the folders listed for it below;
// nothing imports upward or sideways. Type-only imports count too: a type
// that two layers share belongs in the lower one (usually src/core).
// Usage: node scripts/check-layers.mjs   (part of `npm run lint`)
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const MAY_IMPORT = {
  cli: ["supervisor", "inject", "hooks", "ipc", "native", "log", "core"],
  supervisor: ["hooks", "ipc", "native", "log", "core"],
  inject: ["hooks", "core"],
  hooks: ["native", "log", "core"],
  ipc: ["native", "log", "core"],
  native: ["core"],
  log: ["core"],
  core: [],
};

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");

/** Every module specifier of a file: import/export ... from "x", import "x", import("x"). */
export function specifiers(text) {
  // Comments out first, so that an example in a comment is not an import.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  const found = [];
  const patterns = [
    /\b(?:import|export)\s[^"'`;]*?\sfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) found.push(match[1]);
  return found;
}

function* sourceFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (/\.(?:[cm]?ts|[cm]?js)$/.test(entry.name)) yield path;
  }
}

/** The top folder of src/ a path lies in, or undefined outside src/. */
function layerOf(path) {
  const rel = relative(src, path);
  if (rel.startsWith("..") || rel === "") return undefined;
  return rel.split(sep)[0];
}

export function check() {
  const problems = [];
  for (const file of sourceFiles(src)) {
    const from = layerOf(file);
    const shown = relative(root, file);
    if (!(from in MAY_IMPORT)) {
      problems.push(
        `${shown}: folder src/${from} has no layer; add it to scripts/check-layers.mjs and docs/ARCHITECTURE.md`,
      );
      continue;
    }
    for (const specifier of specifiers(readFileSync(file, "utf8"))) {
      if (!specifier.startsWith(".")) continue;
      const to = layerOf(resolve(dirname(file), specifier));
      if (to === undefined) {
        problems.push(`${shown}: imports ${specifier}, outside src/`);
      } else if (to !== from && !MAY_IMPORT[from].includes(to)) {
        problems.push(
          `${shown}: src/${from} imports ${specifier} (src/${to}), which is not below it`,
        );
      }
    }
  }
  return problems;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problems = check();
  for (const problem of problems) console.error(`layers: ${problem}`);
  if (problems.length > 0) {
    console.error(
      "layers: cli → {supervisor, inject} → {hooks, ipc} → {native, log} → core; see docs/ARCHITECTURE.md",
    );
    process.exit(1);
  }
}
