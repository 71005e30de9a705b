import type { PrismaClient, SqlExecutor } from "@docfleet/schema";

/**
 * The relational database: Prisma for typed access, raw SQL for what Prisma cannot say
 * (migrations, full text, vectors, SKIP LOCKED).
 */
export interface Database extends SqlExecutor {
  /** Which engine is behind it; some SQL (locking) differs between them. */
  readonly kind: "pglite" | "postgres";
  /** The Prisma client over this database's driver adapter. */
  readonly prisma: PrismaClient;
  /** Applies pending SQL migrations; idempotent and safe to call from several processes at once. */
  migrate(): Promise<string[]>;
  /** Closes connections; pending queries finish first. */
  close(): Promise<void>;
}
