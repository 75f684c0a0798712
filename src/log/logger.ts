import { writeSync } from "node:fs";
import type { DestinationStream, Logger } from "pino";
import type { HookName, OutputStream } from "../core/hooks.js";

export type { Logger };

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "text"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOutput {
  /** hookinit's own events. */
  logger: Logger;
  /**
   * One line of a hook's output, attributed to the hook and stream. Written
   * whatever --log-level says (short of silent): it is the user's output,
   * not our chatter. Returns false when stdout is backed up.
   */
  hookOutput(hook: HookName, stream: OutputStream, line: string, partial: boolean): boolean;
  /** Resolves once fd 1 has taken everything written so far. */
  drained(): Promise<void>;
  /** Writes out everything buffered, in order; await before process.exit. */
  flush(): Promise<void>;
}

/**
 * For an error in the log path itself: one line on stderr, the one place
 * left. If stderr is gone too (EPIPE, EBADF, EAGAIN on a full non-blocking
 * pipe) there is nowhere at all to report it.
 */
export function lastResort(error: unknown): void {
  try {
    writeSync(2, `hookinit: log output failed: ${String((error as Error)?.stack ?? error)}\n`);
  } catch (stderrError) {
    const code = (stderrError as NodeJS.ErrnoException).code;
    if (code !== "EPIPE" && code !== "EBADF" && code !== "EAGAIN") throw stderrError;
  }
}

/** Past this many unwritten bytes, hook output pauses until stdout catches up. */
const HIGH_WATER_BYTES = 64 * 1024;

/** A log reader that stopped reading must not keep hookinit from exiting. */
const FLUSH_TIMEOUT_MS = 2000;

/**
 * hookinit's own events, as pino JSON lines on fd 1.
 *
 * fd 1 is shared with the program. We never touch process.stdout: for a pipe,
 * libuv would switch the shared file description to O_NONBLOCK and the
 * program's own writes would start failing with EAGAIN. pino's SonicBoom
 * writes to the fd with plain write(2) instead. Writes are asynchronous so a
 * slow log reader never stalls signal handling; hook output is paused
 * instead while stdout is backed up, so memory stays bounded.
 *
 * Loaded with import() so that pino stays off the path from exec to the
 * program's start.
 */
export async function createLogOutput(level: LogLevel, format: LogFormat): Promise<LogOutput> {
  const [{ default: pino }, { default: SonicBoom }] = await Promise.all([
    import("pino"),
    import("sonic-boom"),
  ]);
  // SonicBoom directly, not pino.destination(): that reads process.stdout
  // for its default, and registers an exit hook whose flushSync() retries a
  // failing write (EIO from a hung-up terminal) forever.
  const sonic = new SonicBoom({ fd: 1, sync: false });

  // Bytes handed to SonicBoom and not yet written to fd 1. Exact, so that
  // drained() means "everything so far is in the pipe": the stop signal
  // waits for it, and so preStop's last line is never overtaken by the
  // program's reaction to the signal.
  let pending = 0;
  let waiters: (() => void)[] = [];
  const settle = () => {
    if (pending > 0) return;
    pending = 0;
    const wake = waiters;
    waiters = [];
    for (const resolve of wake) resolve();
  };
  sonic.on("write", (bytes: number) => {
    pending -= bytes;
    settle();
  });
  // A closed stdout (EPIPE) must not become an unhandled 'error' event (no
  // fatal exit once the program runs), and nothing more will be written.
  sonic.on("error", () => {
    pending = 0;
    settle();
  });
  let ended = false;
  const tracked: DestinationStream = {
    write(line: string) {
      // After flush() there is nowhere to write; a late line must not throw.
      if (ended) return;
      pending += Buffer.byteLength(line);
      try {
        sonic.write(line);
      } catch (error) {
        // SonicBoom throws "SonicBoom destroyed" once a write error (EPIPE:
        // the log reader is gone) ended it: nothing more will be written,
        // and there is no log left to report to; anything else goes to
        // stderr, the one place left.
        if (!String((error as Error)?.message).includes("destroyed")) lastResort(error);
        ended = true;
        pending = 0;
        settle();
      }
    },
  };
  const destination = format === "text" ? textLines(tracked) : tracked;
  const logger = pino(
    {
      level,
      base: { name: "hookinit" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  // Node's warnings would be printed through process.stderr (see above); the
  // executable runs with --no-warnings and they come here instead.
  process.on("warning", (warning) =>
    logger.warn({ warning: warning.name, detail: warning.message }, "node warning"),
  );
  const hookLogger = logger.child({}, { level: level === "silent" ? "silent" : "info" });

  const hookLoggers = new Map<string, Logger>();
  return {
    logger,
    hookOutput(hook, stream, line, partial) {
      // One child logger per hook and stream: pino serializes its bindings
      // once, not on each of a flood's lines.
      const key = `${hook}/${stream}`;
      let child = hookLoggers.get(key);
      if (child === undefined) {
        child = hookLogger.child({ hook, stream });
        hookLoggers.set(key, child);
      }
      if (partial) child.info({ partial: true }, line);
      else child.info(line);
      return pending < HIGH_WATER_BYTES;
    },
    drained: () =>
      pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => waiters.push(resolve)),
    // end() waits for the write in flight, writes the rest, then closes fd 1.
    // flushSync() alone could overtake the write in flight and reorder lines.
    flush: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
        sonic.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
        ended = true;
        sonic.end();
      }),
  };
}

const TEXT_SKIPPED = new Set(["level", "time", "msg", "name"]);

/** The human-readable format: `TIME LEVEL hookinit: message key=value ...`. */
function textLines(out: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line);
      } catch (error) {
        // SyntaxError: not one of pino's lines; pass it on as it is.
        if (!(error instanceof SyntaxError)) throw error;
        out.write(line);
        return;
      }
      const fields = Object.entries(record)
        .filter(([key]) => !TEXT_SKIPPED.has(key))
        .map(
          ([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`,
        );
      const level = String(record.level ?? "")
        .toUpperCase()
        .padEnd(5);
      const suffix = fields.length > 0 ? ` ${fields.join(" ")}` : "";
      out.write(`${record.time} ${level} hookinit: ${record.msg ?? ""}${suffix}\n`);
    },
  };
}
