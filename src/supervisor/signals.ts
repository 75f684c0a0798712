import { constants } from "node:os";

/** A signal by its canonical name, e.g. "SIGTERM". */
export type SignalName = NodeJS.Signals;

const byNumber = new Map<number, SignalName>();
for (const [name, num] of Object.entries(constants.signals) as [SignalName, number][]) {
  // os.constants.signals lists aliases (SIGIOT, SIGPOLL, SIGUNUSED) after the
  // canonical names; the first name seen for a number wins.
  if (!byNumber.has(num)) byNumber.set(num, name);
}

/**
 * Signals hookinit listens for and forwards: every catchable standard signal.
 * SIGKILL and SIGSTOP cannot be caught; SIGCHLD is ours (it drives the reaper)
 * and is never forwarded, as in tini and dumb-init. Real-time signals are not
 * listed because Node cannot listen for them.
 */
export const FORWARDED_SIGNALS: readonly SignalName[] = [...byNumber.entries()]
  .filter(([num, name]) => num <= 31 && !["SIGKILL", "SIGSTOP", "SIGCHLD"].includes(name))
  .map(([, name]) => name);

/**
 * Signals the JS runtime cannot listen for, caught by the native helper
 * instead. Bun: process.on("SIGSTKFLT") installs no handler, and SIGPWR is
 * JavaScriptCore's own (thread suspension for the garbage collector); SIGIO
 * did not reach listeners in Bun 1.4.4. Node listens for all of them.
 */
export const RUNTIME_DEAF_SIGNALS: readonly SignalName[] =
  (process.versions as { bun?: string }).bun === undefined
    ? []
    : (["SIGSTKFLT", "SIGIO", "SIGPWR"] as SignalName[]).filter(
        (name) => name in constants.signals,
      );

export function signalNumber(name: SignalName): number {
  return constants.signals[name];
}

export function signalName(num: number): SignalName | undefined {
  return byNumber.get(num);
}

/**
 * Parses a signal the way kill(1) users write it: "TERM", "SIGTERM", "term"
 * or "15". Returns undefined for anything else.
 */
export function parseSignal(text: string): SignalName | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return signalName(Number(trimmed));
  const upper = trimmed.toUpperCase();
  const name = (upper.startsWith("SIG") ? upper : `SIG${upper}`) as SignalName;
  return name in constants.signals ? (byNumber.get(constants.signals[name]) ?? name) : undefined;
}

/** What a received signal becomes before it is forwarded; null drops it. */
export type RewriteTable = ReadonlyMap<SignalName, SignalName | null>;

/**
 * Parses dumb-init style rewrites "FROM:TO", where TO may be 0 to drop the
 * signal. Throws a message naming the bad entry.
 */
export function parseRewrites(entries: readonly string[]): RewriteTable {
  const table = new Map<SignalName, SignalName | null>();
  for (const entry of entries) {
    const [from = "", to = "", extra] = entry.split(":");
    const fromSignal = parseSignal(from);
    const toSignal = to.trim() === "0" ? null : parseSignal(to);
    if (extra !== undefined || fromSignal === undefined || toSignal === undefined) {
      throw new Error(
        `--rewrite ${JSON.stringify(entry)} is not FROM:TO with signal names or numbers; ` +
          `write for example --rewrite TERM:QUIT, or --rewrite USR1:0 to drop USR1`,
      );
    }
    table.set(fromSignal, toSignal);
  }
  return table;
}

export function rewrite(table: RewriteTable, signal: SignalName): SignalName | null {
  const to = table.get(signal);
  return to === undefined ? signal : to;
}
