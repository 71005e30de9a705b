import type { DocumentStatus, Stage } from "@docfleet/schema";
import type { PipelineDeps } from "../domain/context.ts";
import { FailureCode, RequestError } from "../domain/errors.ts";
import { isUuid } from "../domain/ids.ts";
import { EventType } from "../domain/messages.ts";
import * as batches from "../repositories/batches.ts";
import * as deletion from "../repositories/deletion.ts";
import { transition } from "../repositories/transition.ts";
import type { Resources } from "./resources.ts";

/** Documents one deleteDocuments call takes at most. */
export const DELETE_MAX_IDS = 1000;
/** Documents whose objects and index entries are purged at once. */
const PURGE_CONCURRENCY = 8;

export interface DeleteOutcome {
  /** The ids that were the tenant's documents, now gone. */
  deleted: string[];
  /** The ids given that are not (or no longer) the tenant's documents. */
  notFound: string[];
}

/**
 * Removes everything docfleet keeps of a document outside its rows: every object under
 * `<tenant>/<document>/` (original, upload key, text, chunks, words, page images, thumbnail, unfinished
 * multipart parts) and its search index entries. Idempotent; safe for ids that are not (or no longer)
 * the tenant's documents, since everything it touches lies under the tenant's own prefix and index.
 */
export async function purgeDocumentTraces(
  deps: Pick<PipelineDeps, "store" | "search">,
  tenantId: string,
  documentIds: readonly string[],
): Promise<void> {
  const ids = [...new Set(documentIds)].filter(isUuid);
  if (ids.length === 0) return;
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      await deps.store.deletePrefix(`${tenantId}/${id}/`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PURGE_CONCURRENCY, ids.length) }, worker));
  for (let i = 0; i < ids.length; i += DELETE_MAX_IDS)
    await deps.search.delete(tenantId, ids.slice(i, i + DELETE_MAX_IDS));
}

/**
 * Deleting documents and batches so that nothing of them is left (rows, events, outbox rows, objects,
 * index entries), and cancelling a batch's unfinished documents.
 *
 * Order: the rows go first, in one transaction (from then on no API read, reconciler or worker can
 * find the document: a stage message already in the queue is acked as stale, and a worker holding the
 * document finds its move stale and purges what its stage wrote, see StageRunner); the objects and
 * index entries go after the commit. A failure there leaves the rows gone and answers an error: calling
 * again with the same ids purges again (purging is idempotent and keyed by the caller's tenant).
 * No audit event is kept: the document's events go with it (cascade), so nothing names it afterwards;
 * the service logs the deletion (tenant, batch, count) instead.
 */
export class DeletionService {
  constructor(private readonly r: Resources) {}

  async deleteDocuments(tenantId: string, ids: readonly string[]): Promise<DeleteOutcome> {
    if (ids.length > DELETE_MAX_IDS)
      throw new RequestError("BAD_REQUEST", `at most ${DELETE_MAX_IDS} ids per call (got ${ids.length})`);
    const found = await this.r.tx(async (tx) => {
      const docs = await deletion.lockOwned(tx, tenantId, ids);
      await deletion.deleteDocumentRows(tx, docs);
      return docs;
    });
    const deleted = new Set(found.map((d) => d.id));
    await purgeDocumentTraces(this.r.deps, tenantId, ids);
    this.r.deps.log.info({ tenantId, deleted: deleted.size }, "documents deleted");
    return {
      deleted: [...deleted],
      notFound: [...new Set(ids)].filter((id) => !deleted.has(id)),
    };
  }

  /** Deletes the batch with all its documents and events; returns how many documents went. NOT_FOUND otherwise. */
  async deleteBatch(tenantId: string, batchId: string): Promise<number> {
    const ids = await this.r.tx(async (tx) => {
      if (!isUuid(batchId) || !(await batches.findOwned(tx, tenantId, batchId)))
        throw new RequestError("NOT_FOUND", `no batch ${batchId}`);
      const docIds = await deletion.batchDocumentIds(tx, tenantId, batchId);
      const docs: deletion.DeletedDocument[] = [];
      for (let i = 0; i < docIds.length; i += DELETE_MAX_IDS)
        docs.push(...(await deletion.lockOwned(tx, tenantId, docIds.slice(i, i + DELETE_MAX_IDS))));
      for (let i = 0; i < docs.length; i += DELETE_MAX_IDS)
        await deletion.deleteOutboxRows(
          tx,
          docs.slice(i, i + DELETE_MAX_IDS).map((d) => d.id),
        );
      await deletion.deleteBatchRow(tx, tenantId, batchId);
      return docs.map((d) => d.id);
    });
    await purgeDocumentTraces(this.r.deps, tenantId, ids);
    this.r.deps.log.info({ tenantId, batchId, deleted: ids.length }, "batch deleted");
    return ids.length;
  }

  /**
   * Stops the batch's unfinished documents (waiting for upload, queued or processing): each becomes
   * FAILED with code CANCELLED (a DOCUMENT_FAILED event each) and its pending stage message is dropped;
   * completed and failed documents stay as they are. A worker holding one finds its move stale. Returns
   * how many documents it cancelled; NOT_FOUND when the batch is not the tenant's.
   */
  async cancelBatch(tenantId: string, batchId: string): Promise<number> {
    return this.r.tx(async (tx, events) => {
      if (!isUuid(batchId) || !(await batches.findOwned(tx, tenantId, batchId)))
        throw new RequestError("NOT_FOUND", `no batch ${batchId}`);
      const rows = await tx.$queryRawUnsafe<{ id: string; status: DocumentStatus; stage: Stage | null }[]>(
        `SELECT id::text AS id, status::text AS status, stage::text AS stage FROM document
          WHERE tenant_id = $1::uuid AND batch_id = $2::uuid AND status IN ('PENDING_UPLOAD', 'QUEUED', 'PROCESSING')
          ORDER BY id FOR UPDATE`,
        tenantId,
        batchId,
      );
      const groups = new Map<string, { status: DocumentStatus; stage: Stage | null; ids: string[] }>();
      for (const row of rows) {
        const k = `${row.status}:${row.stage}`;
        const g = groups.get(k) ?? { status: row.status, stage: row.stage, ids: [] };
        g.ids.push(row.id);
        groups.set(k, g);
      }
      const message = "the batch was cancelled";
      for (const g of groups.values()) {
        for (let i = 0; i < g.ids.length; i += DELETE_MAX_IDS) {
          const chunk = g.ids.slice(i, i + DELETE_MAX_IDS);
          events.push(
            ...(await transition(tx, {
              tenantId,
              batchId,
              documentIds: chunk,
              from: { status: g.status, stage: g.stage },
              to: { status: "FAILED", stage: g.stage },
              data: { errorCode: FailureCode.CANCELLED, errorMessage: message, leaseExpiresAt: null },
              eventType: EventType.DOCUMENT_FAILED,
              eventPayload: () => ({ code: FailureCode.CANCELLED, message }),
            })),
          );
          await deletion.deleteOutboxRows(tx, chunk);
        }
      }
      return rows.length;
    });
  }
}
