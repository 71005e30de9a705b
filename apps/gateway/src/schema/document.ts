import { documentMetadata, graphReads, type StoredField } from "@docfleet/pipeline";
import { builder } from "../builder.ts";

export const DocumentStatus = builder.enumType("DocumentStatus", {
  values: ["PENDING_UPLOAD", "QUEUED", "PROCESSING", "COMPLETED", "FAILED"] as const,
});
export const Stage = builder.enumType("Stage", {
  values: ["PARSE", "UNDERSTAND", "EMBED", "INDEX"] as const,
});

const Field = builder.objectRef<StoredField>("ExtractedField");
Field.implement({
  authScopes: { read: true },
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
    box: t.intList({
      nullable: true,
      description: "[x0, y0, x1, y1] on the page image, in pixels, when the text came from OCR",
      resolve: (f) => f.bbox ?? null,
    }),
    source: t.string({
      description: "MODEL, or HUMAN for a value a person set with correctDocument",
      resolve: (f) => (f.source === "human" ? "HUMAN" : "MODEL"),
    }),
  }),
});

export const Document = builder.prismaObject("Document", {
  // A mutation's answer reaches documents (requestUploads' `document`): a key without "read" gets
  // their id and status, nothing of their content (issue 15).
  authScopes: { read: true },
  fields: (t) => ({
    id: t.exposeID("id", { skipTypeScopes: true }),
    name: t.exposeString("name"),
    sha256: t.exposeString("sha256"),
    size: t.exposeInt("size"),
    contentType: t.exposeString("contentType", { nullable: true }),
    detectedType: t.exposeString("detectedType", { nullable: true }),
    status: t.expose("status", { type: DocumentStatus, skipTypeScopes: true }),
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
      resolve: (d) => documentMetadata.read(d.metadata)?.fields ?? [],
    }),
    model: t.string({
      nullable: true,
      resolve: (d) => documentMetadata.read(d.metadata)?.model ?? null,
    }),
    categoryVersion: t.exposeInt("categoryVersion", {
      nullable: true,
      description: "the version of the category definition the fields were extracted with",
    }),
    provenance: t.expose("provenance", {
      type: "JSON",
      description: "per stage: the parser, model, prompt and category versions that produced its result",
    }),
    correctedAt: t.expose("correctedAt", { type: "DateTime", nullable: true }),
    attachments: t.field({
      type: "JSON",
      nullable: true,
      description: "files attached to a message (EML, MSG): name, size, contentType",
      resolve: (d) => documentMetadata.read(d.metadata)?.attachments ?? null,
    }),
    thumbnailUrl: t.string({
      nullable: true,
      description: "a signed URL to a small WebP of the first page or image, valid for 15 minutes",
      select: { thumbnailKey: true },
      resolve: (d, _args, ctx) => ctx.services.documents.thumbnailUrl(ctx.tenantId, d),
    }),
    batch: t.relation("batch"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    completedAt: t.expose("completedAt", { type: "DateTime", nullable: true }),
    text: t.string({
      nullable: true,
      description: "the extracted text (first 100,000 characters)",
      select: { textKey: true },
      resolve: (d, _args, ctx) => ctx.services.documents.text(ctx.tenantId, d),
    }),
    downloadUrl: t.string({
      description: "a signed URL to the original file, valid for 15 minutes",
      select: { objectKey: true, name: true },
      resolve: (d, _args, ctx) => ctx.services.documents.downloadUrl(ctx.tenantId, d),
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
    authScopes: { read: true },
    type: "Document",
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, args, ctx) =>
      graphReads.document(ctx.prisma, query, ctx.tenantId, String(args.id)),
  }),
  documents: t.prismaConnection({
    authScopes: { read: true },
    type: "Document",
    cursor: "id",
    args: { filter: t.arg({ type: DocumentFilter }) },
    totalCount: (_conn, args, ctx) => graphReads.countDocuments(ctx.prisma, ctx.tenantId, args.filter),
    resolve: (query, _root, args, ctx) => graphReads.documents(ctx.prisma, query, ctx.tenantId, args.filter),
  }),
}));

const FieldCorrection = builder.inputType("FieldCorrection", {
  fields: (t) => ({
    name: t.string({ required: true, description: "a field the category declares" }),
    value: t.string({
      required: true,
      description: "dates YYYY-MM-DD, money and numbers like 1234.50, enums one of their members",
    }),
    currency: t.string({ description: "ISO 4217 code, for money" }),
  }),
});

const ReprocessFilter = builder.inputType("ReprocessFilter", {
  fields: (t) => ({
    batchId: t.id(),
    ids: t.idList(),
    category: t.stringList(),
    needsReview: t.boolean(),
  }),
});

const ReprocessModels = builder.inputType("ReprocessModels", {
  fields: (t) => ({
    understand: t.string({
      description: "another model of the configured backend, e.g. an Ollama model name",
    }),
    embed: t.string({ description: "must be the index's embedding model (another one needs a reindex)" }),
  }),
});

const ReprocessResult = builder.objectRef<{
  queued: number;
  upToDate: number;
  inFlight: number;
  documentIds: string[];
}>("ReprocessResult");
ReprocessResult.implement({
  fields: (t) => ({
    queued: t.exposeInt("queued"),
    upToDate: t.exposeInt("upToDate", {
      description: "selected documents whose results already match: nothing to do",
    }),
    inFlight: t.exposeInt("inFlight", {
      description: "selected documents still being processed: left alone",
    }),
    documentIds: t.exposeIDList("documentIds", { description: "the queued documents (first 1000)" }),
  }),
});

builder.mutationFields((t) => ({
  correctDocument: t.prismaField({
    authScopes: { $all: { read: true, upload: true } },
    type: "Document",
    description:
      "Records a person's fix of a completed document's category and/or fields; the category becomes a training label for the tenant's classifier",
    args: {
      id: t.arg.id({ required: true }),
      category: t.arg.string(),
      fields: t.arg({ type: [FieldCorrection] }),
    },
    resolve: async (query, _root, args, ctx) => {
      const doc = await ctx.services.review.correctDocument(ctx.tenantId, String(args.id), {
        category: args.category,
        fields: args.fields,
      });
      return graphReads.existingDocument(ctx.prisma, query, ctx.tenantId, doc.id);
    },
  }),
  reprocess: t.field({
    authScopes: { admin: true },
    type: ReprocessResult,
    description:
      "Re-runs `stages` for the selected completed documents where something changed (model, prompt or category version, parser, chunker); `force` re-runs regardless. Index follows what runs.",
    args: {
      filter: t.arg({ type: ReprocessFilter, required: true }),
      stages: t.arg({ type: [Stage], required: true }),
      models: t.arg({ type: ReprocessModels }),
      force: t.arg.boolean({ defaultValue: false }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.operations.reprocess(ctx.tenantId, {
        filter: {
          batchId: args.filter.batchId == null ? null : String(args.filter.batchId),
          documentIds: args.filter.ids?.map(String) ?? null,
          category: args.filter.category,
          needsReview: args.filter.needsReview,
        },
        stages: args.stages,
        models: args.models,
        force: args.force,
      }),
  }),
}));
