import { DocumentError, FailureCode } from "../../../domain/errors.ts";
import type { Models, UnderstandInput, Understanding } from "../../../ports/models.ts";
import { KeywordClassifier } from "./classifier.ts";
import { HashEmbedder } from "./embedder.ts";
import { extractCategoryFields } from "./extractor.ts";

export { DEFAULT_CATEGORIES } from "./categories.ts";
export { FALLBACK_CATEGORY, KeywordClassifier, learnedProbabilities } from "./classifier.ts";
export { HashEmbedder } from "./embedder.ts";
export { extractCategoryFields, normaliseNumber } from "./extractor.ts";

export interface BuiltinModelsOptions {
  /** Embedding length (default 256). */
  dimensions?: number;
}

const UNDERSTAND_MODEL = "builtin-rules@2";
const EMBED_MODEL = "builtin-hash-ngram@1";
/** Bumped whenever the classifier or extraction rules change what they answer. */
export const BUILTIN_PROMPT_VERSION = "rules-2";

/**
 * The models that need no download and no GPU: a keyword classifier that also learns from a tenant's
 * confirmed labels, rule-based extraction of each category's declared fields and a feature-hashing
 * embedder. CPU only, deterministic, fast; the Ollama adapter is the accurate option.
 */
export function createBuiltinModels(options: BuiltinModelsOptions = {}): Models {
  const classifier = new KeywordClassifier();
  const embedder = new HashEmbedder({ dimensions: options.dimensions });
  return {
    names: { understand: UNDERSTAND_MODEL, embed: EMBED_MODEL },
    promptVersion: BUILTIN_PROMPT_VERSION,
    embeddingDimensions: embedder.dimensions,
    qualify: (model) => model,
    async understand(input: UnderstandInput): Promise<Understanding> {
      if (input.model && input.model !== UNDERSTAND_MODEL) {
        throw new DocumentError(
          FailureCode.MODEL_UNAVAILABLE,
          `model ${input.model} is not available: the built-in models are ${UNDERSTAND_MODEL} and ${EMBED_MODEL}`,
        );
      }
      const c = classifier.classify(input.text, input.categories, input.name, input.learned);
      const category = input.categories.find((x) => x.name === c.category)!;
      return {
        category: c.category,
        confidence: c.confidence,
        fields: extractCategoryFields(input.text, category, input.words),
        model: UNDERSTAND_MODEL,
        promptVersion: BUILTIN_PROMPT_VERSION,
        // No tokenizer here: words read stand in for prompt tokens; nothing is generated.
        usage: { promptTokens: input.text.split(/\s+/).filter(Boolean).length, completionTokens: 0 },
      };
    },
    async embed(texts: readonly string[]): Promise<number[][]> {
      return texts.map((t) => embedder.embed(t));
    },
  };
}
