import type { ApiKey } from "@docfleet/schema";
import type { Db } from "./db.ts";

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

/** The key with this hash (a unique index), or null. */
export function findByHash(db: Db, hash: string): Promise<ApiKey | null> {
  return db.apiKey.findUnique({ where: { hash } });
}

/** Writes lastUsedAt unless another request wrote it within `everyMs` (of concurrent requests, one writes). */
export async function touch(db: Db, id: string, now: Date, everyMs: number): Promise<void> {
  await db.apiKey.updateMany({
    where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lte: new Date(now.getTime() - everyMs) } }] },
    data: { lastUsedAt: now },
  });
}

/** Expiry and revocation of these keys (what live connections re-check), in one query. */
export function validity(db: Db, ids: readonly string[]) {
  return db.apiKey.findMany({
    where: { id: { in: [...ids] } },
    select: { id: true, expiresAt: true, revokedAt: true },
  });
}
