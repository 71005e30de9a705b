import type { Database } from "../ports/database.ts";
import type { Tx } from "./db.ts";

/** An outbox row claimed for publishing. */
export interface OutboxMessage {
  id: bigint;
  topic: string;
  key: string;
  payload: unknown;
}

/** Up to `limit` unpublished rows, oldest first, locked for this transaction (others skip them). */
export function claimUnsent(tx: Tx, limit: number): Promise<OutboxMessage[]> {
  return tx.$queryRawUnsafe<OutboxMessage[]>(
    "SELECT id, topic, key, payload FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    limit,
  );
}

/**
 * Whether any row waits, without a transaction or a lock (the unsent rows' partial index): an idle
 * relay's poll costs one statement instead of a transaction's three.
 */
export async function anyUnsent(db: Database): Promise<boolean> {
  const [row] = await db.query<{ any: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL) AS any",
  );
  return row?.any === true;
}

/** Marks rows published (one more attempt each). */
export async function markSent(tx: Tx, ids: readonly bigint[]): Promise<void> {
  await tx.$executeRawUnsafe(
    "UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1::bigint[])",
    ids.map((id) => id.toString()),
  );
}

/** Unpublished outbox rows and the age of the oldest. */
export async function readOutboxLag(db: Database, now = Date.now()) {
  const [row] = await db.query<{ pending: number; oldest: Date | string | null }>(
    "SELECT count(*)::int AS pending, min(created_at) AS oldest FROM outbox WHERE sent_at IS NULL",
  );
  return {
    pending: row?.pending ?? 0,
    oldestAgeSeconds: row?.oldest ? Math.max(0, (now - new Date(row.oldest).getTime()) / 1000) : 0,
  };
}
