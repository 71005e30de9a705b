import type { Prisma } from "@docfleet/schema";
import type { EventPayload } from "../domain/events.ts";
import { webhookBody, webhookEventId } from "../domain/webhooks.ts";
import {
  COUNTER_FIELDS,
  counterDelta,
  type OutboxRow,
  StaleStateError,
  type TransitionSpec,
} from "../domain/lifecycle.ts";
import type { PipelineEvent } from "../ports/event-bus.ts";
import type { Tx } from "./db.ts";
import { eventPayloadJson } from "./events.ts";
import { enqueueEvents, outboxEvents } from "./webhooks.ts";

/**
 * Moves documents between states inside the caller's transaction: a guarded update (fails with
 * StaleStateError when another process moved a document first), the batch counters, the events with
 * their per-batch sequence numbers, and the outbox rows. Returns the events to publish after commit.
 */
export async function transition(tx: Tx, spec: TransitionSpec): Promise<PipelineEvent[]> {
  const ids = [...spec.documentIds];
  if (ids.length === 0) return [];
  if (spec.from !== null) {
    const res = await tx.document.updateMany({
      where: {
        ...spec.where,
        id: { in: ids },
        tenantId: spec.tenantId,
        batchId: spec.batchId,
        status: spec.from.status,
        stage: spec.from.stage,
      },
      data: { ...spec.data, ...(spec.to ? { status: spec.to.status, stage: spec.to.stage } : {}) },
    });
    if (res.count !== ids.length) {
      throw new StaleStateError(
        `${ids.length - res.count} of ${ids.length} documents changed state concurrently`,
      );
    }
  }
  const delta = counterDelta(spec.from, spec.to, ids.length);
  if (spec.needsReviewDelta) delta.needsReview = (delta.needsReview ?? 0) + spec.needsReviewDelta;
  const eventCount = spec.batchEvent ? 1 : ids.length;
  const data: Prisma.BatchUpdateInput = { eventSeq: { increment: eventCount } };
  for (const [k, v] of Object.entries(delta)) (data as Record<string, unknown>)[k] = { increment: v };
  const batch = await tx.batch.update({
    where: { id: spec.batchId, tenantId: spec.tenantId },
    data,
    select: { eventSeq: true, ...COUNTER_FIELDS },
  });
  const { eventSeq, ...counters } = batch;
  const firstSeq = eventSeq - eventCount + 1;
  const createdAt = new Date();
  const base = spec.to
    ? { status: spec.to.status, stage: spec.to.stage, batch: counters }
    : { batch: counters };
  const events: PipelineEvent[] = spec.batchEvent
    ? [event(spec, firstSeq, null, { ...base, ...spec.batchEvent }, createdAt)]
    : ids.map((id, i) => event(spec, firstSeq + i, id, { ...base, ...spec.eventPayload?.(id) }, createdAt));
  await tx.event.createMany({
    data: events.map((e) => ({
      tenantId: e.tenantId,
      batchId: e.batchId,
      seq: e.seq,
      documentId: e.documentId,
      type: e.type,
      payload: eventPayloadJson(e.payload),
      createdAt,
    })),
  });
  // The tenant's webhooks, through the outbox: queued only when an endpoint subscribes to this type.
  await enqueueEvents(
    tx,
    spec.tenantId,
    spec.eventType,
    outboxEvents(events, webhookEventId, webhookBody),
    spec.batchId,
  );
  if (spec.outbox) {
    const rows = ids.map(spec.outbox).filter((r): r is OutboxRow => r !== null);
    if (rows.length > 0) await tx.outbox.createMany({ data: rows });
  }
  return events;
}

function event(
  spec: TransitionSpec,
  seq: number,
  documentId: string | null,
  payload: EventPayload,
  createdAt: Date,
): PipelineEvent {
  return {
    tenantId: spec.tenantId,
    batchId: spec.batchId,
    seq,
    documentId,
    type: spec.eventType,
    payload,
    createdAt: createdAt.toISOString(),
  };
}
