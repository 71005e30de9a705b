import type { Category } from "../../../ports/models.ts";
import { escapeRegExp, fold, STOPWORDS, words } from "./text.ts";

export interface Classification {
  category: string;
  confidence: number;
  /** Score per category, for explanation and tests. */
  scores: Record<string, number>;
}

/** Name of the catch-all category, chosen when nothing else scores. */
export const FALLBACK_CATEGORY = "other";

/**
 * A keyword classifier. Each category scores the sum, over its keywords found in the text as whole
 * words, of (1 + ln count), with phrases counting double and the first 2,000 characters (titles,
 * letterheads) counting again. Categories without keywords are scored on the content words of their
 * description, at a third of the weight. A keyword in the file name adds 2. Confidence is the winner's
 * share of the two best scores, damped when the winner's score is low.
 */
export class KeywordClassifier {
  private readonly compiled = new Map<string, { re: RegExp; weight: number }[]>();

  classify(text: string, categories: readonly Category[], fileName?: string): Classification {
    if (categories.length === 0) throw new RangeError("at least one category is needed");
    const body = fold(text);
    const head = body.slice(0, 2000);
    const name = fileName ? fold(fileName).replace(/[_\-.]+/g, " ") : "";
    const scores: Record<string, number> = {};
    for (const category of categories) {
      let score = 0;
      for (const { re, weight } of this.patterns(category)) {
        const n = count(re, body);
        if (n > 0) score += weight * (1 + Math.log(n));
        if (n > 0 && count(re, head) > 0) score += weight * 0.5;
        if (name && count(re, name) > 0) score += 2;
      }
      scores[category.name] = round(score);
    }
    const ranked = [...categories].sort((a, b) => scores[b.name]! - scores[a.name]!);
    const best = ranked[0]!;
    const top = scores[best.name]!;
    const second = ranked[1] ? scores[ranked[1].name]! : 0;
    if (top === 0) {
      const fallback = categories.find((c) => c.name === FALLBACK_CATEGORY) ?? best;
      return { category: fallback.name, confidence: fallback.name === FALLBACK_CATEGORY ? 0.5 : 0.2, scores };
    }
    const share = top / (top + second);
    const strength = 1 - Math.exp(-top / 4);
    return {
      category: best.name,
      confidence: round(Math.min(0.99, share * strength + (1 - strength) * 0.3)),
      scores,
    };
  }

  private patterns(category: Category): { re: RegExp; weight: number }[] {
    const key = `${category.name}\u0000${category.description}\u0000${(category.keywords ?? []).join("\u0001")}`;
    let found = this.compiled.get(key);
    if (!found) {
      const keywords = category.keywords?.length
        ? category.keywords.map((k) => ({ k, weight: k.trim().includes(" ") ? 2 : 1 }))
        : [
            ...new Set(words(fold(category.description)).filter((w) => w.length > 3 && !STOPWORDS.has(w))),
          ].map((k) => ({
            k,
            weight: 1 / 3,
          }));
      found = keywords
        .map(({ k, weight }) => ({ phrase: fold(k).trim(), weight }))
        .filter(({ phrase }) => phrase.length > 0)
        .map(({ phrase, weight }) => ({
          re: new RegExp(
            `(?<![\\p{L}\\p{N}])${phrase.split(/\s+/).map(escapeRegExp).join("\\s+")}(?![\\p{L}\\p{N}])`,
            "gu",
          ),
          weight,
        }));
      if (this.compiled.size >= 1000) this.compiled.clear();
      this.compiled.set(key, found);
    }
    return found;
  }
}

function count(re: RegExp, s: string): number {
  re.lastIndex = 0;
  let n = 0;
  while (re.exec(s)) n++;
  return n;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
