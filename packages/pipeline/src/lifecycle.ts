import type { DocumentStatus, Prisma, Stage } from "@docfleet/schema";
import type { PipelineEvent } from "./ports/event-bus.ts";

export type Tx = Prisma.TransactionClient;

export interface DocState {
  status: DocumentStatus;
  stage: Stage | null;
}

/** A transition lost a race: the document is no longer in the state the caller read. */
export class StaleStateError extends Error {
  override name = "StaleStateError";
}

/** The batch's counters, as returned in every event so progress never needs a count. */
export const COUNTER_FIELDS = {
  total: true,
  pendingUpload: true,
  queued: true,
  processing: true,
  completed: true,
  failed: true,
  needsReview: true,
  atParse: true,
  atUnderstand: true,
  atEmbed: true,
  atIndex: true,
} as const;
export type BatchCounters = { -readonly [K in keyof typeof COUNTER_FIELDS]: number };

const STATUS_COUNTER: Record<DocumentStatus, keyof BatchCounters> = {
  PENDING_UPLOAD: "pendingUpload",
  QUEUED: "queued",
  PROCESSING: "processing",
  COMPLETED: "completed",
  FAILED: "failed",
};
const STAGE_COUNTER: Record<Stage, keyof BatchCounters> = {
  PARSE: "atParse",
  UNDERSTAND: "atUnderstand",
  EMBED: "atEmbed",
  INDEX: "atIndex",
};

function inFlight(s: DocState): boolean {
  return (s.status === "QUEUED" || s.status === "PROCESSING") && s.stage !== null;
}

/** Counter changes for `n` documents moving from `from` (null: newly created) to `to`. */
export function counterDelta(from: DocState | null, to: DocState, n: number): Partial<BatchCounters> {
  const d: Partial<BatchCounters> = {};
  const add = (k: keyof BatchCounters, v: number) => {
    d[k] = (d[k] ?? 0) + v;
    if (d[k] === 0) delete d[k];
  };
  if (from === null) add("total", n);
  else {
    add(STATUS_COUNTER[from.status], -n);
    if (inFlight(from)) add(STAGE_COUNTER[from.stage!], -n);
  }
  add(STATUS_COUNTER[to.status], n);
  if (inFlight(to)) add(STAGE_COUNTER[to.stage!], n);
  return d;
}

export interface OutboxRow {
  topic: string;
  key: string;
  payload: Prisma.InputJsonValue;
}

export interface TransitionSpec {
  tenantId: string;
  batchId: string;
  /** Documents that all share the state `from` (null: just created by the caller). */
  documentIds: readonly string[];
  from: DocState | null;
  to: DocState;
  /** Other columns to set on each document. */
  data?: Prisma.DocumentUncheckedUpdateManyInput;
  /** Change of the batch's needs-review counter (documents flagged or unflagged). */
  needsReviewDelta?: number;
  /** Event type for each document; or one event for the lot when `batchEvent` is given. */
  eventType: string;
  eventPayload?: (documentId: string) => Record<string, unknown>;
  /** Write one event for all documents instead of one each (bulk creation). */
  batchEvent?: Record<string, unknown>;
  /** Messages to publish once committed (the relay sends them). */
  outbox?: (documentId: string) => OutboxRow | null;
}

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
        id: { in: ids },
        tenantId: spec.tenantId,
        batchId: spec.batchId,
        status: spec.from.status,
        stage: spec.from.stage,
      },
      data: { ...spec.data, status: spec.to.status, stage: spec.to.stage },
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
  const base = { status: spec.to.status, stage: spec.to.stage, batch: counters };
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
      payload: e.payload as Prisma.InputJsonValue,
      createdAt,
    })),
  });
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
  payload: Record<string, unknown>,
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
