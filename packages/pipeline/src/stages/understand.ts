import type { Prisma } from "@docfleet/schema";
import { Categories } from "../categories.ts";
import { objectKeys } from "../context.ts";
import { DocumentError, FailureCode } from "../errors.ts";
import type { ExtractedField, LearnedLabels, PageImage, PageWord } from "../ports/models.ts";
import type { DocumentOptions } from "../service.ts";
import type { ParseProvenance } from "./parse.ts";
import type { StageHandler } from "./types.ts";

/** A field as stored on the document: what a model found, or what a person set (`source: "human"`). */
export type StoredField = ExtractedField & { source?: "model" | "human" };

/**
 * Classifies and extracts the category's fields in one model call, constrained to the batch's
 * categories (the tenant's, versioned). OCR words and page images from parse go along; the tenant's
 * confirmed labels teach the models that learn. A person's corrections survive a re-run.
 */
export const understandStage: StageHandler = async ({ doc, deps, signal }) => {
  const { store, db } = deps;
  const prisma = db.prisma;
  const parse = (doc.provenance as { PARSE?: ParseProvenance } | null)?.PARSE;
  const [text, batch, learnedRow, label, words, images] = await Promise.all([
    store.get(doc.textKey!).then((b) => b.toString("utf8")),
    prisma.batch.findUniqueOrThrow({
      where: { id: doc.batchId, tenantId: doc.tenantId },
      select: { options: true },
    }),
    prisma.tenantModel.findUnique({ where: { tenantId: doc.tenantId }, select: { learned: true } }),
    prisma.label.findUnique({
      where: { documentId: doc.id, tenantId: doc.tenantId },
      select: { category: true },
    }),
    parse?.words
      ? store
          .get(objectKeys.words(doc.tenantId, doc.id))
          .then((b) => JSON.parse(b.toString("utf8")) as PageWord[])
      : undefined,
    Promise.all(
      (parse?.images ?? []).map(
        async (page): Promise<PageImage> => ({
          page,
          data: await store.get(objectKeys.pageImage(doc.tenantId, doc.id, page)),
          width: 0,
          height: 0,
        }),
      ),
    ),
  ]);
  const categories = await new Categories(prisma, deps.categories).forBatch(doc.tenantId, batch.options);
  const model = (doc.options as DocumentOptions | null)?.models?.understand;
  const u = await deps.models.understand({
    text,
    name: doc.name,
    categories,
    words,
    images: images.length > 0 ? images : undefined,
    learned: (learnedRow?.learned as LearnedLabels | undefined) ?? undefined,
    model,
    signal,
  });
  const chosen = categories.find((c) => c.name === (label?.category ?? u.category));
  if (!chosen) {
    throw new DocumentError(
      FailureCode.MODEL_OUTPUT_INVALID,
      `${u.model} answered category "${u.category}", which is not one of ${categories.map((c) => c.name).join(", ")}`,
    );
  }
  // A person's word outranks a model's: a confirmed category and corrected fields stay.
  const old = (doc.metadata as { fields?: StoredField[] } | null)?.fields ?? [];
  const human = old.filter((f) => f.source === "human");
  const fields: StoredField[] = [
    ...u.fields
      .filter((f) => !human.some((h) => h.name === f.name))
      .map((f) => ({ ...f, source: "model" as const })),
    ...human,
  ];
  const threshold = deps.settings.reviewThreshold;
  const confidence = label ? 1 : u.confidence;
  const lowFields = fields.filter((f) => f.confidence < threshold).map((f) => f.name);
  const needsReview = confidence < threshold || lowFields.length > 0;
  const {
    fields: _f,
    model: _m,
    lowConfidence: _l,
    ...kept
  } = (doc.metadata ?? {}) as Record<string, unknown>;
  return {
    data: {
      category: chosen.name,
      confidence,
      categoryVersion: chosen.version,
      metadata: {
        ...kept,
        fields,
        model: u.model,
        lowConfidence: lowFields,
      } as unknown as Prisma.InputJsonValue,
    },
    needsReview,
    provenance: {
      model: u.model,
      promptVersion: u.promptVersion,
      category: chosen.name,
      categoryVersion: chosen.version,
    },
    payload: { category: chosen.name, confidence, needsReview, model: u.model },
  };
};
