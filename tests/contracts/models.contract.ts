import { DocumentError, FailureCode, type Models } from "@docfleet/pipeline";
import { describe, expect, it } from "vitest";
import { TEST_CATEGORIES } from "../ollama-double/fixtures.ts";

export interface ModelsFixture {
  models: Models;
  close(): Promise<void>;
}

const INVOICE = [
  "ACME Tools GmbH",
  "INVOICE",
  "Invoice number: INV-2024-0042",
  "Invoice date: 14 March 2024",
  "Total due: 1,234.50 EUR",
].join("\n");

/**
 * What every adapter of the models port promises, whatever the model behind it: an answer inside the
 * allowed categories, only declared fields with the declared kinds and normalised values, confidences
 * in [0, 1], the model and prompt versions recorded as `names` and `promptVersion` say, unit vectors
 * of the declared length in input order, and MODEL_UNAVAILABLE for a model the backend does not have.
 */
export function modelsContract(name: string, make: () => Promise<ModelsFixture>) {
  describe(`models port contract: ${name}`, () => {
    const use = async (fn: (m: Models) => Promise<void>) => {
      const fx = await make();
      try {
        await fn(fx.models);
      } finally {
        await fx.close();
      }
    };

    it("answers one of the allowed categories with only its declared fields, typed and normalised", () =>
      use(async (models) => {
        for (const allowed of [TEST_CATEGORIES, TEST_CATEGORIES.filter((c) => c.name !== "invoice")]) {
          const u = await models.understand({ text: INVOICE, name: "a.txt", categories: allowed });
          const category = allowed.find((c) => c.name === u.category);
          expect(category, `${u.category} is allowed`).toBeDefined();
          expect(u.confidence).toBeGreaterThanOrEqual(0);
          expect(u.confidence).toBeLessThanOrEqual(1);
          expect(u.model).toBe(models.names.understand);
          expect(u.promptVersion).toBe(models.promptVersion);
          const declared = category!.fields?.properties ?? {};
          for (const f of u.fields) {
            expect(Object.keys(declared), `field ${f.name}`).toContain(f.name);
            expect(f.confidence).toBeGreaterThanOrEqual(0);
            expect(f.confidence).toBeLessThanOrEqual(1);
            if (f.kind === "date") expect(f.value).toMatch(/^\d{4}-\d{2}-\d{2}$/);
            if (f.kind === "money" || f.kind === "number") expect(f.value).toMatch(/^-?\d+(\.\d+)?$/);
            if (f.span) expect(INVOICE.slice(f.span[0], f.span[1]).length).toBe(f.span[1] - f.span[0]);
          }
        }
      }));

    it("embeds in input order: unit vectors of the declared length, the same text the same vector", () =>
      use(async (models) => {
        const texts = ["invoice total due", "a letter to a friend", "invoice total due"];
        const vectors = await models.embed(texts);
        expect(vectors).toHaveLength(3);
        for (const v of vectors) {
          expect(v).toHaveLength(models.embeddingDimensions);
          expect(Math.hypot(...v)).toBeCloseTo(1, 3);
        }
        expect(vectors[2]).toEqual(vectors[0]);
        expect(vectors[1]).not.toEqual(vectors[0]);
        expect(await models.embed([])).toEqual([]);
      }));

    it("refuses a model the backend does not have with MODEL_UNAVAILABLE", () =>
      use(async (models) => {
        const err = await models
          .understand({ text: INVOICE, categories: TEST_CATEGORIES, model: "no-such-model:1b" })
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(DocumentError);
        expect((err as DocumentError).code).toBe(FailureCode.MODEL_UNAVAILABLE);
        expect((err as Error).message).toContain("no-such-model:1b");
        expect(models.qualify("no-such-model:1b")).toContain("no-such-model:1b");
      }));
  });
}
