import { z } from "zod";
import { EventType, STAGES } from "./messages.ts";

export { EventType };
export type EventTypeName = (typeof EventType)[keyof typeof EventType];

/** The batch's counters, as carried by every event so that progress never needs a count. */
export const BatchCountersSchema = z.object({
  total: z.number(),
  pendingUpload: z.number(),
  queued: z.number(),
  processing: z.number(),
  completed: z.number(),
  failed: z.number(),
  needsReview: z.number(),
  atParse: z.number(),
  atUnderstand: z.number(),
  atEmbed: z.number(),
  atIndex: z.number(),
});

const status = z.enum(["PENDING_UPLOAD", "QUEUED", "PROCESSING", "COMPLETED", "FAILED"]);

/**
 * An event's payload: the state the documents moved to, the batch's counters after the move, and what the
 * event type adds (a failure's code and message, the completed stage and its time, the understanding...).
 * One schema for the pipeline that writes it, the gateway that streams it and the CLI that reads it.
 */
export const EventPayloadSchema = z.looseObject({
  status: status.optional(),
  /**
   * The stage the event is about: the one started, retried, failed or queued at, and for stage.completed
   * and document.completed the one that finished (see `nextStage` for where the document went).
   */
  stage: z.enum(STAGES).nullable().optional(),
  /** stage.completed: the stage the document is queued at next; document.completed: null (none). */
  nextStage: z.enum(STAGES).nullable().optional(),
  batch: BatchCountersSchema.optional(),
  /** documents.requested, documents.moved: how many documents the request created or moved. */
  count: z.number().optional(),
  /** documents.moved: the batch they went to; documents.requested: the batch they came from, if any. */
  toBatchId: z.string().optional(),
  fromBatchId: z.string().optional(),
  /** stage.completed, document.completed: the stage that finished (the same as `stage`) and its time. */
  completedStage: z.enum(STAGES).optional(),
  ms: z.number().optional(),
  /** document.failed: the reason code and message. */
  code: z.string().optional(),
  message: z.string().optional(),
  /** stage.retry: the attempt that failed and why. */
  attempt: z.number().optional(),
  reason: z.string().optional(),
  /** understand's result; document.corrected: the category a person chose. */
  category: z.string().optional(),
  previousCategory: z.string().nullable().optional(),
  confidence: z.number().optional(),
  needsReview: z.boolean().optional(),
  model: z.string().optional(),
  fields: z.array(z.string()).optional(),
  /** document.retried: where the document was and the stage it starts again from. */
  fromStatus: status.optional(),
});
export type EventPayload = z.output<typeof EventPayloadSchema>;

/**
 * Reads a stored or received payload; unknown keys are kept, a payload of the wrong shape throws. A
 * completion written before `nextStage` existed carried the next stage in `stage`: read as today's shape
 * (`stage` the finished one, `nextStage` the next).
 */
export function readEventPayload(json: unknown): EventPayload {
  const p = EventPayloadSchema.parse(json ?? {});
  if (p.completedStage && p.nextStage === undefined)
    return { ...p, stage: p.completedStage, nextStage: p.stage ?? null };
  return p;
}
