import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** What migrations need from a database: multi-statement SQL and parameterised queries. */
export interface SqlExecutor {
  /** Runs one or more statements (simple protocol); no result. */
  exec(sql: string): Promise<void>;
  /** Runs one parameterised statement and returns its rows. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

/** The SQL migrations in name order. */
export function loadMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name), "utf8");
      return { name, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    });
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

/**
 * The advisory lock every docfleet process takes before it creates schema objects (migrations, the
 * search index's tables and extension): any constant works, as long as it is the same for every
 * process on one database. `CREATE ... IF NOT EXISTS` is not safe against a concurrent creation of
 * the same name (`duplicate key ... pg_type_typname_nsp_index`), so nothing may create outside it.
 */
export const SCHEMA_LOCK_ID = 727_001;
const LOCK_ID = SCHEMA_LOCK_ID;

/** Prefix for a multi-statement DDL string: holds the schema lock until its (implicit) transaction ends. */
export const SCHEMA_LOCK_SQL = `SELECT pg_advisory_xact_lock(${SCHEMA_LOCK_ID});`;

/**
 * Applies pending migrations, each in its own transaction, under an advisory lock so that several
 * processes starting at once apply each migration exactly once. An applied migration whose file has
 * changed since is an error: migrations are append-only.
 */
export async function migrate(db: SqlExecutor, migrations = loadMigrations()): Promise<string[]> {
  const applied: string[] = [];
  // Before anything is created, the bookkeeping table included: two processes creating it at once
  // collide in pg_type (issue 15).
  await db.exec(`SELECT pg_advisory_lock(${LOCK_ID})`);
  try {
    await db.exec(`CREATE TABLE IF NOT EXISTS _docfleet_migrations (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const rows = await db.query<{ name: string; checksum: string }>(
      "SELECT name, checksum FROM _docfleet_migrations",
    );
    const done = new Map(rows.map((r) => [r.name, r.checksum]));
    for (const m of migrations) {
      const previous = done.get(m.name);
      if (previous !== undefined) {
        if (previous !== m.checksum) {
          throw new MigrationError(`migration ${m.name} was changed after it was applied`);
        }
        continue;
      }
      const name = m.name.replaceAll("'", "''");
      await db.exec(
        `BEGIN;\n${m.sql}\nINSERT INTO _docfleet_migrations (name, checksum) VALUES ('${name}', '${m.checksum}');\nCOMMIT;`,
      );
      applied.push(m.name);
    }
  } catch (err) {
    await db.exec("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    await db.exec(`SELECT pg_advisory_unlock(${LOCK_ID})`);
  }
  return applied;
}
