import { fold, STOPWORDS, words } from "../../../domain/words.ts";

export interface HashEmbedderOptions {
  /** Vector length. */
  dimensions?: number;
}

/**
 * A feature-hashing embedder: words, word pairs and the character trigrams of longer words, hashed
 * into a fixed number of signed buckets, weighted by log term frequency, L2-normalised. It needs no
 * download and is deterministic, so a query and a document that share words (or word stems, through
 * the trigrams: "terminate" ~ "termination") land close together. It knows nothing of synonyms: that
 * is the Ollama embedder's job.
 */
export class HashEmbedder {
  readonly dimensions: number;

  constructor(options: HashEmbedderOptions = {}) {
    this.dimensions = options.dimensions ?? 256;
    if (!Number.isInteger(this.dimensions) || this.dimensions < 8)
      throw new RangeError("dimensions must be an integer >= 8");
  }

  embed(text: string): number[] {
    const counts = new Map<string, number>();
    const add = (feature: string, weight: number) => counts.set(feature, (counts.get(feature) ?? 0) + weight);
    const tokens = words(fold(text)).filter((w) => !STOPWORDS.has(w));
    for (let i = 0; i < tokens.length; i++) {
      const w = tokens[i]!;
      add(`w:${w}`, 1);
      if (i > 0) add(`b:${tokens[i - 1]} ${w}`, 0.5);
      if (w.length >= 5 && !/^\d+$/.test(w)) {
        const padded = `<${w}>`;
        for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, 0.25);
      }
    }
    const v = new Float64Array(this.dimensions);
    for (const [feature, tf] of counts) {
      const h = fnv1a(feature);
      const sign = h & 0x80000000 ? -1 : 1;
      v[h % this.dimensions]! += sign * (tf <= 1 ? tf : 1 + Math.log(tf));
    }
    let norm = 0;
    for (const x of v) norm += x * x;
    if (norm === 0) {
      // No features (empty or all stop words): a fixed unit vector, so cosine distance stays defined.
      const unit = new Array<number>(this.dimensions).fill(0);
      unit[0] = 1;
      return unit;
    }
    const inv = 1 / Math.sqrt(norm);
    return Array.from(v, (x) => x * inv);
  }
}

/** 32-bit FNV-1a over UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
