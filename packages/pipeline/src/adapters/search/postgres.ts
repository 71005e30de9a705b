import { SCHEMA_LOCK_SQL } from "@docfleet/schema";
import type { Database, QueryOptions } from "../../ports/database.ts";
import type {
  Facet,
  FacetRequest,
  FieldCondition,
  IndexDocument,
  SearchFilter,
  SearchHit,
  SearchIndex,
  SearchQuery,
  SearchResult,
} from "../../ports/search.ts";
import {
  conditionOperands,
  decimal,
  fuse,
  isoDate,
  markedFragments,
  requireDate,
  requireInstant,
} from "./common.ts";

export interface PostgresSearchOptions {
  /** Vector length; must match the embedding model. */
  dimensions: number;
  /** Full-text configuration (stemming language). */
  textConfig?: string;
  /**
   * Time bound of each search statement in ms (PostgreSQL server; PGlite cannot interrupt one, the
   * input bounds keep its statements short). Unset: only the server's own statement_timeout.
   */
  timeoutMs?: number;
}

export interface Ranked {
  documentId: string;
  chunk: number;
  score: number;
  /** Whether the document matched the keyword query (so it gets highlights). */
  keyword?: boolean;
  /** The document's category and batch (copied onto each of its chunks): what facets over candidates count. */
  category?: string | null;
  batchId?: string;
}

/** A facet request checked by parseFacet. */
interface FacetSpec {
  field: string;
  size: number;
  kind: "category" | "batch" | "field";
  name?: string;
}

/** One row of a combined keyword statement: a page entry (facet -1), the total (-2) or a facet bucket. */
interface PackedRow {
  facet: number;
  pos: number;
  value: string | null;
  count: number | null;
  chunk: number | null;
  score: number | null;
  category: string | null;
  batch_id: string | null;
}

/** Documents taken from each list before fusion; also what VECTOR and HYBRID report as `total` (at most). */
const CANDIDATES = 200;
/**
 * Chunks HYBRID takes from the HNSW index for its vector list (more when the page needs it: want x
 * CHUNKS_PER_DOC), grouped by document, as the OpenSearch adapter's hybrid query does (its knn
 * `depth`). The walk's cost grows with the chunks it yields: 800 were most of a HYBRID search's
 * time (issue 17, 100,000 documents: CPU p50 0.51x, p95 0.70x with 200; 0.72x/0.90x with 400).
 * It costs recall: HYBRID recall@10 against the exact vector list 0.895 counting ties (0.912 with
 * 400, 0.948 with 800), as the hash embedder's sparse query vectors leave HNSW walks far from
 * exact. VECTOR keeps CANDIDATES x CHUNKS_PER_DOC (800): 200 took its recall@10 from 0.255 to 0.150.
 */
const HYBRID_VECTOR_CHUNKS = 200;
/** Chunks fetched from the HNSW index per wanted document, so grouping by document still fills the list. */
const CHUNKS_PER_DOC = 4;
/** Upsert statement size: whole documents, about this many chunks (bounds parameter size, not round trips). */
const UPSERT_CHUNKS = 1000;
const FACET_SIZE = 10;
const FACET_MAX = 100;
/** ts_headline marks: control characters that never occur in extracted text, swapped for <mark> after escaping. */
const SEL_START = "\u0002";
const SEL_STOP = "\u0003";
const FRAGMENT_SEP = "\u001f";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Search inside PostgreSQL (PGlite in embedded mode): `tsvector` + GIN for keywords, pgvector HNSW
 * for vectors (real[] and brute force where the server lacks pgvector), reciprocal rank fusion for
 * hybrid. The tenant filter is part of every SQL statement, and every filter is applied inside each
 * ranked sub-query (never after fusion), so a page is never short because of filtering.
 *
 * Storage: document attributes that every query filters on (tenant, batch, category, created_at,
 * doc_date) are copied onto each chunk row, so the GIN and HNSW scans filter on the row they read
 * without a join. Extracted fields live in a normalised side table `search_field` with one typed
 * column per kind (value_num, value_date, value_text): range conditions become plain btree-indexable
 * comparisons and field facets a GROUP BY, which jsonb would need per-kind casts (and no range
 * index) for; a document has few fields, so the EXISTS probe per candidate is an index lookup.
 */
export class PostgresSearchIndex implements SearchIndex {
  private readonly cfg: string;
  /** Whether vectors are pgvector columns (else real[]); known after setup(). */
  private pgvector = true;
  /** Rows written since the last ANALYZE, and the tables' size then (see keepStatistics). */
  private writtenSinceAnalyze = 0;
  private rowsAtAnalyze = 0;

  constructor(
    private readonly db: Database,
    private readonly opts: PostgresSearchOptions,
  ) {
    if (!Number.isInteger(opts.dimensions) || opts.dimensions < 1 || opts.dimensions > 4000) {
      throw new Error(`search dimensions must be 1..4000, got ${opts.dimensions}`);
    }
    this.cfg = opts.textConfig ?? "english";
    if (!/^[a-z_]+$/.test(this.cfg)) throw new Error(`invalid text search configuration ${this.cfg}`);
  }

  async setup(): Promise<void> {
    // pgvector when the server has it (PGlite always does); otherwise vectors are plain real[] compared
    // by brute force, which is correct but scans every chunk of the tenant: fine for small archives,
    // tests and servers without the extension; large ones belong in OpenSearch or on pgvector.
    const [ext] = await this.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'vector'",
    );
    this.pgvector = (ext?.n ?? 0) > 0;
    const [tsv] = await this.db.query<{ storage: string }>(
      "SELECT attstorage AS storage FROM pg_attribute WHERE attrelid = to_regclass('search_chunk') AND attname = 'tsv'",
    );
    // One implicit transaction under the schema lock (migrate.ts): processes starting together on a
    // fresh database would otherwise create the extension's types and these tables at once.
    await this.db.exec(`
      ${SCHEMA_LOCK_SQL}
      ${this.pgvector ? "CREATE EXTENSION IF NOT EXISTS vector;" : ""}
      CREATE TABLE IF NOT EXISTS search_chunk (
        id           text PRIMARY KEY,
        tenant_id    uuid NOT NULL,
        batch_id     uuid NOT NULL,
        document_id  uuid NOT NULL,
        chunk        integer NOT NULL,
        category     text,
        name         text NOT NULL,
        text         text NOT NULL,
        tsv          tsvector NOT NULL,
        embedding    ${this.pgvector ? `vector(${this.opts.dimensions})` : "real[]"} NOT NULL
      );
      -- data folders indexed before documents had dates (re-indexing fills them)
      ALTER TABLE search_chunk ADD COLUMN IF NOT EXISTS created_at timestamptz;
      ALTER TABLE search_chunk ADD COLUMN IF NOT EXISTS doc_date date;
      -- Keep each chunk's tsvector in its row, uncompressed (issue 17): a row with text, tsvector and
      -- vector is over the 2 kB TOAST threshold, and the tsvector went out of line, so matching and
      -- ranking a frequent word fetched ~3 TOAST pages per chunk (and the planner, blind to that,
      -- scanned every chunk: 45,473 buffers for one word at 6,500 documents, 1,328 with MAIN).
      -- MAIN makes PostgreSQL move the text out first (read for a page of hits only). Once: the ALTER
      -- locks the table.
      ${tsv?.storage === "m" ? "" : "ALTER TABLE search_chunk ALTER COLUMN tsv SET STORAGE MAIN;"}
      CREATE INDEX IF NOT EXISTS search_chunk_doc_idx ON search_chunk(tenant_id, document_id);
      CREATE INDEX IF NOT EXISTS search_chunk_date_idx ON search_chunk(tenant_id, doc_date);
      CREATE INDEX IF NOT EXISTS search_chunk_created_idx ON search_chunk(tenant_id, created_at);
      CREATE INDEX IF NOT EXISTS search_chunk_tsv_idx ON search_chunk USING gin(tsv);
      ${this.pgvector ? "CREATE INDEX IF NOT EXISTS search_chunk_embedding_idx ON search_chunk USING hnsw (embedding vector_cosine_ops);" : ""}
      CREATE TABLE IF NOT EXISTS search_field (
        tenant_id    uuid NOT NULL,
        document_id  uuid NOT NULL,
        name         text NOT NULL,
        kind         text NOT NULL,
        value_text   text NOT NULL,
        value_num    numeric,
        value_date   date
      );
      CREATE INDEX IF NOT EXISTS search_field_doc_idx ON search_field(tenant_id, document_id, name);
      CREATE INDEX IF NOT EXISTS search_field_text_idx ON search_field(tenant_id, name, lower(value_text));
      CREATE INDEX IF NOT EXISTS search_field_num_idx ON search_field(tenant_id, name, value_num) WHERE value_num IS NOT NULL;
      CREATE INDEX IF NOT EXISTS search_field_date_idx ON search_field(tenant_id, name, value_date) WHERE value_date IS NOT NULL;
    `);
    if (tsv && tsv.storage !== "m" && this.db.kind === "pglite") {
      // A data folder indexed before: rewrite the rows once so their tsvectors move back in. Embedded
      // only (one process, and the rewrite locks the table); on a server, rows indexed from now on
      // (or re-indexed) get the new layout, or an operator runs VACUUM FULL search_chunk.
      await this.db.exec("VACUUM FULL search_chunk");
    }
    if (this.pgvector && this.db.kind === "pglite") {
      // Filtered HNSW scans otherwise stop after ef_search (40) tuples, before the tenant and filters
      // are applied: a small tenant in a large index would find nothing. Iterative scans (pgvector
      // 0.8) keep walking the graph until the LIMIT is met. PGlite has one session, so a session
      // setting holds for every query; a pooled server with pgvector should set it per role/database.
      await this.db.exec("SET hnsw.iterative_scan = relaxed_order");
    }
    const [row] = this.pgvector
      ? await this.db.query<{ dims: number }>(
          "SELECT atttypmod AS dims FROM pg_attribute WHERE attrelid = 'search_chunk'::regclass AND attname = 'embedding'",
        )
      : await this.db.query<{ dims: number }>(
          "SELECT cardinality(embedding) AS dims FROM search_chunk LIMIT 1",
        );
    if (row && row.dims !== this.opts.dimensions) {
      throw new Error(
        `the search index holds ${row.dims}-dimensional vectors but the embedding model gives ${this.opts.dimensions}; reindex into a new data folder`,
      );
    }
  }

  async upsert(docs: readonly IndexDocument[]): Promise<void> {
    await this.upsertAll(docs);
    await this.keepStatistics(docs.reduce((n, d) => n + d.chunks.length + d.fields.length, 0));
  }

  /**
   * PGlite has no autovacuum, so nothing ever ANALYZEs its tables; without statistics the planner
   * picks nested loops for filtered facet queries, quadratic in the index size (one such query took
   * 36 s at 10,000 documents, 5 ms after ANALYZE). So: ANALYZE once the rows written since the last
   * one reach a fifth of what the tables held then (and at least 1,000). Cheap (~0.5 s at 20,000
   * chunks) and rare; on a PostgreSQL server autovacuum does the same.
   */
  private async keepStatistics(written: number): Promise<void> {
    this.writtenSinceAnalyze += written;
    if (this.writtenSinceAnalyze < Math.max(1000, this.rowsAtAnalyze / 5)) return;
    this.writtenSinceAnalyze = 0;
    await this.db.exec("ANALYZE search_chunk; ANALYZE search_field;");
    const [row] = await this.db.query<{ n: number }>(
      "SELECT (SELECT count(*) FROM search_chunk) + (SELECT count(*) FROM search_field) AS n",
    );
    this.rowsAtAnalyze = Number(row?.n ?? 0);
  }

  private async upsertAll(docs: readonly IndexDocument[]): Promise<void> {
    // The same document twice in one call: the last one wins (one statement may not touch a row twice).
    const unique = [...new Map(docs.map((d) => [`${d.tenantId}/${d.documentId}`, d])).values()];
    let group: IndexDocument[] = [];
    let chunks = 0;
    for (const d of unique) {
      if (group.length > 0 && chunks + d.chunks.length > UPSERT_CHUNKS) {
        await this.upsertGroup(group);
        group = [];
        chunks = 0;
      }
      group.push(d);
      chunks += d.chunks.length;
    }
    if (group.length > 0) await this.upsertGroup(group);
  }

  /**
   * One statement for a group of whole documents, so each document is replaced atomically: stale
   * chunks (ids not in the new set) and all old fields go, the new chunks are inserted or overwritten.
   */
  private async upsertGroup(docs: readonly IndexDocument[]): Promise<void> {
    const c = {
      id: [] as string[],
      tenant: [] as string[],
      batch: [] as string[],
      doc: [] as string[],
      chunk: [] as number[],
      category: [] as (string | null)[],
      name: [] as string[],
      text: [] as string[],
      created: [] as string[],
      date: [] as (string | null)[],
      embedding: [] as string[],
    };
    const f = {
      tenant: [] as string[],
      doc: [] as string[],
      name: [] as string[],
      kind: [] as string[],
      text: [] as string[],
      num: [] as (string | null)[],
      date: [] as (string | null)[],
    };
    for (const d of docs) {
      const created = new Date(d.createdAt);
      if (Number.isNaN(created.getTime()))
        throw new Error(`document ${d.documentId}: createdAt ${d.createdAt} is not a date`);
      for (const ch of d.chunks) {
        c.id.push(`${d.documentId}:${ch.chunk}`);
        c.tenant.push(d.tenantId);
        c.batch.push(d.batchId);
        c.doc.push(d.documentId);
        c.chunk.push(ch.chunk);
        c.category.push(d.category);
        c.name.push(d.name);
        c.text.push(ch.text);
        c.created.push(created.toISOString());
        // an unparseable extracted date is dropped rather than failing the document's indexing
        c.date.push(d.date !== null ? isoDate(d.date) : null);
        c.embedding.push(this.vector(ch.embedding));
      }
      for (const field of d.fields) {
        f.tenant.push(d.tenantId);
        f.doc.push(d.documentId);
        f.name.push(field.name);
        f.kind.push(field.kind);
        f.text.push(field.value);
        f.num.push(field.kind === "number" || field.kind === "money" ? decimal(field.value) : null);
        f.date.push(field.kind === "date" ? isoDate(field.value) : null);
      }
    }
    const vectorType = this.pgvector ? "vector" : "real[]";
    // File names are one token to the default parser ("invoice-acme.pdf"): split them into words.
    const nameText = "regexp_replace(c.name, '[-_./\\\\]+', ' ', 'g')";
    await this.db.query(
      `WITH d AS (
         SELECT * FROM unnest($19::uuid[], $20::uuid[]) AS d(tenant_id, document_id)
       ),
       gone AS (
         DELETE FROM search_chunk s USING d
         WHERE s.tenant_id = d.tenant_id AND s.document_id = d.document_id
           AND s.id NOT IN (SELECT unnest($3::text[]))
       ),
       fields_gone AS (
         DELETE FROM search_field s USING d WHERE s.tenant_id = d.tenant_id AND s.document_id = d.document_id
       ),
       fields_new AS (
         INSERT INTO search_field (tenant_id, document_id, name, kind, value_text, value_num, value_date)
         SELECT * FROM unnest($12::uuid[], $13::uuid[], $14::text[], $15::text[], $16::text[], $17::numeric[], $18::date[])
       )
       INSERT INTO search_chunk (id, tenant_id, batch_id, document_id, chunk, category, name, text, created_at, doc_date, tsv, embedding)
       SELECT c.id, c.tenant_id, c.batch_id, c.document_id, c.chunk, c.category, c.name, c.text, c.created_at, c.doc_date,
              setweight(to_tsvector('${this.cfg}', ${nameText}), 'A')
                || setweight(to_tsvector('${this.cfg}', coalesce(c.category, '')), 'C')
                || setweight(to_tsvector('${this.cfg}', c.text), 'B'),
              c.embedding::${vectorType}
       FROM unnest($3::text[], $1::uuid[], $4::uuid[], $2::uuid[], $5::int[], $6::text[], $7::text[], $8::text[],
                   $9::timestamptz[], $10::date[], $11::text[])
            AS c(id, tenant_id, batch_id, document_id, chunk, category, name, text, created_at, doc_date, embedding)
       ON CONFLICT (id) DO UPDATE SET batch_id = EXCLUDED.batch_id, chunk = EXCLUDED.chunk,
         category = EXCLUDED.category, name = EXCLUDED.name, text = EXCLUDED.text, created_at = EXCLUDED.created_at,
         doc_date = EXCLUDED.doc_date, tsv = EXCLUDED.tsv, embedding = EXCLUDED.embedding
       -- ids carry no tenant: never let one tenant's upsert overwrite another's row
       WHERE search_chunk.tenant_id = EXCLUDED.tenant_id`,
      [
        c.tenant,
        c.doc,
        c.id,
        c.batch,
        c.chunk,
        c.category,
        c.name,
        c.text,
        c.created,
        c.date,
        c.embedding,
        f.tenant,
        f.doc,
        f.name,
        f.kind,
        f.text,
        f.num,
        f.date,
        docs.map((d) => d.tenantId),
        docs.map((d) => d.documentId),
      ],
    );
  }

  async delete(tenantId: string, documentIds: readonly string[]): Promise<void> {
    const ids = documentIds.filter((d) => UUID.test(d));
    if (ids.length === 0) return;
    await this.db.query(
      `WITH fields_gone AS (DELETE FROM search_field WHERE tenant_id = $1 AND document_id = ANY($2::uuid[]))
       DELETE FROM search_chunk WHERE tenant_id = $1 AND document_id = ANY($2::uuid[])`,
      [tenantId, ids],
    );
  }

  async stats(tenantId: string) {
    const [row] = await this.db.query<{ documents: number; chunks: number }>(
      "SELECT count(DISTINCT document_id)::int AS documents, count(*)::int AS chunks FROM search_chunk WHERE tenant_id = $1",
      [tenantId],
    );
    return row ?? { documents: 0, chunks: 0 };
  }

  async search(q: SearchQuery): Promise<SearchResult> {
    const facets = (q.facets ?? []).map(parseFacet); // bad requests fail before any work
    const offset = q.offset ?? 0;
    const want = offset + q.limit;
    const depth = Math.max(want, CANDIDATES);
    const o = this.bound(q.signal);
    if (q.mode === "KEYWORD") {
      // One statement reads the matching chunks once for the page, the exact total and every facet
      // (issue 17: a statement each read them up to three times, 473 ms on frequent words at 100K).
      const kw = await this.keyword(q, want, o, facets);
      const hits = await this.hits(q.tenantId, kw.ranked.slice(offset, want), q.text, o);
      return { hits, total: kw.total, facets: kw.facets };
    }
    if (!q.embedding) throw new Error(`${q.mode} search needs the query's embedding`);
    const embedding = q.embedding;
    let ranked: Ranked[];
    if (q.mode === "VECTOR") {
      ranked = await this.nearest(q.tenantId, embedding, q.filter, depth, o);
    } else {
      const chunks = Math.max(HYBRID_VECTOR_CHUNKS, want * CHUNKS_PER_DOC);
      // Both lists about as deep (the keyword list's documents, the vector list's chunks): RRF then
      // favours documents both agree on, and a list that is empty (no keyword match) leaves the
      // other's order untouched.
      const [k, v] = await this.all([
        () => this.keywordList(q, depth, o),
        () => this.nearest(q.tenantId, embedding, q.filter, depth, o, chunks),
      ] as const);
      ranked = fuse([k, v]);
    }
    const page = ranked.slice(offset, want);
    const [hits, facetResults] = await this.all([
      () => this.hits(q.tenantId, page, q.text, o),
      () => this.candidateFacets(q.tenantId, facets, ranked, o),
    ] as const);
    return { hits, total: ranked.length, facets: facetResults };
  }

  /** The bounds of every statement of one search. */
  private bound(signal: AbortSignal | undefined): QueryOptions {
    return { timeoutMs: this.opts.timeoutMs, signal };
  }

  /**
   * The statements of one search, never one left running after another failed (issue 15: a NUL
   * character failed the keyword statement at once, the answer went out, and the vector statement
   * with 10,000 field conditions kept the embedded database, and every later request, busy for good).
   * PGlite runs one statement at a time anyway: there they run in turn, and the first failure (or
   * the caller leaving) starts no more; on a server they run in parallel and all settle first.
   */
  private async all<T extends readonly (() => Promise<unknown>)[]>(
    tasks: T,
  ): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
    type Out = { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
    if (this.db.kind === "pglite") {
      const out: unknown[] = [];
      for (const task of tasks) out.push(await task());
      return out as Out;
    }
    const settled = await Promise.allSettled(tasks.map((task) => task()));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as Out;
  }

  async similar(
    tenantId: string,
    documentId: string,
    opts: { limit: number; offset?: number; filter?: SearchFilter; signal?: AbortSignal },
  ): Promise<SearchHit[]> {
    if (!UUID.test(documentId)) return [];
    const o = this.bound(opts.signal);
    const rows = await this.db.query<{ embedding: string }>(
      "SELECT embedding::text AS embedding FROM search_chunk WHERE tenant_id = $1 AND document_id = $2 ORDER BY chunk",
      [tenantId, documentId],
      o,
    );
    if (rows.length === 0) return [];
    // The normalised mean of the document's chunk vectors: one query (one HNSW walk) that stands for
    // the whole document. Max-sim over chunk pairs would cost a search per chunk and rank documents
    // that merely share one boilerplate chunk (letterhead, payment terms) as most alike.
    const vectors = rows.map((r) => parseVector(r.embedding));
    const mean = new Array<number>(this.opts.dimensions).fill(0);
    for (const v of vectors) for (let i = 0; i < mean.length; i++) mean[i]! += v[i] ?? 0;
    const norm = Math.hypot(...mean);
    const query = norm > 1e-9 ? mean.map((x) => x / norm) : (vectors[0] ?? mean);
    const offset = opts.offset ?? 0;
    const filter: SearchFilter = {
      ...opts.filter,
      excludeDocumentIds: [...(opts.filter?.excludeDocumentIds ?? []), documentId],
    };
    const ranked = await this.nearest(tenantId, query, filter, offset + opts.limit, o);
    return this.hits(tenantId, ranked.slice(offset, offset + opts.limit), "", o);
  }

  /**
   * Filters shared by every ranked query and facet, on search_chunk aliased `c`; the tenant comes
   * first, always. Values go in as parameters; malformed dates throw.
   */
  private where(
    tenantId: string,
    filter: SearchFilter | undefined,
    params: unknown[],
    fieldsAs: "probe" | "set" = "set",
  ): string {
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const tenant = p(tenantId);
    const and = [`c.tenant_id = ${tenant}`];
    if (filter?.categories?.length) and.push(`c.category = ANY(${p(filter.categories)}::text[])`);
    // ids that are not uuids match nothing (rather than failing the cast)
    if (filter?.batchIds?.length)
      and.push(`c.batch_id = ANY(${p(filter.batchIds.filter((b) => UUID.test(b)))}::uuid[])`);
    if (filter?.dateFrom) and.push(`c.doc_date >= ${p(requireDate("dateFrom", filter.dateFrom))}::date`);
    if (filter?.dateTo) and.push(`c.doc_date <= ${p(requireDate("dateTo", filter.dateTo))}::date`);
    if (filter?.createdFrom)
      and.push(`c.created_at >= ${p(requireInstant("createdFrom", filter.createdFrom, false))}::timestamptz`);
    if (filter?.createdTo) {
      // a bare date as upper bound means the whole of that day (UTC)
      const bare = /^\d{4}-\d{2}-\d{2}$/.test(filter.createdTo);
      const bound = requireInstant("createdTo", filter.createdTo, bare);
      and.push(`c.created_at ${bare ? "<" : "<="} ${p(bound)}::timestamptz`);
    }
    const conds = filter?.fields ?? [];
    if (conds.length) {
      // One sub-query for all conditions, whatever their number: the documents whose fields satisfy
      // each condition at least once. An EXISTS per condition became a semi-join each, and planning
      // N of them grew far faster than N (issue 15: 100 conditions took 36 s on 200 documents, 1,000
      // froze the embedded server); here the plan is the same for 1 or 20 and the work is linear.
      // "probe" (keyword matches, HNSW walks): correlated, so it reads the fields of the chunks the
      // text matched or the walk yielded (an index lookup each); as a set it aggregated every
      // document's fields per statement, whatever matched (issue 17: most of a filtered search's
      // time). The aggregates keep it one sub-plan. "set": brute-force vector scans, which read
      // every chunk of the tenant anyway.
      const names = [...new Set(conds.map((cond) => cond.name))];
      const each = conds.map((cond) => `bool_or(f.name = ${p(cond.name)}${fieldCondition(cond, p)})`);
      and.push(
        fieldsAs === "probe"
          ? `EXISTS (SELECT 1 FROM search_field f WHERE f.tenant_id = ${tenant} AND f.document_id = c.document_id AND f.name = ANY(${p(names)}::text[]) HAVING ${each.join(" AND ")})`
          : `c.document_id IN (SELECT f.document_id FROM search_field f WHERE f.tenant_id = ${tenant} AND f.name = ANY(${p(names)}::text[]) GROUP BY f.document_id HAVING ${each.join(" AND ")})`,
      );
    }
    const exclude = filter?.excludeDocumentIds?.filter((d) => UUID.test(d)) ?? [];
    if (exclude.length) and.push(`NOT (c.document_id = ANY(${p(exclude)}::uuid[]))`);
    return and.join(" AND ");
  }

  private tsquery(param: string): string {
    return `websearch_to_tsquery('${this.cfg}', ${param})`;
  }

  /**
   * Best chunk per document by ts_rank_cd (name weighted A, text B, category C), the exact number of
   * matching documents, and `facets` counted over all of them: one statement, so the matching chunks
   * are read (and ranked) once. `n` entries, best first.
   */
  private async keyword(
    q: SearchQuery,
    n: number,
    o: QueryOptions,
    facets: readonly FacetSpec[],
  ): Promise<{ ranked: Ranked[]; total: number; facets: Facet[] }> {
    if (!q.text.trim() || n <= 0) return { ranked: [], total: 0, facets: facets.map(emptyFacet) };
    const params: unknown[] = [];
    const { best, limit } = this.bestPerDocument(q, n, params);
    const rows = await this.db.query<PackedRow>(
      `WITH best AS MATERIALIZED (${best})
       SELECT -1 AS facet, row_number() OVER (ORDER BY score DESC, document_id)::int AS pos,
              document_id::text AS value, NULL::int AS count, chunk, score, category, batch_id::text
       -- the page first (a top-N sort), then numbered: numbering every match sorted them all
       FROM (SELECT * FROM best ORDER BY score DESC, document_id LIMIT ${limit}) page
       UNION ALL SELECT -2, 0, NULL, count(*)::int, NULL, NULL, NULL, NULL FROM best
       ${facets.map((f, i) => `UNION ALL ${facetSql(i, f, "best", q.tenantId, params)}`).join(" ")}`,
      params,
      o,
    );
    const page = rows.filter((r) => r.facet === -1).sort((a, b) => a.pos - b.pos);
    return {
      ranked: page.map((r) => ({
        documentId: r.value!,
        chunk: Number(r.chunk),
        score: Number(r.score),
        keyword: true,
        category: r.category,
        batchId: r.batch_id!,
      })),
      total: Number(rows.find((r) => r.facet === -2)?.count ?? 0),
      facets: unpackFacets(facets, rows),
    };
  }

  /**
   * The keyword matches' best chunk per document (DISTINCT ON, ranked by `ts_rank_cd`) as SQL over
   * `params` (the tenant is $1, then the filter's, the query text and `n`, which `limit` names): what
   * `keyword` and `keywordList` rank.
   */
  private bestPerDocument(q: SearchQuery, n: number, params: unknown[]): { best: string; limit: string } {
    const where = this.where(q.tenantId, q.filter, params, "probe");
    params.push(q.text);
    const tq = this.tsquery(`$${params.length}`);
    params.push(n);
    return {
      best: `SELECT DISTINCT ON (c.document_id) c.document_id, c.chunk, c.category, c.batch_id,
                ts_rank_cd(c.tsv, ${tq}, 32) AS score
             FROM search_chunk c WHERE ${where} AND c.tsv @@ ${tq}
             ORDER BY c.document_id, score DESC, c.chunk`,
      limit: `$${params.length}`,
    };
  }

  /**
   * HYBRID's keyword list: the best `n` documents by their best chunk, as `keyword` ranks them, with
   * neither total nor facets (fusion counts its own). Without the materialised set, its count and
   * the page's window, one statement fewer passes over the matches: 0.84x the CPU of `keyword`'s
   * statement for a word in 18,000 of 100,000 documents (issue 17).
   */
  private async keywordList(q: SearchQuery, n: number, o: QueryOptions): Promise<Ranked[]> {
    if (!q.text.trim() || n <= 0) return [];
    const params: unknown[] = [];
    const { best, limit } = this.bestPerDocument(q, n, params);
    const rows = await this.db.query<{
      document_id: string;
      chunk: number;
      score: number;
      category: string | null;
      batch_id: string;
    }>(
      `SELECT document_id::text AS document_id, chunk, score, category, batch_id::text AS batch_id
       FROM (${best}) best ORDER BY best.score DESC, best.document_id LIMIT ${limit}`,
      params,
      o,
    );
    return rows.map((r) => ({
      documentId: r.document_id,
      chunk: Number(r.chunk),
      score: Number(r.score),
      keyword: true,
      category: r.category,
      batchId: r.batch_id,
    }));
  }

  /**
   * Facets over the candidates of a VECTOR or HYBRID search (every document ranked, not just the
   * page): category and batch come with the candidates, field values are read for them; one
   * statement for all facets, none without.
   */
  private async candidateFacets(
    tenantId: string,
    facets: readonly FacetSpec[],
    ranked: readonly Ranked[],
    o: QueryOptions,
  ): Promise<Facet[]> {
    if (facets.length === 0) return [];
    if (ranked.length === 0) return facets.map(emptyFacet);
    const params: unknown[] = [
      ranked.map((r) => r.documentId),
      ranked.map((r) => r.category ?? null),
      ranked.map((r) => r.batchId ?? null),
    ];
    const rows = await this.db.query<PackedRow>(
      `WITH best AS MATERIALIZED (
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS b(document_id, category, batch_id)
       )
       ${facets.map((f, i) => `${i ? "UNION ALL " : ""}${facetSql(i, f, "best", tenantId, params, "$1::uuid[]")}`).join(" ")}`,
      params,
      o,
    );
    return unpackFacets(facets, rows);
  }

  /**
   * Nearest documents by cosine similarity of their best chunk: at most `n`, from the `chunks`
   * nearest chunks (HNSW; brute force ranks every chunk and takes `n` documents).
   */
  private async nearest(
    tenantId: string,
    embedding: readonly number[],
    filter: SearchFilter | undefined,
    n: number,
    o: QueryOptions,
    chunks = n * CHUNKS_PER_DOC,
  ): Promise<Ranked[]> {
    if (n <= 0) return [];
    const params: unknown[] = [];
    // HNSW: field conditions probed per chunk the walk yields (as for keyword matches). As a set
    // they were aggregated over every document's fields per statement, and the planner, counting
    // on few documents, sorted every chunk that passed by distance instead of walking the index:
    // exact, but most of a filtered VECTOR or HYBRID search's time (issue 17). Brute force (real[])
    // reads every chunk anyway, so there the set, aggregated once, is cheaper.
    const where = this.where(tenantId, filter, params, this.pgvector ? "probe" : "set");
    params.push(this.vector(embedding));
    const v = `$${params.length}`;
    params.push(n);
    const limit = `$${params.length}`;
    type Row = {
      document_id: string;
      chunk: number;
      category: string | null;
      batch_id: string;
      distance: number;
    };
    let rows: Row[];
    if (this.pgvector) {
      // HNSW gives chunks in (about) distance order; take `chunks` of them, then group by document.
      // hnsw.ef_search stays pgvector's 40 (the iterative scan walks on to the LIMIT): set as long
      // as the chunks asked for, one wider walk took 1.24x the CPU per VECTOR search at 50,000
      // documents for about the same recall (issue 17, search-latency bench).
      params.push(chunks);
      const sql = `WITH near AS MATERIALIZED (
               SELECT c.document_id, c.chunk, c.category, c.batch_id, c.embedding <=> ${v}::vector AS distance
               FROM search_chunk c WHERE ${where} ORDER BY distance LIMIT $${params.length}
             )
             SELECT document_id, chunk, category, batch_id, distance FROM (
               SELECT DISTINCT ON (document_id) document_id, chunk, category, batch_id, distance FROM near
               ORDER BY document_id, distance, chunk
             ) best ORDER BY distance, document_id LIMIT ${limit}`;
      rows = await this.db.query<Row>(sql, params, o);
    } else {
      // Vectors are unit length, so 1 - dot product is the cosine distance. Exact: every chunk of
      // the tenant that passes the filters is scored.
      const sql = `SELECT document_id, chunk, category, batch_id, distance FROM (
               SELECT DISTINCT ON (c.document_id) c.document_id, c.chunk, c.category, c.batch_id,
                      1 - (SELECT sum(a * b) FROM unnest(c.embedding, ${v}::real[]) AS t(a, b)) AS distance
               FROM search_chunk c WHERE ${where}
               ORDER BY c.document_id, distance, c.chunk
             ) best ORDER BY distance, document_id LIMIT ${limit}`;
      rows = await this.db.query<Row>(sql, params, o);
    }
    return rows.map((r) => ({
      documentId: r.document_id,
      chunk: r.chunk,
      score: 1 - Number(r.distance),
      category: r.category,
      batchId: r.batch_id,
    }));
  }

  /** Hits for a page: the chunk's text, and highlights for documents that matched by keyword. */
  private async hits(
    tenantId: string,
    page: readonly Ranked[],
    text: string,
    o: QueryOptions,
  ): Promise<SearchHit[]> {
    if (page.length === 0) return [];
    const rows = await this.db.query<{ id: string; text: string; headline: string | null }>(
      `SELECT id, text,
         CASE WHEN id = ANY($3::text[]) THEN ts_headline('${this.cfg}', text, ${this.tsquery("$4")},
           'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=35, MinWords=12, MaxFragments=3, FragmentDelimiter=' || chr(31))
         END AS headline
       FROM search_chunk WHERE tenant_id = $1 AND id = ANY($2::text[])`,
      [
        tenantId,
        page.map((r) => `${r.documentId}:${r.chunk}`),
        page.filter((r) => r.keyword && text.trim()).map((r) => `${r.documentId}:${r.chunk}`),
        text,
      ],
      o,
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    return page.map((r) => {
      const row = byId.get(`${r.documentId}:${r.chunk}`);
      return {
        documentId: r.documentId,
        score: r.score,
        chunk: r.chunk,
        chunkText: row?.text ?? "",
        highlights: row?.headline ? fragments(row.headline) : [],
      };
    });
  }

  private vector(v: readonly number[]): string {
    if (v.length !== this.opts.dimensions) {
      throw new Error(`embedding has ${v.length} dimensions, the index ${this.opts.dimensions}`);
    }
    const list = v.map((x) => (Number.isFinite(x) ? x : 0)).join(",");
    return this.pgvector ? `[${list}]` : `{${list}}`;
  }
}

function parseFacet(req: FacetRequest): FacetSpec {
  const size = Math.min(FACET_MAX, Math.max(1, Math.floor(req.size ?? FACET_SIZE)));
  if (req.field === "category" || req.field === "batch") return { field: req.field, size, kind: req.field };
  const m = /^field:(.+)$/.exec(req.field);
  if (m?.[1]) return { field: req.field, size, kind: "field", name: m[1] };
  throw new Error(`unknown facet ${JSON.stringify(req.field)}: use category, batch or field:<name>`);
}

/**
 * One facet as a branch of a UNION ALL over `from` (document_id, category, batch_id: one row per
 * matching document): its top `size` values by documents counted, ties by value, as PackedRows of
 * facet `i`. Field values come from search_field, the tenant's only; a document with several values of
 * one field counts once per value.
 */
function facetSql(
  i: number,
  f: FacetSpec,
  from: string,
  tenantId: string,
  params: unknown[],
  ids?: string,
): string {
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const size = p(f.size);
  let value: string;
  let count: string;
  let source: string;
  if (f.kind === "field") {
    // (value, document) pairs made distinct by hashing, then counted per value: count(DISTINCT) sorted
    // every matching document's value by collation first (issue 17: a third of a frequent word's
    // KEYWORD search with a field facet).
    value = "value_text";
    count = "count(*)";
    // `ids` (the few hundred candidates of a VECTOR or HYBRID search, as an array): an index lookup
    // each; as a semi-join the planner read every document's value of the field (100,000 rows at
    // 100,000 documents) to hash-join them with 200 candidates.
    const docs = ids ? `= ANY(${ids})` : `IN (SELECT document_id FROM ${from})`;
    source = `(SELECT f.value_text FROM search_field f WHERE f.tenant_id = ${p(tenantId)}::uuid AND f.name = ${p(f.name)} AND f.document_id ${docs} GROUP BY f.value_text, f.document_id) fv`;
  } else {
    value = f.kind === "category" ? "category" : "batch_id::text";
    count = "count(*)";
    source = `${from} WHERE ${f.kind === "category" ? "category" : "batch_id"} IS NOT NULL`;
  }
  return `(SELECT ${i} AS facet, row_number() OVER (ORDER BY ${count} DESC, ${value})::int AS pos,
            ${value} AS value, ${count}::int AS count, NULL::int AS chunk, NULL::real AS score,
            NULL::text AS category, NULL::text AS batch_id
          FROM ${source} GROUP BY ${value} ORDER BY ${count} DESC, ${value} LIMIT ${size})`;
}

/** The buckets of each facet from a combined statement's rows (facet = its index), in order. */
function unpackFacets(facets: readonly FacetSpec[], rows: readonly PackedRow[]): Facet[] {
  return facets.map((f, i) => ({
    field: f.field,
    buckets: rows
      .filter((r) => r.facet === i)
      .sort((a, b) => a.pos - b.pos)
      .map((r) => ({ value: r.value!, count: Number(r.count) })),
  }));
}

function emptyFacet(f: FacetSpec): Facet {
  return { field: f.field, buckets: [] };
}

/** The comparison part of a field condition (after name = ...): numbers, money and dates as such. */
function fieldCondition(cond: FieldCondition, p: (v: unknown) => string): string {
  // A stored value compares as text only when it is neither a number nor a date.
  const textual = "f.value_num IS NULL AND f.value_date IS NULL";
  switch (cond.op) {
    case "exists":
      return "";
    case "in": {
      const { texts, nums, dates } = conditionOperands(cond);
      const or = [
        `(${textual} AND lower(f.value_text) = ANY(${p(texts.map((v) => v.toLowerCase()))}::text[]))`,
      ];
      if (nums.length) or.push(`f.value_num = ANY(${p(nums)}::numeric[])`);
      if (dates.length) or.push(`f.value_date = ANY(${p(dates)}::date[])`);
      return ` AND (${or.join(" OR ")})`;
    }
    case "eq":
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const { texts, nums, dates } = conditionOperands(cond);
      const op = { eq: "=", gt: ">", gte: ">=", lt: "<", lte: "<=" }[cond.op];
      const or = [
        cond.op === "eq"
          ? `(${textual} AND lower(f.value_text) = lower(${p(texts[0])}))`
          : `(${textual} AND f.value_text COLLATE "C" ${op} ${p(texts[0])})`,
      ];
      if (nums[0] !== undefined) or.push(`f.value_num ${op} ${p(nums[0])}::numeric`);
      if (dates[0] !== undefined) or.push(`f.value_date ${op} ${p(dates[0])}::date`);
      return ` AND (${or.join(" OR ")})`;
    }
    default:
      throw new Error(`unknown field condition op ${JSON.stringify((cond as { op: unknown }).op)}`);
  }
}

function parseVector(text: string): number[] {
  return text
    .slice(1, -1)
    .split(",")
    .map((x) => Number(x));
}

/** ts_headline output as safe HTML fragments (see markedFragments). */
function fragments(headline: string): string[] {
  return markedFragments(headline.split(FRAGMENT_SEP), SEL_START, SEL_STOP);
}
