import { describe, expect, it } from "vitest";
import { chunkText } from "./chunk.ts";

describe("chunkText", () => {
  it("gives no chunk for empty or whitespace text", () => {
    expect(chunkText("")).toEqual([]);
    expect(chunkText(" \n\t\f ")).toEqual([]);
  });

  it("keeps short text whole, trimmed, with its offsets", () => {
    const text = "  Hello world.  ";
    expect(chunkText(text)).toEqual([{ chunk: 0, text: "Hello world.", start: 2, end: 14 }]);
  });

  it("never exceeds maxChars, covers every word and maps offsets back to the text", () => {
    const words = Array.from({ length: 2000 }, (_, i) => `word${i}`);
    const text = words.join(" ").replace(/word(\d*0) /g, "word$1.\n\n");
    const chunks = chunkText(text, { maxChars: 300, overlap: 50 });
    expect(chunks.length).toBeGreaterThan(40);
    for (const c of chunks) {
      expect(c.text.length).toBeLessThanOrEqual(300);
      expect(text.slice(c.start, c.end)).toBe(c.text);
    }
    const seen = new Set(chunks.flatMap((c) => c.text.match(/word\d+/g) ?? []));
    expect(seen.size).toBe(words.length);
    expect(chunks.map((c) => c.chunk)).toEqual(chunks.map((_, i) => i));
  });

  it("prefers paragraph breaks, overlaps consecutive chunks and starts them on a word", () => {
    const para = (n: number) => `${`Sentence ${n} goes on for a while. `.repeat(8).trim()}`;
    const text = [para(1), para(2), para(3), para(4)].join("\n\n");
    const chunks = chunkText(text, { maxChars: 600, overlap: 100 });
    expect(chunks[0]!.text.endsWith(".")).toBe(true);
    for (let i = 1; i < chunks.length; i++) {
      expect(chunks[i]!.start).toBeLessThan(chunks[i - 1]!.end);
      expect(/\s/.test(text[chunks[i]!.start - 1]!)).toBe(true);
    }
  });

  it("cuts a word longer than the window rather than looping", () => {
    const chunks = chunkText("x".repeat(2500), { maxChars: 1000, overlap: 100 });
    expect(chunks.map((c) => c.text.length)).toEqual([1000, 1000, 700]);
  });
});
