/**
 * Plain-text formats (txt, md, csv): decoding bytes that carry no magic number, and CSV dialect sniffing.
 */

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf16le = new TextDecoder("utf-16le");
const utf16be = new TextDecoder("utf-16be");
// windows-1252 is a superset of latin-1's printable range; WHATWG maps "latin1" to it anyway.
const latin1 = new TextDecoder("windows-1252");

/** Above this share of C0 control characters (not tab/newline/form feed) the bytes are binary. */
const MAX_CONTROL_RATIO = 0.01;

/**
 * Decodes bytes that look like text, or returns null when they look binary.
 * UTF-16 is recognised only by its BOM: without one, its NUL bytes make it indistinguishable from binary.
 */
export function decodeText(bytes: Uint8Array): string | null {
  const [b0, b1, b2] = bytes;
  let text: string;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) {
    text = lenientUtf8(bytes.subarray(3));
  } else if (b0 === 0xff && b1 === 0xfe) {
    text = utf16le.decode(bytes.subarray(2));
  } else if (b0 === 0xfe && b1 === 0xff) {
    text = utf16be.decode(bytes.subarray(2));
  } else {
    if (bytes.includes(0)) return null;
    try {
      text = utf8.decode(bytes);
    } catch {
      text = latin1.decode(bytes);
    }
  }
  return controlRatio(text) > MAX_CONTROL_RATIO ? null : text;
}

function lenientUtf8(bytes: Uint8Array): string {
  return new TextDecoder("utf-8").decode(bytes);
}

function controlRatio(text: string): number {
  if (text.length === 0) return 0;
  let controls = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) || c === 0x7f || c === 0xfffd) {
      controls++;
    }
  }
  return controls / text.length;
}

const DELIMITERS = [",", "\t", ";", "|"] as const;
/** Lines looked at when sniffing: enough to see a pattern, bounded for huge files. */
const SNIFF_LINES = 50;

/** Prose with a comma or two per line reads as long "cells"; real CSV cells are short. */
const MAX_WORDS_PER_CELL = 5;

function meanWordsPerCell(rows: string[][]): number {
  let cells = 0;
  let words = 0;
  for (const row of rows) {
    for (const cell of row) {
      cells++;
      words += cell.split(/\s+/).filter(Boolean).length;
    }
  }
  return cells === 0 ? 0 : words / cells;
}

/**
 * Splits CSV text into rows, honouring double quotes (RFC 4180: `""` is a quote, quoted fields may span
 * lines). Blank lines are dropped.
 */
export function parseCsv(text: string, delimiter: string, maxRows = Number.POSITIVE_INFINITY): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  let i = 0;
  const endRow = () => {
    row.push(field);
    if (row.length > 1 || row[0] !== "") rows.push(row);
    row = [];
    field = "";
  };
  while (i < text.length && rows.length < maxRows) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
    } else if (c === '"' && field === "") {
      quoted = true;
    } else if (c === delimiter) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      endRow();
    } else {
      field += c;
    }
    i++;
  }
  if (rows.length < maxRows && (field !== "" || row.length > 0)) endRow();
  return rows;
}

/**
 * The delimiter that splits most of the first rows (at least `minRows`) into the same number (≥ 2) of
 * fields, or null. Tolerates a ragged row or two (a short header, a missing cell), as real exports have.
 */
export function sniffDelimiter(text: string, minRows = 2): string | null {
  let best: { delimiter: string; score: number } | null = null;
  for (const delimiter of DELIMITERS) {
    const rows = parseCsv(text, delimiter, SNIFF_LINES);
    if (rows.length < minRows) continue;
    const counts = new Map<number, number>();
    for (const r of rows) counts.set(r.length, (counts.get(r.length) ?? 0) + 1);
    let modeWidth = 0;
    let modeCount = 0;
    for (const [width, count] of counts) {
      if (count > modeCount || (count === modeCount && width > modeWidth)) {
        modeWidth = width;
        modeCount = count;
      }
    }
    if (modeWidth < 2 || modeCount / rows.length < 0.75) continue;
    if (meanWordsPerCell(rows) > MAX_WORDS_PER_CELL) continue;
    const score = modeCount * modeWidth;
    if (!best || score > best.score) best = { delimiter, score };
  }
  return best?.delimiter ?? null;
}

/**
 * CSV as text: one row a line, cells separated by tabs, so later stages see one delimiter whatever the
 * file used, and quoted delimiters or line breaks inside cells no longer split words.
 */
export function csvToText(text: string): string {
  const delimiter = sniffDelimiter(text);
  if (!delimiter) return text;
  return parseCsv(text, delimiter)
    .map((row) => row.map((cell) => cell.replace(/\s+/g, " ").trim()).join("\t"))
    .join("\n");
}
