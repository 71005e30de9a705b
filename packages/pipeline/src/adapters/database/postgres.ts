import { migrate, PrismaClient } from "@docfleet/schema";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import type { Database } from "../../ports/database.ts";

export interface PostgresOptions {
  url: string;
  /** Connections in the pool shared by Prisma and raw SQL. */
  poolSize: number;
  /** Schema to use (search_path); tests use one schema per test file. */
  schema?: string;
}

/** PostgreSQL through a node-postgres pool shared by Prisma's driver adapter and raw queries. */
export async function openPostgresDatabase(opts: PostgresOptions): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize,
    options: opts.schema ? `-c search_path=${opts.schema}` : undefined,
  });
  if (opts.schema) {
    const c = await pool.connect();
    try {
      await c.query(`CREATE SCHEMA IF NOT EXISTS "${opts.schema.replaceAll('"', "")}"`);
    } finally {
      c.release();
    }
  }
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool, opts.schema ? { schema: opts.schema } : undefined),
  });
  // Migrations hold a session-level advisory lock across statements, so they need one connection.
  const withClient = async <T>(fn: (c: pg.PoolClient) => Promise<T>) => {
    const c = await pool.connect();
    try {
      return await fn(c);
    } finally {
      c.release();
    }
  };
  const db: Database = {
    kind: "postgres",
    prisma,
    async exec(sql) {
      await pool.query(sql);
    },
    async query<T>(sql: string, params?: unknown[]) {
      const res = await pool.query(sql, params);
      return res.rows as T[];
    },
    migrate: () =>
      withClient((c) =>
        migrate({
          exec: async (sql) => {
            await c.query(sql);
          },
          query: async <T>(sql: string, params?: unknown[]) => (await c.query(sql, params)).rows as T[],
        }),
      ),
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
  return db;
}
