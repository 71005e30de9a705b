/** What both search adapters share: filter value parsing and reciprocal rank fusion. */

import type { FieldCondition } from "../../ports/search.ts";

/** Reciprocal rank fusion constant (as in the original paper and OpenSearch's score-ranker-processor). */
export const RRF_K = 60;

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/** `s` trimmed when it is a plain decimal number (no grouping, no exponent), else null. */
export function decimal(s: string): string | null {
  const t = s.trim();
  return DECIMAL.test(t) ? t : null;
}

/**
 * The operands of an `in` or comparison field condition, read as each kind the stores keep: every
 * value as text, those that parse as numbers and as dates. Both adapters build their query from this.
 */
export function conditionOperands(cond: FieldCondition): {
  texts: string[];
  nums: string[];
  dates: string[];
} {
  let texts: string[];
  if (cond.op === "in") texts = cond.values ?? [];
  else if (cond.value === undefined)
    throw new Error(`field condition ${cond.op} on ${cond.name} needs a value`);
  else texts = [cond.value];
  return {
    texts,
    nums: texts.map(decimal).filter((x) => x !== null),
    dates: texts.map(isoDate).filter((x) => x !== null),
  };
}

/** YYYY-MM-DD when `s` is a real calendar date, else null. */
export function isoDate(s: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s.trim());
  if (!m) return null;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === m[0] ? m[0] : null;
}

export function requireDate(what: string, s: string): string {
  const d = isoDate(s);
  if (d === null) throw new Error(`${what} must be a date YYYY-MM-DD, got ${JSON.stringify(s)}`);
  return d;
}

/** An ISO instant; a bare date as an exclusive upper bound becomes the next day's midnight UTC. */
export function requireInstant(what: string, s: string, nextDay: boolean): string {
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new Error(`${what} must be an ISO 8601 date or time, got ${JSON.stringify(s)}`);
  return new Date(nextDay ? t + 86_400_000 : t).toISOString();
}

/** One entry of a ranked list: a document, its best chunk, and whether it matched by keyword. */
export interface RankedEntry {
  documentId: string;
  chunk: number;
  score: number;
  keyword?: boolean;
}

/**
 * Reciprocal rank fusion (score = sum of 1/(k + rank)). A document keeps its keyword entry (that chunk
 * holds the words, so its text and highlights show why it matched) when it has one, else its
 * best-placed entry.
 */
export function fuse<T extends RankedEntry>(lists: readonly (readonly T[])[]): T[] {
  const acc = new Map<string, T & { best: number }>();
  for (const list of lists) {
    list.forEach((r, i) => {
      const s = 1 / (RRF_K + i + 1);
      const cur = acc.get(r.documentId);
      if (!cur) acc.set(r.documentId, { ...r, score: s, best: i });
      else {
        const score = cur.score + s;
        const best = Math.min(cur.best, i);
        if ((r.keyword && !cur.keyword) || (i < cur.best && !cur.keyword)) Object.assign(cur, r);
        Object.assign(cur, { score, best });
      }
    });
  }
  return [...acc.values()]
    .sort((a, b) => b.score - a.score || a.best - b.best || a.documentId.localeCompare(b.documentId))
    .map(({ best: _, ...r }) => r as unknown as T);
}

/**
 * Highlighted fragments as safe HTML: text escaped, the engine's `start`/`stop` marks (control
 * characters it cannot contain) turned into <mark> tags; fragments without a match dropped; at most 3.
 */
export function markedFragments(raw: readonly string[], start: string, stop: string): string[] {
  return raw
    .filter((f) => f.includes(start))
    .map((f) =>
      f
        .trim()
        .replace(/\s+/g, " ")
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/"/g, "&quot;")
        .replaceAll(start, "<mark>")
        .replaceAll(stop, "</mark>"),
    )
    .slice(0, 3);
}
