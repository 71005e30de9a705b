import { randomBytes } from "node:crypto";
import type { Database } from "@docfleet/pipeline";
import { openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { openPostgresDatabase } from "@docfleet/pipeline/adapters/database/postgres";
import pg from "pg";

/** The PostgreSQL every dev and CI machine runs (trust auth); override with TEST_DATABASE_URL. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";

export interface TestDatabase {
  name: string;
  open(): Promise<Database>;
  /** Drops what the test created. */
  cleanup(): Promise<void>;
}

/** A fresh in-memory PGlite database. */
export function pgliteTestDatabase(): TestDatabase {
  return { name: "pglite", open: () => openPgliteDatabase(undefined), cleanup: async () => {} };
}

/** A fresh schema on the real PostgreSQL, dropped at cleanup. */
export function postgresTestDatabase(): TestDatabase {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  return {
    name: "postgres",
    open: () => openPostgresDatabase({ url: TEST_DATABASE_URL, poolSize: 5, schema }),
    cleanup: () => dropSchema(schema),
  };
}

/** Drops a test's schema on the real PostgreSQL, with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

export const testDatabases = [pgliteTestDatabase, postgresTestDatabase];
