import { writeSync } from "node:fs";
import { CALLABLE_HOOKS, normalizeHookName } from "../ipc/protocol.js";
import { supervise } from "../supervisor/main.js";
import { StartError } from "../supervisor/program.js";
import { helpText, VERSION } from "./help.js";
import { type Invocation, parseCommandLine, UsageError } from "./options.js";

/** Exit code for usage and configuration errors (BRIEF: "2 for a usage or configuration error"). */
export const EXIT_USAGE = 2;

/**
 * Writes straight to the fd: process.stdout/stderr would put a pipe shared
 * with the program into non-blocking mode.
 */
function say(fd: 1 | 2, text: string): void {
  try {
    writeSync(fd, text);
  } catch {
    // Nowhere to report a closed stdout or stderr.
  }
}

/** The client commands, run from exec handlers and probes. */
async function runClient(
  invocation: Extract<Invocation, { kind: "hook" | "status" | "ready" }>,
): Promise<number> {
  const { callHook, EXIT_UNREACHABLE, fetchStatus, Unreachable } = await import("../ipc/client.js");
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
          return EXIT_USAGE;
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
          if (!(error instanceof Unreachable)) throw error;
          say(2, `hookinit: not ready: cannot reach the supervisor: ${error.message}\n`);
          return 1;
        }
        if (status.ready) return 0;
        say(
          2,
          `hookinit: not ready: phase ${status.phase}, postStart ${status.hooks.postStart.state}\n`,
        );
        return 1;
      }
    }
  } catch (error) {
    if (!(error instanceof Unreachable)) throw error;
    say(2, `hookinit: cannot reach the supervisor: ${error.message}\n`);
    return EXIT_UNREACHABLE;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(argv, process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    say(2, `hookinit: ${error.message}\n`);
    return EXIT_USAGE;
  }

  switch (invocation.kind) {
    case "help":
      say(1, helpText());
      return 0;
    case "version":
      say(1, `hookinit ${VERSION} (node ${process.version})\n`);
      return 0;
    case "supervise":
      try {
        return await supervise(invocation.options);
      } catch (error) {
        if (error instanceof StartError) {
          say(2, `hookinit: ${error.message}\n`);
          return error.exitCode;
        }
        say(2, `hookinit: ${(error as Error).message}\n`);
        return EXIT_USAGE;
      }
    case "hook":
    case "status":
    case "ready":
      return runClient(invocation);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(2, `hookinit: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(EXIT_USAGE);
  },
);
