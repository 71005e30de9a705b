import { labelTokens } from "../../../domain/labels.ts";
import { escapeRegExp, fold, STOPWORDS, words } from "../../../domain/words.ts";
import type { Category, LearnedLabels } from "../../../ports/models.ts";

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

  classify(
    text: string,
    categories: readonly Category[],
    fileName?: string,
    learned?: LearnedLabels,
  ): Classification {
    const byKeywords = this.classifyByKeywords(text, categories, fileName);
    if (!learned) return byKeywords;
    const labelled = categories.reduce((n, c) => n + (learned.docs[c.name] ?? 0), 0);
    if (labelled === 0) return byKeywords;
    return blend(byKeywords, learnedProbabilities(text, categories, learned), labelled);
  }

  private classifyByKeywords(
    text: string,
    categories: readonly Category[],
    fileName?: string,
  ): Classification {
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

/**
 * What the tenant's confirmed labels say: a Bernoulli naive Bayes over the document's distinct tokens
 * (only tokens some label has seen count), with add-half smoothing. Naive Bayes is famously
 * over-confident, so the log-likelihoods are tempered by the square root of the evidence size.
 */
export function learnedProbabilities(
  text: string,
  categories: readonly Category[],
  learned: LearnedLabels,
): Record<string, number> {
  const total = categories.reduce((n, c) => n + (learned.docs[c.name] ?? 0), 0);
  const vocab = (w: string) => categories.some((c) => (learned.tokens[c.name]?.[w] ?? 0) > 0);
  const tokens = labelTokens(text).filter(vocab);
  const temper = Math.max(1, Math.sqrt(tokens.length));
  const logs = categories.map((c) => {
    const n = learned.docs[c.name] ?? 0;
    const df = learned.tokens[c.name] ?? {};
    let lp = Math.log((n + 1) / (total + categories.length));
    for (const w of tokens) lp += Math.log(((df[w] ?? 0) + 0.5) / (n + 1)) / temper;
    return lp;
  });
  const max = Math.max(...logs);
  const exps = logs.map((l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return Object.fromEntries(categories.map((c, i) => [c.name, exps[i]! / sum]));
}

/**
 * Mixes the keyword guess with the learnt probabilities; the more labels, the more the labels count
 * (half at 5 labels, at most 90 %: keywords still speak for categories nobody has labelled yet).
 */
function blend(byKeywords: Classification, learnt: Record<string, number>, labelled: number): Classification {
  const names = Object.keys(byKeywords.scores);
  const w = Math.min(0.9, labelled / (labelled + 5));
  const others = names.length > 1 ? (1 - byKeywords.confidence) / (names.length - 1) : 0;
  const mixed = Object.fromEntries(
    names.map((n) => {
      const kw = n === byKeywords.category ? byKeywords.confidence : others;
      return [n, (1 - w) * kw + w * (learnt[n] ?? 0)];
    }),
  );
  const best = names.reduce((a, b) => (mixed[b]! > mixed[a]! ? b : a));
  return { category: best, confidence: round(Math.min(0.99, mixed[best]!)), scores: byKeywords.scores };
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
