/**
 * The command lines of `hookinit install`, `hookinit inject` and `hookinit
 * webhook`. Loaded only when one of them runs: PID 1 never pays for them.
 * Each returns the exit code; problems are one line on stderr, exit 2.
 */
import { readFileSync, writeSync } from "node:fs";
import { parseArgs } from "node:util";
import { EXIT } from "../core/exit-codes.js";
import { DEFAULT_OPTIONS, InjectError, type InjectOptions, injectText } from "./manifest.js";

function say(fd: 1 | 2, text: string): void {
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") continue;
      // EPIPE, EBADF: our reader is gone. Anything else on stdout is said on
      // stderr; on stderr there is nowhere left.
      if (code !== "EPIPE" && code !== "EBADF" && fd === 1)
        say(2, `hookinit: cannot write to stdout: ${String(error)}\n`);
      return;
    }
  }
}

/** Options shared by inject, --krm and the webhook. */
export const INJECT_OPTION_SPECS = {
  image: {
    type: "string",
    arg: "IMAGE",
    help: "image with /hookinit/ in it, run by the init container (required)",
  },
  container: {
    type: "string",
    arg: "NAME",
    multiple: true,
    help: "only this container (repeatable); sidecars only when named (default: every container)",
  },
  command: {
    type: "string",
    arg: "NAME=CMD",
    multiple: true,
    help: "the image ENTRYPOINT of a container whose manifest has no command: words, or a JSON list",
  },
  readiness: {
    type: "boolean",
    help: "add a readiness probe asking hookinit where a container has none",
  },
  strict: { type: "boolean", help: "refuse kinds that may hold pods inject does not know" },
  undo: {
    type: "boolean",
    help: "remove what inject added (undo after inject gives the input back)",
  },
} as const;

const INJECT_USAGE = `Usage: hookinit inject [OPTIONS] [FILE...|-]
       hookinit inject --krm [OPTIONS] < ResourceList

Rewrites Kubernetes manifests (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
Job, CronJob, List; multi-document YAML) so that their containers run under hookinit
without rebuilding any image. Everything else passes through byte for byte.
Reads stdin when no FILE (or -) is given; writes to stdout.

Options:
  --image IMAGE          image with /hookinit/ in it, run by the init container (required)
  --container NAME       only this container (repeatable); sidecars only when named
  --command NAME=CMD     the image ENTRYPOINT of container NAME when it has no command:
                         words (NAME=/docker-entrypoint.sh nginx) or a JSON list
  --readiness            add readinessProbe: exec hookinit ready, where there is none
  --strict               refuse kinds that may hold pods inject does not know
  --undo                 remove what inject added
  --krm                  run as a KRM function (ResourceList on stdin and stdout);
                         options also come from functionConfig.data
  -h, --help             this help
`;

/** Turns `--command NAME=CMD` values into a table. */
export function parseCommands(values: readonly string[]): Map<string, string[]> {
  const table = new Map<string, string[]>();
  for (const value of values) {
    const eq = value.indexOf("=");
    const name = value.slice(0, eq);
    const text = value.slice(eq + 1).trim();
    if (eq <= 0 || text === "") {
      throw new InjectError(
        `--command ${JSON.stringify(value)}: expected NAME=COMMAND, e.g. --command web=/docker-entrypoint.sh or --command 'web=["/bin/app","serve"]'`,
      );
    }
    let words: unknown;
    if (text.startsWith("[")) {
      try {
        words = JSON.parse(text);
      } catch (error) {
        throw new InjectError(`--command ${name}: invalid JSON list: ${(error as Error).message}`);
      }
      if (
        !Array.isArray(words) ||
        words.length === 0 ||
        !words.every((w) => typeof w === "string")
      ) {
        throw new InjectError(`--command ${name}: expected a non-empty JSON list of strings`);
      }
    } else {
      words = text.split(/\s+/);
    }
    table.set(name, words as string[]);
  }
  return table;
}

/** Reads inject's options from parseArgs values. */
export function injectOptions(values: Record<string, unknown>): InjectOptions {
  const list = (name: string) => (values[name] as string[] | undefined) ?? [];
  return {
    ...DEFAULT_OPTIONS,
    image: values.image as string | undefined,
    containers: list("container"),
    commands: parseCommands(list("command")),
    readiness: values.readiness === true,
    strict: values.strict === true,
    undo: values.undo === true,
  };
}

function parse(args: readonly string[], extra: Record<string, { type: "string" | "boolean" }>) {
  const options: Record<
    string,
    { type: "string" | "boolean"; multiple?: boolean; short?: string }
  > = {
    help: { type: "boolean", short: "h" },
    ...extra,
  };
  for (const [name, spec] of Object.entries(INJECT_OPTION_SPECS)) {
    options[name] = { type: spec.type, ...("multiple" in spec ? { multiple: true } : {}) };
  }
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (error) {
    const firstLine = (error as Error).message.split("\n")[0]?.replace(/\.$/, "");
    throw new InjectError(firstLine ?? String(error));
  }
}

export async function runInject(args: readonly string[]): Promise<number> {
  try {
    const { values, positionals } = parse(args, { krm: { type: "boolean" } });
    if (values.help) {
      say(1, INJECT_USAGE);
      return 0;
    }
    if (values.krm) {
      if (positionals.length > 0)
        throw new InjectError("inject --krm reads a ResourceList on stdin; give no FILE");
      const { runKrm, krmFailure } = await import("./krm.js");
      const input = readFileSync(0, "utf8");
      try {
        say(1, runKrm(input, values));
        return 0;
      } catch (error) {
        // The function spec: results on stdout, the error in them, and a non-zero exit.
        if (error instanceof InjectError) say(1, krmFailure(input, error.message));
        throw error;
      }
    }
    const options = injectOptions(values);
    const files = positionals.length === 0 ? ["-"] : positionals;
    let out = "";
    for (const file of files) {
      const source = file === "-" ? "stdin" : file;
      let text: string;
      try {
        text = readFileSync(file === "-" ? 0 : file, "utf8");
      } catch (error) {
        throw new InjectError(
          `${source}: cannot read it: ${(error as NodeJS.ErrnoException).code ?? error}`,
        );
      }
      const result = injectText(text, source, options);
      if (out !== "" && !out.endsWith("\n")) out += "\n";
      if (out !== "" && !/^\s*---/.test(result)) out += "---\n";
      out += result;
    }
    say(1, out);
    return 0;
  } catch (error) {
    return report(error);
  }
}

export async function runInstall(args: readonly string[]): Promise<number> {
  const { install, InstallError } = await import("./install.js");
  if (args[0] === "--help" || args[0] === "-h") {
    say(
      1,
      "Usage: hookinit install DIR\n\nCopies hookinit's own directory into DIR (atomically; a second run changes nothing).\nFor an init container that fills an emptyDir mounted read-only at /hookinit elsewhere.\n",
    );
    return 0;
  }
  if (args.length !== 1 || args[0] === undefined || args[0].startsWith("-")) {
    say(2, "hookinit: usage: hookinit install DIR\n");
    return EXIT.USAGE;
  }
  try {
    const result = install(args[0]);
    say(
      1,
      result.copied.length === 0
        ? `hookinit install: ${result.dir} is up to date\n`
        : `hookinit install: ${result.dir}: ${result.copied.join(", ")}\n`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof InstallError)) throw error;
    say(2, `hookinit: ${error.message}\n`);
    return EXIT.USAGE;
  }
}

export async function runWebhook(args: readonly string[]): Promise<number> {
  const { startWebhook, webhookUsage, WebhookConfigError } = await import("./webhook.js");
  try {
    const { values } = parse(args, {
      listen: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "max-body-bytes": { type: "string" },
      "cert-check": { type: "string" },
    });
    if (values.help) {
      say(1, webhookUsage());
      return 0;
    }
    const server = await startWebhook(values, injectOptions(values));
    return await server.closed;
  } catch (error) {
    if (error instanceof WebhookConfigError) {
      say(2, `hookinit: webhook: ${error.message}\n`);
      return EXIT.USAGE;
    }
    return report(error);
  }
}

function report(error: unknown): number {
  if (!(error instanceof InjectError)) throw error;
  say(2, `hookinit: ${error.message}\n`);
  return EXIT.USAGE;
}
