export type SearchMode = "KEYWORD" | "VECTOR" | "HYBRID";

export interface IndexChunk {
  /** 0-based position of the chunk in the document. */
  chunk: number;
  text: string;
  embedding: number[];
}

/** Kinds of indexed field values (the category field kinds): how they are typed in the index. */
export type IndexFieldKind = "string" | "number" | "date" | "money" | "enum";

/** One extracted field value. Array fields give one entry per item. */
export interface IndexField {
  /** The category's field name, e.g. "total". */
  name: string;
  kind: IndexFieldKind;
  /** Normalised: ISO date (YYYY-MM-DD), decimal string for number and money, else the text. */
  value: string;
}

/** Everything search needs about one document; upsert replaces what was there before. */
export interface IndexDocument {
  documentId: string;
  tenantId: string;
  batchId: string;
  name: string;
  category: string | null;
  /** When the document was ingested (ISO 8601). */
  createdAt: string;
  /** The document's own date (its first extracted date field), YYYY-MM-DD, if any. */
  date: string | null;
  /** Extracted field values, filterable and facetable by name. */
  fields: IndexField[];
  chunks: IndexChunk[];
}

/** A condition on an extracted field; numbers, money and dates compare as such, the rest as text. */
export interface FieldCondition {
  name: string;
  /** eq: equal (strings case-insensitively); in: any of `values`; gt/gte/lt/lte: ranges; exists. */
  op: "eq" | "in" | "gt" | "gte" | "lt" | "lte" | "exists";
  value?: string;
  values?: string[];
}

export interface SearchFilter {
  categories?: string[];
  batchIds?: string[];
  /** The document's own date, inclusive bounds YYYY-MM-DD (documents without a date never match). */
  dateFrom?: string;
  dateTo?: string;
  /** Ingestion time, inclusive bounds (ISO 8601; a bare date as `createdTo` covers that whole day). */
  createdFrom?: string;
  createdTo?: string;
  /** All must hold. */
  fields?: FieldCondition[];
  /** Leave these documents out (e.g. the document itself in `similar`). */
  excludeDocumentIds?: string[];
}

/**
 * A facet to count over every matching document (not just the page): `category`, `batch`, or an
 * extracted field as `field:<name>` (its most frequent values).
 */
export interface FacetRequest {
  field: string;
  /** Buckets to return, most frequent first (default 10, at most 100). */
  size?: number;
}

export interface FacetBucket {
  value: string;
  count: number;
}

export interface Facet {
  field: string;
  buckets: FacetBucket[];
}

export interface SearchQuery {
  /** Every query is scoped to one tenant; adapters apply it inside every sub-query and facet. */
  tenantId: string;
  /** Web-search syntax: words must all match (AND), "quoted phrases", -excluded words, OR. */
  text: string;
  /** Needed for VECTOR and HYBRID: the query text embedded by the same model as the documents. */
  embedding?: number[];
  mode: SearchMode;
  filter?: SearchFilter;
  /** Documents to return (after grouping chunks by document). */
  limit: number;
  offset?: number;
  facets?: FacetRequest[];
  /** The caller left: adapters start no further query for it (and cancel a running one where they can). */
  signal?: AbortSignal;
}

export interface SearchHit {
  documentId: string;
  /** Higher is better; comparable within one result list only. */
  score: number;
  /** The best matching chunk. */
  chunk: number;
  /** That chunk's text. */
  chunkText: string;
  /**
   * Snippets of the matching chunk with matches wrapped in <mark></mark>: HTML-escaped text whose only
   * tags are <mark>; empty for pure vector hits.
   */
  highlights: string[];
}

export interface SearchResult {
  hits: SearchHit[];
  /** Matching documents in all (for KEYWORD exact; for VECTOR and HYBRID the candidates considered). */
  total: number;
  /** One per requested facet, in request order. */
  facets: Facet[];
}

/** The search index. Ids are deterministic (`<documentId>:<chunk>`), so re-indexing never duplicates. */
export interface SearchIndex {
  /** Creates indexes/tables. Idempotent. */
  setup(): Promise<void>;
  /** Replaces all chunks of each document (idempotent: the same input twice leaves one copy). */
  upsert(docs: readonly IndexDocument[]): Promise<void>;
  /** Removes documents; no error for unknown ids. */
  delete(tenantId: string, documentIds: readonly string[]): Promise<void>;
  /**
   * Documents matching the query, best first, grouped by document, with the requested facets. Callers
   * bound the filter's lists (services/search.ts SEARCH_LIMITS); adapters keep the work linear in them.
   * Rejects with the signal's reason once it aborts.
   */
  search(query: SearchQuery): Promise<SearchResult>;
  /**
   * Documents of the tenant most like `documentId` (by its chunks' vectors), best first, never the
   * document itself; empty when the document is not indexed for this tenant.
   */
  similar(
    tenantId: string,
    documentId: string,
    opts: { limit: number; offset?: number; filter?: SearchFilter; signal?: AbortSignal },
  ): Promise<SearchHit[]>;
  /** Chunks stored per document of the tenant (for checks: nothing lost, nothing twice). */
  stats(tenantId: string): Promise<{ documents: number; chunks: number }>;
}
