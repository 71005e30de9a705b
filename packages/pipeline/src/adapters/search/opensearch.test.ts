// Unit tests of the OpenSearch adapter. There is no OpenSearch server here: these tests pin the request
// bodies the adapter sends, against a local node:http fake that records every request and answers
// canned OpenSearch responses. They prove what is sent and how answers are read, not that a real
// cluster accepts it; that is the conformance suite's job (tests/search-opensearch.test.ts, run
// when OPENSEARCH_URL is set).
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { IndexDocument, SearchQuery } from "../../ports/search.ts";
import { aliasSwapBody, fuse, hybridUnsupported, OpenSearchSearchIndex } from "./opensearch.ts";
import {
  type BulkOp,
  bulkBody,
  chunkSources,
  facetAggs,
  fieldQuery,
  filterQuery,
  fragments,
  highlightBody,
  hybridQuery,
  keywordQuery,
  keywordSearchBody,
  knnQuery,
  parseFacet,
  simpleQueryString,
  staleChunksBody,
  vectorSearchBody,
} from "./opensearch-bodies.ts";

const T1 = "11111111-1111-4111-8111-111111111111";
const B1 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const D1 = "00000000-0000-4000-8000-000000000001";
const D2 = "00000000-0000-4000-8000-000000000002";
const TENANT = { term: { tenant_id: T1 } };

const doc = (over: Partial<IndexDocument> = {}): IndexDocument => ({
  documentId: D1,
  tenantId: T1,
  batchId: B1,
  name: "invoice-acme.pdf",
  category: "invoice",
  createdAt: "2024-01-10T09:00:00Z",
  date: "2024-01-05",
  fields: [
    { name: "vendor", kind: "string", value: "ACME Supplies" },
    { name: "total", kind: "money", value: "336.00" },
    { name: "due", kind: "date", value: "2024-02-04" },
    { name: "item", kind: "string", value: "paper" },
    { name: "item", kind: "string", value: "toner" },
    { name: "a.b", kind: "string", value: "dotted" },
  ],
  chunks: [
    { chunk: 0, text: "ACME invoice", embedding: [1, 0, 0] },
    { chunk: 1, text: "Payment terms", embedding: [0, 1, 0] },
  ],
  ...over,
});

describe("opensearch request bodies (pure builders)", () => {
  it("keyword: web-search words in name, text and category, tenant and filters in `filter`", () => {
    expect(keywordQuery({ tenantId: T1, text: 'acme "total due" -draft OR x', filter: undefined })).toEqual({
      bool: {
        must: [
          {
            simple_query_string: {
              query: 'acme "total due" -draft | x',
              fields: ["name^3", "text", "category.text^0.5"],
              default_operator: "and",
              flags: "AND|OR|NOT|PHRASE|PRECEDENCE|WHITESPACE|ESCAPE",
            },
          },
        ],
        filter: [{ bool: { filter: [TENANT] } }],
      },
    });
  });

  it("translates web-search syntax and escapes simple_query_string operators", () => {
    expect(simpleQueryString("INV-42 (a+b) *x ~y")).toBe("INV\\-42 \\(a\\+b\\) \\*x \\~y");
    expect(simpleQueryString('-"old draft" OR OR new OR')).toBe('-"old draft" | new');
    expect(simpleQueryString("   ")).toBe("");
    expect(simpleQueryString('"unterminated phrase')).toBe('"unterminated phrase"');
  });

  it("every filter kind: categories, batches, document date and ingestion ranges, exclusions", () => {
    expect(
      filterQuery(T1, {
        categories: ["invoice", "receipt"],
        batchIds: [B1],
        dateFrom: "2024-01-01",
        dateTo: "2024-03-31",
        createdFrom: "2024-02-01T00:00:00Z",
        createdTo: "2024-02-29",
        excludeDocumentIds: [D2],
      }),
    ).toEqual({
      bool: {
        filter: [
          TENANT,
          { terms: { category: ["invoice", "receipt"] } },
          { terms: { batch_id: [B1] } },
          { range: { doc_date: { gte: "2024-01-01", lte: "2024-03-31" } } },
          // a bare date as upper bound covers that whole day
          { range: { created_at: { gte: "2024-02-01T00:00:00.000Z", lt: "2024-03-01T00:00:00.000Z" } } },
        ],
        must_not: [{ terms: { document_id: [D2] } }],
      },
    });
    expect(filterQuery(T1, { createdTo: "2024-03-15T10:00:00.000Z", dateTo: "2024-01-05" })).toEqual({
      bool: {
        filter: [
          TENANT,
          { range: { doc_date: { lte: "2024-01-05" } } },
          { range: { created_at: { lte: "2024-03-15T10:00:00.000Z" } } },
        ],
      },
    });
    expect(() => filterQuery(T1, { dateFrom: "2024-02-30" })).toThrow(/dateFrom/);
    expect(() => filterQuery(T1, { createdFrom: "yesterday" })).toThrow(/createdFrom/);
  });

  it("field conditions: numbers, dates and text each in their own typed field", () => {
    expect(fieldQuery({ name: "vendor", op: "eq", value: "acme SUPPLIES" })).toEqual({
      bool: { should: [{ term: { "f_txt.vendor.lc": "acme supplies" } }], minimum_should_match: 1 },
    });
    expect(fieldQuery({ name: "total", op: "eq", value: "336" })).toEqual({
      bool: {
        should: [{ term: { "f_txt.total.lc": "336" } }, { term: { "f_num.total": 336 } }],
        minimum_should_match: 1,
      },
    });
    expect(fieldQuery({ name: "total", op: "gt", value: "100" })).toEqual({
      bool: {
        should: [{ range: { "f_txt.total": { gt: "100" } } }, { range: { "f_num.total": { gt: 100 } } }],
        minimum_should_match: 1,
      },
    });
    expect(fieldQuery({ name: "due", op: "lte", value: "2024-03-01" })).toEqual({
      bool: {
        should: [
          { range: { "f_txt.due": { lte: "2024-03-01" } } },
          { range: { "f_date.due": { lte: "2024-03-01" } } },
        ],
        minimum_should_match: 1,
      },
    });
    expect(fieldQuery({ name: "vendor", op: "in", values: ["Cafe Luna", "12", "2024-01-01"] })).toEqual({
      bool: {
        should: [
          { terms: { "f_txt.vendor.lc": ["cafe luna", "12", "2024-01-01"] } },
          { terms: { "f_num.vendor": [12] } },
          { terms: { "f_date.vendor": ["2024-01-01"] } },
        ],
        minimum_should_match: 1,
      },
    });
    expect(fieldQuery({ name: "rent", op: "exists" })).toEqual({ exists: { field: "f_kw.rent" } });
    // dots would nest the object: encoded
    expect(fieldQuery({ name: "a.b", op: "exists" })).toEqual({ exists: { field: "f_kw.a%2Eb" } });
    expect(() => fieldQuery({ name: "total", op: "gt" })).toThrow(/needs a value/);
    // all conditions go into the filter's bool, each its own clause
    const f = filterQuery(T1, {
      fields: [
        { name: "total", op: "gte", value: "500" },
        { name: "item", op: "exists" },
      ],
    });
    expect(f.bool?.filter).toHaveLength(3);
  });

  it("indexed chunks carry the document's attributes and its fields by kind", () => {
    const [c0, c1] = chunkSources(doc());
    expect(c0?.id).toBe(`${D1}:0`);
    expect(c1?.id).toBe(`${D1}:1`);
    expect(c1?.source).toEqual({
      tenant_id: T1,
      batch_id: B1,
      document_id: D1,
      chunk: 1,
      name: "invoice-acme.pdf",
      category: "invoice",
      created_at: "2024-01-10T09:00:00.000Z",
      doc_date: "2024-01-05",
      text: "Payment terms",
      embedding: [0, 1, 0],
      f_kw: {
        vendor: ["ACME Supplies"],
        total: ["336.00"],
        due: ["2024-02-04"],
        item: ["paper", "toner"],
        "a%2Eb": ["dotted"],
      },
      f_txt: { vendor: ["ACME Supplies"], item: ["paper", "toner"], "a%2Eb": ["dotted"] },
      f_num: { total: [336] },
      f_date: { due: ["2024-02-04"] },
    });
    expect(() => chunkSources(doc({ createdAt: "soon" }))).toThrow(/createdAt/);
    expect(chunkSources(doc({ date: "2024-13-01" }))[0]?.source.doc_date).toBeNull();
  });

  it("vector: the tenant and every filter inside the knn query (efficient filtering), k = candidates", () => {
    const filter = { categories: ["invoice"], fields: [{ name: "total", op: "lt" as const, value: "10" }] };
    expect(knnQuery(T1, [0.6, 0.8], filter, 200)).toEqual({
      knn: { embedding: { vector: [0.6, 0.8], k: 200, filter: filterQuery(T1, filter) } },
    });
    const q: SearchQuery & { embedding: number[] } = {
      tenantId: T1,
      text: "",
      embedding: [1, 0],
      mode: "VECTOR",
      limit: 100,
      offset: 20,
      filter,
    };
    const body = vectorSearchBody(q, []);
    expect(body).toMatchObject({
      collapse: { field: "document_id" },
      from: 20,
      size: 100,
      query: { knn: { embedding: { k: 480, filter: filterQuery(T1, filter) } } },
    });
    expect(body.post_filter).toBeUndefined();
    expect(body.highlight).toBeUndefined();
  });

  it("hybrid: keyword and knn sub-queries, each with the tenant and filters, deep enough for the page", () => {
    const filter = { batchIds: [B1], dateFrom: "2024-01-01" };
    const q: SearchQuery & { embedding: number[] } = {
      tenantId: T1,
      text: "terminated notice",
      embedding: [0, 1],
      mode: "HYBRID",
      limit: 10,
      offset: 10,
      filter,
    };
    const body = hybridQuery(q, []);
    expect(body.query).toEqual({
      hybrid: {
        queries: [keywordQuery(q), knnQuery(T1, [0, 1], filter, 200)],
        pagination_depth: 200,
      },
    });
    expect(body).toMatchObject({ from: 0, size: 80 });
    for (const sub of body.query?.hybrid?.queries ?? [])
      expect(JSON.stringify(sub)).toContain(JSON.stringify(TENANT));
  });

  it("facets: terms buckets counted per document (cardinality of document_id), ordered by that count", () => {
    const facets = [
      { field: "category" },
      { field: "batch", size: 500 },
      { field: "field:vendor", size: 1 },
    ].map(parseFacet);
    expect(facetAggs(facets)).toEqual({
      facet_0: {
        terms: { field: "category", size: 10, shard_size: 100, order: [{ docs: "desc" }, { _key: "asc" }] },
        aggs: { docs: { cardinality: { field: "document_id", precision_threshold: 40000 } } },
      },
      facet_1: {
        terms: { field: "batch_id", size: 100, shard_size: 500, order: [{ docs: "desc" }, { _key: "asc" }] },
        aggs: { docs: { cardinality: { field: "document_id", precision_threshold: 40000 } } },
      },
      facet_2: {
        terms: { field: "f_kw.vendor", size: 1, shard_size: 100, order: [{ docs: "desc" }, { _key: "asc" }] },
        aggs: { docs: { cardinality: { field: "document_id", precision_threshold: 40000 } } },
      },
    });
    expect(() => parseFacet({ field: "colour" })).toThrow(/facet/);
  });

  it("keyword search body: collapse, highlights with marks, exact total and facets over every match", () => {
    const q: SearchQuery = { tenantId: T1, text: "invoice", mode: "KEYWORD", limit: 5, offset: 5 };
    const body = keywordSearchBody(q, [parseFacet({ field: "category" })]);
    expect(body).toMatchObject({
      collapse: { field: "document_id" },
      from: 5,
      size: 5,
      track_total_hits: true,
      highlight: highlightBody("invoice"),
      aggs: {
        total_docs: { cardinality: { field: "document_id", precision_threshold: 40000 } },
        facet_0: { terms: { field: "category" } },
      },
    });
    expect(highlightBody("invoice")).toMatchObject({
      pre_tags: ["\u0002"],
      post_tags: ["\u0003"],
      fields: { text: { number_of_fragments: 3 } },
    });
  });

  it("highlights become HTML whose only tags are <mark>", () => {
    expect(fragments(['Flat white & \u0002croissant\u0003 (2 < 3) "ok"', "no match here"])).toEqual([
      "Flat white &amp; <mark>croissant</mark> (2 &lt; 3) &quot;ok&quot;",
    ]);
  });

  it("stale chunks: chunk numbers past the new count, per document and tenant", () => {
    const body = staleChunksBody([
      doc(),
      doc({ documentId: D2, chunks: [{ chunk: 3, text: "x", embedding: [1, 0, 0] }] }),
    ]);
    expect(body.query?.bool?.should).toEqual([
      {
        bool: {
          filter: [TENANT, { term: { document_id: D1 } }, { range: { chunk: { gte: 2 } } }],
        },
      },
      {
        bool: {
          filter: [
            TENANT,
            { term: { document_id: D2 } },
            { bool: { must_not: [{ terms: { chunk: [3] } }] } },
          ],
        },
      },
    ]);
  });

  it("splits bulk bodies at the byte cap, whole actions only", () => {
    const ops: BulkOp[] = chunkSources(
      doc({
        chunks: Array.from({ length: 10 }, (_, i) => ({
          chunk: i,
          text: "x".repeat(1000),
          embedding: [1, 0, 0],
        })),
      }),
    ).map((c) => ({ index: "idx", id: c.id, source: c.source }));
    const parts = bulkBody(ops, 3500);
    expect(parts.length).toBeGreaterThan(3);
    expect(parts.flatMap((p) => p.ops.map((o) => o.id))).toEqual(ops.map((o) => o.id));
    for (const p of parts) {
      const bytes = p.body.reduce((n, line) => n + Buffer.byteLength(JSON.stringify(line)) + 1, 0);
      expect(bytes).toBeLessThanOrEqual(3500);
      expect(p.body[0]).toEqual({ index: { _index: "idx", _id: p.ops[0]?.id } });
    }
    // one action larger than the cap still goes, alone
    expect(bulkBody(ops, 10).map((p) => p.ops.length)).toEqual(Array(10).fill(1));
  });

  it("fuses ranked lists by reciprocal rank, keeping the keyword chunk and its highlights", () => {
    const r = (documentId: string, chunk: number, keyword: boolean) => ({
      documentId,
      chunk,
      score: 1,
      text: `${documentId}:${chunk}`,
      highlights: keyword ? ["<mark>x</mark>"] : [],
      keyword,
    });
    const fused = fuse([
      [r("a", 0, true), r("b", 2, true)],
      [r("b", 1, false), r("c", 0, false)],
    ]);
    expect(fused.map((f) => f.documentId)).toEqual(["b", "a", "c"]);
    expect(fused[0]).toMatchObject({ chunk: 2, keyword: true, highlights: ["<mark>x</mark>"] });
    expect(fused[0]?.score).toBeCloseTo(1 / 62 + 1 / 61);
  });

  it("only a cluster's 4xx about hybrid or pipelines counts as a missing pipeline", () => {
    expect(hybridUnsupported(new Error("pipeline socket hang up"))).toBe(false);
  });

  it("swaps the alias in one atomic request", () => {
    expect(aliasSwapBody("p-chunks", "p-chunks-v1-d4", "p-chunks-v2-d8")).toEqual({
      actions: [
        { remove: { index: "p-chunks-v1-d4", alias: "p-chunks" } },
        { add: { index: "p-chunks-v2-d8", alias: "p-chunks", is_write_index: true } },
      ],
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Against a local HTTP fake (records requests, answers canned responses; not OpenSearch)

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** NDJSON bodies (bulk) as their lines. */
  lines: unknown[];
}
type Answer = { status?: number; body: unknown };
type Handler = (req: Recorded) => Answer | undefined;

class FakeOpenSearch {
  readonly requests: Recorded[] = [];
  private handlers: Handler[] = [];
  private server!: Server;
  url = "";

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      const rec = await record(req);
      this.requests.push(rec);
      const answer = this.handlers.map((h) => h(rec)).find((a) => a !== undefined) ?? {
        status: 404,
        body: { error: { type: "fake_unhandled", reason: `${rec.method} ${rec.path}` }, status: 404 },
      };
      res.writeHead(answer.status ?? 200, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  on(h: Handler): void {
    this.handlers.unshift(h);
  }

  reset(): void {
    this.requests.length = 0;
    this.handlers = [];
  }

  find(method: string, path: string | RegExp): Recorded[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === "string" ? r.path === path : path.test(r.path)),
    );
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

async function record(req: IncomingMessage): Promise<Recorded> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  const url = new URL(req.url ?? "/", "http://fake");
  let body: unknown = null;
  let lines: unknown[] = [];
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      lines = text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    }
  }
  return { method: req.method ?? "", path: url.pathname, query: url.searchParams, body, lines };
}

const searchAnswer = (hits: object[], aggregations: object = {}, total = hits.length): Answer => ({
  body: {
    took: 1,
    timed_out: false,
    _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
    hits: { total: { value: total, relation: "eq" }, max_score: 1, hits },
    aggregations,
  },
});
const hit = (documentId: string, chunk: number, score: number, text: string, highlight?: string[]) => ({
  _index: "p-chunks-v1-d3",
  _id: `${documentId}:${chunk}`,
  _score: score,
  _source: { document_id: documentId, chunk, text },
  ...(highlight ? { highlight: { text: highlight } } : {}),
});
const bulkItems = (statuses: (number | [number, string])[]) => ({
  body: {
    took: 1,
    errors: statuses.some((s) => (Array.isArray(s) ? s[0] : s) >= 300),
    items: statuses.map((s, i) => {
      const status = Array.isArray(s) ? s[0] : s;
      return {
        index: {
          _index: "p-chunks-v1-d3",
          _id: `x${i}`,
          status,
          ...(status >= 300
            ? {
                error: {
                  type: Array.isArray(s) ? s[1] : "es_rejected_execution_exception",
                  reason: "rejected",
                },
              }
            : { result: "created" }),
        },
      };
    }),
  },
});
const ok = { body: { acknowledged: true } };

describe("opensearch adapter against a local HTTP fake (no real OpenSearch)", () => {
  const fake = new FakeOpenSearch();
  let search: OpenSearchSearchIndex;
  const make = (opts: Partial<ConstructorParameters<typeof OpenSearchSearchIndex>[0]> = {}) =>
    new OpenSearchSearchIndex({
      node: fake.url,
      prefix: "p",
      dimensions: 3,
      refresh: "wait_for",
      retryBaseMs: 1,
      ...opts,
    });

  beforeAll(() => fake.start());
  afterAll(() => fake.stop());
  afterEach(async () => {
    fake.reset();
    const s = search;
    search = undefined as unknown as OpenSearchSearchIndex;
    await s?.close();
  });

  const mappingAnswer = (index: string, dims: number, version = 1): Answer => ({
    body: {
      [index]: {
        mappings: {
          _meta: { docfleet_mapping_version: version },
          properties: { embedding: { dimension: dims } },
        },
      },
    },
  });

  it("setup() puts the template and the RRF pipeline, creates the first index behind the alias", async () => {
    search = make();
    let created = false;
    fake.on((r) =>
      r.method === "GET" && r.path === "/_alias/p-chunks"
        ? created
          ? { body: { "p-chunks-v1-d3": { aliases: { "p-chunks": { is_write_index: true } } } } }
          : { status: 404, body: { error: "alias [p-chunks] missing", status: 404 } }
        : undefined,
    );
    fake.on((r) => {
      if (r.method === "PUT" && r.path === "/p-chunks-v1-d3") {
        created = true;
        return ok;
      }
      return undefined;
    });
    fake.on((r) =>
      r.path === "/_index_template/p-chunks" || r.path === "/_search/pipeline/p-hybrid" ? ok : undefined,
    );
    fake.on((r) =>
      r.method === "GET" && r.path === "/p-chunks-v1-d3/_mapping"
        ? mappingAnswer("p-chunks-v1-d3", 3)
        : undefined,
    );
    await search.setup();
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /_index_template/p-chunks",
      "PUT /_search/pipeline/p-hybrid",
      "GET /_alias/p-chunks",
      "PUT /p-chunks-v1-d3",
      "GET /_alias/p-chunks",
      "GET /p-chunks-v1-d3/_mapping",
    ]);

    const [template] = fake.find("POST", "/_index_template/p-chunks");
    expect(template?.body).toMatchObject({
      index_patterns: ["p-chunks-v*"],
      template: {
        settings: { "index.knn": true },
        mappings: {
          properties: {
            document_id: { type: "keyword" },
            text: { type: "text", analyzer: "docfleet_text" },
            name: { type: "text", analyzer: "docfleet_name" },
          },
        },
      },
    });
    expect(JSON.stringify(template?.body)).toContain('"path_match":"f_num.*"');
    expect(fake.find("PUT", "/_search/pipeline/p-hybrid")[0]?.body).toMatchObject({
      phase_results_processors: [
        { "score-ranker-processor": { combination: { technique: "rrf", rank_constant: 60 } } },
      ],
    });
    expect(fake.find("PUT", "/p-chunks-v1-d3")[0]?.body).toEqual({
      mappings: {
        properties: {
          embedding: {
            type: "knn_vector",
            dimension: 3,
            space_type: "cosinesimil",
            method: { name: "hnsw", engine: "faiss", parameters: { m: 16, ef_construction: 128 } },
          },
        },
      },
      aliases: { "p-chunks": { is_write_index: true } },
    });
    expect(search.hybrid).toBe("pipeline");
  });

  it("setup() refuses an index with other dimensions or an older mapping, and falls back when the pipeline cannot be made", async () => {
    search = make();
    fake.on((r) => (r.path === "/_index_template/p-chunks" ? ok : undefined));
    fake.on((r) =>
      r.path === "/_search/pipeline/p-hybrid"
        ? {
            status: 400,
            body: {
              error: {
                type: "illegal_argument_exception",
                reason: "Invalid processor type score-ranker-processor",
              },
              status: 400,
            },
          }
        : undefined,
    );
    fake.on((r) =>
      r.path === "/_alias/p-chunks"
        ? { body: { "p-chunks-v4-d8": { aliases: { "p-chunks": {} } } } }
        : undefined,
    );
    fake.on((r) => (r.path === "/p-chunks-v4-d8/_mapping" ? mappingAnswer("p-chunks-v4-d8", 8) : undefined));
    await expect(search.setup()).rejects.toThrow(
      /holds 8-dimensional vectors but the embedding model gives 3; run reindex/,
    );
    expect(search.hybrid).toBe("client");
    expect(fake.find("PUT", /^\/p-chunks-v/)).toEqual([]); // never creates beside an existing alias

    fake.on((r) =>
      r.path === "/p-chunks-v4-d8/_mapping" ? mappingAnswer("p-chunks-v4-d8", 3, 0) : undefined,
    );
    await expect(search.setup()).rejects.toThrow(/mapping version 0, this release needs 1/);
  });

  it("KEYWORD: sends the pinned body to the alias, reads hits, highlights, total and facets", async () => {
    search = make();
    const q: SearchQuery = {
      tenantId: T1,
      text: "invoice acme",
      mode: "KEYWORD",
      limit: 10,
      filter: { fields: [{ name: "total", op: "gte", value: "100" }] },
      facets: [{ field: "category" }, { field: "field:item" }],
    };
    fake.on((r) =>
      r.path === "/p-chunks/_search"
        ? searchAnswer(
            [hit(D1, 0, 3.2, "ACME <b>invoice</b>", ["\u0002ACME\u0003 <b>\u0002invoice\u0003</b>"])],
            {
              total_docs: { value: 1 },
              facet_0: { buckets: [{ key: "invoice", doc_count: 2, docs: { value: 1 } }] },
              facet_1: {
                buckets: [
                  { key: "paper", doc_count: 4, docs: { value: 2 } },
                  { key: "toner", doc_count: 2, docs: { value: 1 } },
                ],
              },
            },
            2, // two chunks matched: the total counts documents
          )
        : undefined,
    );
    const res = await search.search(q);
    const [req] = fake.find("POST", "/p-chunks/_search");
    expect(req?.body).toEqual(keywordSearchBody(q, q.facets!.map(parseFacet)));
    expect(res).toEqual({
      hits: [
        {
          documentId: D1,
          score: 3.2,
          chunk: 0,
          chunkText: "ACME <b>invoice</b>",
          highlights: ["<mark>ACME</mark> &lt;b&gt;<mark>invoice</mark>&lt;/b&gt;"],
        },
      ],
      total: 1,
      facets: [
        { field: "category", buckets: [{ value: "invoice", count: 1 }] },
        {
          field: "field:item",
          buckets: [
            { value: "paper", count: 2 },
            { value: "toner", count: 1 },
          ],
        },
      ],
    });
    // no words: nothing is asked
    fake.requests.length = 0;
    expect(await search.search({ ...q, text: "  " })).toEqual({
      hits: [],
      total: 0,
      facets: [
        { field: "category", buckets: [] },
        { field: "field:item", buckets: [] },
      ],
    });
    expect(fake.requests).toEqual([]);
  });

  it("VECTOR: filters inside the knn query, no highlights, candidates as total", async () => {
    search = make();
    const q: SearchQuery = {
      tenantId: T1,
      text: "",
      embedding: [0, 1, 0],
      mode: "VECTOR",
      limit: 10,
      filter: { categories: ["invoice"], dateFrom: "2024-01-01" },
    };
    fake.on((r) =>
      r.path === "/p-chunks/_search"
        ? searchAnswer([hit(D1, 1, 0.99, "Payment terms"), hit(D2, 0, 0.7, "Other")], {
            total_docs: { value: 2 },
          })
        : undefined,
    );
    const res = await search.search(q);
    expect(fake.requests[0]?.body).toEqual(vectorSearchBody({ ...q, embedding: [0, 1, 0] }, []));
    expect(res.hits.map((h) => [h.documentId, h.chunk, h.highlights])).toEqual([
      [D1, 1, []],
      [D2, 0, []],
    ]);
    expect(res.total).toBe(2);
    await expect(search.search({ ...q, embedding: [1, 0] })).rejects.toThrow(/2 dimensions, the index 3/);
    await expect(search.search({ ...q, embedding: undefined })).rejects.toThrow(
      /needs the query's embedding/,
    );
  });

  const hybridQ: SearchQuery = {
    tenantId: T1,
    text: "terminated notice",
    embedding: [0, 0, 1],
    mode: "HYBRID",
    limit: 2,
    filter: { batchIds: [B1] },
    facets: [{ field: "batch" }],
  };

  it("HYBRID through the pipeline: one hybrid query, grouped by document, highlights for keyword matches only", async () => {
    search = make();
    fake.on((r) => {
      if (r.path !== "/p-chunks/_search") return undefined;
      const body = r.body as { query: Record<string, unknown> };
      if ("hybrid" in body.query)
        return searchAnswer(
          [hit(D2, 0, 0.03, "lease terminated"), hit(D2, 1, 0.02, "more lease"), hit(D1, 0, 0.016, "cafe")],
          { total_docs: { value: 2 }, facet_0: { buckets: [{ key: B1, doc_count: 3, docs: { value: 2 } }] } },
        );
      return searchAnswer([
        { _id: `${D2}:0`, _score: 1, highlight: { text: ["lease \u0002terminated\u0003"] } },
      ]);
    });
    const res = await search.search(hybridQ);
    const [first, second] = fake.requests;
    expect(first?.query.get("search_pipeline")).toBe("p-hybrid");
    expect(first?.body).toEqual(
      hybridQuery({ ...hybridQ, embedding: [0, 0, 1] }, hybridQ.facets!.map(parseFacet)),
    );
    // the highlight request asks only about the page's chunks, with the same keyword query
    expect(second?.body).toMatchObject({
      query: {
        bool: { must: [keywordQuery(hybridQ)], filter: [{ ids: { values: [`${D2}:0`, `${D1}:0`] } }] },
      },
    });
    expect(res.hits.map((h) => [h.documentId, h.chunk, h.highlights])).toEqual([
      [D2, 0, ["lease <mark>terminated</mark>"]],
      [D1, 0, []],
    ]);
    expect(res.total).toBe(2);
    expect(res.facets).toEqual([{ field: "batch", buckets: [{ value: B1, count: 2 }] }]);
  });

  it("HYBRID falls back to client-side RRF once the pipeline proves missing, and remembers", async () => {
    const warnings: string[] = [];
    search = make({ log: { warn: (_o, msg) => warnings.push(msg) } });
    fake.on((r) => {
      if (r.path !== "/p-chunks/_search") return undefined;
      const body = r.body as { query: Record<string, unknown>; size: number };
      if ("hybrid" in body.query)
        return {
          status: 400,
          body: {
            error: { type: "illegal_argument_exception", reason: "Pipeline p-hybrid is not defined" },
            status: 400,
          },
        };
      if ("knn" in body.query) return searchAnswer([hit(D1, 0, 0.9, "cafe"), hit(D2, 1, 0.5, "more lease")]);
      if (body.size === 0)
        return searchAnswer([], { facet_0: { buckets: [{ key: B1, doc_count: 3, docs: { value: 2 } }] } });
      return searchAnswer([hit(D2, 0, 4, "lease terminated", ["lease \u0002terminated\u0003"])]);
    });
    const res = await search.search(hybridQ);
    expect(search.hybrid).toBe("client");
    expect(warnings).toHaveLength(1);
    const lists = fake.requests.slice(1, 3).map((r) => r.body as { query: Record<string, unknown> });
    const kw = lists.find((b) => "bool" in b.query);
    const knn = lists.find((b) => "knn" in b.query);
    expect(kw).toMatchObject({ query: keywordQuery(hybridQ), collapse: { field: "document_id" }, size: 200 });
    expect(knn).toMatchObject({
      query: knnQuery(T1, [0, 0, 1], hybridQ.filter, 800),
      collapse: { field: "document_id" },
      size: 200,
    });
    // facets over exactly the fused documents, within the tenant and filters
    expect(fake.requests[3]?.body).toEqual({
      query: { bool: { filter: [filterQuery(T1, hybridQ.filter), { terms: { document_id: [D2, D1] } }] } },
      size: 0,
      aggs: facetAggs([parseFacet({ field: "batch" })]),
    });
    expect(res.hits.map((h) => [h.documentId, h.chunk, h.chunkText, h.highlights])).toEqual([
      [D2, 0, "lease terminated", ["lease <mark>terminated</mark>"]],
      [D1, 0, "cafe", []],
    ]);
    expect(res.total).toBe(2);
    expect(res.facets).toEqual([{ field: "batch", buckets: [{ value: B1, count: 2 }] }]);

    // the next hybrid search goes straight to client-side fusion
    fake.requests.length = 0;
    await search.search(hybridQ);
    expect(fake.requests.some((r) => "hybrid" in ((r.body as { query?: object }).query ?? {}))).toBe(false);
    expect(warnings).toHaveLength(1);
  });

  it("upsert: bulk with deterministic ids through the alias, then deletes stale chunks", async () => {
    search = make();
    fake.on((r) => (r.path === "/_bulk" ? bulkItems([201, 201]) : undefined));
    fake.on((r) =>
      r.path === "/p-chunks/_delete_by_query" ? { body: { deleted: 1, failures: [] } } : undefined,
    );
    await search.upsert([doc({ chunks: [{ chunk: 0, text: "old", embedding: [1, 0, 0] }] }), doc()]);
    const [bulk] = fake.find("POST", "/_bulk");
    expect(bulk?.query.get("refresh")).toBe("wait_for");
    expect(bulk?.lines.filter((_, i) => i % 2 === 0)).toEqual([
      { index: { _index: "p-chunks", _id: `${D1}:0` } },
      { index: { _index: "p-chunks", _id: `${D1}:1` } },
    ]);
    const [del] = fake.find("POST", "/p-chunks/_delete_by_query");
    expect(del?.body).toEqual(staleChunksBody([doc()]));
    expect(del?.query.get("conflicts")).toBe("proceed");
    expect(fake.requests.map((r) => r.path)).toEqual(["/_bulk", "/p-chunks/_delete_by_query"]);
    await expect(search.upsert([doc({ chunks: [{ chunk: 0, text: "x", embedding: [1] }] })])).rejects.toThrow(
      /1 dimensions/,
    );
  });

  it("splits bulk bodies by size", async () => {
    search = make({ maxBulkBytes: 2000 });
    fake.on((r) => (r.path === "/_bulk" ? bulkItems(Array(r.lines.length / 2).fill(201)) : undefined));
    fake.on((r) => (r.path === "/p-chunks/_delete_by_query" ? { body: { deleted: 0 } } : undefined));
    const chunks = Array.from({ length: 6 }, (_, i) => ({
      chunk: i,
      text: "y".repeat(900),
      embedding: [1, 0, 0],
    }));
    await search.upsert([doc({ chunks, fields: [] })]);
    const bulks = fake.find("POST", "/_bulk");
    expect(bulks.length).toBeGreaterThanOrEqual(3);
    expect(bulks.flatMap((b) => b.lines.filter((_, i) => i % 2 === 0))).toHaveLength(6);
  });

  it("retries items rejected with 429 with backoff, and only those", async () => {
    search = make();
    let calls = 0;
    fake.on((r) => {
      if (r.path !== "/_bulk") return undefined;
      calls++;
      if (calls === 1) return bulkItems([201, 429]);
      if (calls === 2)
        return { status: 429, body: { error: { type: "es_rejected_execution_exception" }, status: 429 } };
      return bulkItems([201]);
    });
    fake.on((r) => (r.path === "/p-chunks/_delete_by_query" ? { body: { deleted: 0 } } : undefined));
    await search.upsert([doc()]);
    const bulks = fake.find("POST", "/_bulk");
    expect(bulks).toHaveLength(3);
    expect(bulks[1]?.lines[0]).toEqual({ index: { _index: "p-chunks", _id: `${D1}:1` } });
    expect(bulks[2]?.lines).toEqual(bulks[1]?.lines);
  });

  it("fails with the first item errors listed when items fail for good (or 429 outlasts the retries)", async () => {
    search = make({ maxRetries: 2 });
    fake.on((r) =>
      r.path === "/_bulk"
        ? bulkItems(r.lines.length === 4 ? [[400, "mapper_parsing_exception"], 429] : [429])
        : undefined,
    );
    const err = await search.upsert([doc()]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/bulk indexing failed for 2 of 2 chunks/);
    expect((err as Error).message).toContain(`${D1}:0: 400 mapper_parsing_exception: rejected`);
    expect((err as Error).message).toContain(`${D1}:1: 429 still rejected after 2 retries`);
    expect(fake.find("POST", "/_bulk")).toHaveLength(3);
    // nothing is deleted when writing failed
    expect(fake.find("POST", "/p-chunks/_delete_by_query")).toEqual([]);
  });

  it("delete: all chunks of the tenant's documents; nothing asked for no ids", async () => {
    search = make();
    fake.on((r) => (r.path === "/p-chunks/_delete_by_query" ? { body: { deleted: 3 } } : undefined));
    await search.delete(T1, []);
    expect(fake.requests).toEqual([]);
    await search.delete(T1, [D1, D2]);
    expect(fake.requests[0]?.body).toEqual({
      query: { bool: { filter: [TENANT, { terms: { document_id: [D1, D2] } }] } },
    });
    expect(fake.requests[0]?.query.get("refresh")).toBe("true");
  });

  it("stats: chunks are hits, documents distinct ids", async () => {
    search = make();
    fake.on((r) =>
      r.path === "/p-chunks/_search" ? searchAnswer([], { total_docs: { value: 4 } }, 5) : undefined,
    );
    expect(await search.stats(T1)).toEqual({ documents: 4, chunks: 5 });
    expect(fake.requests[0]?.body).toMatchObject({
      query: { term: { tenant_id: T1 } },
      size: 0,
      track_total_hits: true,
    });
  });

  it("similar: the mean of the document's chunk vectors, knn within the tenant excluding itself", async () => {
    search = make();
    fake.on((r) => {
      if (r.path !== "/p-chunks/_search") return undefined;
      const body = r.body as { query: Record<string, unknown> };
      if ("knn" in body.query) return searchAnswer([hit(D2, 0, 0.8, "near")]);
      const own = (body.query as { bool: { filter: { term: { document_id?: string } }[] } }).bool.filter[1]
        ?.term.document_id;
      return own === D1
        ? searchAnswer([
            { _id: `${D1}:0`, _source: { chunk: 0, embedding: [1, 0, 0] } },
            { _id: `${D1}:1`, _source: { chunk: 1, embedding: [0, 1, 0] } },
          ])
        : searchAnswer([]);
    });
    const hits = await search.similar(T1, D1, { limit: 5, offset: 1, filter: { categories: ["contract"] } });
    expect(hits).toEqual([{ documentId: D2, score: 0.8, chunk: 0, chunkText: "near", highlights: [] }]);
    const knn = fake.requests[1]?.body as { query: { knn: { embedding: { vector: number[] } } } };
    expect(knn).toMatchObject({ from: 1, size: 5, collapse: { field: "document_id" } });
    expect(knn.query.knn.embedding.vector[0]).toBeCloseTo(Math.SQRT1_2);
    expect(knn.query).toEqual(
      knnQuery(
        T1,
        knn.query.knn.embedding.vector,
        { categories: ["contract"], excludeDocumentIds: [D1] },
        200,
      ),
    );
    fake.requests.length = 0;
    expect(await search.similar(T1, D2, { limit: 5 })).toEqual([]);
    expect(fake.requests).toHaveLength(1);
  });

  it("drop: deletes this prefix's indexes by name, its template and pipeline", async () => {
    search = make();
    fake.on((r) =>
      r.method === "GET" && r.path === "/p-chunks-v*"
        ? { body: { "p-chunks-v1-d3": {}, "p-chunks-v2-d3": {} } }
        : undefined,
    );
    fake.on((r) => (r.method === "DELETE" ? ok : undefined));
    await search.drop();
    expect(fake.requests.map((r) => `${r.method} ${decodeURIComponent(r.path)}`)).toEqual([
      "GET /p-chunks-v*",
      "DELETE /p-chunks-v1-d3,p-chunks-v2-d3",
      "DELETE /_index_template/p-chunks",
      "DELETE /_search/pipeline/p-hybrid",
    ]);
  });

  it("reindex: next index, _reindex, atomic alias swap, old index dropped", async () => {
    search = make();
    fake.on((r) =>
      r.path === "/_alias/p-chunks"
        ? { body: { "p-chunks-v1-d3": { aliases: { "p-chunks": { is_write_index: true } } } } }
        : undefined,
    );
    fake.on((r) => (["/p-chunks-v2-d3", "/p-chunks-v1-d3", "/_aliases"].includes(r.path) ? ok : undefined));
    fake.on((r) => (r.path === "/_reindex" ? { body: { total: 3, created: 3, failures: [] } } : undefined));
    expect(await search.reindex()).toEqual({ from: "p-chunks-v1-d3", to: "p-chunks-v2-d3" });
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /_alias/p-chunks",
      "PUT /p-chunks-v2-d3",
      "POST /_reindex",
      "POST /_aliases",
      "DELETE /p-chunks-v1-d3",
    ]);
    expect(fake.requests[1]?.body).not.toHaveProperty("aliases");
    expect(fake.requests[2]?.body).toEqual({
      source: { index: "p-chunks-v1-d3" },
      dest: { index: "p-chunks-v2-d3", op_type: "create" },
      conflicts: "proceed",
    });
    expect(fake.requests[3]?.body).toEqual(aliasSwapBody("p-chunks", "p-chunks-v1-d3", "p-chunks-v2-d3"));
  });

  it("reindex to other dimensions re-upserts from a source; a failed copy leaves the alias alone", async () => {
    search = make();
    fake.on((r) =>
      r.path === "/_alias/p-chunks"
        ? { body: { "p-chunks-v1-d3": { aliases: { "p-chunks": {} } } } }
        : undefined,
    );
    fake.on((r) => (["/p-chunks-v2-d4", "/p-chunks-v1-d3", "/_aliases"].includes(r.path) ? ok : undefined));
    fake.on((r) => (r.path === "/_bulk" ? bulkItems([201]) : undefined));
    fake.on((r) => (r.path === "/p-chunks-v2-d4/_delete_by_query" ? { body: { deleted: 0 } } : undefined));
    await expect(search.reindex({ dimensions: 4 })).rejects.toThrow(
      /needs a source of re-embedded documents/,
    );
    const one = doc({ chunks: [{ chunk: 0, text: "a", embedding: [0, 0, 0, 1] }] });
    async function* source() {
      yield [one];
    }
    fake.requests.length = 0;
    expect(await search.reindex({ dimensions: 4, source })).toEqual({
      from: "p-chunks-v1-d3",
      to: "p-chunks-v2-d4",
    });
    const [bulk] = fake.find("POST", "/_bulk");
    expect(bulk?.lines[0]).toEqual({ index: { _index: "p-chunks-v2-d4", _id: `${D1}:0` } });
    expect(fake.find("PUT", "/p-chunks-v2-d4")[0]?.body).toMatchObject({
      mappings: { properties: { embedding: { dimension: 4 } } },
    });
    expect(search.dimensions).toBe(4);

    // a copy that fails: the new index is dropped, the alias never moves
    search = make();
    fake.reset();
    fake.on((r) =>
      r.path === "/_alias/p-chunks"
        ? { body: { "p-chunks-v1-d3": { aliases: { "p-chunks": {} } } } }
        : undefined,
    );
    fake.on((r) => (r.path === "/p-chunks-v2-d3" ? ok : undefined));
    fake.on((r) =>
      r.path === "/_reindex"
        ? { status: 500, body: { error: { type: "boom", reason: "x" }, status: 500 } }
        : undefined,
    );
    await expect(search.reindex()).rejects.toThrow();
    expect(fake.find("POST", "/_aliases")).toEqual([]);
    expect(fake.find("DELETE", "/p-chunks-v2-d3")).toHaveLength(1);
  });
});
