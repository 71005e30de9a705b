import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { PostgresSearchIndex } from "@docfleet/pipeline/adapters/search/postgres";
import type { Database } from "@docfleet/pipeline/ports/database";
import type { IndexDocument, SearchQuery, SearchResult } from "@docfleet/pipeline/ports/search";
import { describe, expect, it } from "vitest";
import { postgresTestDatabase } from "./helpers/db.ts";
import { mulberry32 } from "./helpers/random.ts";

/**
 * Issue 17: extracted fields moved from the side table search_field onto the chunk rows. A data
 * folder (or server database) indexed before has the old layout; setup() copies each document's
 * fields onto its chunks once and drops the table, and every search answers as before.
 */
const T = "11111111-1111-4111-8111-111111111111";
const OTHER = "22222222-2222-4222-8222-222222222222";
const DIMS = 8;
const WORDS = [
  "invoice",
  "receipt",
  "acme",
  "globex",
  "payment",
  "total",
  "freight",
  "water",
  "steel",
  "paper",
];
const VENDORS = ["Acme Ltd", "Globex SA", "Initech GmbH", "acme ltd"];

function documents(): IndexDocument[] {
  const rand = mulberry32(17);
  const pick = <X>(xs: readonly X[]) => xs[Math.floor(rand() * xs.length)]!;
  return Array.from({ length: 60 }, (_, i) => {
    const date = `202${Math.floor(rand() * 5)}-0${1 + Math.floor(rand() * 9)}-1${Math.floor(rand() * 9)}`;
    const fields: IndexDocument["fields"] = [
      { name: "total", kind: "money", value: (rand() * 2000).toFixed(2) },
      { name: "vendor", kind: "string", value: pick(VENDORS) },
      { name: "date", kind: "date", value: date },
    ];
    // some documents have a field twice, some none
    if (i % 7 === 0) fields.push({ name: "vendor", kind: "string", value: pick(VENDORS) });
    return {
      documentId: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
      tenantId: i % 5 === 0 ? OTHER : T,
      batchId: `aaaaaaaa-aaaa-4aaa-8aaa-00000000000${i % 3}`,
      name: `doc-${i}.pdf`,
      category: pick(["invoice", "receipt", null]),
      createdAt: "2025-01-01T00:00:00Z",
      date,
      fields: i % 11 === 0 ? [] : fields,
      chunks: Array.from({ length: 1 + (i % 3) }, (_, k) => ({
        chunk: k,
        text: Array.from({ length: 12 }, () => pick(WORDS)).join(" "),
        embedding: Array.from({ length: DIMS }, () => rand() - 0.5),
      })),
    };
  });
}

function queries(): SearchQuery[] {
  const facets = [{ field: "category" }, { field: "field:vendor" }, { field: "field:total", size: 3 }];
  const out: SearchQuery[] = [];
  const filters = [
    undefined,
    { fields: [{ name: "total", op: "gte" as const, value: "700" }] },
    {
      fields: [
        { name: "vendor", op: "eq" as const, value: "ACME LTD" },
        { name: "date", op: "lt" as const, value: "2023-01-01" },
      ],
    },
    {
      fields: [{ name: "vendor", op: "in" as const, values: ["Globex SA", "Initech GmbH"] }],
      categories: ["invoice"],
    },
    { fields: [{ name: "total", op: "exists" as const }] },
  ];
  for (const mode of ["KEYWORD", "VECTOR", "HYBRID"] as const)
    for (const [k, filter] of filters.entries())
      out.push({
        tenantId: T,
        text: WORDS[k]!,
        embedding: Array.from({ length: DIMS }, (_, d) => Math.sin(d + k)),
        mode,
        limit: 10,
        filter,
        facets,
      });
  return out;
}

async function answers(search: PostgresSearchIndex): Promise<SearchResult[]> {
  const out: SearchResult[] = [];
  for (const q of queries()) out.push(await search.search(q));
  return out;
}

/** Turns the current layout back into the previous release's: fields in search_field, not on the rows. */
async function downgrade(db: Database): Promise<void> {
  await db.exec(`
    CREATE TABLE search_field (
      tenant_id uuid NOT NULL, document_id uuid NOT NULL, name text NOT NULL, kind text NOT NULL,
      value_text text NOT NULL, value_num numeric, value_date date
    );
    INSERT INTO search_field
      SELECT c.tenant_id, c.document_id, u.name, 'string', u.value_text, u.value_num, u.value_date
      FROM (SELECT DISTINCT ON (document_id) * FROM search_chunk ORDER BY document_id, chunk) c,
           unnest(c.field_names, c.field_texts, c.field_nums, c.field_dates) WITH ORDINALITY AS u(name, value_text, value_num, value_date, ord)
      ORDER BY c.document_id, u.ord;
    CREATE INDEX search_field_doc_idx ON search_field(tenant_id, document_id, name);
    CREATE INDEX search_field_text_idx ON search_field(tenant_id, name, lower(value_text));
    ALTER TABLE search_chunk DROP COLUMN field_names, DROP COLUMN field_texts, DROP COLUMN field_nums, DROP COLUMN field_dates;
  `);
}

async function layout(db: Database) {
  const [row] = await db.query<{ side: boolean; columns: number }>(
    `SELECT to_regclass('search_field') IS NOT NULL AS side,
            (SELECT count(*)::int FROM pg_attribute WHERE attrelid = 'search_chunk'::regclass AND attname LIKE 'field\\_%') AS columns`,
  );
  return row!;
}

describe("postgres search: a data folder whose fields live in search_field (before issue 17)", () => {
  it("PGlite folder: setup() moves the fields onto the chunks once; every search answers as before", async () => {
    const dir = mkdtempSync(join(tmpdir(), "docfleet-search-migration-"));
    try {
      let db = await openPgliteDatabase(join(dir, "data"));
      let search = new PostgresSearchIndex(db, { dimensions: DIMS });
      await search.setup();
      await search.upsert(documents());
      const before = await answers(search);
      // the fixtures exercise what moved: filtered and faceted answers with field values
      expect(before.some((r) => r.facets[1]!.buckets.length > 1 && r.hits.length > 0)).toBe(true);
      expect(before.filter((r) => r.hits.length === 0).length).toBeLessThan(before.length / 3);
      await downgrade(db);
      expect(await layout(db)).toEqual({ side: true, columns: 0 });
      await db.close();

      db = await openPgliteDatabase(join(dir, "data"));
      search = new PostgresSearchIndex(db, { dimensions: DIMS });
      await search.setup();
      expect(await layout(db)).toEqual({ side: false, columns: 4 });
      // the vector and text indexes dropped for the rewrite are built again
      const indexes = await db.query<{ name: string }>(
        "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'search_chunk' ORDER BY 1",
      );
      expect(indexes.map((i) => i.name)).toEqual(
        expect.arrayContaining(["search_chunk_embedding_idx", "search_chunk_tsv_idx"]),
      );
      expect(await answers(search)).toEqual(before);
      await search.setup(); // once: a second setup finds nothing to move
      expect(await answers(search)).toEqual(before);
      await db.close();

      // and the folder keeps working after a restart: re-indexing a document replaces its fields
      db = await openPgliteDatabase(join(dir, "data"));
      search = new PostgresSearchIndex(db, { dimensions: DIMS });
      await search.setup();
      const [first] = documents().filter((d) => d.tenantId === T && d.fields.length > 0);
      await search.upsert([{ ...first!, fields: [{ name: "vendor", kind: "string", value: "Zeta Corp" }] }]);
      const res = await search.search({
        tenantId: T,
        text: "",
        embedding: first!.chunks[0]!.embedding,
        mode: "VECTOR",
        limit: 5,
        filter: { fields: [{ name: "vendor", op: "eq", value: "zeta corp" }] },
        facets: [{ field: "field:vendor" }, { field: "field:total" }],
      });
      expect(res.hits.map((h) => h.documentId)).toEqual([first!.documentId]);
      expect(res.facets).toEqual([
        { field: "field:vendor", buckets: [{ value: "Zeta Corp", count: 1 }] },
        { field: "field:total", buckets: [] },
      ]);
      await db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("PostgreSQL server: the same, on a database two processes set up at once", async () => {
    const t = postgresTestDatabase();
    const db = await t.open();
    const db2 = await t.open();
    try {
      const search = new PostgresSearchIndex(db, { dimensions: DIMS });
      await search.setup();
      await search.upsert(documents());
      const before = await answers(search);
      await downgrade(db);
      const other = new PostgresSearchIndex(db2, { dimensions: DIMS });
      // both migrate under the schema lock: one moves the fields, the other finds the table gone
      await Promise.all([search.setup(), other.setup()]);
      expect(await layout(db)).toEqual({ side: false, columns: 4 });
      expect(await answers(search)).toEqual(before);
      expect(await answers(other)).toEqual(before);
    } finally {
      await db.close();
      await db2.close();
      await t.cleanup();
    }
  }, 120_000);
});
