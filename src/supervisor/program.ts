import { accessSync, constants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { getSystemErrorMessage } from "node:util";
import { EXIT, ExitError } from "../core/exit-codes.js";
import type { NativeHelper } from "../native/helper.js";

/** Why the program could not be started, with the exit code sh would use. */
export class StartError extends ExitError {
  constructor(message: string, exitCode: typeof EXIT.NOT_FOUND | typeof EXIT.NOT_EXECUTABLE) {
    super(message, exitCode);
  }
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/**
 * Finds the file execve should run, as execvp would: a name with a slash is
 * used as it is, anything else is looked up in PATH. Done here rather than in
 * the forked child so that "not found" and "not executable" get distinct,
 * clear messages and exit codes 127 and 126.
 */
export function resolveCommand(name: string, env: NodeJS.ProcessEnv): string {
  if (name === "") throw new StartError("cannot run an empty command name", EXIT.NOT_FOUND);
  if (name.includes("/")) {
    checkExecutable(name, name);
    return name;
  }
  const searchPath = env.PATH ?? DEFAULT_PATH;
  let denied: string | undefined;
  for (const dir of searchPath.split(delimiter)) {
    const candidate = join(dir === "" ? "." : dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
    } catch (error) {
      // Not in this PATH entry, or an entry we may not search: sh goes on too.
      if (!NOT_HERE.has(errnoCode(error)))
        throw new StartError(
          `cannot run ${name}: ${candidate}: ${errnoCode(error)}`,
          EXIT.NOT_EXECUTABLE,
        );
      continue;
    }
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch (error) {
      if (errnoCode(error) !== "EACCES")
        throw new StartError(
          `cannot run ${name}: ${candidate}: ${errnoCode(error)}`,
          EXIT.NOT_EXECUTABLE,
        );
      denied ??= candidate;
    }
  }
  if (denied !== undefined) {
    throw new StartError(
      `cannot run ${name}: ${denied} is not executable (chmod +x it)`,
      EXIT.NOT_EXECUTABLE,
    );
  }
  throw new StartError(
    `cannot run ${name}: command not found in PATH=${searchPath}`,
    EXIT.NOT_FOUND,
  );
}

function checkExecutable(file: string, shown: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(file).isFile();
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR")
      throw new StartError(`cannot run ${shown}: no such file`, EXIT.NOT_FOUND);
    throw new StartError(`cannot run ${shown}: ${code}`, EXIT.NOT_EXECUTABLE);
  }
  if (!isFile) throw new StartError(`cannot run ${shown}: not a regular file`, EXIT.NOT_EXECUTABLE);
  try {
    accessSync(file, constants.X_OK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "EACCES")
      throw new StartError(
        `cannot run ${shown}: not executable (chmod +x it)`,
        EXIT.NOT_EXECUTABLE,
      );
    throw new StartError(`cannot run ${shown}: ${code}`, EXIT.NOT_EXECUTABLE);
  }
}

/** What a PATH lookup passes over in one directory, as sh does. */
const NOT_HERE = new Set(["ENOENT", "ENOTDIR", "EACCES", "ELOOP", "ENAMETOOLONG"]);

function errnoCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/**
 * Starts the program with inherited stdio, in a process group of its own:
 * a new session when there is no terminal (dumb-init), or a foreground
 * process group in our session when stdin is a terminal (tini), so that
 * `docker run -it` keeps job control whoever leads the session.
 */
export function spawnProgram(
  native: NativeHelper,
  command: readonly string[],
  env: NodeJS.ProcessEnv,
  onTerminal: boolean,
): number {
  const [name = "", ...args] = command;
  const file = resolveCommand(name, env);
  const envp = Object.entries(env)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${key}=${value}`);
  const result = native.spawn(file, [name, ...args], envp, null, onTerminal);
  if (result.pid > 0) return result.pid;
  // The checks above passed but execve still failed: a missing script
  // interpreter (ENOENT) or a file the kernel cannot run (ENOEXEC, EACCES).
  const reason = getSystemErrorMessage(-(result.errno ?? 0));
  const code = result.errno === 2 ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE;
  const hint = result.errno === 2 ? " (is the #! interpreter installed?)" : "";
  throw new StartError(`cannot run ${name}: ${result.syscall} failed: ${reason}${hint}`, code);
}
