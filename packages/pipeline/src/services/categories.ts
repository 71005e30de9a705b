import type { PrismaClient } from "@docfleet/schema";
import { z } from "zod";
import type { BatchOptions } from "../domain/codecs.ts";
import { CategoryError } from "../domain/errors.ts";
import type { Category, CategoryFields, ExtractedField, FieldSchema } from "../ports/models.ts";
import * as repo from "../repositories/categories.ts";
import { isUniqueViolation } from "../repositories/db.ts";

export type { StoredCategory } from "../repositories/categories.ts";
export { CategoryError };

type StoredCategory = repo.StoredCategory;

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const description = z.string().trim().max(2000).optional();

const scalar = z.union([
  z.strictObject({ type: z.literal("string"), description }),
  z.strictObject({ type: z.literal("string"), format: z.enum(["date", "money"]), description }),
  z.strictObject({
    type: z.literal("string"),
    enum: z.array(z.string().trim().min(1).max(200)).min(1).max(100),
    description,
  }),
  z.strictObject({ type: z.literal("number"), description }),
]);
const fieldSchema = z.union([
  scalar,
  z.strictObject({ type: z.literal("array"), items: scalar, description }),
]);

/** The JSON Schema subset categories declare their fields in. */
export const CategoryFieldsSchema = z
  .strictObject({
    type: z.literal("object"),
    properties: z
      .record(z.string().regex(NAME, "field names are snake_case: a-z, 0-9, _"), fieldSchema)
      .refine((p) => Object.keys(p).length <= 50, "at most 50 fields"),
    required: z.array(z.string()).optional(),
  })
  .refine((f) => (f.required ?? []).every((r) => r in f.properties), "`required` names undeclared fields");

export const CategoryInputSchema = z.strictObject({
  name: z.string().regex(NAME, "category names are snake_case: a-z, 0-9, _ (at most 63)"),
  description: z.string().trim().min(1).max(2000),
  keywords: z.array(z.string().trim().min(1).max(100)).max(500).default([]),
  fields: CategoryFieldsSchema.default({ type: "object", properties: {} }),
});
export type CategoryInput = z.input<typeof CategoryInputSchema>;

function validate<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  const issues = res.error.issues.map((i) => `${[what, ...i.path].join(".")}: ${i.message}`);
  throw new CategoryError("BAD_REQUEST", issues.join("; "));
}

export function parseCategoryFields(value: unknown): CategoryFields {
  return validate(CategoryFieldsSchema, value, "fields") as CategoryFields;
}

/**
 * Categories are per-tenant data: a tenant starts with the deployment's default set (copied on first
 * use) and defines or changes its own. Every change bumps the version and keeps the old definition,
 * so each extraction can say which definition produced it.
 */
export class CategoriesService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly defaults: readonly Category[],
  ) {}

  /** The tenant's categories by name (seeding the default set the first time). */
  async list(tenantId: string): Promise<StoredCategory[]> {
    const rows = await repo.list(this.prisma, tenantId);
    if (rows.length > 0) return rows;
    await repo.seed(
      this.prisma,
      tenantId,
      this.defaults.map((c) => ({
        name: c.name,
        description: c.description,
        keywords: c.keywords ?? [],
        fields: c.fields ?? { type: "object", properties: {} },
      })),
    );
    return repo.list(this.prisma, tenantId);
  }

  async get(tenantId: string, name: string): Promise<StoredCategory | null> {
    const all = await this.list(tenantId);
    return all.find((c) => c.name === name) ?? null;
  }

  /** The categories a batch allows: its chosen ones, or all of the tenant's. */
  async forBatch(tenantId: string, batchOptions: BatchOptions | null): Promise<StoredCategory[]> {
    return repo.chosenForBatch(await this.list(tenantId), batchOptions);
  }

  /** Creates a category; CONFLICT when the tenant already has one of that name. */
  async define(tenantId: string, input: CategoryInput): Promise<StoredCategory> {
    const c = validate(CategoryInputSchema, input, "category");
    await this.list(tenantId); // the defaults come first, so defining one never hides them
    try {
      return await repo.create(this.prisma, tenantId, { ...c, fields: c.fields });
    } catch (err) {
      if (isUniqueViolation(err))
        throw new CategoryError("CONFLICT", `category ${c.name} already exists; change it instead`);
      throw err;
    }
  }

  /**
   * Changes a category's description, keywords or fields (whatever `patch` sets). A real change bumps
   * the version; setting what is already there changes nothing.
   */
  async update(
    tenantId: string,
    name: string,
    patch: { description?: string | null; keywords?: string[] | null; fields?: unknown },
  ): Promise<StoredCategory> {
    await this.list(tenantId);
    for (let attempt = 0; ; attempt++) {
      const row = await repo.findRow(this.prisma, tenantId, name);
      if (!row) throw new CategoryError("NOT_FOUND", `category ${name} not found`);
      const next = validate(
        CategoryInputSchema,
        {
          name,
          description: patch.description ?? row.description,
          keywords: patch.keywords ?? row.keywords,
          fields: patch.fields ?? row.fields,
        },
        "category",
      );
      const same =
        next.description === row.description &&
        JSON.stringify(next.keywords) === JSON.stringify(row.keywords) &&
        canonical(next.fields) === canonical(row.fields);
      const { id: _id, ...current } = row;
      if (same) return current;
      // Guarded on the version read: two concurrent changes never share a version number.
      const version = row.version + 1;
      if (
        await repo.updateGuarded(this.prisma, tenantId, row.id, version, { ...next, fields: next.fields })
      ) {
        const after = await repo.findRow(this.prisma, tenantId, name);
        if (!after) throw new CategoryError("NOT_FOUND", `category ${name} not found`);
        const { id: _a, ...updated } = after;
        return updated;
      }
      if (attempt >= 3) throw new CategoryError("CONFLICT", `category ${name} is being changed concurrently`);
    }
  }
}

/** The kind of value a field schema holds (array fields: their items' kind). */
export function fieldKind(schema: FieldSchema): ExtractedField["kind"] {
  const s = schema.type === "array" ? schema.items : schema;
  if (s.type === "number") return "number";
  if (s.format === "date") return "date";
  if (s.format === "money") return "money";
  if (s.enum) return "enum";
  return "string";
}

/** JSON with object keys sorted at every level (jsonb keeps no key order). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}
