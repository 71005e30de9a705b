import type { Prisma } from "@docfleet/schema";
import { builder } from "../builder.ts";
import { uuidOrNil } from "./batch.ts";

export const DocumentStatus = builder.enumType("DocumentStatus", {
  values: ["PENDING_UPLOAD", "QUEUED", "PROCESSING", "COMPLETED", "FAILED"] as const,
});
export const Stage = builder.enumType("Stage", {
  values: ["PARSE", "UNDERSTAND", "EMBED", "INDEX"] as const,
});

const Field = builder.objectRef<{
  name: string;
  kind: string;
  raw: string;
  value: string;
  currency?: string;
  confidence: number;
  page?: number;
  span?: [number, number];
}>("ExtractedField");
Field.implement({
  fields: (t) => ({
    name: t.exposeString("name"),
    kind: t.exposeString("kind"),
    raw: t.exposeString("raw", { description: "as printed in the document" }),
    value: t.exposeString("value", { description: "normalised (ISO date, decimal amount, ...)" }),
    currency: t.exposeString("currency", { nullable: true }),
    confidence: t.exposeFloat("confidence"),
    page: t.exposeInt("page", { nullable: true }),
    start: t.int({ nullable: true, resolve: (f) => f.span?.[0] ?? null }),
    end: t.int({ nullable: true, resolve: (f) => f.span?.[1] ?? null }),
  }),
});

export const Document = builder.prismaObject("Document", {
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    sha256: t.exposeString("sha256"),
    size: t.exposeInt("size"),
    contentType: t.exposeString("contentType", { nullable: true }),
    detectedType: t.exposeString("detectedType", { nullable: true }),
    status: t.expose("status", { type: DocumentStatus }),
    stage: t.expose("stage", { type: Stage, nullable: true }),
    category: t.exposeString("category", { nullable: true }),
    confidence: t.exposeFloat("confidence", { nullable: true }),
    needsReview: t.exposeBoolean("needsReview"),
    pageCount: t.exposeInt("pageCount", { nullable: true }),
    errorCode: t.exposeString("errorCode", { nullable: true }),
    errorMessage: t.exposeString("errorMessage", { nullable: true }),
    attempts: t.exposeInt("attempts"),
    timings: t.expose("timings", { type: "JSON", description: "milliseconds per stage" }),
    fields: t.field({
      type: [Field],
      description: "extracted fields",
      resolve: (d) => ((d.metadata as { fields?: unknown[] } | null)?.fields ?? []) as never,
    }),
    model: t.string({
      nullable: true,
      resolve: (d) => (d.metadata as { model?: string } | null)?.model ?? null,
    }),
    batch: t.relation("batch"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    completedAt: t.expose("completedAt", { type: "DateTime", nullable: true }),
    text: t.string({
      nullable: true,
      description: "the extracted text (first 100,000 characters)",
      select: { textKey: true },
      resolve: async (d, _args, ctx) =>
        d.textKey ? (await ctx.pipeline.deps.store.get(d.textKey)).toString("utf8").slice(0, 100_000) : null,
    }),
    downloadUrl: t.string({
      description: "a signed URL to the original file, valid for 15 minutes",
      select: { objectKey: true, name: true },
      resolve: (d, _args, ctx) =>
        ctx.pipeline.deps.store.createDownloadUrl(d.objectKey, { ttlSeconds: 900, fileName: d.name }),
    }),
  }),
});

const DocumentFilter = builder.inputType("DocumentFilter", {
  fields: (t) => ({
    batchId: t.id(),
    status: t.field({ type: [DocumentStatus] }),
    category: t.stringList(),
    errorCode: t.stringList(),
    needsReview: t.boolean(),
  }),
});

builder.queryFields((t) => ({
  document: t.prismaField({
    type: "Document",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.document.findFirst({
        ...query,
        where: { id: uuidOrNil(String(args.id)), tenantId: ctx.tenantId },
      }),
  }),
  documents: t.prismaConnection({
    type: "Document",
    cursor: "id",
    args: { filter: t.arg({ type: DocumentFilter }) },
    totalCount: (_conn, args, ctx) =>
      ctx.prisma.document.count({ where: documentWhere(ctx.tenantId, args.filter) }),
    resolve: (query, _root, args, ctx) =>
      ctx.prisma.document.findMany({
        ...query,
        where: documentWhere(ctx.tenantId, args.filter),
        orderBy: { id: "asc" },
      }),
  }),
}));

function documentWhere(
  tenantId: string,
  f:
    | {
        batchId?: string | number | null;
        status?: string[] | null;
        category?: string[] | null;
        errorCode?: string[] | null;
        needsReview?: boolean | null;
      }
    | null
    | undefined,
): Prisma.DocumentWhereInput {
  return {
    tenantId,
    ...(f?.batchId ? { batchId: uuidOrNil(String(f.batchId)) } : {}),
    ...(f?.status?.length ? { status: { in: f.status as never } } : {}),
    ...(f?.category?.length ? { category: { in: f.category } } : {}),
    ...(f?.errorCode?.length ? { errorCode: { in: f.errorCode } } : {}),
    ...(typeof f?.needsReview === "boolean" ? { needsReview: f.needsReview } : {}),
  };
}
