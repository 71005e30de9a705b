import type { LearnedLabels } from "../ports/models.ts";
import { fold, STOPWORDS, words } from "./words.ts";

/** Characters of a document read for its label tokens: the start holds titles, letterheads, headers. */
const LABEL_CHARS = 20_000;
/** Distinct tokens kept per labelled document. */
const TOKENS_PER_LABEL = 400;
/** Distinct tokens kept per category; past it the rarest are dropped. */
const TOKENS_PER_CATEGORY = 5_000;

/** The distinct content tokens of a text, in order of first appearance (what a label teaches). */
export function labelTokens(text: string): string[] {
  const seen = new Set<string>();
  for (const w of words(fold(text.slice(0, LABEL_CHARS)))) {
    if (w.length < 3 || w.length > 30 || STOPWORDS.has(w) || /^\d+$/.test(w)) continue;
    seen.add(w);
    if (seen.size >= TOKENS_PER_LABEL) break;
  }
  return [...seen];
}

export function emptyLearned(): LearnedLabels {
  return { docs: {}, tokens: {} };
}

/**
 * Moves one document's label: takes `before` (its previous label, if any) out of the counts and puts
 * `after` in. Returns a new object; counts never go below zero.
 */
export function relabel(
  learned: LearnedLabels,
  before: { category: string; tokens: readonly string[] } | null,
  after: { category: string; tokens: readonly string[] },
): LearnedLabels {
  const next: LearnedLabels = {
    docs: { ...learned.docs },
    tokens: Object.fromEntries(Object.entries(learned.tokens).map(([c, t]) => [c, { ...t }])),
  };
  if (before) {
    next.docs[before.category] = Math.max(0, (next.docs[before.category] ?? 0) - 1);
    const t = next.tokens[before.category] ?? {};
    for (const w of before.tokens) {
      const n = (t[w] ?? 0) - 1;
      if (n > 0) t[w] = n;
      else delete t[w];
    }
    if (next.docs[before.category] === 0) {
      delete next.docs[before.category];
      delete next.tokens[before.category];
    }
  }
  next.docs[after.category] = (next.docs[after.category] ?? 0) + 1;
  const t = next.tokens[after.category] ?? {};
  next.tokens[after.category] = t;
  for (const w of after.tokens) t[w] = (t[w] ?? 0) + 1;
  prune(t);
  return next;
}

function prune(tokens: Record<string, number>): void {
  const keys = Object.keys(tokens);
  if (keys.length <= TOKENS_PER_CATEGORY) return;
  const kept = keys.sort((a, b) => tokens[b]! - tokens[a]!).slice(0, TOKENS_PER_CATEGORY);
  const keep = new Set(kept);
  for (const k of keys) if (!keep.has(k)) delete tokens[k];
}
