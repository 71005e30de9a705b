import type {
  IndexDocument,
  SearchFilter,
  SearchIndex,
  SearchMode,
  SearchQuery,
} from "@docfleet/pipeline/ports/search";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

export interface SearchFixture {
  search: SearchIndex;
  dimensions: number;
  close(): Promise<void>;
}

const T1 = "11111111-1111-4111-8111-111111111111";
const T2 = "22222222-2222-4222-8222-222222222222";
const T3 = "33333333-3333-4333-8333-333333333333";
const T4 = "44444444-4444-4444-8444-444444444444";
const T5 = "55555555-5555-4555-8555-555555555555";
const B1 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const B2 = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const B3 = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
const B4 = "dddddddd-dddd-4ddd-8ddd-dddddddddddd";
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const MODES: SearchMode[] = ["KEYWORD", "VECTOR", "HYBRID"];

/** A unit vector pointing mostly along axis `axis`. */
function vec(dims: number, axis: number, wobble = 0): number[] {
  const v = Array.from({ length: dims }, (_, i) => (i === axis ? 1 : i === (axis + 1) % dims ? wobble : 0));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** Deterministic pseudo-random numbers (mulberry32), so a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A bag-of-words vector: each word adds a fixed direction; unit length. */
function wordVec(dims: number, words: readonly string[]): number[] {
  const v = new Array<number>(dims).fill(0);
  for (const w of words) {
    let h = 7;
    for (const ch of w) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    v[h % dims]! += 1;
    v[(h >>> 8) % dims]! += 0.5;
  }
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}

const sorted = (xs: readonly string[]) => [...xs].sort();

/** The search port's contract, run against every adapter. */
export function searchContract(name: string, make: () => Promise<SearchFixture>) {
  describe(`search contract: ${name}`, () => {
    let fx: SearchFixture;
    let docs: IndexDocument[];
    const ids = async (q: Partial<SearchQuery> & { mode: SearchMode }) =>
      (
        await fx.search.search({
          tenantId: T1,
          text: "total",
          embedding: vec(fx.dimensions, 0),
          limit: 20,
          ...q,
        })
      ).hits.map((h) => h.documentId);

    beforeAll(async () => {
      fx = await make();
      await fx.search.setup();
      await fx.search.setup();
      const d = fx.dimensions;
      docs = [
        {
          documentId: id(1),
          tenantId: T1,
          batchId: B1,
          name: "invoice-acme.pdf",
          category: "invoice",
          createdAt: "2024-01-10T09:00:00.000Z",
          date: "2024-01-05",
          fields: [
            { name: "vendor", kind: "string", value: "ACME Supplies" },
            { name: "total", kind: "money", value: "336.00" },
            { name: "due", kind: "date", value: "2024-02-04" },
            { name: "item", kind: "string", value: "paper" },
            { name: "item", kind: "string", value: "toner" },
          ],
          chunks: [
            {
              chunk: 0,
              text: "ACME Supplies invoice number INV-42. Total due 336.00 GBP.",
              embedding: vec(d, 0),
            },
            {
              chunk: 1,
              text: "Payment terms: thirty days. Bank transfer to the account below. Total includes VAT.",
              embedding: vec(d, 1),
            },
          ],
        },
        {
          documentId: id(2),
          tenantId: T1,
          batchId: B1,
          name: "lease.md",
          category: "contract",
          createdAt: "2024-02-01T00:00:00.000Z",
          date: "2023-12-01",
          fields: [
            { name: "party", kind: "string", value: "Landlord Ltd" },
            { name: "rent", kind: "money", value: "1200" },
          ],
          chunks: [
            {
              chunk: 0,
              text: "This lease agreement may be terminated with sixty days notice. Total rent 1200.00 a month.",
              embedding: vec(d, 2),
            },
          ],
        },
        {
          documentId: id(3),
          tenantId: T1,
          batchId: B2,
          name: "receipt.txt",
          category: "receipt",
          createdAt: "2024-03-15T10:00:00.000Z",
          date: "2024-03-14",
          fields: [
            { name: "vendor", kind: "string", value: "Cafe Luna" },
            { name: "total", kind: "money", value: "25.97" },
          ],
          chunks: [
            {
              chunk: 0,
              text: "Cafe receipt. Flat white & croissant (2 < 3). Total RM 25.97",
              embedding: vec(d, 3, 0.2),
            },
          ],
        },
        {
          documentId: id(5),
          tenantId: T1,
          batchId: B2,
          name: "invoice-globex.pdf",
          category: "invoice",
          createdAt: "2024-03-20T08:00:00.000Z",
          date: null,
          fields: [
            { name: "vendor", kind: "string", value: "Globex" },
            { name: "total", kind: "money", value: "1000" },
            { name: "due", kind: "date", value: "2024-04-01" },
            { name: "item", kind: "string", value: "paper" },
          ],
          chunks: [
            {
              chunk: 0,
              text: "Globex invoice for consulting services. Total 1000.00 EUR.",
              embedding: vec(d, 0, 0.5),
            },
          ],
        },
        // the other tenant holds the same words and vectors: it must never show up for T1
        {
          documentId: id(4),
          tenantId: T2,
          batchId: B3,
          name: "invoice-other.pdf",
          category: "invoice",
          createdAt: "2024-01-10T09:00:00.000Z",
          date: "2024-01-05",
          fields: [
            { name: "vendor", kind: "string", value: "ACME Supplies" },
            { name: "total", kind: "money", value: "336.00" },
          ],
          chunks: [
            {
              chunk: 0,
              text: "ACME Supplies invoice number INV-42. Total due 336.00 GBP.",
              embedding: vec(d, 0),
            },
          ],
        },
      ];
      await fx.search.upsert(docs);
    });
    afterAll(async () => {
      await fx?.close();
    });

    it("finds by keyword, best match first, with highlights, chunk text and an exact total", async () => {
      const res = await fx.search.search({ tenantId: T1, text: "invoice acme", mode: "KEYWORD", limit: 10 });
      expect(res.hits.map((h) => h.documentId)).toEqual([id(1)]);
      expect(res.total).toBe(1);
      const [hit] = res.hits;
      expect(hit?.chunk).toBe(0);
      expect(hit?.chunkText).toBe(docs[0]!.chunks[0]!.text);
      expect(hit?.highlights.length).toBeGreaterThan(0);
      expect(hit?.highlights.length).toBeLessThanOrEqual(3);
      expect(hit?.highlights.join(" ")).toMatch(/<mark>[Ii]nvoice<\/mark>/);
      expect(hit?.highlights.join(" ")).toMatch(/<mark>ACME<\/mark>/);
      // total counts every matching document, not the page
      const one = await fx.search.search({ tenantId: T1, text: "invoice", mode: "KEYWORD", limit: 1 });
      expect(one.hits).toHaveLength(1);
      expect(one.total).toBe(2);
      expect(sorted(await ids({ mode: "KEYWORD", text: "invoice" }))).toEqual([id(1), id(5)]);
    });

    it("highlights are HTML: only the marks are tags", async () => {
      const { hits } = await fx.search.search({
        tenantId: T1,
        text: "croissant",
        mode: "KEYWORD",
        limit: 10,
      });
      expect(hits.map((h) => h.documentId)).toEqual([id(3)]);
      const text = hits[0]!.highlights.join(" ");
      expect(text).toMatch(/<mark>croissant<\/mark>/);
      expect(text.replace(/<\/?mark>/g, "")).not.toMatch(/[<>]/);
      expect(text).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#39;)/);
    });

    it("finds by vector, grouping chunks by document, without highlights", async () => {
      const res = await fx.search.search({
        tenantId: T1,
        text: "",
        embedding: vec(fx.dimensions, 1),
        mode: "VECTOR",
        limit: 10,
      });
      expect(res.hits[0]).toMatchObject({ documentId: id(1), chunk: 1, highlights: [] });
      expect(res.hits[0]?.chunkText).toBe(docs[0]!.chunks[1]!.text);
      expect(new Set(res.hits.map((h) => h.documentId)).size).toBe(res.hits.length);
      expect(res.hits.every((h) => h.highlights.length === 0)).toBe(true);
      expect(res.total).toBeGreaterThanOrEqual(res.hits.length);
      expect(res.total).toBeLessThanOrEqual(4);
    });

    it("fuses both in hybrid mode; keyword matches carry highlights, vector-only ones none", async () => {
      const res = await fx.search.search({
        tenantId: T1,
        text: "terminated notice",
        embedding: vec(fx.dimensions, 3),
        mode: "HYBRID",
        limit: 3,
      });
      const byId = new Map(res.hits.map((h) => [h.documentId, h]));
      expect(byId.get(id(2))?.highlights.join(" ")).toMatch(/<mark>terminated<\/mark>/); // from keywords
      expect(byId.get(id(3))?.highlights).toEqual([]); // from the vector only
      expect(byId.get(id(3))?.chunkText).toBe(docs[2]!.chunks[0]!.text);
      expect(res.total).toBeGreaterThanOrEqual(2);
    });

    const filterCases: [string, SearchFilter, number[]][] = [
      ["no filter", {}, [1, 2, 3, 5]],
      ["categories", { categories: ["invoice"] }, [1, 5]],
      ["batchIds", { batchIds: [B2] }, [3, 5]],
      ["dateFrom (documents without a date never match)", { dateFrom: "2024-01-01" }, [1, 3]],
      ["dateTo, inclusive", { dateTo: "2024-01-05" }, [1, 2]],
      ["date range", { dateFrom: "2024-01-05", dateTo: "2024-03-14" }, [1, 3]],
      [
        "created range, inclusive",
        { createdFrom: "2024-02-01T00:00:00.000Z", createdTo: "2024-03-15T10:00:00.000Z" },
        [2, 3],
      ],
      ["field eq, case-insensitive", { fields: [{ name: "vendor", op: "eq", value: "acme SUPPLIES" }] }, [1]],
      ["field eq, numeric", { fields: [{ name: "total", op: "eq", value: "336" }] }, [1]],
      [
        "field in",
        { fields: [{ name: "vendor", op: "in", values: ["cafe luna", "GLOBEX", "nobody"] }] },
        [3, 5],
      ],
      ["field gt, numeric (not text)", { fields: [{ name: "total", op: "gt", value: "100" }] }, [1, 5]],
      ["field gte, numeric (not text)", { fields: [{ name: "total", op: "gte", value: "336" }] }, [1, 5]],
      ["field lt", { fields: [{ name: "total", op: "lt", value: "100" }] }, [3]],
      ["field lte", { fields: [{ name: "total", op: "lte", value: "25.97" }] }, [3]],
      ["field date lt", { fields: [{ name: "due", op: "lt", value: "2024-03-01" }] }, [1]],
      ["field date gte", { fields: [{ name: "due", op: "gte", value: "2024-04-01" }] }, [5]],
      ["field exists", { fields: [{ name: "rent", op: "exists" }] }, [2]],
      ["array field: any item", { fields: [{ name: "item", op: "eq", value: "toner" }] }, [1]],
      [
        "all conditions hold",
        {
          categories: ["invoice"],
          fields: [
            { name: "total", op: "gte", value: "500" },
            { name: "item", op: "exists" },
          ],
        },
        [5],
      ],
      [
        "a range: two conditions on one field, one value satisfying both",
        {
          fields: [
            { name: "total", op: "gte", value: "100" },
            { name: "total", op: "lte", value: "400" },
          ],
        },
        [1],
      ],
      [
        "array field: each condition met by a different item",
        {
          fields: [
            { name: "item", op: "eq", value: "paper" },
            { name: "item", op: "eq", value: "toner" },
          ],
        },
        [1],
      ],
      [
        "20 conditions (the service's bound), each a field of the document",
        {
          fields: Array.from({ length: 20 }, (_, i) =>
            i % 2
              ? { name: "total", op: "gt" as const, value: String(i) }
              : { name: "vendor", op: "in" as const, values: ["acme supplies", "globex"] },
          ),
        },
        [1, 5],
      ],
      ["excludeDocumentIds", { excludeDocumentIds: [id(1), id(4)] }, [2, 3, 5]],
      ["a filter nothing passes", { batchIds: [B3] }, []],
    ];
    for (const mode of MODES) {
      it.each(filterCases)(`${mode}: filter %s`, async (_, filter, want) => {
        expect(sorted(await ids({ mode, filter }))).toEqual(want.map(id));
        // same filter, other tenant: only its own document can ever come back
        const other = await ids({ mode, filter, tenantId: T2 });
        expect(other.every((d) => d === id(4))).toBe(true);
      });
    }

    it.each(MODES)("%s: counts facets per document over every match, in the tenant only", async (mode) => {
      const res = await fx.search.search({
        tenantId: T1,
        text: "total",
        embedding: vec(fx.dimensions, 0),
        mode,
        limit: 1,
        facets: [
          { field: "category" },
          { field: "batch" },
          { field: "field:item" },
          { field: "field:vendor", size: 1 },
        ],
      });
      expect(res.hits).toHaveLength(1);
      expect(res.facets.map((f) => f.field)).toEqual(["category", "batch", "field:item", "field:vendor"]);
      const [category, batch, item, vendor] = res.facets;
      // id(1) has two chunks: it still counts once
      expect(category?.buckets[0]).toEqual({ value: "invoice", count: 2 });
      expect(category?.buckets.slice(1).sort((a, b) => a.value.localeCompare(b.value))).toEqual([
        { value: "contract", count: 1 },
        { value: "receipt", count: 1 },
      ]);
      expect(batch?.buckets.sort((a, b) => a.value.localeCompare(b.value))).toEqual([
        { value: B1, count: 2 },
        { value: B2, count: 2 },
      ]);
      expect(item?.buckets).toEqual([
        { value: "paper", count: 2 },
        { value: "toner", count: 1 },
      ]);
      expect(vendor?.buckets).toHaveLength(1);
      // only matching documents are counted
      const filtered = await fx.search.search({
        tenantId: T1,
        text: "total",
        embedding: vec(fx.dimensions, 0),
        mode,
        limit: 10,
        filter: { categories: ["invoice"] },
        facets: [{ field: "category" }, { field: "batch" }],
      });
      expect(filtered.facets[0]?.buckets).toEqual([{ value: "invoice", count: 2 }]);
      expect(filtered.facets[1]?.buckets.map((b) => b.count)).toEqual([1, 1]);
      // the other tenant sees its own counts only
      const other = await fx.search.search({
        tenantId: T2,
        text: "total",
        embedding: vec(fx.dimensions, 0),
        mode,
        limit: 10,
        facets: [{ field: "category" }, { field: "batch" }, { field: "field:vendor" }],
      });
      expect(other.facets.map((f) => f.buckets)).toEqual([
        [{ value: "invoice", count: 1 }],
        [{ value: B3, count: 1 }],
        [{ value: "ACME Supplies", count: 1 }],
      ]);
    });

    it("keyword facets count only documents matching the words", async () => {
      const res = await fx.search.search({
        tenantId: T1,
        text: "lease",
        mode: "KEYWORD",
        limit: 10,
        facets: [{ field: "category" }],
      });
      expect(res.facets).toEqual([{ field: "category", buckets: [{ value: "contract", count: 1 }] }]);
    });

    it("refuses an unknown facet", async () => {
      await expect(
        fx.search.search({
          tenantId: T1,
          text: "total",
          mode: "KEYWORD",
          limit: 10,
          facets: [{ field: "colour" }],
        }),
      ).rejects.toThrow(/facet/);
    });

    it.each(MODES)("%s: pages with offset, consistently with one long page", async (mode) => {
      const q = { mode, limit: 2 } as const;
      const all = await ids({ mode, limit: 4 });
      const p1 = await ids({ ...q });
      const p2 = await ids({ ...q, offset: 2 });
      const p3 = await ids({ ...q, offset: 4 });
      expect(all).toHaveLength(4);
      expect([...p1, ...p2]).toEqual(all);
      expect(p3).toEqual([]);
    });

    it("finds similar documents of the tenant, never the document itself", async () => {
      const hits = await fx.search.similar(T1, id(1), { limit: 10 });
      const found = hits.map((h) => h.documentId);
      expect(found[0]).toBe(id(5));
      expect(found).not.toContain(id(1));
      expect(found).not.toContain(id(4));
      expect(new Set(found).size).toBe(found.length);
      expect(hits.every((h) => h.highlights.length === 0 && h.chunkText.length > 0)).toBe(true);
      const page = await fx.search.similar(T1, id(1), { limit: 1, offset: 1 });
      expect(page.map((h) => h.documentId)).toEqual(found.slice(1, 2));
      const filtered = await fx.search.similar(T1, id(1), {
        limit: 10,
        filter: { categories: ["contract"] },
      });
      expect(filtered.map((h) => h.documentId)).toEqual([id(2)]);
      // another tenant's document is unknown here, and unknown documents have no neighbours
      expect(await fx.search.similar(T1, id(4), { limit: 10 })).toEqual([]);
      expect(await fx.search.similar(T2, id(1), { limit: 10 })).toEqual([]);
      expect(await fx.search.similar(T1, id(999), { limit: 10 })).toEqual([]);
      expect(await fx.search.similar(T2, id(4), { limit: 10 })).toEqual([]); // alone in its tenant
    });

    it("upserts idempotently and replaces a document's chunks and fields", async () => {
      const before = await fx.search.stats(T1);
      await fx.search.upsert([docs[0]!]);
      expect(await fx.search.stats(T1)).toEqual(before);
      await fx.search.upsert([{ ...docs[0]!, chunks: [docs[0]!.chunks[0]!], fields: [] }]);
      expect(await fx.search.stats(T1)).toEqual({ documents: before.documents, chunks: before.chunks - 1 });
      expect(
        await ids({ mode: "KEYWORD", filter: { fields: [{ name: "vendor", op: "exists" }] } }),
      ).not.toContain(id(1));
      await fx.search.delete(T1, [id(1)]);
      expect((await fx.search.stats(T1)).documents).toBe(before.documents - 1);
      const { hits } = await fx.search.search({ tenantId: T1, text: "ACME", mode: "KEYWORD", limit: 10 });
      expect(hits).toEqual([]);
      // the other tenant's copy is untouched by T1's delete
      expect(await fx.search.stats(T2)).toEqual({ documents: 1, chunks: 1 });
      await fx.search.upsert([docs[0]!]);
      expect(await fx.search.stats(T1)).toEqual(before);
    });

    it("upserts many documents at once, idempotently", async () => {
      const many: IndexDocument[] = Array.from({ length: 120 }, (_, i) => ({
        documentId: id(10_000 + i),
        tenantId: T5,
        batchId: B4,
        name: `doc-${i}.txt`,
        category: i % 2 ? "invoice" : "receipt",
        createdAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000).toISOString(),
        date: null,
        fields: [{ name: "n", kind: "number", value: String(i) }],
        chunks: Array.from({ length: 1 + (i % 3) }, (_, c) => ({
          chunk: c,
          text: `bulk document ${i} part ${c}`,
          embedding: vec(fx.dimensions, (i + c) % fx.dimensions),
        })),
      }));
      await fx.search.upsert(many);
      await fx.search.upsert(many);
      expect(await fx.search.stats(T5)).toEqual({ documents: 120, chunks: 40 * (1 + 2 + 3) });
      const res = await fx.search.search({
        tenantId: T5,
        text: "bulk",
        mode: "KEYWORD",
        limit: 5,
        filter: { fields: [{ name: "n", op: "gte", value: "100" }] },
        facets: [{ field: "category" }],
      });
      expect(res.total).toBe(20);
      expect(res.facets[0]?.buckets).toEqual([
        { value: "invoice", count: 10 },
        { value: "receipt", count: 10 },
      ]);
    });

    it("never leaks documents between tenants with overlapping content (randomised)", async () => {
      const vocabulary = [
        "invoice",
        "contract",
        "payment",
        "acme",
        "lease",
        "notice",
        "total",
        "bank",
        "cafe",
        "tax",
      ];
      const categories = ["invoice", "contract", "receipt"];
      const random = rng(20240611);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
      const owned = new Map<string, Set<string>>([
        [T3, new Set()],
        [T4, new Set()],
      ]);
      const corpus: IndexDocument[] = [];
      for (let i = 0; i < 40; i++) {
        const tenant = i % 2 ? T4 : T3;
        const documentId = id(20_000 + i);
        owned.get(tenant)!.add(documentId);
        const chunks = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, c) => {
          const words = Array.from({ length: 6 }, () => pick(vocabulary));
          return { chunk: c, text: words.join(" "), embedding: wordVec(fx.dimensions, words) };
        });
        corpus.push({
          documentId,
          tenantId: tenant,
          // each tenant has its own batch and owner value: a leak in a facet shows as a foreign value
          batchId: tenant === T3 ? B1 : B2,
          name: `${pick(vocabulary)}.pdf`,
          category: pick(categories),
          createdAt: new Date(Date.UTC(2024, 0, 1 + i)).toISOString(),
          date: `2024-02-${String(1 + (i % 28)).padStart(2, "0")}`,
          fields: [
            { name: "owner", kind: "string", value: tenant === T3 ? "three" : "four" },
            { name: "amount", kind: "money", value: (random() * 1000).toFixed(2) },
          ],
          chunks,
        });
      }
      await fx.search.upsert(corpus);
      let leaks = 0;
      let found = 0;
      for (let round = 0; round < 60; round++) {
        const tenantId = round % 2 ? T4 : T3;
        const mine = owned.get(tenantId)!;
        const words = Array.from({ length: 1 + Math.floor(random() * 2) }, () => pick(vocabulary));
        const filters: (SearchFilter | undefined)[] = [
          undefined,
          { categories: [pick(categories)] },
          { dateFrom: "2024-02-10" },
          { fields: [{ name: "amount", op: "gte", value: "300" }] },
          { createdTo: "2024-01-25T00:00:00.000Z" },
        ];
        const filter = filters[round % filters.length];
        const res = await fx.search.search({
          tenantId,
          text: words.join(" "),
          embedding: wordVec(fx.dimensions, words),
          mode: MODES[round % 3]!,
          limit: 50,
          filter,
          facets: round % 2 ? [{ field: "batch" }, { field: "field:owner" }] : [{ field: "category" }],
        });
        found += res.hits.length;
        leaks += res.hits.filter((h) => !mine.has(h.documentId)).length;
        expect(res.total).toBeLessThanOrEqual(mine.size);
        for (const f of res.facets) {
          const foreign =
            f.field === "batch" ? (tenantId === T3 ? B2 : B1) : tenantId === T3 ? "four" : "three";
          leaks += f.buckets.filter((b) => b.value === foreign).length;
          expect(f.buckets.reduce((s, b) => s + b.count, 0)).toBeLessThanOrEqual(mine.size);
        }
        const probe = pick([...owned.get(T3)!, ...owned.get(T4)!]);
        const similar = await fx.search.similar(tenantId, probe, { limit: 50, filter });
        leaks += similar.filter((h) => !mine.has(h.documentId) || h.documentId === probe).length;
        if (!mine.has(probe)) expect(similar).toEqual([]);
      }
      expect(leaks).toBe(0);
      expect(found).toBeGreaterThan(0); // the rounds did find something to leak
    });
  });
}
