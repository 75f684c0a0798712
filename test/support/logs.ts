/** hookinit's own log lines (pino JSON on stdout, shared with the program's output). */

/** One of hookinit's own JSON log lines. */
export interface LogRecord {
  level: string;
  time: string;
  name: string;
  msg: string;
  /** Set on a line of hook output: which hook wrote it, on which stream. */
  hook?: string;
  stream?: string;
  [field: string]: unknown;
}

/** Parses one stdout line as a hookinit log record; undefined for the program's own lines. */
export function parseLogLine(line: string): LogRecord | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const record = JSON.parse(line) as LogRecord | null;
    return record !== null && typeof record === "object" && record.name === "hookinit"
      ? record
      : undefined;
  } catch {
    return undefined; // The program's own output.
  }
}

/** hookinit's JSON log lines in `stdout`, in order; the program's own lines are skipped. */
export function parseLogLines(stdout: string): LogRecord[] {
  return stdout
    .split(/\r?\n/)
    .map(parseLogLine)
    .filter((record): record is LogRecord => record !== undefined);
}

/** The stdout lines that are not hookinit's JSON log lines. */
export function programLines(stdout: string): string[] {
  return stdout.split(/\r?\n/).filter((line) => line !== "" && parseLogLine(line) === undefined);
}

/** Milliseconds since the epoch of a log record. */
export function timeOf(record: LogRecord): number {
  return Date.parse(record.time);
}

/** Lines of a text, without the empty string after a final newline. */
export function lines(text: string): string[] {
  const all = text.split("\n");
  if (all.at(-1) === "") all.pop();
  return all;
}

/**
 * Splits a process's stdout into lines as chunks arrive; `end()` hands over
 * a last line that had no newline.
 */
export class LineReader {
  private partial = "";

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) this.onLine(line);
  }

  end(): void {
    if (this.partial !== "") this.onLine(this.partial);
    this.partial = "";
  }

  /** What came after the last newline so far. */
  get pending(): string {
    return this.partial;
  }
}
