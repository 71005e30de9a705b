import { graphReads } from "@docfleet/pipeline";
import { builder } from "../builder.ts";
import { pageCap } from "../paging.ts";
import { Node } from "./node.ts";

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
    total: t.exposeInt("total", { description: "documents registered in the batch (every status)" }),
    pendingUpload: t.exposeInt("pendingUpload", {
      description: "registered, waiting for their bytes and completeUploads (PENDING_UPLOAD)",
    }),
    queued: t.exposeInt("queued", { description: "waiting for a worker at some stage (QUEUED)" }),
    processing: t.exposeInt("processing", { description: "held by a worker right now (PROCESSING)" }),
    completed: t.exposeInt("completed", { description: "through every stage, searchable (COMPLETED)" }),
    failed: t.exposeInt("failed", { description: "stopped with a reason code (FAILED); see `quarantine`" }),
    needsReview: t.exposeInt("needsReview", {
      description:
        "completed documents flagged for a person's check (low confidence); counted in completed too",
    }),
    done: t.int({
      description: "completed + failed: documents that will not move again on their own",
      resolve: (c) => c.completed + c.failed,
    }),
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
    parse: t.exposeInt("atParse", { description: "at PARSE (type detection, text extraction, OCR)" }),
    understand: t.exposeInt("atUnderstand", {
      description: "at UNDERSTAND (classification, field extraction)",
    }),
    embed: t.exposeInt("atEmbed", { description: "at EMBED (chunk embeddings)" }),
    index: t.exposeInt("atIndex", { description: "at INDEX (writing to the search index)" }),
  }),
});

export const Batch = builder.prismaObject("Batch", {
  // createBatch answers a Batch to upload keys: its id, nothing of what it holds (issue 15).
  authScopes: { read: true },
  description:
    "A set of documents uploaded together, with live counters; the unit progress is followed by (batchProgress). Needs the read scope",
  interfaces: [Node],
  fields: (t) => ({
    id: t.exposeID("id", {
      skipTypeScopes: true,
      description: "the batch's id (a UUID); node(id) finds it too",
    }),
    name: t.exposeString("name", { description: "the name given at createBatch" }),
    options: t.expose("options", {
      type: "JSON",
      description: 'options given at createBatch, e.g. {"categories":["invoice"]}',
    }),
    createdAt: t.expose("createdAt", { type: "DateTime", description: "when the batch was created" }),
    counts: t.field({
      type: BatchCounts,
      description: "documents per status, as of now (the same counters batchProgress streams)",
      resolve: (b) => b,
    }),
    stages: t.field({
      type: StageCounts,
      description: "queued or processing documents per stage, as of now",
      resolve: (b) => b,
    }),
    finished: t.boolean({
      description: "true once every registered document is COMPLETED or FAILED",
      resolve: (b) => b.total > 0 && b.completed + b.failed === b.total,
    }),
    lastEventSeq: t.exposeInt("eventSeq", {
      description:
        "seq of the batch's latest event (0: none yet); batchProgress(after: lastEventSeq) follows only what happens next",
    }),
    documents: t.relatedConnection(
      "documents",
      {
        description:
          "the batch's documents in id order, a page of at most 100 (more is refused with BAD_REQUEST)",
        cursor: "id",
        totalCount: true,
        maxSize: pageCap,
        query: { orderBy: { id: "asc" } },
      },
      { description: "A page of a batch's documents (Relay connection)" },
      { description: "One document of the page, with its cursor" },
    ),
  }),
});

const CreateBatchInput = builder.inputType("CreateBatchInput", {
  description: "A new batch",
  fields: (t) => ({
    name: t.string({ required: true, description: "a name for people (not unique)" }),
    categories: t.stringList({ required: false, description: "limit classification to these categories" }),
  }),
});

builder.queryFields((t) => ({
  batch: t.prismaField({
    authScopes: { read: true },
    type: "Batch",
    nullable: true,
    description:
      "One of the tenant's batches; null when it has none with this id (another tenant's included). Scope: read",
    args: { id: t.arg.id({ required: true, description: "the batch's id (createBatch's answer)" }) },
    resolve: (query, _root, args, ctx) => graphReads.batch(ctx.prisma, query, ctx.tenantId, String(args.id)),
  }),
  batches: t.prismaConnection(
    {
      authScopes: { read: true },
      type: "Batch",
      cursor: "id",
      maxSize: pageCap,
      description:
        "The tenant's batches, newest first, a page of at most 100 (more is refused with BAD_REQUEST). Scope: read",
      resolve: (query, _root, _args, ctx) => graphReads.batches(ctx.prisma, query, ctx.tenantId),
    },
    { description: "A page of the tenant's batches (Relay connection)" },
    { description: "One batch of the page, with its cursor" },
  ),
}));

builder.mutationFields((t) => ({
  createBatch: t.prismaField({
    authScopes: { upload: true },
    type: "Batch",
    description:
      "Starts a batch to upload documents into (then requestUploads, the uploads, completeUploads). Scope: upload",
    args: { input: t.arg({ type: CreateBatchInput, required: true, description: "its name and options" }) },
    resolve: (_query, _root, { input }, ctx) => ctx.services.intake.createBatch(ctx.tenantId, input),
  }),
}));
