import type { Database, SqlTransaction } from "../ports/database.ts";

/** An outbox row claimed for publishing. */
export interface OutboxMessage {
  id: bigint;
  topic: string;
  key: string;
  payload: unknown;
}

/** Up to `limit` unpublished rows, oldest first, locked for this transaction (others skip them). */
export async function claimUnsent(tx: SqlTransaction, limit: number): Promise<OutboxMessage[]> {
  if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError("limit must be a positive integer");
  // No parameters (the limit is a checked integer): the statement travels with the BEGIN.
  const rows = await tx.query<{ id: string | number | bigint; topic: string; key: string; payload: unknown }>(
    `SELECT id, topic, key, payload FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
  );
  // node-postgres reads bigint as a string, PGlite as a number or bigint: one type for the callers.
  return rows.map((r) => ({ ...r, id: BigInt(r.id) }));
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

/**
 * Marks rows published (one more attempt each), as the transaction's last statement: it travels with
 * the COMMIT (no parameters: the ids are bigints, written as digits).
 */
export async function markSent(tx: SqlTransaction, ids: readonly bigint[]): Promise<void> {
  const list = ids.map((id) => BigInt(id).toString()).join(",");
  await tx.query(
    `UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY('{${list}}'::bigint[])`,
    undefined,
    { last: true },
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
