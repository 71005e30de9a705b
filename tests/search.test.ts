import { openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { PostgresSearchIndex } from "@docfleet/pipeline/adapters/search/postgres";
import { searchContract } from "./contracts/search.contract.ts";

// The OpenSearch adapter joins this suite when it exists (issue 5), run when OPENSEARCH_URL is set.
searchContract("postgres (PGlite + pgvector)", async () => {
  const db = await openPgliteDatabase(undefined);
  const dimensions = 16;
  return { search: new PostgresSearchIndex(db, { dimensions }), dimensions, close: () => db.close() };
});
