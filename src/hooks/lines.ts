import { StringDecoder } from "node:string_decoder";

/**
 * Longest line we keep whole. A handler that writes megabytes without a
 * newline must not make us buffer it all: the line is cut into pieces of
 * this size, each logged as its own record with `partial: true`.
 */
export const MAX_LINE_BYTES = 16 * 1024;

export interface Line {
  text: string;
  /** True when the line was cut at MAX_LINE_BYTES and continues in the next. */
  partial: boolean;
}

/** Splits a byte stream into lines, UTF-8 safe across chunk boundaries. */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";

  constructor(private readonly maxChars = MAX_LINE_BYTES) {}

  push(chunk: Buffer): Line[] {
    return this.split(this.pending + this.decoder.write(chunk), false);
  }

  /** The last line, if the stream did not end with a newline. */
  end(): Line[] {
    return this.split(this.pending + this.decoder.end(), true);
  }

  private split(text: string, final: boolean): Line[] {
    const lines: Line[] = [];
    let start = 0;
    for (;;) {
      const newline = text.indexOf("\n", start);
      const end = newline === -1 ? text.length : newline;
      if (end - start > this.maxChars) {
        lines.push({ text: text.slice(start, start + this.maxChars), partial: true });
        start += this.maxChars;
        continue;
      }
      if (newline === -1) break;
      lines.push({ text: stripCarriageReturn(text.slice(start, newline)), partial: false });
      start = newline + 1;
    }
    this.pending = text.slice(start);
    if (final && this.pending !== "") {
      lines.push({ text: stripCarriageReturn(this.pending), partial: false });
      this.pending = "";
    }
    return lines;
  }
}

function stripCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
