import { writeSync } from "node:fs";
import { EXIT, ExitError } from "../core/exit-codes.js";
import { restoreFrontEnvironment } from "../core/home.js";
import { CALLABLE_HOOKS, normalizeHookName } from "../core/hooks.js";
import { VERSION } from "../core/version.js";
import { supervise } from "../supervisor/main.js";
import { helpText } from "./help.js";
import { type Invocation, parseCommandLine } from "./options.js";

/**
 * Writes straight to the fd: process.stdout/stderr would put a pipe shared
 * with the program into non-blocking mode.
 */
function say(fd: 1 | 2, text: string): void {
  try {
    writeSync(fd, text);
  } catch (error) {
    // EPIPE, EBADF: our reader is gone, nowhere to report it. Anything else
    // on stdout is said on stderr; on stderr there is nowhere left.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPIPE" && code !== "EBADF" && fd === 1)
      say(2, `hookinit: cannot write to stdout: ${String(error)}\n`);
  }
}

/** The client commands, run from exec handlers and probes. */
async function runClient(
  invocation: Extract<Invocation, { kind: "hook" | "status" | "ready" }>,
): Promise<number> {
  const { callHook, fetchStatus, setClientLogLevel, Unreachable } = await import(
    "../ipc/client.js"
  );
  setClientLogLevel(invocation.options.logLevel);
  const socket = invocation.options.socket;
  try {
    switch (invocation.kind) {
      case "hook": {
        const hook = normalizeHookName(invocation.hook);
        if (hook === undefined || !CALLABLE_HOOKS.includes(hook)) {
          say(
            2,
            `hookinit: unknown hook ${JSON.stringify(invocation.hook)}; use postStart or preStop\n`,
          );
          return EXIT.USAGE;
        }
        return await callHook(hook, socket);
      }
      case "status":
        say(1, `${JSON.stringify(await fetchStatus(socket), null, 2)}\n`);
        return 0;
      case "ready": {
        // A probe: 0 or 1 only, and at once. No supervisor is "not ready".
        let status: Awaited<ReturnType<typeof fetchStatus>>;
        try {
          status = await fetchStatus(socket, "once");
        } catch (error) {
          // Whatever kept us from asking (no supervisor, a broken native
          // helper): the probe's answer is still only 0 or 1.
          const why = error instanceof Unreachable ? "cannot reach the supervisor" : "cannot ask";
          say(2, `hookinit: not ready: ${why}: ${(error as Error).message}\n`);
          return EXIT.FAILURE;
        }
        if (status.ready === true) return 0;
        // Read defensively: whatever the reply holds, the answer is 0 or 1.
        const text = (value: unknown) => (typeof value === "string" ? value : "unknown");
        const postStart = (status.hooks as Partial<typeof status.hooks> | undefined)?.postStart;
        say(
          2,
          `hookinit: not ready: phase ${text(status.phase)}, postStart ${text(postStart?.state)}\n`,
        );
        return EXIT.FAILURE;
      }
    }
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    say(2, `hookinit: cannot reach the supervisor: ${error.message}\n`);
    return EXIT.UNREACHABLE;
  }
}

/** The JS runtime hookinit was built with, for --version. */
function runtimeName(): string {
  const bun = (process.versions as { bun?: string }).bun;
  return bun === undefined ? `node ${process.version}` : `bun ${bun}`;
}

async function main(argv: readonly string[]): Promise<number> {
  const invocation: Invocation = parseCommandLine(argv, process.env);
  switch (invocation.kind) {
    case "help":
      say(1, helpText());
      return 0;
    case "version":
      say(1, `hookinit ${VERSION} (${runtimeName()})\n`);
      return 0;
    case "supervise":
      return supervise(invocation.options);
    case "hook":
    case "status":
    case "ready":
      return runClient(invocation);
    case "tool": {
      // Loaded only here: the supervisor's start never evaluates them.
      const tools = await import("../inject/command.js");
      const run = { install: tools.runInstall, inject: tools.runInject, webhook: tools.runWebhook };
      return run[invocation.tool](invocation.args);
    }
  }
}

/**
 * Every failure that ends hookinit comes here: an ExitError (usage, config,
 * start, native helper) is one line and its code; anything else is a bug,
 * reported with its stack.
 */
restoreFrontEnvironment();
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ExitError) {
      say(2, `hookinit: ${error.message}\n`);
      process.exit(error.exitCode);
    }
    say(2, `hookinit: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(EXIT.INTERNAL);
  },
);
