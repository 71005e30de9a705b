import type { Document, DocumentStatus, Prisma } from "@docfleet/schema";
import { isUuid } from "../domain/ids.ts";
import type { StageName } from "../domain/messages.ts";
import type { Db } from "./db.ts";
import type { SqlQuery } from "./transition.ts";

/** The tenant's document, or null (unknown id, another tenant's, or not an id at all). */
export function findOwned(db: Db, tenantId: string, documentId: string): Promise<Document | null> {
  return isUuid(documentId)
    ? db.document.findFirst({ where: { id: documentId, tenantId } })
    : Promise.resolve(null);
}

/** The tenant's document by id; throws when it is gone (after a write that just touched it). */
export function getOwned(db: Db, tenantId: string, documentId: string): Promise<Document> {
  return db.document.findUniqueOrThrow({ where: { id: documentId, tenantId } });
}

/** Where each of these documents is (status, stage, batch): what an operator's retry decides on. */
export function statesOwned(db: Db, tenantId: string, ids: readonly string[]) {
  const valid = [...new Set(ids)].filter(isUuid);
  return db.document.findMany({
    where: { id: { in: valid }, tenantId },
    select: { id: true, tenantId: true, batchId: true, status: true, stage: true },
  });
}

/**
 * Documents in flight that stopped moving, as of `now`: QUEUED and unchanged for `stuckAfterMs` (their
 * message was lost), or PROCESSING with their lease expired (without a lease: unchanged for as long).
 * Selects them, and guards their resume (a worker that moved one since wins).
 */
export function stuckWhere(now: Date, stuckAfterMs: number): Prisma.DocumentWhereInput {
  const before = new Date(now.getTime() - stuckAfterMs);
  return {
    OR: [
      { status: "QUEUED", updatedAt: { lte: before } },
      { status: "PROCESSING", leaseExpiresAt: { lt: now } },
      { status: "PROCESSING", leaseExpiresAt: null, updatedAt: { lte: before } },
    ],
  };
}

/**
 * Up to `take` QUEUED documents (every tenant) unchanged since `before` with no unsent outbox row, oldest
 * first: the progress reconciler's candidates (their stage message may be lost).
 */
export async function quietQueued(
  db: Db,
  before: Date,
  take: number,
): Promise<{ id: string; tenantId: string; batchId: string; stage: StageName; updatedAt: Date }[]> {
  const rows = await db.document.findMany({
    where: { status: "QUEUED", stage: { not: null }, updatedAt: { lte: before } },
    select: { id: true, tenantId: true, batchId: true, stage: true, updatedAt: true },
    orderBy: { updatedAt: "asc" },
    take,
  });
  if (rows.length === 0) return [];
  const pending = await db.outbox.findMany({
    where: { sentAt: null, key: { in: rows.map((r) => r.id) } },
    select: { key: true },
  });
  const waiting = new Set(pending.map((p) => p.key));
  return rows.filter((r) => !waiting.has(r.id)).map((r) => ({ ...r, stage: r.stage as StageName }));
}

/** Of these documents of the tenant, the ids of those `stuck` (a `stuckWhere`) selects. */
export async function stuckAmong(
  db: Db,
  tenantId: string,
  ids: readonly string[],
  stuck: Prisma.DocumentWhereInput,
): Promise<string[]> {
  const valid = [...new Set(ids)].filter(isUuid);
  if (valid.length === 0) return [];
  const rows = await db.document.findMany({
    where: { ...stuck, id: { in: valid }, tenantId },
    select: { id: true },
  });
  return rows.map((r) => r.id);
}

/** Ids of up to `take` of the batch's stuck documents (a `stuckWhere`) after `cursor`, in id order. */
export async function stuckInBatch(
  db: Db,
  q: { tenantId: string; batchId: string; stuck: Prisma.DocumentWhereInput; cursor?: string; take: number },
): Promise<string[]> {
  const rows = await db.document.findMany({
    where: {
      ...q.stuck,
      batchId: q.batchId,
      tenantId: q.tenantId,
      ...(q.cursor ? { id: { gt: q.cursor } } : {}),
    },
    select: { id: true },
    take: q.take,
    orderBy: { id: "asc" },
  });
  return rows.map((r) => r.id);
}

/**
 * Takes the declared sha256 from a document whose bytes do not match it (CHECKSUM_MISMATCH), so that it
 * is never answered as that file's DUPLICATE and the file can be registered again: the column holds
 * `mismatch-<id>` instead, which no sha256 equals. Idempotent.
 */
export async function releaseSha256(tx: Db, documentId: string, declared: string): Promise<void> {
  await tx.document.updateMany({
    where: { id: documentId, sha256: declared },
    data: { sha256: `mismatch-${documentId}` },
  });
}

/** The document a stage message names, or null. */
export function forMessage(db: Db, msg: { documentId: string; tenantId: string }): Promise<Document | null> {
  return db.document.findFirst({ where: { id: msg.documentId, tenantId: msg.tenantId } });
}

/**
 * Takes over a PROCESSING document's lease (a redelivery after its holder died, or a duplicate): one more
 * attempt and one more crash, a new expiry. False when the document is no longer PROCESSING at that
 * stage, or another delivery took it over since it was read (`attempts` changed).
 */
export async function takeOverLease(
  db: Db,
  doc: { id: string; tenantId: string; attempts: number },
  stage: StageName,
  leaseExpiresAt: Date,
): Promise<boolean> {
  const res = await db.document.updateMany({
    where: { id: doc.id, tenantId: doc.tenantId, status: "PROCESSING", stage, attempts: doc.attempts },
    data: { leaseExpiresAt, attempts: { increment: 1 }, crashes: { increment: 1 } },
  });
  return res.count === 1;
}

/** Ids of up to `take` of the batch's documents in `status`, in id order. */
export async function idsInBatch(
  db: Db,
  q: { tenantId: string; batchId: string; status: DocumentStatus; take: number },
): Promise<string[]> {
  const rows = await db.document.findMany({
    where: { batchId: q.batchId, tenantId: q.tenantId, status: q.status },
    select: { id: true },
    take: q.take,
    orderBy: { id: "asc" },
  });
  return rows.map((r) => r.id);
}

/** What a reprocess selects (always within one tenant). */
export interface ReprocessSelection {
  tenantId: string;
  batchId?: string;
  documentIds?: readonly string[];
  categories?: readonly string[];
  needsReview?: boolean;
}

/** One page (by id, after `cursor`) of the completed and in-flight documents a reprocess selects. */
export function reprocessPage(db: Db, s: ReprocessSelection, cursor: string | undefined, take: number) {
  return db.document.findMany({
    where: {
      tenantId: s.tenantId,
      status: { in: ["COMPLETED", "QUEUED", "PROCESSING"] },
      ...(s.batchId ? { batchId: s.batchId } : {}),
      // One `id` condition: the page cursor narrows the chosen ids, never replaces them.
      ...(s.documentIds?.length || cursor
        ? {
            id: {
              ...(s.documentIds?.length ? { in: s.documentIds.filter(isUuid) } : {}),
              ...(cursor ? { gt: cursor } : {}),
            },
          }
        : {}),
      ...(s.categories?.length ? { category: { in: [...s.categories] } } : {}),
      ...(typeof s.needsReview === "boolean" ? { needsReview: s.needsReview } : {}),
    },
    select: { id: true, status: true, category: true, provenance: true },
    orderBy: { id: "asc" },
    take,
  });
}

/** The tenant's failed documents (of one batch) per reason code, each with up to `sample` ids, newest first. */
export async function failuresByCode(
  db: Db,
  q: { tenantId: string; batchId?: string; sample: number },
): Promise<{ code: string | null; count: number; documentIds: string[] }[]> {
  const where = {
    tenantId: q.tenantId,
    status: "FAILED" as const,
    ...(q.batchId ? { batchId: q.batchId } : {}),
  };
  const groups = await db.document.groupBy({ by: ["errorCode"], where, _count: { _all: true } });
  return Promise.all(
    groups.map(async (g) => ({
      code: g.errorCode,
      count: g._count._all,
      documentIds: (
        await db.document.findMany({
          where: { ...where, errorCode: g.errorCode },
          select: { id: true },
          orderBy: { updatedAt: "desc" },
          take: q.sample,
        })
      ).map((d) => d.id),
    })),
  );
}

/** PROCESSING documents whose lease ran out before `now` (any tenant: the reconciler's view). */
export function expiredLeases(db: Db, now: Date, limit: number) {
  return db.document.findMany({
    where: { status: "PROCESSING", leaseExpiresAt: { lt: now } },
    select: { id: true, tenantId: true, batchId: true, stage: true, crashes: true },
    take: limit,
  });
}

/**
 * One page (by id, after `cursor`) of every tenant's unfinished documents. Raw SQL: `serve` runs it at
 * start (re-queueing after a restart of the in-memory queue) before it answers, without initialising
 * Prisma's client.
 */
export function unfinishedPage(
  db: SqlQuery,
  cursor: string | undefined,
  take: number,
): Promise<{ id: string; tenantId: string; stage: StageName | null }[]> {
  return db.query(
    `SELECT id, tenant_id AS "tenantId", stage::text AS stage FROM document
     WHERE status IN ('QUEUED', 'PROCESSING') AND ($1::uuid IS NULL OR id > $1::uuid)
     ORDER BY id LIMIT $2::int`,
    [cursor ?? null, take],
  );
}

/** Hits of a search, hydrated in one query and answered in the order of `ids` (missing ones skipped). */
export async function inOrder<Q extends object>(
  db: Db,
  query: Q,
  tenantId: string,
  ids: readonly string[],
): Promise<Document[]> {
  const rows = ids.length
    ? await db.document.findMany({ ...query, where: { id: { in: [...ids] }, tenantId } })
    : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
}

/**
 * Whether a tenant other than `tenantId` has a document QUEUED at `stage` (waiting for a slot): what
 * per-tenant fairness asks before a tenant takes more than its share of the stage's slots.
 */
export async function otherTenantQueued(db: SqlQuery, stage: StageName, tenantId: string): Promise<boolean> {
  // Raw and prepared: a worker asks it several times a second per stage (through Prisma it was a
  // visible share of the worker's CPU).
  const [row] = await db.query<{ any: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM document WHERE status = 'QUEUED' AND stage = $1::"Stage" AND tenant_id <> $2::uuid) AS any`,
    [stage, tenantId],
    { prepared: true },
  );
  return row?.any === true;
}
