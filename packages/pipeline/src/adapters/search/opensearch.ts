import { type API, Client, errors } from "@opensearch-project/opensearch";
import type {
  Facet,
  IndexDocument,
  SearchFilter,
  SearchHit,
  SearchIndex,
  SearchQuery,
  SearchResult,
} from "../../ports/search.ts";
import { fuse } from "./common.ts";
import {
  type BulkOp,
  bulkBody,
  CANDIDATES,
  CHUNKS_PER_DOC,
  type ChunkSource,
  chunkSources,
  createIndexBody,
  deleteDocumentsBody,
  documentVectorsBody,
  facetSearchBody,
  fragments,
  highlightSearchBody,
  hybridPipelineBody,
  hybridQuery,
  indexTemplateBody,
  keywordQuery,
  keywordSearchBody,
  knnQuery,
  MAPPING_VERSION,
  MAX_K,
  type ParsedFacet,
  parseFacet,
  rankedListBody,
  similarBody,
  staleChunksBody,
  statsBody,
  vectorSearchBody,
} from "./opensearch-bodies.ts";

export { fuse } from "./common.ts";

export interface OpenSearchOptions {
  /** Cluster URL, e.g. https://search.internal:9200. Ignored when `client` is given. */
  node: string;
  username?: string;
  password?: string;
  /** Names everything this adapter creates: alias `<prefix>-chunks`, indexes `<prefix>-chunks-v<N>-d<dims>`. */
  prefix: string;
  /** Vector length; must match the embedding model. */
  dimensions: number;
  /** "pipeline": hybrid query fused by a search pipeline (RRF, 2.19+); "client": two queries fused here. */
  hybrid?: "pipeline" | "client";
  engine?: "faiss" | "lucene";
  /** Refresh after writes: false (default, throughput), true, or "wait_for" (read-your-writes, tests). */
  refresh?: boolean | "wait_for";
  /** Bulk body cap in bytes (default 5 MiB; AWS rejects bodies over 10 MiB). */
  maxBulkBytes?: number;
  /** Retries of items (or whole requests) rejected with 429, with exponential backoff. */
  maxRetries?: number;
  /** First backoff delay; doubles per retry, with jitter. */
  retryBaseMs?: number;
  shards?: number;
  replicas?: number;
  requestTimeoutMs?: number;
  client?: Client;
  log?: { warn(obj: object, msg: string): void };
}

/** A document's place in one ranked list. */
interface Ranked {
  documentId: string;
  chunk: number;
  score: number;
  text: string;
  highlights: string[];
  keyword: boolean;
}

type Hit = {
  _id?: string;
  _score?: number | null;
  _source?: Partial<ChunkSource>;
  highlight?: Record<string, string[]>;
};

const STALE_DELETE_DOCS = 200;
const PREFIX = /^[a-z0-9][a-z0-9_.-]{0,100}$/;

/**
 * Search in OpenSearch: one OpenSearch document per chunk with the document's attributes copied onto
 * it, so a long document is found by any of its chunks and every filter applies to the chunk being
 * scored (no join); chunks are grouped per document by collapsing on document_id. Reads and writes go
 * through the alias `<prefix>-chunks`, so reindex() can build the next physical index beside the live
 * one and swap the alias atomically (blue/green, no downtime).
 *
 * Ids are `<documentId>:<chunk>` and carry no tenant: document ids are server-made UUIDs, so two
 * tenants never share one; every query still filters on the tenant.
 */
export class OpenSearchSearchIndex implements SearchIndex {
  readonly alias: string;
  readonly pipelineId: string;
  private readonly client: Client;
  private dims: number;
  private hybridMode: "pipeline" | "client";
  /** The next index while reindex() runs: writes go to both, so the copy misses nothing of ours. */
  private shadow: string | null = null;

  constructor(private readonly opts: OpenSearchOptions) {
    if (!PREFIX.test(opts.prefix))
      throw new Error(`invalid OpenSearch index prefix ${JSON.stringify(opts.prefix)}`);
    checkDims(opts.dimensions);
    this.dims = opts.dimensions;
    this.alias = `${opts.prefix}-chunks`;
    this.pipelineId = `${opts.prefix}-hybrid`;
    this.hybridMode = opts.hybrid ?? "pipeline";
    this.client =
      opts.client ??
      new Client({
        node: opts.node,
        ...(opts.username ? { auth: { username: opts.username, password: opts.password ?? "" } } : {}),
        requestTimeout: opts.requestTimeoutMs ?? 30_000,
      });
  }

  /** How hybrid queries are fused right now (the pipeline turns to "client" once it proves unavailable). */
  get hybrid(): "pipeline" | "client" {
    return this.hybridMode;
  }

  get dimensions(): number {
    return this.dims;
  }

  indexName(version: number, dims: number): string {
    return `${this.alias}-v${version}-d${dims}`;
  }

  async setup(): Promise<void> {
    await this.client.indices.putIndexTemplate({
      name: this.alias,
      body: indexTemplateBody(this.opts.prefix, {
        shards: this.opts.shards ?? 1,
        replicas: this.opts.replicas ?? 1,
      }),
    });
    if (this.hybridMode === "pipeline") {
      try {
        await this.client.searchPipeline.put({ id: this.pipelineId, body: hybridPipelineBody() });
      } catch (e) {
        // no neural-search plugin, an older release without RRF, or no permission on managed clusters
        if (statusOf(e) >= 400 && statusOf(e) < 500) this.useClientFusion(e);
        else throw e;
      }
    }
    let index = await this.aliasTarget();
    if (!index) {
      const first = this.indexName(1, this.dims);
      try {
        await this.client.indices.create({
          index: first,
          body: createIndexBody(this.dims, this.opts.engine ?? "faiss", this.alias),
        });
      } catch (e) {
        if (errorType(e) !== "resource_already_exists_exception") throw e; // a concurrent setup() won
      }
      index = await this.aliasTarget();
      if (!index)
        throw new Error(`index ${first} exists without the alias ${this.alias}; add the alias or delete it`);
    }
    await this.checkMapping(index);
  }

  /**
   * Builds the next physical index and moves the alias onto it atomically, then drops the old one.
   * Same dimensions: the `_reindex` API copies every chunk. Other dimensions (a new embedding model):
   * the old vectors are useless, so `source` must yield every document re-embedded. Writes made by
   * this instance meanwhile go to both indexes; other writers should pause (a delete by another
   * process during the copy could be copied back).
   */
  async reindex(
    opts: { dimensions?: number; source?: () => AsyncIterable<readonly IndexDocument[]> } = {},
  ): Promise<{ from: string; to: string }> {
    const current = await this.aliasTarget();
    if (!current) throw new Error(`no index behind ${this.alias}: run setup() first`);
    const m = /-v(\d+)-d(\d+)$/.exec(current);
    const version = m ? Number(m[1]) : 0;
    const currentDims = m ? Number(m[2]) : this.dims;
    const dims = opts.dimensions ?? currentDims;
    checkDims(dims);
    if (dims !== currentDims && !opts.source)
      throw new Error(
        `changing ${currentDims} to ${dims} dimensions needs a source of re-embedded documents`,
      );
    const next = this.indexName(version + 1, dims);
    await this.client.indices.create({
      index: next,
      body: createIndexBody(dims, this.opts.engine ?? "faiss"),
    });
    let swapped = false;
    const previousDims = this.dims;
    try {
      if (opts.source) {
        this.dims = dims;
        for await (const batch of opts.source()) await this.write(batch, [next]);
      } else {
        this.shadow = next;
        // op_type create: a chunk this instance already wrote to the new index is newer than the copy
        await this.client.reindex({
          body: {
            source: { index: current },
            dest: { index: next, op_type: "create" },
            conflicts: "proceed",
          },
          wait_for_completion: true,
          refresh: true,
        });
      }
      await this.client.indices.updateAliases({ body: aliasSwapBody(this.alias, current, next) });
      swapped = true;
      this.dims = dims;
      await this.client.indices.delete({ index: current });
      return { from: current, to: next };
    } catch (e) {
      if (!swapped) {
        this.dims = previousDims;
        await this.client.indices.delete({ index: next }).catch(() => {});
      }
      throw e;
    } finally {
      this.shadow = null;
    }
  }

  async upsert(docs: readonly IndexDocument[]): Promise<void> {
    const targets = this.shadow ? [this.alias, this.shadow] : [this.alias];
    await this.write(docs, targets);
  }

  async delete(tenantId: string, documentIds: readonly string[]): Promise<void> {
    if (documentIds.length === 0) return;
    for (const index of this.shadow ? [this.alias, this.shadow] : [this.alias]) {
      await this.client.deleteByQuery({
        index,
        body: deleteDocumentsBody(tenantId, documentIds),
        conflicts: "proceed",
        refresh: this.opts.refresh !== undefined && this.opts.refresh !== false,
      });
    }
  }

  async stats(tenantId: string): Promise<{ documents: number; chunks: number }> {
    const res = await this.search_({ index: this.alias, body: statsBody(tenantId) });
    return { documents: cardinality(res, "total_docs"), chunks: totalHits(res) };
  }

  async search(q: SearchQuery): Promise<SearchResult> {
    const facets = (q.facets ?? []).map(parseFacet); // bad requests fail before any work
    if (q.mode === "KEYWORD") {
      if (!q.text.trim())
        return { hits: [], total: 0, facets: facets.map((f) => ({ field: f.field, buckets: [] })) };
      const res = await this.search_({ index: this.alias, body: keywordSearchBody(q, facets) });
      return {
        hits: hits(res).map((h) => toHit(h, true)),
        total: cardinality(res, "total_docs"),
        facets: readFacets(res, facets),
      };
    }
    if (!q.embedding) throw new Error(`${q.mode} search needs the query's embedding`);
    this.checkVector(q.embedding);
    const vq = { ...q, embedding: q.embedding };
    if (q.mode === "VECTOR" || !q.text.trim()) {
      // hybrid without words is the vector list alone (fusing one list keeps its order)
      const res = await this.search_({ index: this.alias, body: vectorSearchBody(vq, facets) });
      return {
        hits: hits(res).map((h) => toHit(h, false)),
        total: cardinality(res, "total_docs"),
        facets: readFacets(res, facets),
      };
    }
    if (this.hybridMode === "pipeline") {
      try {
        return await this.hybridPipeline(vq, facets);
      } catch (e) {
        if (!hybridUnsupported(e)) throw e;
        this.useClientFusion(e);
      }
    }
    return this.hybridClient(vq, facets);
  }

  async similar(
    tenantId: string,
    documentId: string,
    opts: { limit: number; offset?: number; filter?: SearchFilter },
  ): Promise<SearchHit[]> {
    const own = await this.search_({ index: this.alias, body: documentVectorsBody(tenantId, documentId) });
    const vectors = hits(own)
      .map((h) => h._source?.embedding)
      .filter((v): v is number[] => Array.isArray(v));
    if (vectors.length === 0) return [];
    // The normalised mean of the document's chunk vectors: one knn query standing for the whole
    // document (as the embedded adapter), rather than one query per chunk.
    const mean = new Array<number>(this.dims).fill(0);
    for (const v of vectors) for (let i = 0; i < mean.length; i++) mean[i]! += v[i] ?? 0;
    const norm = Math.hypot(...mean);
    const query = norm > 1e-9 ? mean.map((x) => x / norm) : (vectors[0] ?? mean);
    const filter: SearchFilter = {
      ...opts.filter,
      excludeDocumentIds: [...(opts.filter?.excludeDocumentIds ?? []), documentId],
    };
    const res = await this.search_({
      index: this.alias,
      body: similarBody(tenantId, query, filter, opts.limit, opts.offset ?? 0),
    });
    return hits(res).map((h) => toHit(h, false));
  }

  /** Deletes everything this prefix created (indexes, template, pipeline): test clean-up, decommissioning. */
  async drop(): Promise<void> {
    const ignore404 = (e: unknown) => {
      if (statusOf(e) !== 404) throw e;
    };
    // by name: clusters with action.destructive_requires_name refuse wildcard deletes
    const found = await this.client.indices.get({ index: `${this.alias}-v*` });
    const names = Object.keys(found.body ?? {});
    if (names.length > 0) await this.client.indices.delete({ index: names }).catch(ignore404);
    await this.client.indices.deleteIndexTemplate({ name: this.alias }).catch(ignore404);
    await this.client.searchPipeline.delete({ id: this.pipelineId }).catch(ignore404);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  // -------------------------------------------------------------------------------------------

  private async hybridPipeline(
    q: SearchQuery & { embedding: number[] },
    facets: ParsedFacet[],
  ): Promise<SearchResult> {
    const res = await this.search_({
      index: this.alias,
      body: hybridQuery(q, facets),
      search_pipeline: this.pipelineId,
    });
    const seen = new Set<string>();
    const grouped: Hit[] = [];
    for (const h of hits(res)) {
      const d = h._source?.document_id;
      if (d && !seen.has(d)) {
        seen.add(d);
        grouped.push(h);
      }
    }
    const offset = q.offset ?? 0;
    const page = grouped.slice(offset, offset + q.limit);
    // Which of the page's chunks match the words (only those get highlights): the fused list does not say.
    const marks = new Map<string, string[]>();
    if (page.length > 0) {
      const hl = await this.search_({
        index: this.alias,
        body: highlightSearchBody(
          q,
          page.map((h) => h._id ?? ""),
        ),
      });
      for (const h of hits(hl)) if (h._id) marks.set(h._id, fragments(h.highlight?.text));
    }
    return {
      hits: page.map((h) => ({ ...toHit(h, false), highlights: marks.get(h._id ?? "") ?? [] })),
      total: cardinality(res, "total_docs"),
      facets: readFacets(res, facets),
    };
  }

  /** Reciprocal rank fusion here: a keyword and a knn list, each grouped by document, fused like the pipeline. */
  private async hybridClient(
    q: SearchQuery & { embedding: number[] },
    facets: ParsedFacet[],
  ): Promise<SearchResult> {
    const offset = q.offset ?? 0;
    const depth = Math.max(offset + q.limit, CANDIDATES);
    const k = Math.min(MAX_K, depth * CHUNKS_PER_DOC);
    const [kw, vec] = await Promise.all([
      this.search_({ index: this.alias, body: rankedListBody(keywordQuery(q), depth, q.text) }),
      this.search_({
        index: this.alias,
        body: rankedListBody(knnQuery(q.tenantId, q.embedding, q.filter, k), depth, null),
      }),
    ]);
    const fused = fuse([hits(kw).map((h) => ranked(h, true)), hits(vec).map((h) => ranked(h, false))]);
    let facetResults: Facet[] = facets.map((f) => ({ field: f.field, buckets: [] }));
    if (facets.length > 0 && fused.length > 0) {
      const res = await this.search_({
        index: this.alias,
        body: facetSearchBody(
          q.tenantId,
          q.filter,
          fused.map((r) => r.documentId),
          facets,
        ),
      });
      facetResults = readFacets(res, facets);
    }
    return {
      hits: fused.slice(offset, offset + q.limit).map((r) => ({
        documentId: r.documentId,
        score: r.score,
        chunk: r.chunk,
        chunkText: r.text,
        highlights: r.keyword ? r.highlights : [],
      })),
      total: fused.length,
      facets: facetResults,
    };
  }

  private useClientFusion(e: unknown): void {
    if (this.hybridMode === "client") return;
    this.hybridMode = "client";
    this.opts.log?.warn(
      { err: errorReason(e), pipeline: this.pipelineId },
      "OpenSearch hybrid search pipeline unavailable: fusing keyword and vector results in docfleet (RRF)",
    );
  }

  private async write(docs: readonly IndexDocument[], targets: readonly string[]): Promise<void> {
    // the same document twice in one call: the last one wins
    const unique = [...new Map(docs.map((d) => [`${d.tenantId}/${d.documentId}`, d])).values()];
    if (unique.length === 0) return;
    const ops: BulkOp[] = [];
    for (const d of unique) {
      for (const ch of d.chunks) this.checkVector(ch.embedding);
      const sources = chunkSources(d);
      for (const index of targets) for (const s of sources) ops.push({ index, id: s.id, source: s.source });
    }
    for (const part of bulkBody(ops, this.opts.maxBulkBytes ?? 5 * 1024 * 1024)) await this.bulk(part.ops);
    // then drop chunks the new versions no longer have (never a moment without the document)
    for (let i = 0; i < unique.length; i += STALE_DELETE_DOCS) {
      const group = unique.slice(i, i + STALE_DELETE_DOCS);
      for (const index of targets) {
        await this.client.deleteByQuery({
          index,
          body: staleChunksBody(group),
          conflicts: "proceed",
          refresh: this.opts.refresh !== undefined && this.opts.refresh !== false,
        });
      }
    }
  }

  /** One bulk body: items rejected with 429 are retried with backoff, other item errors fail the call. */
  private async bulk(ops: readonly BulkOp[]): Promise<void> {
    const maxRetries = this.opts.maxRetries ?? 5;
    const failures: string[] = [];
    let pending = [...ops];
    for (let attempt = 0; pending.length > 0; attempt++) {
      const body = bulkBody(pending, Number.POSITIVE_INFINITY)[0]?.body ?? [];
      let items: API.Bulk_ResponseBody["items"];
      try {
        const res = await this.client.bulk({ body, refresh: this.opts.refresh ?? false });
        items = res.body.items;
      } catch (e) {
        const status = statusOf(e);
        if (status === 429 && attempt < maxRetries) {
          await this.backoff(attempt);
          continue;
        }
        if (status === 413)
          throw new Error(
            `OpenSearch rejected a bulk body of ${pending.length} chunks as too large (413): lower maxBulkBytes`,
          );
        throw e;
      }
      const retry: BulkOp[] = [];
      items.forEach((item, i) => {
        const r = item.index ?? item.create ?? item.update ?? item.delete;
        const op = pending[i];
        if (!r?.error || !op) return;
        if (r.status === 429) retry.push(op);
        else failures.push(`${op.id}: ${r.status} ${r.error.type}: ${r.error.reason ?? ""}`.trim());
      });
      if (retry.length > 0 && attempt >= maxRetries) {
        for (const op of retry) failures.push(`${op.id}: 429 still rejected after ${maxRetries} retries`);
        break;
      }
      pending = retry;
      if (retry.length > 0) await this.backoff(attempt);
    }
    if (failures.length > 0) {
      throw new Error(
        `OpenSearch bulk indexing failed for ${failures.length} of ${ops.length} chunks; first errors: ${failures.slice(0, 5).join("; ")}`,
      );
    }
  }

  private backoff(attempt: number): Promise<void> {
    const base = (this.opts.retryBaseMs ?? 100) * 2 ** attempt;
    return new Promise((r) => setTimeout(r, base / 2 + Math.random() * (base / 2)));
  }

  private async search_(req: API.Search_Request): Promise<API.Search_ResponseBody> {
    const res = await this.client.search(req);
    return res.body;
  }

  /** The index behind the alias (the write index while two are attached), or null when there is no alias. */
  private async aliasTarget(): Promise<string | null> {
    try {
      const res = await this.client.indices.getAlias({ name: this.alias });
      const entries = Object.entries(
        res.body as Record<string, { aliases?: Record<string, { is_write_index?: boolean }> }>,
      );
      const write = entries.find(([, v]) => v.aliases?.[this.alias]?.is_write_index);
      return (write ?? entries[0])?.[0] ?? null;
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw e;
    }
  }

  /** Refuses an index built for other vectors or by an older mapping: both need reindex(). */
  private async checkMapping(index: string): Promise<void> {
    const res = await this.client.indices.getMapping({ index });
    const mappings = (res.body as Record<string, { mappings?: MappingShape }>)[index]?.mappings;
    const dims = mappings?.properties?.embedding?.dimension;
    if (dims !== this.dims) {
      throw new Error(
        `the search index ${index} holds ${dims ?? "no"}-dimensional vectors but the embedding model gives ${this.dims}; run reindex({ dimensions: ${this.dims}, source }) to move to a new index`,
      );
    }
    const version = Number(mappings?._meta?.docfleet_mapping_version ?? 0);
    if (version < MAPPING_VERSION) {
      throw new Error(
        `the search index ${index} has mapping version ${version}, this release needs ${MAPPING_VERSION}; run reindex()`,
      );
    }
  }

  private checkVector(v: readonly number[]): void {
    if (v.length !== this.dims)
      throw new Error(`embedding has ${v.length} dimensions, the index ${this.dims}`);
  }
}

interface MappingShape {
  _meta?: Record<string, unknown>;
  properties?: { embedding?: { dimension?: number } };
}

/** Moves the alias from one index to the other in one atomic cluster-state update. */
export function aliasSwapBody(
  alias: string,
  from: string,
  to: string,
): API.Indices_UpdateAliases_RequestBody {
  return {
    actions: [{ remove: { index: from, alias } }, { add: { index: to, alias, is_write_index: true } }],
  };
}

function ranked(h: Hit, keyword: boolean): Ranked {
  const hit = toHit(h, keyword);
  return {
    documentId: hit.documentId,
    chunk: hit.chunk,
    score: hit.score,
    text: hit.chunkText,
    highlights: hit.highlights,
    keyword,
  };
}

function toHit(h: Hit, withHighlights: boolean): SearchHit {
  return {
    documentId: h._source?.document_id ?? "",
    score: h._score ?? 0,
    chunk: h._source?.chunk ?? 0,
    chunkText: h._source?.text ?? "",
    highlights: withHighlights ? fragments(h.highlight?.text) : [],
  };
}

function hits(res: API.Search_ResponseBody): Hit[] {
  return (res.hits?.hits ?? []) as Hit[];
}

function totalHits(res: API.Search_ResponseBody): number {
  const t = res.hits?.total;
  return typeof t === "number" ? t : (t?.value ?? 0);
}

function cardinality(res: API.Search_ResponseBody, name: string): number {
  const agg = res.aggregations?.[name] as { value?: number | null } | undefined;
  return Number(agg?.value ?? 0);
}

function readFacets(res: API.Search_ResponseBody, facets: readonly ParsedFacet[]): Facet[] {
  return facets.map((f, i) => {
    const agg = res.aggregations?.[`facet_${i}`] as
      | { buckets?: { key: string | number; key_as_string?: string; docs?: { value?: number } }[] }
      | undefined;
    return {
      field: f.field,
      buckets: (agg?.buckets ?? [])
        .map((b) => ({ value: b.key_as_string ?? String(b.key), count: Number(b.docs?.value ?? 0) }))
        .filter((b) => b.count > 0),
    };
  });
}

function checkDims(dims: number): void {
  // 16,000 is the k-NN plugin's ceiling for float vectors
  if (!Number.isInteger(dims) || dims < 1 || dims > 16_000)
    throw new Error(`search dimensions must be 1..16000, got ${dims}`);
}

function statusOf(e: unknown): number {
  return e instanceof errors.ResponseError ? e.statusCode : 0;
}

function errorType(e: unknown): string | undefined {
  return e instanceof errors.ResponseError
    ? (e.body as { error?: { type?: string } })?.error?.type
    : undefined;
}

function errorReason(e: unknown): string {
  if (e instanceof errors.ResponseError) return JSON.stringify(e.body?.error ?? e.body).slice(0, 500);
  return e instanceof Error ? e.message : String(e);
}

/**
 * The search failed because this cluster cannot run our hybrid request: no neural-search plugin
 * (unknown query [hybrid]), the pipeline missing or deleted, or a release without pagination_depth.
 */
export function hybridUnsupported(e: unknown): boolean {
  const status = statusOf(e);
  if (status < 400 || status >= 500) return false;
  return /hybrid|pipeline|score-ranker|pagination_depth/i.test(errorReason(e));
}
