import { openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { PostgresSearchIndex } from "@docfleet/pipeline/adapters/search/postgres";
import { describe, expect, it } from "vitest";
import { searchContract } from "./contracts/search.contract.ts";
import { postgresTestDatabase } from "./helpers/db.ts";

// The OpenSearch adapter joins this suite when it exists (issue 5), run when OPENSEARCH_URL is set.
searchContract("postgres (PGlite + pgvector)", async () => {
  const db = await openPgliteDatabase(undefined);
  const dimensions = 16;
  return { search: new PostgresSearchIndex(db, { dimensions }), dimensions, close: () => db.close() };
});

// The machine's PostgreSQL has no pgvector: the same adapter keeps vectors as real[] (brute force).
searchContract("postgres (PostgreSQL server, real[] vectors)", async () => {
  const t = postgresTestDatabase();
  const db = await t.open();
  const dimensions = 16;
  return {
    search: new PostgresSearchIndex(db, { dimensions }),
    dimensions,
    close: async () => {
      await db.close();
      await t.cleanup();
    },
  };
});

describe("postgres search: a data folder indexed before documents had dates and fields", () => {
  it("gains the new columns and tables in setup() and serves filters and facets", async () => {
    const db = await openPgliteDatabase(undefined);
    try {
      // the previous release's table
      await db.exec(`
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE TABLE search_chunk (
          id text PRIMARY KEY, tenant_id uuid NOT NULL, batch_id uuid NOT NULL, document_id uuid NOT NULL,
          chunk integer NOT NULL, category text, name text NOT NULL, text text NOT NULL,
          tsv tsvector NOT NULL, embedding vector(4) NOT NULL
        );`);
      const search = new PostgresSearchIndex(db, { dimensions: 4 });
      await search.setup();
      await search.setup();
      const tenantId = "11111111-1111-4111-8111-111111111111";
      await search.upsert([
        {
          documentId: "00000000-0000-4000-8000-000000000001",
          tenantId,
          batchId: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
          name: "a.txt",
          category: "invoice",
          createdAt: "2024-01-01T00:00:00Z",
          date: "2024-01-01",
          fields: [{ name: "total", kind: "money", value: "12.50" }],
          chunks: [{ chunk: 0, text: "an invoice", embedding: [1, 0, 0, 0] }],
        },
      ]);
      const res = await search.search({
        tenantId,
        text: "invoice",
        mode: "KEYWORD",
        limit: 10,
        filter: { dateFrom: "2024-01-01", fields: [{ name: "total", op: "gt", value: "9" }] },
        facets: [{ field: "field:total" }],
      });
      expect(res.hits).toHaveLength(1);
      expect(res.facets[0]?.buckets).toEqual([{ value: "12.50", count: 1 }]);
    } finally {
      await db.close();
    }
  });
});
