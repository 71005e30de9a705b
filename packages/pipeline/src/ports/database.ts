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
  /**
   * The same text runs often (a hot path's statement): PostgreSQL keeps it prepared on each pooled
   * connection under a name derived from the text, so later runs send only the parameters (no SQL
   * text, no parse and plan). PGlite ignores it. Not with `timeoutMs` or `signal`.
   */
  prepared?: boolean;
}

/** A statement stopped by its time bound (`QueryOptions.timeoutMs` or the server's statement_timeout). */
export class StatementTimeoutError extends Error {
  override name = "StatementTimeoutError";
}

/** Raw statements inside one transaction (`Database.transaction`), on its one connection. */
export interface SqlTransaction {
  /**
   * Runs one statement. A statement without parameters travels with the transaction's BEGIN when it is
   * the first, and with its COMMIT when `last` says nothing follows it (PostgreSQL: one simple-protocol
   * round trip instead of two). After a `last` statement the transaction may be committed already:
   * `fn` runs no further statement and does nothing that may fail.
   */
  query<T = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    opts?: { last?: boolean },
  ): Promise<T[]>;
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
  /**
   * Runs `fn`'s raw statements in one transaction on one connection, without Prisma's interactive
   * transaction machinery: committed when `fn` resolves, rolled back when it throws. For hot paths
   * (the outbox relay's claim, publish and mark) whose statements are raw SQL anyway. `timeoutMs`
   * (PostgreSQL): past it the connection is closed, so the server rolls back and a statement still
   * waiting fails; PGlite cannot interrupt a statement and ignores it.
   */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>, opts?: { timeoutMs?: number }): Promise<T>;
  /** The Prisma client over this database's driver adapter. */
  readonly prisma: PrismaClient;
  /** Applies pending SQL migrations; idempotent and safe to call from several processes at once. */
  migrate(): Promise<string[]>;
  /** Closes connections; pending queries finish first. */
  close(): Promise<void>;
}
