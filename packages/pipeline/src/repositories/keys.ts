import type { ApiKey } from "@docfleet/schema";
import type { Db } from "./db.ts";
import type { SqlQuery } from "./transition.ts";

export type KeyRow = ApiKey;

export function insert(
  db: Db,
  data: {
    tenantId: string;
    name: string;
    hash: string;
    prefix: string;
    scopes: string[];
    expiresAt: Date | null;
  },
): Promise<ApiKey> {
  return db.apiKey.create({ data });
}

/** Keys with their tenant's name, oldest first; of one tenant or of all. */
export function listWithTenant(db: Db, tenantId?: string) {
  return db.apiKey.findMany({
    where: tenantId ? { tenantId } : {},
    include: { tenant: { select: { name: true } } },
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
  });
}

/** Keys matching an id, a hash, or a prefix start (at most 50), with their tenant's name. */
export function findForRevoke(db: Db, where: { id: string } | { hash: string } | { prefixStart: string }) {
  return db.apiKey.findMany({
    where: "prefixStart" in where ? { prefix: { startsWith: where.prefixStart } } : where,
    include: { tenant: { select: { name: true } } },
    take: 50,
  });
}

/** Sets revokedAt unless already set (the first revocation time stays). */
export async function revoke(db: Db, id: string, at: Date): Promise<void> {
  await db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
}

export function getById(db: Db, id: string): Promise<ApiKey> {
  return db.apiKey.findUniqueOrThrow({ where: { id } });
}

// findByHash and touch in raw SQL (`Database.query`, prepared): every request's key check and `serve`'s
// start-up (ensureAdminKey) run them, and Prisma's first query initialises its query compiler (~0.8 s of
// CPU: issue 17, serve ready <= 5 s).

const KEY_COLUMNS = `id, tenant_id AS "tenantId", name, hash, prefix, scopes, expires_at AS "expiresAt",
  revoked_at AS "revokedAt", last_used_at AS "lastUsedAt", created_at AS "createdAt"`;

/** The key with this hash (a unique index), or null. */
export async function findByHash(db: SqlQuery, hash: string): Promise<ApiKey | null> {
  const rows = await db.query<ApiKey>(`SELECT ${KEY_COLUMNS} FROM api_key WHERE hash = $1::text`, [hash], {
    prepared: true,
  });
  return rows[0] ?? null;
}

/**
 * Writes lastUsedAt unless another request wrote it within `everyMs` (of concurrent requests, one
 * writes); `now` and the threshold are the caller's clock.
 */
export async function touch(db: SqlQuery, id: string, now: Date, everyMs: number): Promise<void> {
  await db.query(
    `UPDATE api_key SET last_used_at = $2::timestamptz
     WHERE id = $1::uuid AND (last_used_at IS NULL OR last_used_at <= $3::timestamptz)`,
    [id, now.toISOString(), new Date(now.getTime() - everyMs).toISOString()],
    { prepared: true },
  );
}

/** Expiry and revocation of these keys (what live connections re-check), in one query. */
export function validity(db: Db, ids: readonly string[]) {
  return db.apiKey.findMany({
    where: { id: { in: [...ids] } },
    select: { id: true, expiresAt: true, revokedAt: true },
  });
}
