import { type BatchCounters, graphReads, type PipelineEvent } from "@docfleet/pipeline";
import { GraphQLError } from "graphql";
import { builder, type Context } from "../builder.ts";
import { COALESCE_MS, eventStream } from "../progress.ts";
import { BatchCounts, StageCounts } from "./batch.ts";
import { DocumentStatus, Stage } from "./document.ts";

// Live progress: every subscription first replays the event log after its cursor, then follows the
// live stream, so a client that reconnects with its cursor misses nothing and sees nothing twice.

const ProgressEvent = builder.objectRef<PipelineEvent>("ProgressEvent");
ProgressEvent.implement({
  description: "One state change of the batch, with its per-batch sequence number",
  fields: (t) => ({
    seq: t.exposeInt("seq"),
    type: t.exposeString("type"),
    documentId: t.exposeID("documentId", { nullable: true }),
    status: t.field({
      type: DocumentStatus,
      nullable: true,
      resolve: (e) => e.payload.status ?? null,
    }),
    stage: t.field({ type: Stage, nullable: true, resolve: (e) => e.payload.stage ?? null }),
    code: t.string({ nullable: true, resolve: (e) => e.payload.code ?? null }),
    message: t.string({ nullable: true, resolve: (e) => e.payload.message ?? null }),
    createdAt: t.field({ type: "DateTime", resolve: (e) => e.createdAt }),
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
    batchId: t.exposeID("batchId"),
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
    events: t.field({ type: [ProgressEvent], resolve: (m) => m.events }),
    counts: t.field({ type: BatchCounts, resolve: (m) => m.counts }),
    stages: t.field({ type: StageCounts, resolve: (m) => m.counts }),
    finished: t.boolean({
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
  fields: (t) => ({
    cursor: t.int({
      description: "the event's seq: resubscribe with `after: cursor` to resume",
      resolve: (m) => m.event.seq,
    }),
    event: t.field({ type: ProgressEvent, resolve: (m) => m.event }),
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
 * Aborts when the consumer stops iterating (client unsubscribed or disconnected), or at once when the
 * caller's key is revoked or expires (`ctx.authLost`, SSE; the gateway then ends the stream).
 */
async function* until<T>(
  ctx: Pick<Context, "authLost">,
  make: (signal: AbortSignal) => AsyncGenerator<T>,
): AsyncGenerator<T> {
  const controller = new AbortController();
  const onLost = () => controller.abort();
  if (ctx.authLost?.aborted) controller.abort();
  else ctx.authLost?.addEventListener("abort", onLost, { once: true });
  const inner = make(controller.signal);
  try {
    yield* inner;
  } finally {
    ctx.authLost?.removeEventListener("abort", onLost);
    controller.abort();
    await inner.return(undefined);
  }
}

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
      "Every event of the batch after `after` (0: from the start), then live; coalesced into a few messages per second",
    args: {
      id: t.arg.id({ required: true }),
      after: t.arg.int({ defaultValue: 0 }),
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
    description: "Every event of the document after `after` (a batch seq; 0: from the start), then live",
    args: {
      id: t.arg.id({ required: true }),
      after: t.arg.int({ defaultValue: 0 }),
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
