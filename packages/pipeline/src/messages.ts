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

/** The one message type on stage queues. Versioned: a consumer rejects versions it does not know. */
export const StageMessage = z.object({
  v: z.literal(1),
  documentId: z.uuid(),
  tenantId: z.uuid(),
  stage: z.enum(STAGES),
});
export type StageMessage = z.infer<typeof StageMessage>;

export function stageMessage(doc: { id: string; tenantId: string }, stage: StageName): StageMessage {
  return { v: 1, documentId: doc.id, tenantId: doc.tenantId, stage };
}

/** Event types written to the event log. */
export const EventType = {
  DOCUMENTS_REQUESTED: "documents.requested",
  DOCUMENT_QUEUED: "document.queued",
  STAGE_STARTED: "stage.started",
  STAGE_COMPLETED: "stage.completed",
  STAGE_RETRY: "stage.retry",
  DOCUMENT_COMPLETED: "document.completed",
  DOCUMENT_FAILED: "document.failed",
  DOCUMENT_RETRIED: "document.retried",
  DOCUMENT_CORRECTED: "document.corrected",
} as const;
