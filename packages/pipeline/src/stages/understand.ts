import type { Prisma } from "@docfleet/schema";
import type { Category } from "../ports/models.ts";
import type { StageHandler } from "./types.ts";

/** Classifies and extracts fields in one model call, constrained to the batch's categories. */
export const understandStage: StageHandler = async ({ doc, deps }) => {
  const text = (await deps.store.get(doc.textKey!)).toString("utf8");
  const batch = await deps.db.prisma.batch.findUniqueOrThrow({
    where: { id: doc.batchId },
    select: { options: true },
  });
  const categories = categoriesFor(batch.options, deps.categories);
  const u = await deps.models.understand({ text, name: doc.name, categories });
  const threshold = deps.settings.reviewThreshold;
  const lowFields = u.fields.filter((f) => f.confidence < threshold).map((f) => f.name);
  const needsReview = u.confidence < threshold || lowFields.length > 0;
  return {
    data: {
      category: u.category,
      confidence: u.confidence,
      metadata: {
        fields: u.fields,
        model: u.model,
        lowConfidence: lowFields,
      } as unknown as Prisma.InputJsonValue,
    },
    needsReview,
    payload: { category: u.category, confidence: u.confidence, needsReview },
  };
};

/** The batch's chosen categories (by name) out of the known ones; all of them when it chose none. */
export function categoriesFor(options: unknown, all: readonly Category[]): Category[] {
  const chosen = (options as { categories?: unknown } | null)?.categories;
  if (!Array.isArray(chosen) || chosen.length === 0) return [...all];
  const names = new Set(chosen.map(String));
  const picked = all.filter((c) => names.has(c.name));
  return picked.length > 0 ? picked : [...all];
}
