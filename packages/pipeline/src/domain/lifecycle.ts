import type { DocumentStatus, Prisma, Stage } from "@docfleet/schema";
import type { EventPayload } from "./events.ts";

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

/**
 * Counter changes for `n` documents moving from `from` (null: newly created or joining from another
 * batch) to `to` (null: leaving for another batch).
 */
export function counterDelta(from: DocState | null, to: DocState | null, n: number): Partial<BatchCounters> {
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
  if (to === null) add("total", -n);
  else {
    add(STATUS_COUNTER[to.status], n);
    if (inFlight(to)) add(STAGE_COUNTER[to.stage!], n);
  }
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
  /** The state the documents share (null: created by the caller, or joining from another batch). */
  from: DocState | null;
  /** The state they move to (null: they leave this batch; `data` names the batch they join). */
  to: DocState | null;
  /** Other columns to set on each document. */
  data?: Prisma.DocumentUncheckedUpdateManyInput;
  /**
   * Further conditions each document must still meet (a lease still expired, a document still stuck);
   * otherwise the move fails with StaleStateError like a changed state.
   */
  where?: Prisma.DocumentWhereInput;
  /** Change of the batch's needs-review counter (documents flagged or unflagged). */
  needsReviewDelta?: number;
  /** Event type for each document; or one event for the lot when `batchEvent` is given. */
  eventType: string;
  eventPayload?: (documentId: string) => EventPayload;
  /** Write one event for all documents instead of one each (bulk creation). */
  batchEvent?: EventPayload;
  /** Messages to publish once committed (the relay sends them). */
  outbox?: (documentId: string) => OutboxRow | null;
}
