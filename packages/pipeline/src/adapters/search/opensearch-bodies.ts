import type { API, Types } from "@opensearch-project/opensearch";
import type {
  FacetRequest,
  FieldCondition,
  IndexDocument,
  SearchFilter,
  SearchQuery,
} from "../../ports/search.ts";
import {
  conditionOperands,
  decimal,
  isoDate,
  markedFragments,
  RRF_K,
  requireDate,
  requireInstant,
} from "./common.ts";

export { decimal, isoDate, RRF_K } from "./common.ts";

// Pure builders of every request body the OpenSearch adapter sends, typed with the client's API
// types, so unit tests pin exactly what goes over the wire.

type Query = Types.Common_QueryDsl.QueryContainer;
type Aggs = Record<string, Types.Common_Aggregations.AggregationContainer>;
type SearchBody = API.Search_RequestBody;

/** Bumped whenever the template's mappings change incompatibly; setup() refuses an older index. */
export const MAPPING_VERSION = 1;
/** Reciprocal rank fusion constant (as in the RRF paper and OpenSearch's score-ranker-processor). */
/** Documents taken from each ranked list; also what VECTOR and HYBRID report as `total` at most. */
export const CANDIDATES = 200;
/** Chunks fetched per wanted document when grouping happens on our side (hybrid). */
export const CHUNKS_PER_DOC = 4;
/** OpenSearch's k-NN and result-window ceiling. */
export const MAX_K = 10_000;
/**
 * Cardinality counts are exact below this (HyperLogLog++ keeps the hashes themselves up to it; 40,000 is
 * the ceiling OpenSearch accepts) and within a fraction of a percent above.
 */
export const CARDINALITY_PRECISION = 40_000;
const FACET_SIZE = 10;
const FACET_MAX = 100;
/** Highlight marks: control characters that never occur in extracted text, swapped for <mark> after escaping. */
export const MARK_START = "\u0002";
export const MARK_STOP = "\u0003";

const SEARCH_FLAGS = "AND|OR|NOT|PHRASE|PRECEDENCE|WHITESPACE|ESCAPE";
/** name weighs most (a file called invoice-acme.pdf is about invoices), the category least. */
const KEYWORD_FIELDS = ["name^3", "text", "category.text^0.5"];

/** One OpenSearch document: one chunk, with the document's attributes copied onto it. */
export interface ChunkSource {
  tenant_id: string;
  batch_id: string;
  document_id: string;
  chunk: number;
  name: string;
  category: string | null;
  created_at: string;
  doc_date: string | null;
  text: string;
  embedding: number[];
  /** Every field value as given: facets and `exists`. */
  f_kw: Record<string, string[]>;
  /** Values that are neither numbers nor dates: text comparisons (eq case-insensitive via `.lc`). */
  f_txt: Record<string, string[]>;
  f_num: Record<string, number[]>;
  f_date: Record<string, string[]>;
}

// ---------------------------------------------------------------------------------------------
// Index template, index and pipeline

/**
 * The composable template every physical chunk index (`<prefix>-chunks-v<N>-d<dims>`) gets. The
 * vector field is not in it: its dimension belongs to the physical index (its name says which), so a
 * reindex to another embedding model adds it at index creation.
 *
 * Extracted fields are flattened per kind (`f_num.<name>` double, `f_date.<name>` date, `f_txt.<name>`
 * and `f_kw.<name>` keyword) by dynamic_templates rather than mapped by their own name: one field name
 * can be a date in one category and free text in another, and a dynamically mapped `total` would be
 * typed by whichever document came first, rejecting every later one of the other kind. Per-kind
 * prefixes never conflict, and range queries and facets run on native types. The cost is mapped
 * fields growing with distinct field names (bounded by the categories' schemas; the limit is raised).
 */
export function indexTemplateBody(prefix: string, opts: { shards: number; replicas: number }) {
  const keyword = (extra: object = {}): Types.Common_Mapping.Property => ({
    type: "keyword",
    ignore_above: 1024,
    ...extra,
  });
  const body: API.Indices_PutIndexTemplate_RequestBody = {
    index_patterns: [`${prefix}-chunks-v*`],
    priority: 100,
    version: MAPPING_VERSION,
    _meta: { docfleet_mapping_version: MAPPING_VERSION },
    template: {
      settings: {
        number_of_shards: opts.shards,
        number_of_replicas: opts.replicas,
        "index.knn": true,
        "index.mapping.total_fields.limit": 5000,
        analysis: {
          char_filter: {
            // File names are one token to the standard tokenizer ("acme.pdf"): split them into words.
            docfleet_name_split: { type: "pattern_replace", pattern: "[-_./\\\\]+", replacement: " " },
          },
          filter: {
            docfleet_english_stop: { type: "stop", stopwords: "_english_" },
            docfleet_english_stemmer: { type: "stemmer", language: "english" },
            docfleet_english_possessive: { type: "stemmer", language: "possessive_english" },
          },
          analyzer: {
            docfleet_text: {
              type: "custom",
              tokenizer: "standard",
              filter: [
                "docfleet_english_possessive",
                "lowercase",
                "docfleet_english_stop",
                "docfleet_english_stemmer",
              ],
            },
            docfleet_name: {
              type: "custom",
              tokenizer: "standard",
              char_filter: ["docfleet_name_split"],
              // the same stop words as the text: a stop word in the query then drops out of every field,
              // rather than becoming a required term in the name alone
              filter: ["lowercase", "docfleet_english_stop", "docfleet_english_stemmer"],
            },
          },
          normalizer: { docfleet_lowercase: { type: "custom", filter: ["lowercase"] } },
        },
      },
      mappings: {
        dynamic: "strict",
        _meta: { docfleet_mapping_version: MAPPING_VERSION },
        dynamic_templates: [
          { f_num: { path_match: "f_num.*", mapping: { type: "double" } } },
          { f_date: { path_match: "f_date.*", mapping: { type: "date", format: "strict_date" } } },
          {
            f_txt: {
              path_match: "f_txt.*",
              mapping: keyword({ fields: { lc: keyword({ normalizer: "docfleet_lowercase" }) } }),
            },
          },
          { f_kw: { path_match: "f_kw.*", mapping: keyword() } },
        ],
        properties: {
          tenant_id: keyword(),
          batch_id: keyword(),
          document_id: keyword(),
          chunk: { type: "integer" },
          name: { type: "text", analyzer: "docfleet_name" },
          category: keyword({ fields: { text: { type: "text", analyzer: "docfleet_text" } } }),
          created_at: { type: "date", format: "strict_date_optional_time" },
          doc_date: { type: "date", format: "strict_date" },
          text: { type: "text", analyzer: "docfleet_text" },
          f_kw: { type: "object", dynamic: true },
          f_txt: { type: "object", dynamic: true },
          f_num: { type: "object", dynamic: true },
          f_date: { type: "object", dynamic: true },
        },
      },
    },
  };
  return body;
}

/** The physical index: the template supplies the rest; the vector field carries its dimension. */
export function createIndexBody(
  dims: number,
  engine: "faiss" | "lucene",
  alias?: string,
): API.Indices_Create_RequestBody {
  return {
    mappings: {
      properties: {
        embedding: {
          type: "knn_vector",
          dimension: dims,
          space_type: "cosinesimil",
          // figures in FIGURES.md: faiss HNSW m 16, ef 100 gave recall@100 0.94 on 1M × 768
          method: { name: "hnsw", engine, parameters: { m: 16, ef_construction: 128 } },
        },
      },
    },
    ...(alias ? { aliases: { [alias]: { is_write_index: true } } } : {}),
  };
}

/** Reciprocal rank fusion of the keyword and vector lists, inside OpenSearch (2.19+). */
export function hybridPipelineBody(): API.SearchPipeline_Put_Request["body"] {
  return {
    description: "docfleet hybrid search: reciprocal rank fusion of keyword and vector results",
    phase_results_processors: [
      { "score-ranker-processor": { combination: { technique: "rrf", rank_constant: RRF_K } } },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Filters and queries

/**
 * Every filter of a query as one bool: the tenant first, always. Used inside every sub-query (the
 * keyword bool, the knn `filter`, the facet and total queries), never as a post-filter, so a page is
 * never short because of filtering and no other tenant's chunk is ever scored.
 */
export function filterQuery(tenantId: string, filter: SearchFilter | undefined): Query {
  const must: Query[] = [{ term: { tenant_id: tenantId } }];
  const mustNot: Query[] = [];
  if (filter?.categories?.length) must.push({ terms: { category: filter.categories } });
  if (filter?.batchIds?.length) must.push({ terms: { batch_id: filter.batchIds } });
  if (filter?.dateFrom || filter?.dateTo) {
    must.push({
      range: {
        doc_date: {
          ...(filter.dateFrom ? { gte: requireDate("dateFrom", filter.dateFrom) } : {}),
          ...(filter.dateTo ? { lte: requireDate("dateTo", filter.dateTo) } : {}),
        },
      },
    });
  }
  if (filter?.createdFrom || filter?.createdTo) {
    const range: Record<string, string> = {};
    if (filter.createdFrom) range.gte = requireInstant("createdFrom", filter.createdFrom, false);
    if (filter.createdTo) {
      // a bare date as upper bound means the whole of that day (UTC)
      const bare = /^\d{4}-\d{2}-\d{2}$/.test(filter.createdTo);
      range[bare ? "lt" : "lte"] = requireInstant("createdTo", filter.createdTo, bare);
    }
    must.push({ range: { created_at: range } });
  }
  for (const cond of filter?.fields ?? []) must.push(fieldQuery(cond));
  if (filter?.excludeDocumentIds?.length) mustNot.push({ terms: { document_id: filter.excludeDocumentIds } });
  return { bool: { filter: must, ...(mustNot.length ? { must_not: mustNot } : {}) } };
}

/**
 * One field condition. Numbers and money compare as numbers, dates as dates, other values as text
 * (eq/in case-insensitively): each kind lives in its own prefix, so a condition is a `should` over
 * the kinds its value can be read as, as in the embedded adapter.
 */
export function fieldQuery(cond: FieldCondition): Query {
  const k = fieldKey(cond.name);
  switch (cond.op) {
    case "exists":
      return { exists: { field: `f_kw.${k}` } };
    case "in": {
      const { texts, nums, dates } = conditionOperands(cond);
      const should: Query[] = [{ terms: { [`f_txt.${k}.lc`]: texts.map((v) => v.toLowerCase()) } }];
      if (nums.length) should.push({ terms: { [`f_num.${k}`]: nums.map(Number) } });
      if (dates.length) should.push({ terms: { [`f_date.${k}`]: dates } });
      return { bool: { should, minimum_should_match: 1 } };
    }
    case "eq":
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const { texts, nums, dates } = conditionOperands(cond);
      const value = texts[0] ?? "";
      const num = nums[0] ?? null;
      const date = dates[0] ?? null;
      const op = cond.op;
      const should: Query[] = [];
      if (op === "eq") {
        should.push({ term: { [`f_txt.${k}.lc`]: value.toLowerCase() } });
        if (num !== null) should.push({ term: { [`f_num.${k}`]: Number(num) } });
        if (date !== null) should.push({ term: { [`f_date.${k}`]: date } });
      } else {
        // keyword ranges compare UTF-8 bytes, as the embedded adapter's COLLATE "C"
        should.push({ range: { [`f_txt.${k}`]: { [op]: value } } });
        if (num !== null) should.push({ range: { [`f_num.${k}`]: { [op]: Number(num) } } });
        if (date !== null) should.push({ range: { [`f_date.${k}`]: { [op]: date } } });
      }
      return { bool: { should, minimum_should_match: 1 } };
    }
    default:
      throw new Error(`unknown field condition op ${JSON.stringify((cond as { op: unknown }).op)}`);
  }
}

/** The keyword query: all words must match (web-search syntax) in name, text or category, within the filters. */
export function keywordQuery(q: Pick<SearchQuery, "tenantId" | "text" | "filter">): Query {
  return {
    bool: {
      must: [
        {
          simple_query_string: {
            query: simpleQueryString(q.text),
            fields: KEYWORD_FIELDS,
            default_operator: "and",
            flags: SEARCH_FLAGS,
          },
        },
      ],
      filter: [filterQuery(q.tenantId, q.filter)],
    },
  };
}

/** k nearest chunks, with every filter inside the knn query (efficient filtering, not post-filtering). */
export function knnQuery(
  tenantId: string,
  vector: readonly number[],
  filter: SearchFilter | undefined,
  k: number,
): Query {
  return { knn: { embedding: { vector: [...vector], k, filter: filterQuery(tenantId, filter) } } };
}

/** Snippets of the chunk text; the marks are swapped for <mark> after HTML-escaping on our side. */
export function highlightBody(text: string): SearchBody["highlight"] {
  return {
    pre_tags: [MARK_START],
    post_tags: [MARK_STOP],
    fields: { text: { number_of_fragments: 3, fragment_size: 160, no_match_size: 0 } },
    highlight_query: {
      simple_query_string: {
        query: simpleQueryString(text),
        fields: ["text"],
        default_operator: "and",
        flags: SEARCH_FLAGS,
      },
    },
  };
}

const SOURCE: SearchBody["_source"] = { includes: ["document_id", "chunk", "text"] };

/**
 * The client's generated types (3.9) leave `field` out of the terms and cardinality aggregations,
 * which OpenSearch requires: added here, typed once.
 */
function fieldOf(field: string): Types.Common_Aggregations.TermsAggregationFields {
  return { field } as Types.Common_Aggregations.TermsAggregationFields;
}

/** Distinct documents (a bucket's chunks share their document's id). */
function documentCount(): Types.Common_Aggregations.CardinalityAggregation {
  return {
    field: "document_id",
    precision_threshold: CARDINALITY_PRECISION,
  } as Types.Common_Aggregations.CardinalityAggregation;
}

/** The number of distinct documents among the matching chunks (chunks share their document's id). */
const TOTAL_AGG: Aggs = {
  total_docs: { cardinality: documentCount() },
};

/** KEYWORD: best chunk per document (collapse), highlights, exact totals and facets over every match. */
export function keywordSearchBody(q: SearchQuery, facets: ParsedFacet[]): SearchBody {
  return {
    query: keywordQuery(q),
    collapse: { field: "document_id" },
    from: q.offset ?? 0,
    size: q.limit,
    _source: SOURCE,
    highlight: highlightBody(q.text),
    track_total_hits: true,
    track_scores: true,
    sort: [{ _score: { order: "desc" } }, { document_id: { order: "asc" } }],
    aggs: { ...TOTAL_AGG, ...facetAggs(facets) },
  };
}

/** VECTOR: nearest chunks grouped by document; total and facets over the candidates. */
export function vectorSearchBody(
  q: SearchQuery & { embedding: number[] },
  facets: ParsedFacet[],
  k = vectorK(q),
): SearchBody {
  return {
    query: knnQuery(q.tenantId, q.embedding, q.filter, k),
    collapse: { field: "document_id" },
    from: q.offset ?? 0,
    size: q.limit,
    _source: SOURCE,
    aggs: { ...TOTAL_AGG, ...facetAggs(facets) },
  };
}

/** similar(): documents nearest to a vector standing for one document (itself in the filter's exclusions). */
export function similarBody(
  tenantId: string,
  vector: readonly number[],
  filter: SearchFilter,
  limit: number,
  offset: number,
): SearchBody {
  return {
    query: knnQuery(tenantId, vector, filter, vectorK({ limit, offset })),
    collapse: { field: "document_id" },
    from: offset,
    size: limit,
    _source: SOURCE,
  };
}

/** Chunk candidates of a vector query: enough for the page even when documents have several close chunks. */
export function vectorK(q: Pick<SearchQuery, "limit" | "offset">): number {
  const want = (q.offset ?? 0) + q.limit;
  return Math.min(MAX_K, Math.max(CANDIDATES, want * CHUNKS_PER_DOC));
}

/**
 * HYBRID through the search pipeline: both sub-queries carry the tenant and every filter. Chunks are
 * grouped by document here, not by `collapse`: hybrid collapse needs 3.1 and may return fewer groups
 * than asked; fetching `CHUNKS_PER_DOC` chunks per wanted document from rank 0 works from 2.19.
 */
export function hybridQuery(q: SearchQuery & { embedding: number[] }, facets: ParsedFacet[]): SearchBody {
  const want = (q.offset ?? 0) + q.limit;
  const size = Math.min(MAX_K, want * CHUNKS_PER_DOC);
  const depth = Math.min(MAX_K, Math.max(CANDIDATES, size));
  return {
    query: {
      hybrid: {
        queries: [keywordQuery(q), knnQuery(q.tenantId, q.embedding, q.filter, depth)],
        pagination_depth: depth,
      },
    },
    from: 0,
    size,
    _source: SOURCE,
    aggs: { ...TOTAL_AGG, ...facetAggs(facets) },
  };
}

/** The chunks of a page that match the words, with their highlights (hybrid through the pipeline). */
export function highlightSearchBody(q: SearchQuery, chunkIds: string[]): SearchBody {
  return {
    query: { bool: { must: [keywordQuery(q)], filter: [{ ids: { values: chunkIds } }] } },
    size: chunkIds.length,
    _source: false,
    highlight: highlightBody(q.text),
  };
}

/** One ranked list for client-side fusion: the best `n` documents of a keyword or knn query. */
export function rankedListBody(query: Query, n: number, text: string | null): SearchBody {
  return {
    query,
    collapse: { field: "document_id" },
    size: n,
    _source: SOURCE,
    ...(text !== null ? { highlight: highlightBody(text) } : {}),
  };
}

/** Facets (and nothing else) over a known set of documents: client-side hybrid. */
export function facetSearchBody(
  tenantId: string,
  filter: SearchFilter | undefined,
  documentIds: string[],
  facets: ParsedFacet[],
): SearchBody {
  return {
    query: {
      bool: { filter: [filterQuery(tenantId, filter), { terms: { document_id: documentIds } }] },
    },
    size: 0,
    aggs: facetAggs(facets),
  };
}

export interface ParsedFacet {
  field: string;
  size: number;
  /** The indexed keyword field the facet counts. */
  path: string;
}

export function parseFacet(req: FacetRequest): ParsedFacet {
  const size = Math.min(FACET_MAX, Math.max(1, Math.floor(req.size ?? FACET_SIZE)));
  if (req.field === "category") return { field: req.field, size, path: "category" };
  if (req.field === "batch") return { field: req.field, size, path: "batch_id" };
  const m = /^field:(.+)$/.exec(req.field);
  if (m?.[1]) return { field: req.field, size, path: `f_kw.${fieldKey(m[1])}` };
  throw new Error(`unknown facet ${JSON.stringify(req.field)}: use category, batch or field:<name>`);
}

/**
 * Facets as terms aggregations counted per document, not per chunk: every chunk carries its
 * document's attributes, so a bucket's doc_count counts a two-chunk document twice. Each bucket's
 * `docs` sub-aggregation is the cardinality of document_id (exact below CARDINALITY_PRECISION per
 * bucket), and buckets are ordered by it (then by value, as the embedded adapter). The alternative, a
 * terms agg on document_id under each bucket, is exact but returns every id, which does not scale;
 * one "head" document per document would need a join back to the chunks a query matched.
 */
export function facetAggs(facets: readonly ParsedFacet[]): Aggs {
  const aggs: Aggs = {};
  facets.forEach((f, i) => {
    aggs[`facet_${i}`] = {
      terms: {
        ...fieldOf(f.path),
        size: f.size,
        shard_size: Math.max(100, f.size * 5),
        order: [{ docs: "desc" }, { _key: "asc" }],
      },
      aggs: { docs: { cardinality: documentCount() } },
    };
  });
  return aggs;
}

/** The chunks of one document's tenant, for similar(). */
export function documentVectorsBody(tenantId: string, documentId: string): SearchBody {
  return {
    query: { bool: { filter: [{ term: { tenant_id: tenantId } }, { term: { document_id: documentId } }] } },
    size: MAX_K,
    _source: { includes: ["chunk", "embedding"] },
    sort: [{ chunk: { order: "asc" } }],
  };
}

/** stats(): chunks are hits, documents the distinct document ids. */
export function statsBody(tenantId: string): SearchBody {
  return {
    query: { term: { tenant_id: tenantId } },
    size: 0,
    track_total_hits: true,
    aggs: TOTAL_AGG,
  };
}

/** Delete a tenant's documents (all their chunks). */
export function deleteDocumentsBody(
  tenantId: string,
  documentIds: readonly string[],
): API.DeleteByQuery_RequestBody {
  return {
    query: {
      bool: { filter: [{ term: { tenant_id: tenantId } }, { terms: { document_id: [...documentIds] } }] },
    },
  };
}

/**
 * Chunks left over from a previous, longer version of each document (ids `<doc>:<chunk>` for chunk
 * numbers the new version lacks). Run after the new chunks are written, so a document is never
 * missing from search in between.
 */
export function staleChunksBody(docs: readonly IndexDocument[]): API.DeleteByQuery_RequestBody {
  return {
    query: {
      bool: {
        should: docs.map((d) => {
          const n = d.chunks.length;
          const contiguous = d.chunks.every((c, i) => c.chunk === i);
          const stale: Query = contiguous
            ? { range: { chunk: { gte: n } } }
            : { bool: { must_not: [{ terms: { chunk: d.chunks.map((c) => c.chunk) } }] } };
          return {
            bool: {
              filter: [{ term: { tenant_id: d.tenantId } }, { term: { document_id: d.documentId } }, stale],
            },
          };
        }),
        minimum_should_match: 1,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Bulk

/** One chunk's index action and source; deterministic ids, so re-indexing overwrites. */
export function chunkSources(d: IndexDocument): { id: string; source: ChunkSource }[] {
  const created = new Date(d.createdAt);
  if (Number.isNaN(created.getTime()))
    throw new Error(`document ${d.documentId}: createdAt ${d.createdAt} is not a date`);
  const f_kw: Record<string, string[]> = {};
  const f_txt: Record<string, string[]> = {};
  const f_num: Record<string, number[]> = {};
  const f_date: Record<string, string[]> = {};
  const add = <T>(m: Record<string, T[]>, k: string, v: T) => {
    const list = m[k];
    if (list) list.push(v);
    else m[k] = [v];
  };
  for (const f of d.fields) {
    const k = fieldKey(f.name);
    add(f_kw, k, f.value);
    const num = f.kind === "number" || f.kind === "money" ? decimal(f.value) : null;
    const date = f.kind === "date" ? isoDate(f.value) : null;
    if (num !== null) add(f_num, k, Number(num));
    else if (date !== null) add(f_date, k, date);
    else add(f_txt, k, f.value);
  }
  return d.chunks.map((ch) => ({
    id: `${d.documentId}:${ch.chunk}`,
    source: {
      tenant_id: d.tenantId,
      batch_id: d.batchId,
      document_id: d.documentId,
      chunk: ch.chunk,
      name: d.name,
      category: d.category,
      created_at: created.toISOString(),
      // an unparseable extracted date is dropped rather than failing the document's indexing
      doc_date: d.date !== null ? isoDate(d.date) : null,
      text: ch.text,
      embedding: ch.embedding.map((x) => (Number.isFinite(x) ? x : 0)),
      f_kw,
      f_txt,
      f_num,
      f_date,
    },
  }));
}

export interface BulkOp {
  id: string;
  index: string;
  source: ChunkSource;
}

/**
 * Bulk request bodies, each at most `maxBytes` of NDJSON (AWS rejects bodies over 10 MiB with 413);
 * an action larger than the cap goes alone.
 */
export function bulkBody(
  ops: readonly BulkOp[],
  maxBytes: number,
): { ops: BulkOp[]; body: API.Bulk_RequestBody }[] {
  const out: { ops: BulkOp[]; body: API.Bulk_RequestBody; bytes: number }[] = [];
  let cur: { ops: BulkOp[]; body: API.Bulk_RequestBody; bytes: number } | null = null;
  for (const op of ops) {
    const action = { index: { _index: op.index, _id: op.id } };
    const bytes =
      Buffer.byteLength(JSON.stringify(action)) + Buffer.byteLength(JSON.stringify(op.source)) + 2;
    if (!cur || (cur.ops.length > 0 && cur.bytes + bytes > maxBytes)) {
      cur = { ops: [], body: [], bytes: 0 };
      out.push(cur);
    }
    cur.ops.push(op);
    cur.body.push(action, op.source);
    cur.bytes += bytes;
  }
  return out.map(({ ops, body }) => ({ ops, body }));
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Web-search syntax (words AND, "phrases", -excluded, OR) as simple_query_string syntax: `|` for OR,
 * everything else that simple_query_string reads as an operator escaped.
 */
export function simpleQueryString(text: string): string {
  const out: string[] = [];
  const re = /(-?)"([^"]*)"?|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[3] !== undefined) {
      const word = m[3];
      if (word === "OR") {
        if (out.length > 0 && out[out.length - 1] !== "|") out.push("|");
        continue;
      }
      const neg = word.startsWith("-") && word.length > 1;
      const body = escapeSimple(neg ? word.slice(1) : word);
      if (body) out.push(`${neg ? "-" : ""}${body}`);
    } else {
      const phrase = escapeSimple(m[2] ?? "").trim();
      if (phrase) out.push(`${m[1]}"${phrase}"`);
    }
  }
  while (out[out.length - 1] === "|") out.pop();
  return out.join(" ");
}

function escapeSimple(s: string): string {
  return s.replace(/[+|\-"*()~\\]/g, (c) => `\\${c}`);
}

/** Field names become object keys: dots would nest them, so they (and the escape itself) are encoded. */
export function fieldKey(name: string): string {
  return name.replace(/%/g, "%25").replace(/\./g, "%2E");
}

/** OpenSearch highlight fragments as safe HTML (see markedFragments). */
export function fragments(raw: readonly string[] | undefined): string[] {
  return markedFragments(raw ?? [], MARK_START, MARK_STOP);
}
