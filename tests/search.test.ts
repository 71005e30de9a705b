import { randomBytes } from "node:crypto";
import { openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { openPostgresDatabase } from "@docfleet/pipeline/adapters/database/postgres";
import { PostgresSearchIndex } from "@docfleet/pipeline/adapters/search/postgres";
import { type Database, type QueryOptions, StatementTimeoutError } from "@docfleet/pipeline/ports/database";
import { describe, expect, it } from "vitest";
import { searchContract } from "./contracts/search.contract.ts";
import { postgresTestDatabase, TEST_DATABASE_URL } from "./helpers/db.ts";
import { pollUntil } from "./helpers/wait.ts";

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

/**
 * Issue 15: a search whose keyword statement failed at once (a NUL character) answered while its
 * vector statement, with thousands of field conditions, ran on and kept the embedded database busy
 * for good. No statement of a search may outlive its answer, on either engine; on PostgreSQL each is
 * bounded in time and stops when the caller leaves.
 */
describe("postgres search: statements never outlive the search", () => {
  const T = "11111111-1111-4111-8111-111111111111";
  const engines = [
    { name: "PGlite", open: async () => ({ db: await openPgliteDatabase(undefined), done: async () => {} }) },
    {
      name: "PostgreSQL",
      open: async () => {
        const t = postgresTestDatabase();
        return { db: await t.open(), done: t.cleanup };
      },
    },
  ];

  /** The database with its statements counted: started, and still running. */
  function counted(db: Database) {
    const n = { started: 0, running: 0 };
    const query = db.query.bind(db);
    const wrapped: Database = Object.assign(Object.create(db) as Database, {
      query: async (sql: string, params?: unknown[], o?: QueryOptions) => {
        n.started++;
        n.running++;
        try {
          return await query(sql, params, o);
        } finally {
          n.running--;
        }
      },
    });
    return { db: wrapped, n };
  }

  it.each(engines)("$name: a failing statement answers only once its siblings are done", async (engine) => {
    const { db, done } = await engine.open();
    try {
      const { db: watched, n } = counted(db);
      const search = new PostgresSearchIndex(watched, { dimensions: 4 });
      await search.setup();
      n.started = 0;
      // PostgreSQL text cannot hold NUL: the keyword statement fails when its parameter is bound
      const failed = search.search({
        tenantId: T,
        text: "in\u0000voice",
        embedding: [1, 0, 0, 0],
        mode: "HYBRID",
        limit: 10,
        filter: {
          fields: Array.from({ length: 20 }, () => ({ name: "total", op: "gte" as const, value: "1" })),
        },
      });
      await expect(failed).rejects.toThrow(/0x00/);
      expect(n.running).toBe(0);
      // PGlite runs them in turn: after the failure none is started
      if (db.kind === "pglite") expect(n.started).toBe(1);
    } finally {
      await db.close();
      await done();
    }
  });

  it("PostgreSQL: a search statement past its bound is cancelled (StatementTimeoutError), the connection reused", async () => {
    const t = postgresTestDatabase();
    const db = await t.open();
    try {
      await expect(db.query("SELECT pg_sleep(5)", [], { timeoutMs: 100 })).rejects.toBeInstanceOf(
        StatementTimeoutError,
      );
      // SET LOCAL ended with its transaction: the pool's connections carry no bound
      const rows = await db.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t");
      expect(rows[0]?.t).toBe("0");
    } finally {
      await db.close();
      await t.cleanup();
    }
  });

  it("PostgreSQL: a caller that leaves cancels its running statement on the server", async () => {
    const t = postgresTestDatabase();
    const db = await t.open();
    try {
      const left = new AbortController();
      const running = db.query("SELECT pg_sleep(30), $1::text AS mark", ["docfleet-cancel-test"], {
        signal: left.signal,
      });
      // the server announces nothing when it starts a statement: poll pg_stat_activity
      await pollUntil("the statement running on the server", async () => (await sleeping(db)) === 1);
      left.abort(new Error("client left"));
      await expect(running).rejects.toThrow("client left");
      expect(await sleeping(db)).toBe(0);
      await expect(db.query("SELECT 1 AS one", [], { signal: left.signal })).rejects.toThrow("client left");
    } finally {
      await db.close();
      await t.cleanup();
    }
  });

  it("PostgreSQL: every connection carries DOCFLEET_STATEMENT_TIMEOUT_MS; migrations lift it", async () => {
    const schema = `t_${randomBytes(6).toString("hex")}`;
    const db = await openPostgresDatabase({
      url: TEST_DATABASE_URL,
      poolSize: 2,
      schema,
      statementTimeoutMs: 150,
    });
    try {
      await expect(db.query("SELECT pg_sleep(2)")).rejects.toThrow(/statement timeout/);
      await db.migrate();
      const rows = await db.query<{ t: string }>("SELECT current_setting('statement_timeout') AS t");
      expect(rows[0]?.t).toBe("150ms");
    } finally {
      await db.exec(`DROP SCHEMA "${schema}" CASCADE`);
      await db.close();
    }
  });
});

/** Statements of the cancel test still running on the server. */
async function sleeping(db: Database): Promise<number> {
  const rows = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30), $1::text AS mark%' AND state = 'active'",
  );
  return rows[0]?.n ?? 0;
}
