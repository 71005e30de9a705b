import { readArtifact } from "../artifact-cache.ts";
import { documentMetadata, documentOptions, documentProvenance, type StoredField } from "../domain/codecs.ts";
import { objectKeys } from "../domain/context.ts";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import type { PageImage, PageWord } from "../ports/models.ts";
import { chosenForBatch } from "../repositories/categories.ts";
import { understandInputs } from "../repositories/understand-inputs.ts";
import type { StageHandler } from "./types.ts";

export type { StoredField };

/**
 * Classifies and extracts the category's fields in one model call, constrained to the batch's
 * categories (the tenant's, versioned). OCR words and page images from parse go along; the tenant's
 * confirmed labels teach the models that learn. A person's corrections survive a re-run.
 */
export const understandStage: StageHandler = async ({
  doc,
  deps,
  categories: catalog,
  signal,
  understandInputs: claimed,
}) => {
  const { store, db } = deps;
  const parse = documentProvenance.read(doc.provenance)?.PARSE;
  const [text, { options, learned, labelled, categories: rows }, words, images] = await Promise.all([
    readArtifact(deps.artifacts, doc.textKey!, parse?.textSha256, (k) => store.get(k)).then((b) =>
      b.toString("utf8"),
    ),
    claimed
      ? Promise.resolve().then(claimed)
      : understandInputs(db, { tenantId: doc.tenantId, batchId: doc.batchId, documentId: doc.id }),
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
  // None yet: the catalog seeds the defaults.
  const categories =
    rows.length > 0 ? chosenForBatch(rows, options) : await catalog.forBatch(doc.tenantId, options);
  const model = documentOptions.read(doc.options)?.models?.understand;
  const u = await deps.models.understand({
    text,
    name: doc.name,
    categories,
    words,
    images: images.length > 0 ? images : undefined,
    learned,
    model,
    signal,
  });
  const chosen = categories.find((c) => c.name === (labelled ?? u.category));
  if (!chosen) {
    throw new DocumentError(
      FailureCode.MODEL_OUTPUT_INVALID,
      `${u.model} answered category "${u.category}", which is not one of ${categories.map((c) => c.name).join(", ")}`,
    );
  }
  // A person's word outranks a model's: a confirmed category and corrected fields stay.
  const metadata = documentMetadata.read(doc.metadata);
  const old = metadata?.fields ?? [];
  const human = old.filter((f) => f.source === "human");
  const fields: StoredField[] = [
    ...u.fields
      .filter((f) => !human.some((h) => h.name === f.name))
      .map((f) => ({ ...f, source: "model" as const })),
    ...human,
  ];
  const threshold = deps.settings.reviewThreshold;
  const confidence = labelled ? 1 : u.confidence;
  const lowFields = fields.filter((f) => f.confidence < threshold).map((f) => f.name);
  const needsReview = confidence < threshold || lowFields.length > 0;
  const { fields: _f, model: _m, lowConfidence: _l, ...kept } = metadata ?? {};
  return {
    data: {
      category: chosen.name,
      confidence,
      categoryVersion: chosen.version,
      metadata: documentMetadata.write({ ...kept, fields, model: u.model, lowConfidence: lowFields }),
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
