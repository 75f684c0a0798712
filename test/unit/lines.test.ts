import { describe, expect, it } from "vitest";
import { LineSplitter } from "../../src/hooks/lines.js";

const texts = (lines: { text: string }[]) => lines.map((line) => line.text);

describe("LineSplitter", () => {
  it("splits across chunk boundaries and keeps order", () => {
    const splitter = new LineSplitter();
    expect(texts(splitter.push(Buffer.from("one\ntw")))).toEqual(["one"]);
    expect(texts(splitter.push(Buffer.from("o\nthree\n")))).toEqual(["two", "three"]);
    expect(splitter.end()).toEqual([]);
  });

  it("returns a last line without a newline at the end", () => {
    const splitter = new LineSplitter();
    splitter.push(Buffer.from("a\nlast"));
    expect(splitter.end()).toEqual([{ text: "last", partial: false }]);
  });

  it("does not split a UTF-8 character across chunks", () => {
    const splitter = new LineSplitter();
    const bytes = Buffer.from("héllo\n");
    expect(splitter.push(bytes.subarray(0, 2))).toEqual([]);
    expect(texts(splitter.push(bytes.subarray(2)))).toEqual(["héllo"]);
  });

  it("strips CRLF line endings", () => {
    expect(texts(new LineSplitter().push(Buffer.from("dos\r\n")))).toEqual(["dos"]);
  });

  it("cuts a line longer than the limit into marked pieces without losing a byte", () => {
    const splitter = new LineSplitter(10);
    const lines = [...splitter.push(Buffer.from(`${"x".repeat(25)}\nok\n`)), ...splitter.end()];
    expect(lines).toEqual([
      { text: "x".repeat(10), partial: true },
      { text: "x".repeat(10), partial: true },
      { text: "x".repeat(5), partial: false },
      { text: "ok", partial: false },
    ]);
  });

  it("bounds what it buffers for a line that never ends", () => {
    const splitter = new LineSplitter(100);
    let emitted = 0;
    for (let i = 0; i < 1000; i++) emitted += splitter.push(Buffer.from("y".repeat(37))).length;
    expect(emitted).toBeGreaterThanOrEqual(369);
  });

  it("never cuts between the two halves of a surrogate pair", () => {
    const splitter = new LineSplitter(4);
    const lines = [...splitter.push(Buffer.from("abc😀def\n")), ...splitter.end()];
    expect(lines.map((line) => line.text).join("")).toBe("abc😀def");
    for (const line of lines) expect(line.text.isWellFormed()).toBe(true);
  });
});
