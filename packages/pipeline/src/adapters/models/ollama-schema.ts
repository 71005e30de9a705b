import { z } from "zod";
import type { Category, FieldKind, FieldSchema } from "../../ports/models.ts";

/** Recorded in every Understanding; bump it with any change to the prompt or the answer schema. */
export const PROMPT_VERSION = "ollama-understand@1";

type Json = Record<string, unknown>;

export function fieldKind(s: FieldSchema): FieldKind {
  if (s.type === "array") return fieldKind(s.items);
  if (s.type === "number") return "number";
  if (s.enum) return "enum";
  return s.format ?? "string";
}

/**
 * The `format` schema for one understand call: an `anyOf` with one object per category, each fixing
 * `category` to that category's name (a one-member enum, so across branches `category` is an enum of
 * the tenant's categories) and listing that category's fields only.
 *
 * Why anyOf of per-category objects: Ollama turns `format` into a llama.cpp grammar
 * (json_schema_to_grammar), which supports anyOf, enum, const, nullable type arrays and emits
 * properties in schema order. Since `category` comes first in every branch, the grammar lets the model
 * write only fields of the category it has just chosen. A flat object with every category's fields
 * would let a model fill invoice fields on a letter, and if/then/else or $ref-based dependencies are
 * not supported by that converter.
 *
 * Every field is an object {value, confidence, evidence} (money adds currency); arrays hold such
 * objects. Values are asked for as printed, so that they can be found in the text; docfleet
 * normalises them afterwards.
 */
export function understandFormat(categories: readonly Category[]): Json {
  return {
    anyOf: categories.map((c) => ({
      type: "object",
      description: c.description,
      properties: {
        category: { type: "string", enum: [c.name], description: c.description },
        confidence: { type: "number", minimum: 0, maximum: 1 },
        fields: {
          type: "object",
          properties: Object.fromEntries(
            Object.entries(c.fields?.properties ?? {}).map(([name, s]) => [name, fieldFormat(s)]),
          ),
          required: Object.keys(c.fields?.properties ?? {}),
        },
      },
      required: ["category", "confidence", "fields"],
    })),
  };
}

function fieldFormat(s: FieldSchema): Json {
  if (s.type === "array") return { type: "array", description: s.description, items: fieldFormat(s.items) };
  const value: Json =
    s.type === "number"
      ? { type: ["number", "null"] }
      : s.enum
        ? { type: ["string", "null"], enum: [...s.enum, null] }
        : { type: ["string", "null"] };
  if (s.type === "string" && s.format === "date") value.description = "the date as printed";
  if (s.type === "string" && s.format === "money") value.description = "the amount as printed";
  if (s.description) value.description = [s.description, value.description].filter(Boolean).join("; ");
  const properties: Json = { value };
  if (s.type === "string" && s.format === "money")
    properties.currency = { type: ["string", "null"], description: "ISO 4217 code, e.g. EUR" };
  properties.confidence = { type: "number", minimum: 0, maximum: 1 };
  properties.evidence = {
    type: ["string", "null"],
    description: "the shortest passage that shows the value",
  };
  return { type: "object", properties, required: Object.keys(properties) };
}

// ----------------------------------------------------------------------------------------- the answer

const unit = z.number().min(0).max(1);

export interface FieldAnswer {
  value: string | number | null;
  currency?: string | null;
  confidence: number;
  evidence: string | null;
}
export interface Answer {
  category: string;
  confidence: number;
  fields: Record<string, FieldAnswer | FieldAnswer[]>;
}

function fieldZod(s: FieldSchema): z.ZodType {
  if (s.type === "array") return z.array(fieldZod(s.items));
  const value =
    s.type === "number"
      ? z.number().nullable()
      : s.enum && s.enum.length > 0
        ? z.enum(s.enum as [string, ...string[]]).nullable()
        : z.string().nullable();
  return z.object({
    value,
    ...(s.type === "string" && s.format === "money" ? { currency: z.string().nullable().optional() } : {}),
    confidence: unit,
    evidence: z.string().nullable(),
  });
}

/** Validates a model's answer against the same schema as `understandFormat` (zod built from it). */
export function answerValidator(categories: readonly Category[]) {
  const byName = new Map(
    categories.map((c) => [
      c.name,
      z.object({
        category: z.literal(c.name),
        confidence: unit,
        fields: z.object(
          Object.fromEntries(
            Object.entries(c.fields?.properties ?? {}).map(([name, s]) => [name, fieldZod(s)]),
          ),
        ),
      }),
    ]),
  );
  return (content: string): { ok: true; answer: Answer } | { ok: false; reason: string } => {
    let json: unknown;
    try {
      json = JSON.parse(content);
    } catch (err) {
      return { ok: false, reason: `not JSON (${(err as Error).message}): ${content.slice(0, 120)}` };
    }
    const category = (json as { category?: unknown } | null)?.category;
    const schema = typeof category === "string" ? byName.get(category) : undefined;
    if (!schema)
      return {
        ok: false,
        reason: `category ${JSON.stringify(category)} is not one of ${[...byName.keys()].join(", ")}`,
      };
    const res = schema.safeParse(json);
    if (!res.success)
      return {
        ok: false,
        reason: res.error.issues.map((i) => `${i.path.join(".") || "(answer)"}: ${i.message}`).join("; "),
      };
    return { ok: true, answer: res.data as Answer };
  };
}

// ----------------------------------------------------------------------------------------- the prompt

export const SYSTEM_PROMPT = [
  "You sort business documents into categories and extract data from them.",
  "Choose the one category that fits the document best, then fill that category's fields.",
  "For each field give: value exactly as printed in the document (null when the document does not show it),",
  "confidence between 0 and 1 that the value is right, and evidence: the shortest passage of the document that shows it.",
  "confidence at the top level is how sure you are of the category.",
  "Answer with JSON only.",
].join(" ");

export function describeCategories(categories: readonly Category[]): string {
  return categories
    .map((c) => {
      const fields = Object.entries(c.fields?.properties ?? {}).map(
        ([name, s]) =>
          `${name} (${fieldKind(s)}${s.type === "array" ? ", list" : ""}${s.description ? `: ${s.description}` : ""})`,
      );
      return `- ${c.name}: ${c.description}${fields.length ? `\n  fields: ${fields.join("; ")}` : ""}`;
    })
    .join("\n");
}
