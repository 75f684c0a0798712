/**
 * An app image's WORKDIR often holds files that runtimes pick up on their
 * own: `.env`, `bunfig.toml`, `tsconfig.json`, `package.json`. hookinit is
 * compiled with every autoload off, so none of them reaches hookinit or,
 * through it, the program: the program's environment is the container's,
 * and hookinit's own log is configured by its options only.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readLines, tempDir, writeConfig } from "../support/files.js";
import { HOOKINIT } from "../support/hookinit.js";
import { cleanupAfterEach, run, runHookinit } from "../support/process.js";

cleanupAfterEach();

/** A working directory holding what Bun and Node would read from it. */
function hostileDirectory(): string {
  const dir = tempDir();
  const evil = join(dir, "evil.js");
  writeFileSync(evil, 'require("fs").writeSync(1, "EVIL-PRELOAD\\n");\n');
  writeFileSync(
    join(dir, ".env"),
    "HOOKINIT_LOG_LEVEL=silent\nX=leaked\nNODE_OPTIONS=--require ./evil.js\n",
  );
  writeFileSync(join(dir, ".env.production"), "X=leaked-production\n");
  writeFileSync(join(dir, ".env.local"), "X=leaked-local\n");
  writeFileSync(
    join(dir, "bunfig.toml"),
    `preload = ["${evil}"]\nlogLevel = "error"\n[define]\n"process.env.X" = "'leaked'"\n`,
  );
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { paths: { "*": ["./evil.js"] } } }),
  );
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ type: "module", main: "evil.js", imports: { "#x": "./evil.js" } }),
  );
  mkdirSync(join(dir, "node_modules", "pino"), { recursive: true });
  writeFileSync(join(dir, "node_modules", "pino", "index.js"), 'require("./../../evil.js");\n');
  return dir;
}

describe("a working directory full of runtime configuration", () => {
  it("reaches neither the program's environment nor hookinit's log", async () => {
    const cwd = hostileDirectory();
    const result = await runHookinit(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: sh's own ${X-unset}
      ["--", "sh", "-c", 'echo "X=${X-unset}"; echo "N=${NODE_OPTIONS-unset}"'],
      {
        cwd,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split("\n");
    expect(lines).toContain("X=unset");
    expect(lines).toContain("N=unset");
    expect(result.stdout).not.toContain("EVIL-PRELOAD");
    // The log is on: .env's HOOKINIT_LOG_LEVEL=silent was not read.
    expect(result.stdout).toMatch(/"msg":"started"/);
    expect(result.stdout).toMatch(/"msg":"program exited"/);
  });

  it("leaves --version alone too", async () => {
    const cwd = hostileDirectory();
    const version = await run("sh", ["-c", `cd "$1" && exec "$2" --version`, "sh", cwd, HOOKINIT]);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^hookinit \S+ \(/);
    expect(version.stdout).not.toContain("EVIL-PRELOAD");
  });
});

describe("the environment the entry executable starts the runtime with", () => {
  // The entry executable hides LD_PRELOAD and LD_AUDIT from the directory's
  // own loader and the runtime puts them back: the program and the hooks get
  // the container's environment exactly, with nothing of ours added.
  it("reaches the program and the hook handlers unchanged", async () => {
    const dir = tempDir();
    const hookEnv = join(dir, "hook.env");
    const config = writeConfig(dir, {
      preStop: { exec: { command: ["sh", "-c", `env > ${hookEnv}`] } },
    });
    const result = await runHookinit(
      [
        "--config",
        config,
        "--",
        "sh",
        "-c",
        `env > ${join(dir, "program.env")}; kill -TERM 1; sleep 30 & wait`,
      ],
      // An empty LD_PRELOAD entry is ignored by every loader, but still has to come through.
      { env: { LD_PRELOAD: "", LD_AUDIT: "", LD_LIBRARY_PATH: "/nonexistent-lib" } },
    );
    expect(result.code, result.stderr).toBe(143);
    for (const file of ["program.env", "hook.env"]) {
      const env = readLines(join(dir, file));
      expect(env, file).toContain("LD_PRELOAD=");
      expect(env, file).toContain("LD_AUDIT=");
      expect(env, file).toContain("LD_LIBRARY_PATH=/nonexistent-lib");
      expect(
        env.filter((line) => /^(HOOKINIT_FRONT_|BUN_|NODE_OPTIONS)/.test(line)),
        file,
      ).toEqual([]);
    }
  });
});
