import type { Prisma } from "@docfleet/schema";
import { type EventPayload, readEventPayload } from "../domain/events.ts";
import type { PipelineEvent } from "../ports/event-bus.ts";
import type { Db } from "./db.ts";

/** An event payload as the `event.payload` column takes it. */
export function eventPayloadJson(payload: EventPayload): Prisma.InputJsonValue {
  return payload as Prisma.InputJsonValue;
}

/**
 * A batch's persisted events after `afterSeq` (optionally of one document), in order, at most `limit`:
 * what a subscriber replays before going live and when it sees a gap.
 */
export async function readAfter(
  db: Db,
  q: {
    tenantId: string;
    batchId: string;
    afterSeq: number;
    /** Up to and including this seq (a gap's end). */
    upToSeq?: number;
    documentId?: string;
    limit: number;
  },
): Promise<PipelineEvent[]> {
  const rows = await db.event.findMany({
    where: {
      tenantId: q.tenantId,
      batchId: q.batchId,
      seq: { gt: q.afterSeq, ...(q.upToSeq !== undefined ? { lte: q.upToSeq } : {}) },
      ...(q.documentId ? { documentId: q.documentId } : {}),
    },
    orderBy: { seq: "asc" },
    take: q.limit,
  });
  return rows.map((r) => ({
    tenantId: r.tenantId,
    batchId: r.batchId,
    seq: r.seq,
    documentId: r.documentId,
    type: r.type,
    payload: readEventPayload(r.payload),
    createdAt: r.createdAt.toISOString(),
  }));
}
