/** A category documents are sorted into, with what to extract for it. */
export interface Category {
  /** Stable machine name, e.g. "invoice". */
  name: string;
  /** What belongs here, in words; models use it to decide. */
  description: string;
  /** Words and phrases typical of the category (built-in classifier bootstrap). */
  keywords?: string[];
}

export type FieldKind =
  | "date"
  | "money"
  | "email"
  | "phone"
  | "iban"
  | "invoice_number"
  | "company"
  | "string";

/** One value found in a document. */
export interface ExtractedField {
  /** Field name, e.g. "total", "invoice_date", "email". */
  name: string;
  kind: FieldKind;
  /** The value as printed in the document. */
  raw: string;
  /** Normalised value: ISO date (YYYY-MM-DD), amount as a decimal string, lower-cased email, E.164-ish phone... */
  value: string;
  /** For money: ISO 4217 currency code when known. */
  currency?: string;
  /** 0..1: how sure the model is. */
  confidence: number;
  /** Where in the text it was found: [start, end) character offsets. */
  span?: [number, number];
  /** 1-based page number, when the text has pages. */
  page?: number;
}

export interface Understanding {
  /** One of the categories passed in. */
  category: string;
  /** 0..1 for the category choice. */
  confidence: number;
  fields: ExtractedField[];
  /** Model that produced it, e.g. "builtin-rules@1" or "ollama:qwen2.5:7b". */
  model: string;
}

export interface UnderstandInput {
  /** The document's text (all pages, joined by form feeds `\f` between pages). */
  text: string;
  /** The document's file name; a weak hint. */
  name?: string;
  /** Categories allowed for this document; the answer's category is one of them. */
  categories: readonly Category[];
}

/**
 * The models: classification + extraction in one call, and embeddings. Implementations: built-in
 * (CPU, no download) and Ollama (GPU).
 */
export interface Models {
  /** Model names per role, recorded with each result. */
  readonly names: { understand: string; embed: string };
  /** Vector length `embed` returns; fixed for the life of an index. */
  readonly embeddingDimensions: number;
  /**
   * Classifies the text into one of `categories` and extracts fields. Throws TransientError when the
   * model service is unavailable (the stage retries).
   */
  understand(input: UnderstandInput): Promise<Understanding>;
  /** One L2-normalised vector per text, in order. Batches internally as the backend prefers. */
  embed(texts: readonly string[]): Promise<number[][]>;
}
