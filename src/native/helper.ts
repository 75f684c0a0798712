import { accessSync, constants } from "node:fs";
import { dirname, join } from "node:path";
import { EXIT, ExitError } from "../core/exit-codes.js";
import { hookinitHome } from "../core/home.js";

/** The native helper's functions (native/hookinit.c). */
export interface NativeHelper {
  /** fork/exec; pid 0 with errno and syscall when the child could not exec. */
  spawn(
    file: string,
    argv: readonly string[],
    envp: readonly string[],
    cwd: string | null,
    foregroundGroup: boolean,
  ): { pid: number; errno?: number; syscall?: string };
  /** Reaps every zombie child whose pid is not in `owned`. */
  reap(owned: Int32Array): ReapedChild[];
  setSubreaper(): boolean;
  /** Starts the reaper thread; the program's exit comes back through `onProgramExit`. */
  startReaper(programPid: number, onProgramExit: (child: ReapedChild) => void): boolean;
  /** libuv's children: the reaper thread leaves them alone. */
  setOwned(pids: Int32Array): void;
  /** While held (around a libuv spawn), the reaper thread reaps nobody. */
  holdReaper(): void;
  releaseReaper(): void;
  takeReapedOrphans(): number;
  /** Lets real faults crash hookinit while kill(2)-sent ones are forwarded. */
  guardFaultSignals(): boolean;
  /** SIG_IGN for SIGTTIN and SIGTTOU (we are in the background on a terminal). */
  ignoreTerminalStops(): boolean;
  isatty(fd: number): boolean;
  /**
   * Handles these signals in the helper and calls `onSignal` on the event
   * loop: for the ones the runtime cannot listen for (Bun: SIGSTKFLT, SIGIO,
   * SIGPWR). A handler already installed for one is chained for signals the
   * process sends its own threads.
   */
  catchSignals(numbers: readonly number[], onSignal: (signal: number) => void): boolean;
  /** Unblocks these signals on the calling (main) thread. */
  unblockSignals(numbers: readonly number[]): boolean;
  /** A blocking unix stream socket connected to `path`; throws with errno/syscall. */
  connectUnix(path: string): number;
  /**
   * malloc_trim(0), and unmap the code and read-only data start-up touched
   * (they stay in the page cache): returns the bytes taken off our RSS.
   */
  trimMemory(): number;
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  /** Tests only: the next spawn() fails after its fork, as a failing N-API call there would. */
  failNextSpawnReport(): boolean;
}

export interface ReapedChild {
  pid: number;
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: number | null;
}

export const NATIVE_FILE = "hookinit.node";

/**
 * Where the helper is looked for: in the hookinit directory's lib/ (beside
 * the runtime), then beside the bundle (dist/hookinit.cjs run by an installed
 * node). Nothing is extracted to /tmp: it may be read-only or noexec.
 */
export function nativeHelperCandidates(): string[] {
  const places = [
    join(hookinitHome(), "lib", NATIVE_FILE),
    join(dirname(process.execPath), NATIVE_FILE),
    // Beside the bundle run by Node. Bun compiles the build machine's
    // directory into __dirname, which means nothing where hookinit runs.
    typeof __dirname === "string" && (process.versions as { bun?: string }).bun === undefined
      ? join(__dirname, NATIVE_FILE)
      : undefined,
  ];
  return [...new Set(places.filter((p): p is string => typeof p === "string" && p !== ""))];
}

/** The helper is missing, unreadable or does not load: the installation is broken. */
export class NativeHelperError extends ExitError {
  override name = "NativeHelperError";
  constructor(message: string) {
    super(message, EXIT.NATIVE_HELPER);
  }
}

/**
 * Loads the helper from the first candidate that exists. Throws
 * NativeHelperError, with what to do, when none can be loaded.
 */
export function loadNativeHelper(): NativeHelper {
  const candidates = nativeHelperCandidates();
  const unreadable: string[] = [];
  for (const file of candidates) {
    try {
      accessSync(file, constants.R_OK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") unreadable.push(file);
      continue;
    }
    const module = { exports: {} as NativeHelper };
    try {
      process.dlopen(module, file);
    } catch (error) {
      throw new NativeHelperError(
        `native helper ${file} cannot be loaded: ${(error as Error).message}; ` +
          `use the hookinit.node built with this hookinit`,
      );
    }
    return module.exports;
  }
  if (unreadable.length > 0) {
    throw new NativeHelperError(
      `native helper ${unreadable.join(", ")} cannot be read by uid ${process.getuid?.()}; ` +
        `make it and its directories readable by the container's user`,
    );
  }
  throw new NativeHelperError(
    `native helper ${NATIVE_FILE} not found (looked in ${candidates.join(", ")}); ` +
      `copy the whole hookinit directory (it belongs in lib/, or beside hookinit.cjs)`,
  );
}
