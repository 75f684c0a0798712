import type { DestinationStream, Logger } from "pino";
import type { LogFormat, LogLevel } from "../cli/options.js";

export type { Logger };

export interface LogOutput {
  logger: Logger;
  /** Writes out everything buffered, in order; await before process.exit. */
  flush(): Promise<void>;
}

/**
 * hookinit's own events, as pino JSON lines on fd 1.
 *
 * fd 1 is shared with the program. We never touch process.stdout: for a pipe,
 * libuv would switch the shared file description to O_NONBLOCK and the
 * program's own writes would start failing with EAGAIN. pino's SonicBoom
 * writes to the fd with plain write(2) instead. Writes are asynchronous so a
 * slow log reader never stalls signal handling; flush() drains at exit.
 *
 * Loaded with import() so that pino stays off the path from exec to the
 * program's start.
 */
export async function createLogOutput(level: LogLevel, format: LogFormat): Promise<LogOutput> {
  const { default: pino } = await import("pino");
  const sonic = pino.destination({ fd: 1, sync: false });
  // A closed stdout (EPIPE) must not become an unhandled 'error' event: no
  // fatal exit once the program runs.
  sonic.on("error", () => {});
  const destination: DestinationStream = format === "text" ? textLines(sonic) : sonic;
  const logger = pino(
    {
      level,
      base: { name: "hookinit" },
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return {
    logger,
    // end() waits for the write in flight, writes the rest, then closes fd 1.
    // flushSync() alone could overtake the write in flight and reorder lines.
    flush: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
        sonic.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
        sonic.end();
      }),
  };
}

/** A log reader that stopped reading must not keep hookinit from exiting. */
const FLUSH_TIMEOUT_MS = 2000;

const TEXT_SKIPPED = new Set(["level", "time", "msg", "name"]);

/** The human-readable format: `TIME LEVEL message key=value ...`. */
function textLines(out: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line);
      } catch {
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
      out.write(
        `${record.time} ${level} hookinit: ${record.msg ?? ""}${fields.length ? ` ${fields.join(" ")}` : ""}\n`,
      );
    },
  };
}
