import {
  type BatchCounters,
  EventType,
  type EventTypeName,
  graphReads,
  type PipelineEvent,
} from "@docfleet/pipeline";
import { GraphQLError } from "graphql";
import { builder } from "../builder.ts";
import { COALESCE_MS, eventStream, liveSubscription } from "../progress.ts";
import { BatchCounts, StageCounts } from "./batch.ts";
import { DocumentStatus, Stage } from "./document.ts";

// Live progress: every subscription first replays the event log after its cursor, then follows the
// live stream, so a client that reconnects with its cursor misses nothing and sees nothing twice.

/** What each event type means, in the enum's words; the enum value is the event type's name in capitals. */
const EVENT_KINDS: Record<EventTypeName, string> = {
  [EventType.DOCUMENTS_REQUESTED]:
    "requestUploads registered documents in the batch (a batch event: no documentId; see the counts)",
  [EventType.DOCUMENTS_MOVED]:
    "documents still waiting for their bytes moved to another batch (a rerun of their upload registered them there); a batch event",
  [EventType.DOCUMENT_QUEUED]: "completeUploads found the document's bytes and queued it at PARSE",
  [EventType.STAGE_STARTED]: "a worker took the document for `stage`",
  [EventType.STAGE_COMPLETED]: "`stage` finished; the document is queued at `nextStage`",
  [EventType.STAGE_RETRY]:
    "`stage` failed in a way that may pass (a timeout, a service away): it runs again after a delay",
  [EventType.DOCUMENT_COMPLETED]:
    "the last stage (`stage`) finished: the document is COMPLETED and searchable",
  [EventType.DOCUMENT_FAILED]: "the document stopped at `stage` with a reason `code` and `message` (FAILED)",
  [EventType.DOCUMENT_RETRIED]: "retryDocuments or retryBatch queued the document again, at `stage`",
  [EventType.DOCUMENT_CORRECTED]: "a person corrected the document's category or fields (correctDocument)",
};

const enumName = (type: string) => type.replace(/\./g, "_").toUpperCase();

export const ProgressEventType = builder.enumType("ProgressEventType", {
  description:
    "What happened in a ProgressEvent (the event type `documents.requested` is DOCUMENTS_REQUESTED)",
  values: Object.fromEntries(
    Object.entries(EVENT_KINDS).map(([type, description]) => [enumName(type), { value: type, description }]),
  ),
});

const ProgressEvent = builder.objectRef<PipelineEvent>("ProgressEvent");
ProgressEvent.implement({
  description: "One state change of the batch, with its per-batch sequence number",
  fields: (t) => ({
    seq: t.exposeInt("seq", {
      description: "the event's position in its batch, from 1, without gaps: resume with `after: seq`",
    }),
    kind: t.field({
      type: ProgressEventType,
      description: "what happened",
      resolve: (e) => e.type,
    }),
    type: t.exposeString("type", {
      description: "what happened, as the event log's dotted name (stage.completed)",
      deprecationReason: "Use kind (the ProgressEventType enum); removed in the release after next.",
    }),
    documentId: t.exposeID("documentId", {
      nullable: true,
      description:
        "the document the event is about; null for a batch event (DOCUMENTS_REQUESTED, DOCUMENTS_MOVED)",
    }),
    status: t.field({
      type: DocumentStatus,
      nullable: true,
      description: "the document's status after the event",
      resolve: (e) => e.payload.status ?? null,
    }),
    stage: t.field({
      type: Stage,
      nullable: true,
      description:
        "the stage the event is about: the one started, retried or failed at, queued at, or (STAGE_COMPLETED, DOCUMENT_COMPLETED) the one that finished",
      resolve: (e) => e.payload.stage ?? null,
    }),
    nextStage: t.field({
      type: Stage,
      nullable: true,
      description: "STAGE_COMPLETED: the stage the document is queued at next; null for every other kind",
      resolve: (e) => e.payload.nextStage ?? null,
    }),
    code: t.string({
      nullable: true,
      description: "DOCUMENT_FAILED: the reason code (UNSUPPORTED_TYPE, CORRUPT, TIMEOUT, ...)",
      resolve: (e) => e.payload.code ?? null,
    }),
    message: t.string({
      nullable: true,
      description: "DOCUMENT_FAILED: the reason in words (at most 500 characters)",
      resolve: (e) => e.payload.message ?? null,
    }),
    createdAt: t.field({ type: "DateTime", description: "when it happened", resolve: (e) => e.createdAt }),
  }),
});

interface BatchMessage {
  batchId: string;
  events: PipelineEvent[];
  counts: BatchCounters;
  perMinute: number;
  etaSeconds: number | null;
}

const BatchProgress = builder.objectRef<BatchMessage>("BatchProgress");
BatchProgress.implement({
  description:
    "Progress of a batch: the events since the previous message (coalesced, a few messages per second at most) and the counters as of the last of them",
  fields: (t) => ({
    batchId: t.exposeID("batchId", { description: "the batch followed" }),
    batch: t.prismaField({
      type: "Batch",
      nullable: true,
      description: "the batch as it is now",
      resolve: (query, m, _args, ctx) => graphReads.batch(ctx.prisma, query, ctx.tenantId, m.batchId),
    }),
    cursor: t.int({
      description: "seq of the last event in `events`: resubscribe with `after: cursor` to resume",
      resolve: (m) => m.events.at(-1)!.seq,
    }),
    events: t.field({
      type: [ProgressEvent],
      description: "the events since the previous message, in seq order (at least one)",
      resolve: (m) => m.events,
    }),
    counts: t.field({
      type: BatchCounts,
      description: "documents per status as of the last event",
      resolve: (m) => m.counts,
    }),
    stages: t.field({
      type: StageCounts,
      description: "queued or processing documents per stage as of the last event",
      resolve: (m) => m.counts,
    }),
    finished: t.boolean({
      description:
        "true once every registered document is COMPLETED or FAILED (the stream goes on: stop when done)",
      resolve: (m) => m.counts.total > 0 && m.counts.completed + m.counts.failed === m.counts.total,
    }),
    documentsPerMinute: t.exposeFloat("perMinute", {
      description: "documents finished per minute over the last minute this gateway saw",
    }),
    etaSeconds: t.exposeInt("etaSeconds", { nullable: true, description: "null while unknown" }),
  }),
});

const DocumentProgress = builder.objectRef<{ event: PipelineEvent; documentId: string }>("DocumentProgress");
DocumentProgress.implement({
  description: "One event of a followed document",
  fields: (t) => ({
    cursor: t.int({
      description: "the event's seq: resubscribe with `after: cursor` to resume",
      resolve: (m) => m.event.seq,
    }),
    event: t.field({ type: ProgressEvent, description: "what happened", resolve: (m) => m.event }),
    document: t.prismaField({
      type: "Document",
      nullable: true,
      description: "the document as it is now",
      resolve: (query, m, _args, ctx) => graphReads.document(ctx.prisma, query, ctx.tenantId, m.documentId),
    }),
  }),
});

function notFound(what: string): GraphQLError {
  return new GraphQLError(`${what} not found`, { extensions: { code: "NOT_FOUND" } });
}

/**
 * Ends at once when the consumer stops iterating (client unsubscribed or disconnected) or when the
 * caller's key is revoked or expires (`ctx.authLost`, SSE); a dropped slow subscriber's last result is
 * SUBSCRIBER_TOO_SLOW with its cursor (`liveSubscription`).
 */
const until = liveSubscription;

const EMPTY_COUNTS: BatchCounters = {
  total: 0,
  pendingUpload: 0,
  queued: 0,
  processing: 0,
  completed: 0,
  failed: 0,
  needsReview: 0,
  atParse: 0,
  atUnderstand: 0,
  atEmbed: 0,
  atIndex: 0,
};

builder.subscriptionType({});
builder.subscriptionFields((t) => ({
  batchProgress: t.field({
    authScopes: { read: true },
    type: BatchProgress,
    description:
      "Every event of the batch after `after` (0: from the start), then live; coalesced into a few messages per second. NOT_FOUND for another tenant's batch. Scope: read",
    args: {
      id: t.arg.id({ required: true, description: "the batch to follow" }),
      after: t.arg.int({
        defaultValue: 0,
        description: "resume after this seq (a message's `cursor`); 0 replays the batch's whole log first",
      }),
    },
    subscribe: async (_root, args, ctx) => {
      const batchId = String(args.id);
      const batch = await graphReads.batch(ctx.prisma, { select: { id: true } }, ctx.tenantId, batchId);
      if (!batch) throw notFound(`batch ${batchId}`);
      const hub = ctx.progress;
      return until(ctx, async function* (signal) {
        for await (const events of eventStream({
          hub,
          db: ctx.prisma,
          tenantId: ctx.tenantId,
          batchId,
          after: Math.max(0, args.after ?? 0),
          coalesceMs: COALESCE_MS,
          signal,
        })) {
          const counts = events.at(-1)!.payload.batch ?? EMPTY_COUNTS;
          const { perMinute, etaSeconds } = hub.rate(ctx.tenantId, batchId, counts);
          yield { batchId, events, counts, perMinute, etaSeconds } satisfies BatchMessage;
        }
      });
    },
    resolve: (m: BatchMessage) => m,
  }),
  documentProgress: t.field({
    authScopes: { read: true },
    type: DocumentProgress,
    description:
      "Every event of the document after `after` (a batch seq; 0: from the start), then live. NOT_FOUND for another tenant's document. Scope: read",
    args: {
      id: t.arg.id({ required: true, description: "the document to follow" }),
      after: t.arg.int({
        defaultValue: 0,
        description:
          "resume after this batch seq (a message's `cursor`); 0 replays the document's events first",
      }),
    },
    subscribe: async (_root, args, ctx) => {
      const documentId = String(args.id);
      const doc = await graphReads.document(
        ctx.prisma,
        { select: { id: true, batchId: true } },
        ctx.tenantId,
        documentId,
      );
      if (!doc) throw notFound(`document ${documentId}`);
      return until(ctx, async function* (signal) {
        for await (const events of eventStream({
          hub: ctx.progress,
          db: ctx.prisma,
          tenantId: ctx.tenantId,
          batchId: doc.batchId,
          documentId,
          after: Math.max(0, args.after ?? 0),
          signal,
        })) {
          for (const event of events) yield { event, documentId };
        }
      });
    },
    resolve: (m: { event: PipelineEvent; documentId: string }) => m,
  }),
}));
