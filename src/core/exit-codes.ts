/**
 * Every exit code hookinit itself chooses, in one table. The README's
 * "Exit codes" table is checked against it (test/unit/docs.test.ts), so a
 * new code goes here and there together.
 *
 * Besides these, the supervisor exits with the program's own code, and
 * `hookinit hook` with the handler's: exec's own code, 0 or 1 otherwise.
 */
export const EXIT = {
  /** `hookinit ready`: not ready; a hook handler failed (httpGet, tcpSocket). */
  FAILURE: 1,
  /** Usage or configuration error: one line on stderr naming the problem. */
  USAGE: 2,
  /** postStart failed, so the program was stopped. */
  POSTSTART_FAILED: 3,
  /** A client cannot reach the supervisor, or it refused the caller (EX_UNAVAILABLE, sysexits.h). */
  UNREACHABLE: 69,
  /** A bug in hookinit: an error nothing expected (EX_SOFTWARE, sysexits.h). */
  INTERNAL: 70,
  /**
   * The native helper (hookinit.node) is missing, unreadable or cannot be
   * loaded, or the hookinit directory lacks its runtime or ELF loader (the
   * entry executable, native/front.c, says so): the installation is broken,
   * which is not a usage error (EX_OSFILE, sysexits.h: a file the program
   * needs is missing or bad).
   */
  NATIVE_HELPER: 72,
  /** A hook stopped by its timeoutSeconds or by the end of the grace, as timeout(1) exits. */
  TIMED_OUT: 124,
  /** The command exists but cannot be executed, as sh reports it. */
  NOT_EXECUTABLE: 126,
  /** The command (or a script's #! interpreter) was not found, as sh reports it. */
  NOT_FOUND: 127,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Added to N when signal N ended a process, as shells and tini report it. */
export const SIGNAL_EXIT_BASE = 128;

/** `128+N` for death by signal N. */
export function signalExitCode(signal: number): number {
  return SIGNAL_EXIT_BASE + signal;
}

/**
 * An error that ends hookinit with a code of the table above: the message is
 * the one line on stderr, the code says what kind of problem it was. Any
 * other error reaching the top is a bug and exits EXIT.INTERNAL.
 */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}
