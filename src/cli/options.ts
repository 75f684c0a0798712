import { parseArgs } from "node:util";
import { EXIT, ExitError } from "../core/exit-codes.js";
import { parseReadyAddress } from "../ipc/ready-address.js";
import { LOG_FORMATS, LOG_LEVELS } from "../log/logger.js";
import type { SuperviseOptions } from "../supervisor/main.js";
import {
  parseRewrites,
  parseSignal,
  type RewriteTable,
  type SignalName,
} from "../supervisor/signals.js";

/** A usage problem: one line, exit code 2. */
export class UsageError extends ExitError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
  }
}

/** The options the client commands share with the supervisor. */
export type CommonOptions = Pick<SuperviseOptions, "socket" | "logLevel" | "logFormat">;

export type Invocation =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "supervise"; options: SuperviseOptions }
  | { kind: "hook"; hook: string; options: CommonOptions }
  | { kind: "status"; options: CommonOptions }
  | { kind: "ready"; options: CommonOptions }
  | { kind: "tool"; tool: Tool; args: string[] };

/** Commands that do not supervise anything: install, inject and the webhook (src/inject/). */
export const TOOLS = ["install", "inject", "webhook"] as const;
export type Tool = (typeof TOOLS)[number];

/**
 * Every option, its environment variable and its help text. The help screen
 * is written from this list, and a test holds the README's table to it.
 */
export const OPTION_SPECS = {
  config: {
    type: "string",
    arg: "FILE",
    help: "hook configuration, YAML or JSON (lifecycle schema)",
  },
  "config-inline": {
    type: "string",
    arg: "YAML",
    help: "the hook configuration itself instead of a file (what inject writes)",
  },
  container: {
    type: "string",
    arg: "NAME",
    help: "with a pod manifest as --config: the container",
  },
  socket: { type: "string", arg: "PATH", help: "control socket (default: see README)" },
  grace: {
    type: "string",
    arg: "SECONDS",
    help: "total stop budget, like terminationGracePeriodSeconds (default: a --config manifest's terminationGracePeriodSeconds, else 30)",
  },
  rewrite: {
    type: "string",
    arg: "FROM:TO",
    help: "rewrite a forwarded signal, TO=0 drops it (repeatable)",
    multiple: true,
  },
  "single-child": { type: "boolean", help: "signal only the program, not its process group" },
  "stop-signal": {
    type: "string",
    arg: "SIGNAL",
    help: "the signal that starts the stop sequence (default: the config's lifecycle stopSignal, else TERM)",
  },
  "ready-address": {
    type: "string",
    arg: "ADDR",
    help: "serve GET /ready (200 ready, 503 not) on ADDR, e.g. :8086 or 127.0.0.1:8086 (default: off)",
  },
  "log-level": {
    type: "string",
    arg: "LEVEL",
    help: "trace|debug|info|warn|error|silent",
    default: "info",
  },
  "log-format": { type: "string", arg: "FORMAT", help: "json|text", default: "json" },
  help: { type: "boolean", short: "h", help: "show this help" },
  version: { type: "boolean", short: "V", help: "print the version" },
} as const satisfies Record<
  string,
  {
    type: "string" | "boolean";
    arg?: string;
    help: string;
    default?: string;
    short?: string;
    multiple?: boolean;
  }
>;

type OptionName = keyof typeof OPTION_SPECS;

/** HOOKINIT_LOG_LEVEL for --log-level, and so on. */
export function envName(option: OptionName): string {
  return `HOOKINIT_${option.toUpperCase().replaceAll("-", "_")}`;
}

const CLIENT_COMMANDS = new Set(["hook", "status", "ready"]);

/**
 * Parses the command line. Options stop at the first word that is not an
 * option (as tini's getopt "+" does), so `hookinit nginx -g 'daemon off;'`
 * gives -g to nginx; `--` ends options explicitly.
 */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  const { optionArgs, rest, sawDoubleDash } = splitAtCommand(argv);
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({
      args: optionArgs,
      options: parseArgsOptions(),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    // parseArgs explains some mistakes over several lines; we promise one.
    const firstLine = (error as Error).message.split("\n")[0]?.replace(/\.$/, "");
    throw new UsageError(`${firstLine}; see hookinit --help`);
  }

  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };

  const get = (name: OptionName): string | undefined => {
    const value = values[name];
    if (typeof value === "string") return value;
    const fromEnv = env[envName(name)];
    if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
    const spec = OPTION_SPECS[name];
    return "default" in spec ? spec.default : undefined;
  };

  const common: CommonOptions = {
    socket: get("socket"),
    logLevel: oneOf(get("log-level"), LOG_LEVELS, "--log-level"),
    logFormat: oneOf(get("log-format"), LOG_FORMATS, "--log-format"),
  };

  const [first, ...args] = rest;
  if (!sawDoubleDash && (TOOLS as readonly string[]).includes(first as string)) {
    return { kind: "tool", tool: first as Tool, args };
  }
  if (!sawDoubleDash && first !== undefined && CLIENT_COMMANDS.has(first)) {
    return parseClientCommand(first, args, common);
  }
  if (first === undefined) {
    throw new UsageError(
      "no command to run; give one after the options, e.g. hookinit -- nginx -g 'daemon off;'",
    );
  }

  const rewriteValues = (values.rewrite as string[] | undefined) ?? listFromEnv(env, "rewrite");
  let rewrites: RewriteTable;
  try {
    rewrites = parseRewrites(rewriteValues);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }

  const config = get("config");
  const configInline = inlineConfig(values["config-inline"], env);
  if (config !== undefined && configInline !== undefined) {
    const file = typeof values.config === "string" ? "--config" : envName("config");
    throw new UsageError(
      `${file} and ${configInline.source} are both set; give the hook configuration one way only`,
    );
  }

  return {
    kind: "supervise",
    options: {
      ...common,
      command: rest,
      config,
      configInline,
      container: get("container"),
      graceSeconds: optional(get("grace"), parseGrace),
      rewrites,
      singleChild: values["single-child"] === true || booleanFromEnv(env, "single-child"),
      stopSignal: optional(get("stop-signal"), parseStopSignal),
      readyAddress: optional(get("ready-address"), (text) => {
        try {
          return parseReadyAddress(text);
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
      }),
    },
  };
}

/**
 * --config-inline, else HOOKINIT_CONFIG_INLINE. An empty value counts as
 * unset, as for every other variable: a manifest template that renders an
 * empty block should not turn into an error.
 */
function inlineConfig(
  flag: unknown,
  env: NodeJS.ProcessEnv,
): SuperviseOptions["configInline"] | undefined {
  if (typeof flag === "string") return { text: flag, source: "--config-inline" };
  const name = envName("config-inline");
  const text = env[name];
  return text === undefined || text.trim() === "" ? undefined : { text, source: name };
}

function parseArgsOptions() {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {};
  for (const [name, spec] of Object.entries(OPTION_SPECS)) {
    options[name] = { type: spec.type };
    if ("short" in spec) options[name].short = spec.short;
    if ("multiple" in spec) options[name].multiple = spec.multiple;
  }
  return options;
}

/**
 * Finds where hookinit's options end: at `--`, or at the first word that is
 * neither an option nor an option's value.
 */
function splitAtCommand(argv: readonly string[]) {
  const takesValue = new Set(
    Object.entries(OPTION_SPECS)
      .filter(([, spec]) => spec.type === "string")
      .map(([name]) => `--${name}`),
  );
  let i = 0;
  while (i < argv.length) {
    const word = argv[i] as string;
    if (word === "--") {
      return { optionArgs: argv.slice(0, i), rest: argv.slice(i + 1), sawDoubleDash: true };
    }
    if (!word.startsWith("-") || word === "-") break;
    i += takesValue.has(word) ? 2 : 1;
  }
  return { optionArgs: argv.slice(0, i), rest: argv.slice(i), sawDoubleDash: false };
}

function parseClientCommand(
  command: string,
  args: readonly string[],
  options: CommonOptions,
): Invocation {
  if (command === "hook") {
    const [hook, ...extra] = args;
    if (hook === undefined || extra.length > 0) {
      throw new UsageError("usage: hookinit hook postStart|preStop");
    }
    return { kind: "hook", hook, options };
  }
  if (args.length > 0) {
    throw new UsageError(`hookinit ${command} takes no arguments; got ${JSON.stringify(args)}`);
  }
  return command === "status" ? { kind: "status", options } : { kind: "ready", options };
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag: string,
): T {
  if (value !== undefined && (allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag} ${JSON.stringify(value)} is not one of ${allowed.join("|")}`);
}

function parseGrace(text: string): number {
  const seconds = Number(text);
  // setTimeout's limit is 2^31-1 ms; a larger grace would fire at once.
  if (text.trim() === "" || !Number.isFinite(seconds) || seconds < 0 || seconds > 2_000_000) {
    throw new UsageError(
      `--grace ${JSON.stringify(text)} is not a number of seconds from 0 to 2000000; write e.g. --grace 30`,
    );
  }
  return seconds;
}

function optional<T>(text: string | undefined, parse: (text: string) => T): T | undefined {
  return text === undefined ? undefined : parse(text);
}

export function parseStopSignal(text: string): SignalName {
  const signal = parseSignal(text);
  if (signal === undefined || ["SIGKILL", "SIGSTOP", "SIGCHLD"].includes(signal)) {
    throw new UsageError(
      `--stop-signal ${JSON.stringify(text)} is not a catchable signal; write e.g. --stop-signal TERM`,
    );
  }
  return signal;
}

function listFromEnv(env: NodeJS.ProcessEnv, option: OptionName): string[] {
  const raw = env[envName(option)];
  return raw ? raw.split(/[\s,]+/).filter(Boolean) : [];
}

function booleanFromEnv(env: NodeJS.ProcessEnv, option: OptionName): boolean {
  const raw = env[envName(option)]?.trim().toLowerCase();
  if (raw === undefined || raw === "" || ["0", "false", "no", "off"].includes(raw)) return false;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  throw new UsageError(`${envName(option)}=${JSON.stringify(raw)} is not true or false`);
}
