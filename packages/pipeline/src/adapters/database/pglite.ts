import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { migrate, PrismaClient } from "@docfleet/schema";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PGLITE_MAX_SHARED_BUFFERS_MB } from "../../config.ts";
import type { Database, QueryOptions } from "../../ports/database.ts";
import { closeTree } from "../owner-only.ts";

export interface PgliteOptions {
  /**
   * PostgreSQL's `shared_buffers` in MiB (DOCFLEET_PGLITE_SHARED_BUFFERS_MB, else autoSharedBuffersMb
   * for serve's folder; unset here: PGlite's own 128).
   * A page outside it is read again through the WebAssembly file system on each access: most of a
   * vector search's time once the HNSW index and the chunk rows outgrow it (issue 17: ~0.8 GB at
   * 100,000 documents). The whole amount is resident from the start (measured: 256 takes ~125 MiB
   * more RSS than 128 on opening).
   */
  sharedBuffersMb?: number;
}

/**
 * shared_buffers for a data folder when DOCFLEET_PGLITE_SHARED_BUFFERS_MB is unset: the size of its
 * tables and indexes (`base/`), in 64 MiB steps, within PGlite's own 128 MiB and 1 GiB. A search walks
 * the HNSW index and reads chunk rows all over the folder; with them cached, VECTOR and HYBRID searches
 * took 0.40x the CPU at 50,000 documents (1 GiB against 128 MiB, issue 17). A small archive stays at 128.
 */
export function autoSharedBuffersMb(dataDir: string | undefined): number {
  if (dataDir === undefined) return 128;
  const mb = folderBytes(join(dataDir, "base")) / 2 ** 20;
  return Math.min(1024, Math.max(128, Math.ceil(mb / 64) * 64));
}

function folderBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += folderBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

/**
 * Opens (creating if needed) an embedded PGlite database in `dataDir`, or in memory when dataDir is
 * undefined. A new data folder is initialised under a temporary name and renamed into place: a process
 * killed during initialisation must not leave a half-made folder (seen to hang on reopen).
 */
export async function openPgliteDatabase(
  dataDir: string | undefined,
  opts: PgliteOptions = {},
): Promise<Database> {
  if (dataDir !== undefined) await ensureInitialised(dataDir);
  const mb = opts.sharedBuffersMb;
  if (mb !== undefined && (!Number.isInteger(mb) || mb < 16 || mb > PGLITE_MAX_SHARED_BUFFERS_MB))
    throw new Error(`PGlite shared_buffers must be 16..${PGLITE_MAX_SHARED_BUFFERS_MB} MiB, got ${mb}`);
  const pg = await PGlite.create(dataDir ?? "memory://", {
    extensions: { vector },
    ...(mb === undefined
      ? {}
      : { startParams: [...PGlite.defaultStartParams, "-c", `shared_buffers=${mb}MB`] }),
  });
  if (dataDir === undefined) return wrapPglite(pg);
  // PGlite makes its files 0666 whatever the umask: its owner's only, after each step that creates files.
  await closeTree(dataDir);
  const db = wrapPglite(pg);
  return {
    ...db,
    migrate: async () => {
      const applied = await db.migrate();
      await closeTree(dataDir);
      return applied;
    },
    close: async () => {
      await db.close();
      await closeTree(dataDir);
    },
  };
}

async function ensureInitialised(dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, "PG_VERSION"))) return;
  const parent = dirname(dataDir);
  mkdirSync(parent, { recursive: true });
  const prefix = `.${basename(dataDir)}.init-`;
  for (const f of readdirSync(parent))
    if (f.startsWith(prefix)) rmSync(join(parent, f), { recursive: true, force: true });
  const tmp = join(parent, `${prefix}${process.pid}`);
  const pg = await PGlite.create(tmp, { extensions: { vector } });
  await pg.query("SELECT 1");
  await pg.close();
  if (existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
  renameSync(tmp, dataDir);
}

export function wrapPglite(pg: PGlite): Database {
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(pg) });
  const db: Database = {
    kind: "pglite",
    prisma,
    async exec(sql) {
      await pg.exec(sql);
    },
    async query<T>(sql: string, params?: unknown[], o?: QueryOptions) {
      // PGlite cannot interrupt a statement (no statement_timeout in WebAssembly), so `timeoutMs`
      // does not apply; a caller that left starts no further statement.
      o?.signal?.throwIfAborted();
      const res = await pg.query<T>(sql, params as unknown[] | undefined);
      return res.rows;
    },
    transaction: (fn) =>
      // PGlite runs one transaction at a time: everything else (Prisma's included) waits for it.
      pg.transaction((tx) =>
        fn({ query: async <T>(sql: string, params?: unknown[]) => (await tx.query<T>(sql, params)).rows }),
      ),
    migrate: () => migrate(db),
    async close() {
      await prisma.$disconnect();
      if (!pg.closed) await pg.close();
    },
  };
  return db;
}
