import type { DocumentStatus, Prisma } from "@docfleet/schema";
import { isUuid } from "../domain/ids.ts";
import type { Db } from "./db.ts";

// The gateway's reads. Pothos passes its selection as `query` (what the GraphQL operation asked for,
// joins included); these functions add the tenant to every filter. The gateway passes its
// tenant-scoped client, so the tenant is enforced twice.

/** A syntactically impossible id stays a "not found", never a database error. */
const NIL = "00000000-0000-0000-0000-000000000000";
const idOrNil = (id: string) => (isUuid(id) ? id : NIL);

export function batch<Q extends object>(db: Db, query: Q, tenantId: string, id: string) {
  return db.batch.findFirst({ ...query, where: { id: idOrNil(id), tenantId } });
}

/** The tenant's batches, newest first (Pothos adds the cursor and page size to `query`). */
export function batches<Q extends object>(db: Db, query: Q, tenantId: string) {
  return db.batch.findMany({ ...query, where: { tenantId }, orderBy: { createdAt: "desc" } });
}

export function document<Q extends object>(db: Db, query: Q, tenantId: string, id: string) {
  return db.document.findFirst({ ...query, where: { id: idOrNil(id), tenantId } });
}

/** A document that must exist (just written by the caller). */
export function existingDocument<Q extends object>(db: Db, query: Q, tenantId: string, id: string) {
  return db.document.findUniqueOrThrow({ ...query, where: { id, tenantId } });
}

/** What the `documents` query filters on. */
export interface DocumentFilter {
  batchId?: string | number | null;
  status?: readonly DocumentStatus[] | null;
  category?: readonly string[] | null;
  errorCode?: readonly string[] | null;
  needsReview?: boolean | null;
}

function documentWhere(tenantId: string, f: DocumentFilter | null | undefined): Prisma.DocumentWhereInput {
  return {
    tenantId,
    ...(f?.batchId ? { batchId: idOrNil(String(f.batchId)) } : {}),
    ...(f?.status?.length ? { status: { in: [...f.status] } } : {}),
    ...(f?.category?.length ? { category: { in: [...f.category] } } : {}),
    ...(f?.errorCode?.length ? { errorCode: { in: [...f.errorCode] } } : {}),
    ...(typeof f?.needsReview === "boolean" ? { needsReview: f.needsReview } : {}),
  };
}

/** The tenant's documents matching `filter`, in id order (Pothos adds the cursor and page size). */
export function documents<Q extends object>(
  db: Db,
  query: Q,
  tenantId: string,
  filter?: DocumentFilter | null,
) {
  return db.document.findMany({ ...query, where: documentWhere(tenantId, filter), orderBy: { id: "asc" } });
}

export function countDocuments(db: Db, tenantId: string, filter?: DocumentFilter | null): Promise<number> {
  return db.document.count({ where: documentWhere(tenantId, filter) });
}

/** These documents of the tenant, most recently changed first. */
export function documentsByIds<Q extends object>(db: Db, query: Q, tenantId: string, ids: readonly string[]) {
  return db.document.findMany({
    ...query,
    where: { id: { in: ids.filter(isUuid) }, tenantId },
    orderBy: { updatedAt: "desc" },
  });
}
