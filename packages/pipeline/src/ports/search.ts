export type SearchMode = "KEYWORD" | "VECTOR" | "HYBRID";

export interface IndexChunk {
  /** 0-based position of the chunk in the document. */
  chunk: number;
  text: string;
  embedding: number[];
}

/** Everything search needs about one document; upsert replaces what was there before. */
export interface IndexDocument {
  documentId: string;
  tenantId: string;
  batchId: string;
  name: string;
  category: string | null;
  chunks: IndexChunk[];
}

export interface SearchFilter {
  categories?: string[];
  batchIds?: string[];
}

export interface SearchQuery {
  /** Every query is scoped to one tenant; adapters apply it inside every sub-query. */
  tenantId: string;
  text: string;
  /** Needed for VECTOR and HYBRID: the query text embedded by the same model as the documents. */
  embedding?: number[];
  mode: SearchMode;
  filter?: SearchFilter;
  /** Documents to return (after grouping chunks by document). */
  limit: number;
  offset?: number;
}

export interface SearchHit {
  documentId: string;
  /** Higher is better; comparable within one result list only. */
  score: number;
  /** The best matching chunk. */
  chunk: number;
  /** A snippet of the matching chunk with matches wrapped in <mark></mark>, or null. */
  highlight: string | null;
}

/** The search index. Ids are deterministic (`<documentId>:<chunk>`), so re-indexing never duplicates. */
export interface SearchIndex {
  /** Creates indexes/tables. Idempotent. */
  setup(): Promise<void>;
  /** Replaces all chunks of each document (idempotent: the same input twice leaves one copy). */
  upsert(docs: readonly IndexDocument[]): Promise<void>;
  /** Removes documents; no error for unknown ids. */
  delete(tenantId: string, documentIds: readonly string[]): Promise<void>;
  /** Documents matching the query, best first, grouped by document. */
  search(query: SearchQuery): Promise<{ hits: SearchHit[] }>;
  /** Chunks stored per document of the tenant (for checks: nothing lost, nothing twice). */
  stats(tenantId: string): Promise<{ documents: number; chunks: number }>;
}
