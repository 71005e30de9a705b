import { openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { PostgresSearchIndex } from "@docfleet/pipeline/adapters/search/postgres";
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
