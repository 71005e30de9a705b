import type { Prisma } from "@docfleet/schema";
import { z } from "zod";
import type { CategoryFields, ExtractedField, LearnedLabels } from "../ports/models.ts";
import { STAGES } from "./messages.ts";

/**
 * One codec per JSON column: every read of stored JSON goes through `read` (checked, typed), every write
 * through `write`. The only cast to Prisma's JSON type in the code base is here, after the value was typed.
 */
export interface JsonCodec<T> {
  /** The stored value, checked; throws a ZodError naming the column when it does not fit. */
  read(json: unknown): T;
  /** The value as Prisma takes it for a Json column. */
  write(value: T): Prisma.InputJsonValue;
}

function codec<S extends z.ZodType>(column: string, schema: S): JsonCodec<z.output<S>> {
  return {
    read(json) {
      const res = schema.safeParse(json);
      if (res.success) return res.data;
      throw new Error(`stored ${column} does not fit its schema: ${res.error.message}`);
    },
    write: (value) => value as Prisma.InputJsonValue,
  };
}

const stage = z.enum(STAGES);

/** `document.options`: per-document options a retry or reprocess set; kept until the run is spent. */
export const DocumentOptionsSchema = z.looseObject({
  /** Time budget of each stage run, instead of the deployment's DOCFLEET_STAGE_TIMEOUT_MS. */
  stageTimeoutMs: z.number().int().positive().optional(),
  /** The stages this run goes through (a reprocess); absent: every stage after the current one. */
  stages: z.array(stage).optional(),
  /** Models for this run instead of the deployment's (a reprocess with another model). */
  models: z.looseObject({ understand: z.string().optional() }).optional(),
});
export type DocumentOptions = z.output<typeof DocumentOptionsSchema>;
export const documentOptions = codec("document.options", DocumentOptionsSchema.nullable());

/** `document.timings`: milliseconds per stage of the last run of each. */
export const documentTimings = codec("document.timings", z.record(z.string(), z.number()));

/** What parse records for the later stages (in the document's provenance). */
export const ParseProvenanceSchema = z.looseObject({
  parser: z.string(),
  detectedType: z.string(),
  /** Pages read by OCR. */
  ocrPages: z.array(z.number()),
  /** Pages whose text ends with form field values or annotation text, marked as such (PDF; parse-3 on). */
  annotationPages: z.array(z.number()).optional(),
  /** Pages with an image for a vision model (artifacts `page-N.jpg`). */
  images: z.array(z.number()),
  /** OCR words stored (artifact `words.json`). */
  words: z.boolean(),
  truncated: z.boolean(),
  /** sha256 of the stored text (absent before issue 17's artifact cache). */
  textSha256: z.string().optional(),
});
export type ParseProvenance = z.output<typeof ParseProvenanceSchema>;

/** `document.provenance`: what produced each stage's result (parser, model, prompt and category versions). */
export const ProvenanceSchema = z.looseObject({
  PARSE: ParseProvenanceSchema.partial().optional(),
  UNDERSTAND: z
    .looseObject({
      model: z.string().optional(),
      promptVersion: z.string().optional(),
      category: z.string().optional(),
      categoryVersion: z.number().optional(),
    })
    .optional(),
  EMBED: z
    .looseObject({
      model: z.string().optional(),
      dimensions: z.number().optional(),
      chunker: z.string().optional(),
      /** sha256 of the stored chunks artifact (absent before issue 17's artifact cache). */
      chunksSha256: z.string().optional(),
    })
    .optional(),
  INDEX: z.looseObject({ category: z.string().nullable().optional() }).optional(),
});
export type Provenance = z.output<typeof ProvenanceSchema>;
export const documentProvenance = codec("document.provenance", ProvenanceSchema.nullable());

const fieldKind = z.enum(["string", "date", "money", "number", "enum"]);
/** A field as stored on the document: what a model found, or what a person set (`source: "human"`). */
export const StoredFieldSchema = z.looseObject({
  name: z.string(),
  kind: fieldKind,
  raw: z.string(),
  value: z.string(),
  currency: z.string().optional(),
  confidence: z.number(),
  span: z.tuple([z.number(), z.number()]).optional(),
  page: z.number().optional(),
  bbox: z.tuple([z.number(), z.number(), z.number(), z.number()]).optional(),
  source: z.enum(["model", "human"]).optional(),
});
export type StoredField = ExtractedField & { source?: "model" | "human" };

/** `document.metadata`: extracted fields, the model, low-confidence fields, and what parse found (attachments...). */
export const DocumentMetadataSchema = z.looseObject({
  fields: z.array(StoredFieldSchema).optional(),
  model: z.string().optional(),
  lowConfidence: z.array(z.string()).optional(),
});
export interface DocumentMetadata {
  fields?: StoredField[];
  model?: string;
  lowConfidence?: string[];
  /** Files attached to a message (EML, MSG): name, size, contentType. */
  attachments?: unknown;
  [key: string]: unknown;
}
export const documentMetadata: JsonCodec<DocumentMetadata | null> = codec(
  "document.metadata",
  DocumentMetadataSchema.nullable(),
) as JsonCodec<DocumentMetadata | null>;

/** `batch.options`: the categories a batch allows (absent or empty: all of the tenant's). */
export const BatchOptionsSchema = z.looseObject({ categories: z.array(z.string()).optional() });
export type BatchOptions = z.output<typeof BatchOptionsSchema>;
export const batchOptions = codec("batch.options", BatchOptionsSchema.nullable());

/** `tenant_model.learned`: what a tenant's confirmed labels taught the classifier. */
export const learnedLabels: JsonCodec<LearnedLabels> = codec(
  "tenant_model.learned",
  z.object({
    docs: z.record(z.string(), z.number()),
    tokens: z.record(z.string(), z.record(z.string(), z.number())),
  }),
);

const scalarField = z.looseObject({
  type: z.enum(["string", "number"]),
  format: z.enum(["date", "money"]).optional(),
  enum: z.array(z.string()).optional(),
  description: z.string().optional(),
});
/** `category.fields`: the JSON Schema subset a category declares its fields in (validated on input). */
export const categoryFields: JsonCodec<CategoryFields> = codec(
  "category.fields",
  z.looseObject({
    type: z.literal("object"),
    properties: z.record(
      z.string(),
      z.union([
        z.looseObject({ type: z.literal("array"), items: scalarField, description: z.string().optional() }),
        scalarField,
      ]),
    ),
    required: z.array(z.string()).optional(),
  }),
) as JsonCodec<CategoryFields>;

/** `category_version.definition`: a category as it was at one version. */
export const categoryDefinition: JsonCodec<{
  description: string;
  keywords: string[];
  fields: CategoryFields;
}> = codec(
  "category_version.definition",
  z.looseObject({ description: z.string(), keywords: z.array(z.string()), fields: z.unknown() }),
) as JsonCodec<{ description: string; keywords: string[]; fields: CategoryFields }>;

/** `worker.concurrency`: messages handled at once per stage. */
export const workerConcurrency = codec("worker.concurrency", z.record(z.string(), z.number()));
