/**
 * One declared field of a category, in a JSON Schema subset:
 * - string: `{ "type": "string" }`
 * - number: `{ "type": "number" }`
 * - date: `{ "type": "string", "format": "date" }` (value normalised to YYYY-MM-DD)
 * - money: `{ "type": "string", "format": "money" }` (value a decimal string, currency separate)
 * - enum: `{ "type": "string", "enum": ["a", "b"] }`
 * - array: `{ "type": "array", "items": <one of the above> }`
 * Every schema may carry a `description` (models read it).
 */
export type FieldSchema =
  | { type: "string"; format?: "date" | "money"; enum?: string[]; description?: string }
  | { type: "number"; description?: string }
  | { type: "array"; items: Exclude<FieldSchema, { type: "array" }>; description?: string };

/** A category's fields: an object schema whose properties are field schemas. */
export interface CategoryFields {
  type: "object";
  properties: Record<string, FieldSchema>;
  required?: string[];
}

/** A category documents are sorted into, with what to extract for it. */
export interface Category {
  /** Stable machine name, e.g. "invoice". */
  name: string;
  /** What belongs here, in words; models use it to decide. */
  description: string;
  /** Words and phrases typical of the category (built-in classifier bootstrap). */
  keywords?: string[];
  /** Fields to extract for documents of this category. */
  fields?: CategoryFields;
  /** Version of the definition (bumped by every change); recorded with each extraction. */
  version?: number;
}

/** The kind of a field, derived from its schema (an array field's items have the item's kind). */
export type FieldKind = "string" | "number" | "date" | "money" | "enum";

/** One value found in a document. Array fields give one entry per item, in order. */
export interface ExtractedField {
  /** Field name as declared by the category, e.g. "total", "date". */
  name: string;
  kind: FieldKind;
  /** The value as printed in the document. */
  raw: string;
  /** Normalised value: ISO date (YYYY-MM-DD), amount or number as a decimal string, enum member, trimmed string. */
  value: string;
  /** For money: ISO 4217 currency code when known. */
  currency?: string;
  /** 0..1, calibrated: of fields given confidence c, about a fraction c is right. */
  confidence: number;
  /** Where in the text it was found: [start, end) character offsets. */
  span?: [number, number];
  /** 1-based page number, when the text has pages. */
  page?: number;
  /** Box on the page image [x0, y0, x1, y1] in pixels, when the text came from OCR. */
  bbox?: [number, number, number, number];
}

export interface Understanding {
  /** One of the categories passed in. */
  category: string;
  /** 0..1 for the category choice, calibrated like field confidences. */
  confidence: number;
  fields: ExtractedField[];
  /** Model that produced it, e.g. "builtin-rules@2" or "ollama:qwen2.5:7b". */
  model: string;
  /** Version of the prompt (or rule set) that produced it. */
  promptVersion: string;
  /** Tokens the call used (Ollama: prompt_eval_count / eval_count over every attempt; built-in: words, 0 generated). */
  usage?: { promptTokens: number; completionTokens: number };
}

/** One word read by OCR, with its place on the page image. */
export interface PageWord {
  text: string;
  page: number;
  bbox: [number, number, number, number];
  /** 0..1 */
  confidence: number;
}

/** A page image for a vision model, already downscaled to the model's pixel budget. */
export interface PageImage {
  page: number;
  /** JPEG bytes. */
  data: Buffer;
  width: number;
  height: number;
}

/** What a tenant's confirmed labels taught: token counts per category (built-in classifier). */
export interface LearnedLabels {
  /** Documents confirmed per category. */
  docs: Record<string, number>;
  /** Token occurrences per category (document frequency of each token). */
  tokens: Record<string, Record<string, number>>;
}

export interface UnderstandInput {
  /** The document's text (all pages, joined by form feeds `\f` between pages). */
  text: string;
  /** The document's file name; a weak hint. */
  name?: string;
  /** Categories allowed for this document; the answer's category is one of them. */
  categories: readonly Category[];
  /** OCR words with their boxes, for pages that had no text layer. */
  words?: readonly PageWord[];
  /**
   * Images of pages without a text layer (scans, photos) or with heavy layout. A model with a vision
   * role looks at them instead of (or besides) the text.
   */
  images?: readonly PageImage[];
  /** The tenant's confirmed labels, for models that learn from them. */
  learned?: LearnedLabels;
  /** Another model of the same backend for this call (a reprocess with a chosen model). */
  model?: string;
  /** Aborted when the stage's budget runs out. */
  signal?: AbortSignal;
}

/**
 * The models: classification + extraction in one call, and embeddings. Implementations: built-in
 * (CPU, no download) and Ollama (GPU).
 */
export interface Models {
  /** Model names per role, recorded with each result. */
  readonly names: { understand: string; vision?: string; embed: string };
  /** Version of the prompt (or rule set) `understand` uses now; results record the one they used. */
  readonly promptVersion: string;
  /** Vector length `embed` returns; fixed for the life of an index. */
  readonly embeddingDimensions: number;
  /** Largest image (in pixels) worth sending to the vision role; page images are downscaled to it. */
  readonly visionPixelBudget?: number;
  /**
   * The name results record for a model of this backend chosen by its own name (a reprocess's
   * choice), e.g. "llama3.1:8b" → "ollama:llama3.1:8b". Results of the default models record `names`.
   */
  qualify(model: string): string;
  /**
   * Classifies the text into one of `categories` and extracts that category's fields. Throws
   * TransientError when the model service is unavailable (the stage retries), DocumentError with
   * MODEL_OUTPUT_INVALID when the answer stays invalid after retries and MODEL_UNAVAILABLE when the
   * model does not exist on the server.
   */
  understand(input: UnderstandInput): Promise<Understanding>;
  /** One L2-normalised vector per text, in order. Batches internally as the backend prefers. */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]>;
}
