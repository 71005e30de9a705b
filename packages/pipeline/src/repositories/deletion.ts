import type { DocumentStatus, Stage } from "@docfleet/schema";
import { isUuid } from "../domain/ids.ts";
import { counterDelta } from "../domain/lifecycle.ts";
import type { Db, Tx } from "./db.ts";
import { deleteForBatch, deleteForDocuments } from "./webhooks.ts";

/** What deleting a document must know: where it is counted, and where its objects lie. */
export interface DeletedDocument {
  id: string;
  tenantId: string;
  batchId: string;
  status: DocumentStatus;
  stage: Stage | null;
  needsReview: boolean;
}

/** The tenant's documents among `ids` (non-UUIDs skipped), locked for this transaction. */
export async function lockOwned(
  tx: Tx,
  tenantId: string,
  ids: readonly string[],
): Promise<DeletedDocument[]> {
  const valid = [...new Set(ids)].filter(isUuid);
  if (valid.length === 0) return [];
  return tx.$queryRawUnsafe<DeletedDocument[]>(
    `SELECT id::text AS id, tenant_id::text AS "tenantId", batch_id::text AS "batchId", status::text AS status,
            stage::text AS stage, needs_review AS "needsReview"
       FROM document WHERE tenant_id = $1::uuid AND id = ANY($2::uuid[]) ORDER BY id FOR UPDATE`,
    tenantId,
    valid,
  );
}

/**
 * Deletes the rows of `docs` (their events and labels go by cascade), their outbox rows (sent or not:
 * a pending stage message must not reach a worker), their webhook deliveries, and takes them off their
 * batches' counters.
 */
export async function deleteDocumentRows(tx: Tx, docs: readonly DeletedDocument[]): Promise<void> {
  if (docs.length === 0) return;
  const ids = docs.map((d) => d.id);
  await deleteOutboxRows(tx, ids);
  await deleteForDocuments(tx, ids);
  await tx.document.deleteMany({ where: { id: { in: ids } } });
  const perBatch = new Map<string, Record<string, number>>();
  for (const d of docs) {
    const delta = counterDelta({ status: d.status, stage: d.stage }, null, 1);
    if (d.needsReview) delta.needsReview = (delta.needsReview ?? 0) - 1;
    const acc = perBatch.get(d.batchId) ?? {};
    for (const [k, v] of Object.entries(delta)) acc[k] = (acc[k] ?? 0) + (v ?? 0);
    perBatch.set(d.batchId, acc);
  }
  for (const [batchId, delta] of perBatch) {
    const data: Record<string, { increment: number }> = {};
    for (const [k, v] of Object.entries(delta)) if (v !== 0) data[k] = { increment: v };
    await tx.batch.updateMany({ where: { id: batchId }, data });
  }
}

/** Deletes the outbox rows of these documents (rows are keyed by document id). */
export async function deleteOutboxRows(tx: Tx, documentIds: readonly string[]): Promise<number> {
  if (documentIds.length === 0) return 0;
  return tx.$executeRawUnsafe("DELETE FROM outbox WHERE key = ANY($1::text[])", [...documentIds]);
}

/** Ids of every document of the batch (any status), in id order. */
export async function batchDocumentIds(db: Db, tenantId: string, batchId: string): Promise<string[]> {
  const rows = await db.document.findMany({
    where: { tenantId, batchId },
    select: { id: true },
    orderBy: { id: "asc" },
  });
  return rows.map((r) => r.id);
}

/**
 * Deletes the batch row (its documents and events go by cascade) and its webhook deliveries; false when
 * it is not the tenant's.
 */
export async function deleteBatchRow(tx: Tx, tenantId: string, batchId: string): Promise<boolean> {
  await deleteForBatch(tx, tenantId, batchId);
  const res = await tx.batch.deleteMany({ where: { id: batchId, tenantId } });
  return res.count > 0;
}

/** Whether the document row still exists (a worker asks after its move went stale). */
export async function documentExists(db: Db, documentId: string): Promise<boolean> {
  return (await db.document.count({ where: { id: documentId } })) > 0;
}
