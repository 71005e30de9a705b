export interface TextChunk {
  /** 0-based position of the chunk in the document. */
  chunk: number;
  text: string;
  /** [start, end) character offsets of `text` in the document. */
  start: number;
  end: number;
}

export interface ChunkOptions {
  /** Longest chunk, in characters. */
  maxChars?: number;
  /** Characters repeated from the end of one chunk at the start of the next, so no sentence is cut off from its context. */
  overlap?: number;
}

/**
 * Splits text into chunks of at most `maxChars`, cutting at the strongest boundary available in the
 * second half of the window (page break, blank line, line end, sentence end, space) and only mid-word
 * when a single word fills the window. Chunks overlap by about `overlap` characters, starting on a word.
 * Whitespace-only text gives no chunk.
 */
export function chunkText(text: string, options: ChunkOptions = {}): TextChunk[] {
  const maxChars = options.maxChars ?? 1200;
  const overlap = Math.min(options.overlap ?? 150, Math.floor(maxChars / 2));
  if (maxChars < 1) throw new RangeError("maxChars must be at least 1");
  const chunks: TextChunk[] = [];
  let start = skipSpace(text, 0);
  while (start < text.length) {
    let end = Math.min(start + maxChars, text.length);
    if (end < text.length) end = breakBefore(text, start + Math.floor(maxChars / 2), end);
    const [s, e] = trimRange(text, start, end);
    if (e > s) chunks.push({ chunk: chunks.length, text: text.slice(s, e), start: s, end: e });
    if (end >= text.length) break;
    let next = end - overlap;
    if (next <= start) next = end;
    else next = wordStart(text, next, end);
    start = skipSpace(text, next);
  }
  return chunks;
}

const BOUNDARIES = [/\f/g, /\n[ \t]*\n/g, /\n/g, /[.!?;:][\s"')\]]/g, /\s/g];

/** The end of the last boundary of the strongest kind found in [from, to], or `to` when there is none. */
function breakBefore(text: string, from: number, to: number): number {
  const window = text.slice(from, to + 1);
  for (const re of BOUNDARIES) {
    let last = -1;
    re.lastIndex = 0;
    for (let m = re.exec(window); m; m = re.exec(window)) {
      const cut = from + m.index + m[0].length;
      if (cut <= to) last = cut;
    }
    if (last > from) return last;
  }
  return to;
}

/** Moves forward from `at` to the start of the next word (not past `limit`). */
function wordStart(text: string, at: number, limit: number): number {
  if (at === 0 || /\s/.test(text[at - 1] ?? "")) return at;
  let i = at;
  while (i < limit && !/\s/.test(text[i]!)) i++;
  return i < limit ? i : at;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && /\s/.test(text[i]!)) i++;
  return i;
}

function trimRange(text: string, s: number, e: number): [number, number] {
  s = skipSpace(text, s);
  while (e > s && /\s/.test(text[e - 1]!)) e--;
  return [s, e];
}
