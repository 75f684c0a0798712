import { StringDecoder } from "node:string_decoder";

/**
 * Longest line we keep whole, in characters (UTF-16 code units, what a JS
 * string counts; 16 KiB for ASCII output). A handler that writes megabytes
 * without a newline must not make us buffer it all: the line is cut into
 * pieces of at most this size, each logged as its own record with
 * `partial: true`. A cut never splits a surrogate pair.
 */
export const MAX_LINE_CHARS = 16 * 1024;

export interface Line {
  text: string;
  /** True when the line was cut at MAX_LINE_CHARS and continues in the next. */
  partial: boolean;
}

/** Splits a byte stream into lines, UTF-8 safe across chunk boundaries. */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";

  constructor(private readonly maxChars = MAX_LINE_CHARS) {}

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
        let cut = start + this.maxChars;
        // Not between the two halves of a surrogate pair (an emoji, say).
        if (isLowSurrogate(text.charCodeAt(cut)) && cut - 1 > start) cut--;
        lines.push({ text: text.slice(start, cut), partial: true });
        start = cut;
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

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

function stripCarriageReturn(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
