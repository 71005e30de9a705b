import type { IndexDocument, SearchIndex, SearchMode } from "@docfleet/pipeline/ports/search";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

export interface SearchFixture {
  search: SearchIndex;
  dimensions: number;
  close(): Promise<void>;
}

const T1 = "11111111-1111-4111-8111-111111111111";
const T2 = "22222222-2222-4222-8222-222222222222";
const B1 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const B2 = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** A unit vector pointing mostly along axis `axis`. */
function vec(dims: number, axis: number, wobble = 0): number[] {
  const v = Array.from({ length: dims }, (_, i) => (i === axis ? 1 : i === (axis + 1) % dims ? wobble : 0));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** The search port's contract, run against every adapter. */
export function searchContract(name: string, make: () => Promise<SearchFixture>) {
  describe(`search contract: ${name}`, () => {
    let fx: SearchFixture;
    let docs: IndexDocument[];
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
          chunks: [
            {
              chunk: 0,
              text: "ACME Supplies invoice number INV-42. Total due 336.00 GBP.",
              embedding: vec(d, 0),
            },
            {
              chunk: 1,
              text: "Payment terms: thirty days. Bank transfer to the account below.",
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
          chunks: [
            {
              chunk: 0,
              text: "This lease agreement may be terminated with sixty days notice.",
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
          chunks: [
            {
              chunk: 0,
              text: "Cafe receipt. Flat white, croissant. Total RM 25.97",
              embedding: vec(d, 3, 0.2),
            },
          ],
        },
        // the other tenant holds the same words: it must never show up for T1
        {
          documentId: id(4),
          tenantId: T2,
          batchId: B2,
          name: "invoice-other.pdf",
          category: "invoice",
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
      await fx.close();
    });

    it("finds by keyword, best match first, with a highlight", async () => {
      const { hits } = await fx.search.search({
        tenantId: T1,
        text: "invoice total",
        mode: "KEYWORD",
        limit: 10,
      });
      expect(hits[0]?.documentId).toBe(id(1));
      expect(hits[0]?.highlight).toMatch(/<mark>[Ii]nvoice<\/mark>/);
      expect(hits.map((h) => h.documentId)).not.toContain(id(4));
    });

    it("finds by vector, grouping chunks by document", async () => {
      const { hits } = await fx.search.search({
        tenantId: T1,
        text: "",
        embedding: vec(fx.dimensions, 1),
        mode: "VECTOR",
        limit: 10,
      });
      expect(hits[0]).toMatchObject({ documentId: id(1), chunk: 1 });
      expect(new Set(hits.map((h) => h.documentId)).size).toBe(hits.length);
    });

    it("fuses both in hybrid mode", async () => {
      const { hits } = await fx.search.search({
        tenantId: T1,
        text: "terminated notice",
        embedding: vec(fx.dimensions, 3),
        mode: "HYBRID",
        limit: 3,
      });
      const ids = hits.map((h) => h.documentId);
      expect(ids).toContain(id(2)); // from keywords
      expect(ids).toContain(id(3)); // from the vector
    });

    it.each(["KEYWORD", "VECTOR", "HYBRID"] as SearchMode[])(
      "applies filters and the tenant in %s mode",
      async (mode) => {
        const base = {
          tenantId: T1,
          text: "invoice total receipt",
          embedding: vec(fx.dimensions, 0),
          mode,
          limit: 10,
        };
        const all = (await fx.search.search(base)).hits.map((h) => h.documentId);
        expect(all).not.toContain(id(4));
        const receipts = (await fx.search.search({ ...base, filter: { categories: ["receipt"] } })).hits.map(
          (h) => h.documentId,
        );
        expect(receipts.every((d) => d === id(3))).toBe(true);
        const b1 = (await fx.search.search({ ...base, filter: { batchIds: [B1] } })).hits.map(
          (h) => h.documentId,
        );
        expect(b1).not.toContain(id(3));
        const other = (await fx.search.search({ ...base, tenantId: T2 })).hits.map((h) => h.documentId);
        expect(other.every((d) => d === id(4))).toBe(true);
      },
    );

    it("pages with offset without repeating a document", async () => {
      const q = {
        tenantId: T1,
        text: "",
        embedding: vec(fx.dimensions, 0),
        mode: "VECTOR" as const,
        limit: 2,
      };
      const p1 = (await fx.search.search(q)).hits.map((h) => h.documentId);
      const p2 = (await fx.search.search({ ...q, offset: 2 })).hits.map((h) => h.documentId);
      expect(p1).toHaveLength(2);
      expect(p1.filter((d) => p2.includes(d))).toEqual([]);
    });

    it("upserts idempotently and replaces a document's chunks", async () => {
      const before = await fx.search.stats(T1);
      await fx.search.upsert([docs[0]!]);
      expect(await fx.search.stats(T1)).toEqual(before);
      await fx.search.upsert([{ ...docs[0]!, chunks: [docs[0]!.chunks[0]!] }]);
      expect(await fx.search.stats(T1)).toEqual({ documents: before.documents, chunks: before.chunks - 1 });
      await fx.search.delete(T1, [id(1)]);
      expect((await fx.search.stats(T1)).documents).toBe(before.documents - 1);
      const { hits } = await fx.search.search({ tenantId: T1, text: "ACME", mode: "KEYWORD", limit: 10 });
      expect(hits).toEqual([]);
      await fx.search.upsert([docs[0]!]);
    });
  });
}
