/** One line of the text, with its place: [start, end) offsets, 1-based page, index within the page. */
export interface Line {
  text: string;
  start: number;
  end: number;
  page: number;
  index: number;
}

/** Splits on newlines; form feeds start a new page. */
export function splitLines(text: string): Line[] {
  const lines: Line[] = [];
  let start = 0;
  let page = 1;
  let index = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (i === text.length || c === "\n" || c === "\f") {
      lines.push({ text: text.slice(start, i), start, end: i, page, index: index++ });
      start = i + 1;
      if (c === "\f") {
        page++;
        index = 0;
      }
    }
  }
  return lines;
}

/** The top of the first page: where letterheads (issuer name and address) are printed. */
export function headLines(lines: readonly Line[], max = 16): Line[] {
  return lines.filter((l) => l.page === 1 && l.text.trim() !== "").slice(0, max);
}

/**
 * The printed part of a line of OCR text: photographed receipts pick up margin noise ("jo ", "Ee : ",
 * "|") around the print. Where the line is mostly upper-case, leading and trailing tokens that carry
 * lower-case letters or no letters or digits are dropped. Returns [start, end) within the line.
 */
export function printedPart(line: string): [number, number] {
  const tokens = [...line.matchAll(/\S+/g)].map((m) => ({ t: m[0], s: m.index, e: m.index + m[0].length }));
  if (tokens.length === 0) return [0, 0];
  const letters = line.replace(/[^\p{L}]/gu, "");
  const upper = line.replace(/[^\p{Lu}]/gu, "").length;
  const mostlyUpper = letters.length > 0 && upper / letters.length >= 0.7;
  const junk = (t: string) =>
    /^[^\p{L}\p{N}(]+$/u.test(t) || (mostlyUpper && /\p{Ll}/u.test(t) && t.length <= 4 && !/\d/.test(t));
  let a = 0;
  let b = tokens.length - 1;
  // "No: 28, JALAN ...": the house number's label is print, not noise.
  const houseNumber = (i: number) => /^no[.:]?$/i.test(tokens[i]!.t) && /^\d/.test(tokens[i + 1]?.t ?? "");
  while (a < b && junk(tokens[a]!.t) && !houseNumber(a)) a++;
  while (b > a && junk(tokens[b]!.t) && !/^[.,]$/.test(tokens[b]!.t)) b--;
  return [tokens[a]!.s, tokens[b]!.e];
}
