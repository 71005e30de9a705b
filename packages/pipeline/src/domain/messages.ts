import { z } from "zod";

/** Stages in pipeline order. */
export const STAGES = ["PARSE", "UNDERSTAND", "EMBED", "INDEX"] as const;
export type StageName = (typeof STAGES)[number];

export const NEXT_STAGE: Record<StageName, StageName | null> = {
  PARSE: "UNDERSTAND",
  UNDERSTAND: "EMBED",
  EMBED: "INDEX",
  INDEX: null,
};

/** The queue a stage consumes. */
export function stageQueue(stage: StageName): string {
  return `docfleet.${stage.toLowerCase()}`;
}

export const STAGE_QUEUES = STAGES.map(stageQueue);

/**
 * The one message type on stage queues. Versioned: a consumer rejects versions it does not know.
 * `traceparent` (W3C trace context of the operation that queued it) is optional, so v1 messages written
 * before it existed still parse, and a consumer that ignores it loses nothing but the trace.
 */
export const StageMessage = z.object({
  v: z.literal(1),
  documentId: z.uuid(),
  tenantId: z.uuid(),
  stage: z.enum(STAGES),
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional()
    .catch(undefined),
});
export type StageMessage = z.infer<typeof StageMessage>;

export function stageMessage(
  doc: { id: string; tenantId: string },
  stage: StageName,
  traceparent?: string,
): StageMessage {
  return { v: 1, documentId: doc.id, tenantId: doc.tenantId, stage, ...(traceparent ? { traceparent } : {}) };
}

/** Event types written to the event log. */
export const EventType = {
  DOCUMENTS_REQUESTED: "documents.requested",
  /** Pending documents left this batch for another (a rerun of an upload registered them again there). */
  DOCUMENTS_MOVED: "documents.moved",
  DOCUMENT_QUEUED: "document.queued",
  STAGE_STARTED: "stage.started",
  STAGE_COMPLETED: "stage.completed",
  STAGE_RETRY: "stage.retry",
  DOCUMENT_COMPLETED: "document.completed",
  DOCUMENT_FAILED: "document.failed",
  DOCUMENT_RETRIED: "document.retried",
  DOCUMENT_CORRECTED: "document.corrected",
} as const;
