import type { Database } from "../../ports/database.ts";
import type { IndexDocument, SearchHit, SearchIndex, SearchQuery } from "../../ports/search.ts";

export interface PostgresSearchOptions {
  /** Vector length; must match the embedding model. */
  dimensions: number;
  /** Full-text configuration (stemming language). */
  textConfig?: string;
}

interface Ranked {
  documentId: string;
  chunk: number;
  score: number;
}

/** Reciprocal rank fusion constant (as in the original paper and OpenSearch's RRF processor). */
const RRF_K = 60;
/** Candidates taken from each list before fusion or grouping. */
const CANDIDATES = 200;

/**
 * Search inside PostgreSQL (PGlite in embedded mode): `tsvector` + GIN for keywords, pgvector HNSW
 * for vectors, reciprocal rank fusion for hybrid. The tenant filter is part of every SQL statement.
 */
export class PostgresSearchIndex implements SearchIndex {
  private readonly cfg: string;
  /** Whether vectors are pgvector columns (else real[]); known after setup(). */
  private pgvector = true;

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
    await this.db.exec(`
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
      CREATE INDEX IF NOT EXISTS search_chunk_doc_idx ON search_chunk(tenant_id, document_id);
      CREATE INDEX IF NOT EXISTS search_chunk_tsv_idx ON search_chunk USING gin(tsv);
      ${this.pgvector ? "CREATE INDEX IF NOT EXISTS search_chunk_embedding_idx ON search_chunk USING hnsw (embedding vector_cosine_ops);" : ""}
    `);
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
    for (const d of docs) {
      const ids = d.chunks.map((c) => `${d.documentId}:${c.chunk}`);
      // One statement per document: old chunks beyond the new count go, the rest are overwritten.
      await this.db.query(
        `WITH gone AS (
           DELETE FROM search_chunk WHERE tenant_id = $1 AND document_id = $2 AND NOT (id = ANY($3::text[]))
         )
         INSERT INTO search_chunk (id, tenant_id, batch_id, document_id, chunk, category, name, text, tsv, embedding)
         SELECT c.id, $1, $4, $2, c.chunk, $5, $6, c.text,
                setweight(to_tsvector('${this.cfg}', $6), 'A') || setweight(to_tsvector('${this.cfg}', c.text), 'B'),
                c.embedding::${this.pgvector ? "vector" : "real[]"}
         FROM unnest($3::text[], $7::int[], $8::text[], $9::text[]) AS c(id, chunk, text, embedding)
         ON CONFLICT (id) DO UPDATE SET batch_id = EXCLUDED.batch_id, category = EXCLUDED.category,
           name = EXCLUDED.name, text = EXCLUDED.text, tsv = EXCLUDED.tsv, embedding = EXCLUDED.embedding`,
        [
          d.tenantId,
          d.documentId,
          ids,
          d.batchId,
          d.category,
          d.name,
          d.chunks.map((c) => c.chunk),
          d.chunks.map((c) => c.text),
          d.chunks.map((c) => this.vector(c.embedding)),
        ],
      );
    }
  }

  async delete(tenantId: string, documentIds: readonly string[]): Promise<void> {
    await this.db.query("DELETE FROM search_chunk WHERE tenant_id = $1 AND document_id = ANY($2::uuid[])", [
      tenantId,
      documentIds,
    ]);
  }

  async stats(tenantId: string) {
    const [row] = await this.db.query<{ documents: number; chunks: number }>(
      "SELECT count(DISTINCT document_id)::int AS documents, count(*)::int AS chunks FROM search_chunk WHERE tenant_id = $1",
      [tenantId],
    );
    return row ?? { documents: 0, chunks: 0 };
  }

  async search(q: SearchQuery): Promise<{ hits: SearchHit[] }> {
    const offset = q.offset ?? 0;
    const want = offset + q.limit;
    let ranked: Ranked[];
    if (q.mode === "KEYWORD") ranked = await this.keyword(q, Math.max(want, CANDIDATES));
    else if (q.mode === "VECTOR") ranked = await this.vectorSearch(q, Math.max(want, CANDIDATES));
    else {
      const [k, v] = await Promise.all([
        this.keyword(q, Math.max(want, CANDIDATES)),
        this.vectorSearch(q, Math.max(want, CANDIDATES)),
      ]);
      ranked = fuse([k, v]);
    }
    const page = ranked.slice(offset, want);
    const highlights = await this.highlights(q, page);
    return {
      hits: page.map((r) => ({
        documentId: r.documentId,
        score: r.score,
        chunk: r.chunk,
        highlight: highlights.get(`${r.documentId}:${r.chunk}`) ?? null,
      })),
    };
  }

  /** Filters shared by every query; the tenant comes first, always. */
  private where(q: SearchQuery, params: unknown[]): string {
    params.push(q.tenantId);
    let sql = `tenant_id = $${params.length}`;
    if (q.filter?.categories?.length) {
      params.push(q.filter.categories);
      sql += ` AND category = ANY($${params.length}::text[])`;
    }
    if (q.filter?.batchIds?.length) {
      params.push(q.filter.batchIds);
      sql += ` AND batch_id = ANY($${params.length}::uuid[])`;
    }
    return sql;
  }

  private async keyword(q: SearchQuery, n: number): Promise<Ranked[]> {
    if (!q.text.trim()) return [];
    const params: unknown[] = [];
    const where = this.where(q, params);
    params.push(q.text, n);
    const tq = `websearch_to_tsquery('${this.cfg}', $${params.length - 1})`;
    const rows = await this.db.query<{ document_id: string; chunk: number; score: number }>(
      `SELECT document_id, chunk, score FROM (
         SELECT DISTINCT ON (document_id) document_id, chunk, ts_rank_cd(tsv, ${tq}, 32) AS score
         FROM search_chunk WHERE ${where} AND tsv @@ ${tq}
         ORDER BY document_id, score DESC
       ) best ORDER BY score DESC, document_id LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({ documentId: r.document_id, chunk: r.chunk, score: Number(r.score) }));
  }

  private async vectorSearch(q: SearchQuery, n: number): Promise<Ranked[]> {
    if (!q.embedding) throw new Error(`${q.mode} search needs the query's embedding`);
    const params: unknown[] = [];
    const where = this.where(q, params);
    params.push(this.vector(q.embedding), n * 4);
    const v = `$${params.length - 1}`;
    // Vectors are unit length, so 1 - dot product is the cosine distance.
    const distance = this.pgvector
      ? `embedding <=> ${v}::vector`
      : `1 - (SELECT sum(a * b) FROM unnest(embedding, ${v}::real[]) AS t(a, b))`;
    const rows = await this.db.query<{ document_id: string; chunk: number; distance: number }>(
      `SELECT document_id, chunk, ${distance} AS distance
       FROM search_chunk WHERE ${where}
       ORDER BY distance LIMIT $${params.length}`,
      params,
    );
    const best = new Map<string, Ranked>();
    for (const r of rows) {
      if (!best.has(r.document_id))
        best.set(r.document_id, { documentId: r.document_id, chunk: r.chunk, score: 1 - Number(r.distance) });
    }
    return [...best.values()].slice(0, n);
  }

  private async highlights(q: SearchQuery, page: Ranked[]): Promise<Map<string, string>> {
    if (page.length === 0) return new Map();
    const params: unknown[] = [];
    const where = this.where(q, params);
    params.push(
      page.map((r) => `${r.documentId}:${r.chunk}`),
      q.text,
    );
    const rows = await this.db.query<{ id: string; snippet: string }>(
      `SELECT id, ts_headline('${this.cfg}', text, websearch_to_tsquery('${this.cfg}', $${params.length}),
         'StartSel=<mark>, StopSel=</mark>, MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "') AS snippet
       FROM search_chunk WHERE ${where} AND id = ANY($${params.length - 1}::text[])`,
      params,
    );
    return new Map(rows.map((r) => [r.id, r.snippet]));
  }

  private vector(v: readonly number[]): string {
    if (v.length !== this.opts.dimensions) {
      throw new Error(`embedding has ${v.length} dimensions, the index ${this.opts.dimensions}`);
    }
    const list = v.map((x) => (Number.isFinite(x) ? x : 0)).join(",");
    return this.pgvector ? `[${list}]` : `{${list}}`;
  }
}

/** Reciprocal rank fusion of ranked lists; a document keeps the chunk of its best-placed entry. */
export function fuse(lists: Ranked[][]): Ranked[] {
  const acc = new Map<string, Ranked & { best: number }>();
  for (const list of lists) {
    list.forEach((r, i) => {
      const s = 1 / (RRF_K + i + 1);
      const cur = acc.get(r.documentId);
      if (!cur) acc.set(r.documentId, { ...r, score: s, best: i });
      else {
        cur.score += s;
        if (i < cur.best) {
          cur.best = i;
          cur.chunk = r.chunk;
        }
      }
    });
  }
  return [...acc.values()]
    .sort((a, b) => b.score - a.score || a.documentId.localeCompare(b.documentId))
    .map(({ best: _, ...r }) => r);
}
