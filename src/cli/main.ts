import { writeSync } from "node:fs";
import { supervise } from "../supervisor/main.js";
import { StartError } from "../supervisor/program.js";
import { helpText, VERSION } from "./help.js";
import { parseCommandLine, UsageError } from "./options.js";

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

async function main(argv: readonly string[]): Promise<number> {
  let invocation: ReturnType<typeof parseCommandLine>;
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
    default:
      say(
        2,
        `hookinit: '${invocation.kind}' needs the control socket, which this build does not have yet\n`,
      );
      return EXIT_USAGE;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(2, `hookinit: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(EXIT_USAGE);
  },
);
