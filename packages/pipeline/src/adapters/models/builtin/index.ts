import type { Models, UnderstandInput, Understanding } from "../../../ports/models.ts";
import { KeywordClassifier } from "./classifier.ts";
import { HashEmbedder } from "./embedder.ts";
import { extractFields } from "./extractor.ts";

export { DEFAULT_CATEGORIES } from "./categories.ts";
export { FALLBACK_CATEGORY, KeywordClassifier } from "./classifier.ts";
export { HashEmbedder } from "./embedder.ts";
export { extractFields, normaliseNumber } from "./extractor.ts";

export interface BuiltinModelsOptions {
  /** Embedding length (default 256). */
  dimensions?: number;
}

/**
 * The models that need no download and no GPU: a keyword classifier, rule-based extraction and a
 * feature-hashing embedder. CPU only, deterministic, fast; the Ollama adapter is the accurate option.
 */
export function createBuiltinModels(options: BuiltinModelsOptions = {}): Models {
  const classifier = new KeywordClassifier();
  const embedder = new HashEmbedder({ dimensions: options.dimensions });
  return {
    names: { understand: "builtin-rules@1", embed: "builtin-hash-ngram@1" },
    embeddingDimensions: embedder.dimensions,
    async understand(input: UnderstandInput): Promise<Understanding> {
      const c = classifier.classify(input.text, input.categories, input.name);
      return {
        category: c.category,
        confidence: c.confidence,
        fields: extractFields(input.text),
        model: "builtin-rules@1",
      };
    },
    async embed(texts: readonly string[]): Promise<number[][]> {
      return texts.map((t) => embedder.embed(t));
    },
  };
}
