import type { PrismaClient, SqlExecutor } from "@docfleet/schema";

/** Bounds on one raw statement (search queries pass them). */
export interface QueryOptions {
  /**
   * Cancel the statement after this long (PostgreSQL: `SET LOCAL statement_timeout` in its own
   * transaction), rejecting with a {@link StatementTimeoutError}. PGlite cannot interrupt a running
   * statement (no timer signals in WebAssembly): there the bounds on input keep statements short.
   */
  timeoutMs?: number;
  /**
   * The caller left: a statement not yet started is not started (both engines), a running one is
   * cancelled (PostgreSQL: `pg_cancel_backend`); rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/** A statement stopped by its time bound (`QueryOptions.timeoutMs` or the server's statement_timeout). */
export class StatementTimeoutError extends Error {
  override name = "StatementTimeoutError";
}

/**
 * The relational database: Prisma for typed access, raw SQL for what Prisma cannot say
 * (migrations, full text, vectors, SKIP LOCKED).
 */
export interface Database extends SqlExecutor {
  /** Which engine is behind it; some SQL (locking) differs between them. */
  readonly kind: "pglite" | "postgres";
  /** Runs one raw statement; `opts` bound it in time and tie it to a caller's signal. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], opts?: QueryOptions): Promise<T[]>;
  /** The Prisma client over this database's driver adapter. */
  readonly prisma: PrismaClient;
  /** Applies pending SQL migrations; idempotent and safe to call from several processes at once. */
  migrate(): Promise<string[]>;
  /** Closes connections; pending queries finish first. */
  close(): Promise<void>;
}
