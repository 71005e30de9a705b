import { graphReads } from "@docfleet/pipeline";
import { builder } from "../builder.ts";

export const BatchCounts = builder.objectRef<{
  total: number;
  pendingUpload: number;
  queued: number;
  processing: number;
  completed: number;
  failed: number;
  needsReview: number;
}>("BatchCounts");
BatchCounts.implement({
  authScopes: { read: true },
  description: "Documents per status, kept incrementally (reading them never counts rows)",
  fields: (t) => ({
    total: t.exposeInt("total"),
    pendingUpload: t.exposeInt("pendingUpload"),
    queued: t.exposeInt("queued"),
    processing: t.exposeInt("processing"),
    completed: t.exposeInt("completed"),
    failed: t.exposeInt("failed"),
    needsReview: t.exposeInt("needsReview"),
    done: t.int({ description: "completed + failed", resolve: (c) => c.completed + c.failed }),
  }),
});

export const StageCounts = builder.objectRef<{
  atParse: number;
  atUnderstand: number;
  atEmbed: number;
  atIndex: number;
}>("StageCounts");
StageCounts.implement({
  authScopes: { read: true },
  description: "Queued or processing documents per stage",
  fields: (t) => ({
    parse: t.exposeInt("atParse"),
    understand: t.exposeInt("atUnderstand"),
    embed: t.exposeInt("atEmbed"),
    index: t.exposeInt("atIndex"),
  }),
});

export const Batch = builder.prismaObject("Batch", {
  // createBatch answers a Batch to upload keys: its id, nothing of what it holds (issue 15).
  authScopes: { read: true },
  fields: (t) => ({
    id: t.exposeID("id", { skipTypeScopes: true }),
    name: t.exposeString("name"),
    options: t.expose("options", { type: "JSON" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    counts: t.field({ type: BatchCounts, resolve: (b) => b }),
    stages: t.field({ type: StageCounts, resolve: (b) => b }),
    finished: t.boolean({
      description: "true once every registered document is COMPLETED or FAILED",
      resolve: (b) => b.total > 0 && b.completed + b.failed === b.total,
    }),
    lastEventSeq: t.exposeInt("eventSeq"),
    documents: t.relatedConnection("documents", {
      cursor: "id",
      totalCount: true,
      query: { orderBy: { id: "asc" } },
    }),
  }),
});

const CreateBatchInput = builder.inputType("CreateBatchInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    categories: t.stringList({ required: false, description: "limit classification to these categories" }),
  }),
});

builder.queryFields((t) => ({
  batch: t.prismaField({
    authScopes: { read: true },
    type: "Batch",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) => graphReads.batch(ctx.prisma, query, ctx.tenantId, String(args.id)),
  }),
  batches: t.prismaConnection({
    authScopes: { read: true },
    type: "Batch",
    cursor: "id",
    resolve: (query, _root, _args, ctx) => graphReads.batches(ctx.prisma, query, ctx.tenantId),
  }),
}));

builder.mutationFields((t) => ({
  createBatch: t.prismaField({
    authScopes: { upload: true },
    type: "Batch",
    args: { input: t.arg({ type: CreateBatchInput, required: true }) },
    resolve: (_query, _root, { input }, ctx) => ctx.services.intake.createBatch(ctx.tenantId, input),
  }),
}));
