import { documentMetadata, graphReads, type StoredField } from "@docfleet/pipeline";
import { builder } from "../builder.ts";
import { pageCap } from "../paging.ts";
import { Node } from "./node.ts";

export const DocumentStatus = builder.enumType("DocumentStatus", {
  description: "Where a document is in its life: uploaded, waiting, worked on, done or stopped",
  values: {
    PENDING_UPLOAD: {
      description: "registered by requestUploads; its bytes or completeUploads are still to come",
    },
    QUEUED: { description: "waiting for a worker at `stage`" },
    PROCESSING: { description: "a worker is running `stage` on it" },
    COMPLETED: { description: "through every stage: searchable, with its category and fields" },
    FAILED: {
      description: "stopped at `stage` with errorCode and errorMessage; retryDocuments can run it again",
    },
  } as const,
});
export const Stage = builder.enumType("Stage", {
  description: "The pipeline's stages, in order",
  values: {
    PARSE: {
      description: "type detection, text extraction (OCR for scans and photos), page count, thumbnail",
    },
    UNDERSTAND: {
      description: "classification into the tenant's categories and extraction of the category's fields",
    },
    EMBED: { description: "cutting the text into chunks and embedding each" },
    INDEX: { description: "writing the text, fields and vectors to the search index" },
  } as const,
});

const Field = builder.objectRef<StoredField>("ExtractedField");
Field.implement({
  authScopes: { read: true },
  description: "One field extracted from a document (a category declares its fields), or set by a person",
  fields: (t) => ({
    name: t.exposeString("name", {
      description: "the field's name, snake_case, as the category declares it",
    }),
    kind: t.exposeString("kind", {
      description: "string, date, money, number or enum (how `value` is normalised)",
    }),
    raw: t.exposeString("raw", { description: "as printed in the document" }),
    value: t.exposeString("value", { description: "normalised (ISO date, decimal amount, ...)" }),
    currency: t.exposeString("currency", {
      nullable: true,
      description: "money: the ISO 4217 code, when known",
    }),
    confidence: t.exposeFloat("confidence", { description: "0..1; 1 for a value a person set" }),
    page: t.exposeInt("page", {
      nullable: true,
      description: "1-based page the value was read on, when known",
    }),
    start: t.int({
      nullable: true,
      description: "offset in `Document.text` (characters, 0-based) where the raw value starts",
      resolve: (f) => f.span?.[0] ?? null,
    }),
    end: t.int({
      nullable: true,
      description: "offset in `Document.text` just after the raw value (exclusive)",
      resolve: (f) => f.span?.[1] ?? null,
    }),
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
  description:
    "One uploaded file and everything docfleet learnt from it: type, text, category, fields, provenance. Needs the read scope (an upload key sees its id and status only)",
  interfaces: [Node],
  fields: (t) => ({
    id: t.exposeID("id", {
      skipTypeScopes: true,
      description: "the document's id (a UUID); node(id) finds it too",
    }),
    name: t.exposeString("name", { description: "the file's name (with its folder path) as uploaded" }),
    sha256: t.exposeString("sha256", {
      description: "hex SHA-256 of the content; the tenant holds each content once",
    }),
    size: t.exposeInt("size", { description: "bytes" }),
    contentType: t.exposeString("contentType", {
      nullable: true,
      description: "the MIME type the client announced",
    }),
    detectedType: t.exposeString("detectedType", {
      nullable: true,
      description: "the MIME type PARSE found from the content (null before PARSE)",
    }),
    status: t.expose("status", {
      type: DocumentStatus,
      skipTypeScopes: true,
      description: "where it is in its life (see stage)",
    }),
    stage: t.expose("stage", {
      type: Stage,
      nullable: true,
      description: "QUEUED, PROCESSING: the stage it waits for or runs; FAILED: where it stopped; else null",
    }),
    category: t.exposeString("category", {
      nullable: true,
      description: "the category UNDERSTAND chose (or a person set); null before",
    }),
    confidence: t.exposeFloat("confidence", {
      nullable: true,
      description: "0..1, the classifier's confidence in `category`",
    }),
    needsReview: t.exposeBoolean("needsReview", {
      description:
        "true when a person should check it (low confidence, a field not found); cleared by correctDocument",
    }),
    pageCount: t.exposeInt("pageCount", {
      nullable: true,
      description: "pages (PDF, office files), 1 for an image; null before PARSE",
    }),
    errorCode: t.exposeString("errorCode", {
      nullable: true,
      description: "FAILED: the reason code (UNSUPPORTED_TYPE, CORRUPT, TIMEOUT, RETRIES_EXHAUSTED, ...)",
    }),
    errorMessage: t.exposeString("errorMessage", {
      nullable: true,
      description: "FAILED: the reason in words",
    }),
    attempts: t.exposeInt("attempts", {
      description: "runs of the current stage so far (reset when a stage completes)",
    }),
    timings: t.expose("timings", { type: "JSON", description: "milliseconds per stage" }),
    fields: t.field({
      type: [Field],
      description: "extracted fields",
      resolve: (d) => documentMetadata.read(d.metadata)?.fields ?? [],
    }),
    model: t.string({
      nullable: true,
      description: "the model that classified it and extracted its fields",
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
    correctedAt: t.expose("correctedAt", {
      type: "DateTime",
      nullable: true,
      description: "when a person last corrected it (correctDocument); null if never",
    }),
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
    batch: t.relation("batch", { description: "the batch it was uploaded in" }),
    createdAt: t.expose("createdAt", {
      type: "DateTime",
      description: "when it was registered (requestUploads)",
    }),
    completedAt: t.expose("completedAt", {
      type: "DateTime",
      nullable: true,
      description: "when it last became COMPLETED; null before",
    }),
    text: t.string({
      nullable: true,
      description: "the extracted text (first 100,000 characters)",
      select: { textKey: true },
      resolve: (d, _args, ctx) => ctx.services.documents.text(ctx.tenantId, d),
    }),
    downloadUrl: t.string({
      description:
        "a signed URL to the original file under its own name, valid for 15 minutes: a download, or with `inline` a preview in the browser for types shown without running anything (PDF, raster images, plain text); other types stay downloads",
      args: {
        inline: t.arg.boolean({
          defaultValue: false,
          description: "ask for an inline preview instead of a download (honoured for safe types only)",
        }),
      },
      select: { objectKey: true, name: true, detectedType: true, contentType: true },
      resolve: (d, args, ctx) =>
        ctx.services.documents.downloadUrl(ctx.tenantId, d, { inline: args.inline ?? false }),
    }),
  }),
});

const DocumentFilter = builder.inputType("DocumentFilter", {
  description: "Which documents to list; every given condition must hold",
  fields: (t) => ({
    batchId: t.id({ description: "only this batch's documents" }),
    status: t.field({ type: [DocumentStatus], description: "documents in any of these statuses" }),
    category: t.stringList({ description: "documents of any of these categories" }),
    errorCode: t.stringList({ description: "failed documents with any of these reason codes" }),
    needsReview: t.boolean({
      description: "true: only documents waiting for review; false: only the others",
    }),
  }),
});

builder.queryFields((t) => ({
  document: t.prismaField({
    authScopes: { read: true },
    type: "Document",
    nullable: true,
    description:
      "One of the tenant's documents; null when it has none with this id (another tenant's included). Scope: read",
    args: { id: t.arg.id({ required: true, description: "the document's id" }) },
    resolve: (query, _root, args, ctx) =>
      graphReads.document(ctx.prisma, query, ctx.tenantId, String(args.id)),
  }),
  documents: t.prismaConnection(
    {
      authScopes: { read: true },
      type: "Document",
      cursor: "id",
      maxSize: pageCap,
      description:
        "The tenant's documents matching `filter`, in id order, a page of at most 100 (more is refused with BAD_REQUEST, not capped). Scope: read",
      args: { filter: t.arg({ type: DocumentFilter, description: "which documents (default: all)" }) },
      totalCount: (_conn, args, ctx) => graphReads.countDocuments(ctx.prisma, ctx.tenantId, args.filter),
      resolve: (query, _root, args, ctx) =>
        graphReads.documents(ctx.prisma, query, ctx.tenantId, args.filter),
    },
    { description: "A page of the tenant's documents (Relay connection)" },
    { description: "One document of the page, with its cursor" },
  ),
}));

const FieldCorrection = builder.inputType("FieldCorrection", {
  description: "A field's value as a person sets it",
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
  description: "Which completed documents to reprocess; every given condition must hold",
  fields: (t) => ({
    batchId: t.id({ description: "only this batch's documents" }),
    ids: t.idList({ description: "only these documents, at most 1000" }),
    category: t.stringList({ description: "documents of any of these categories" }),
    needsReview: t.boolean({
      description: "true: only documents waiting for review; false: only the others",
    }),
  }),
});

const ReprocessModels = builder.inputType("ReprocessModels", {
  description: "Models to use for this run instead of the deployment's",
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
  description: "What reprocess did with the selected documents",
  fields: (t) => ({
    queued: t.exposeInt("queued", { description: "documents queued to run the stages again" }),
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
      "Records a person's fix of a completed document's category and/or fields; the category becomes a training label for the tenant's classifier. Scopes: read and upload",
    args: {
      id: t.arg.id({ required: true, description: "the document (NOT_FOUND if not the tenant's)" }),
      category: t.arg.string({
        description: "the right category (one of the tenant's); left out: unchanged",
      }),
      fields: t.arg({
        type: [FieldCorrection],
        description: "fields to set (others stay); BAD_REQUEST for a field the category does not declare",
      }),
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
      "Re-runs `stages` for the selected completed documents where something changed (model, prompt or category version, parser, chunker); `force` re-runs regardless. Index follows what runs. Scope: admin",
    args: {
      filter: t.arg({ type: ReprocessFilter, required: true, description: "which completed documents" }),
      stages: t.arg({
        type: [Stage],
        required: true,
        description: "the stages to run again (later ones follow)",
      }),
      models: t.arg({ type: ReprocessModels, description: "other models for this run" }),
      force: t.arg.boolean({
        defaultValue: false,
        description: "run even where nothing changed (default false: up-to-date documents are skipped)",
      }),
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
