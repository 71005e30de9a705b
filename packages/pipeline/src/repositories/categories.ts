import type { Category as CategoryRow } from "@docfleet/schema";
import { type BatchOptions, categoryDefinition, categoryFields } from "../domain/codecs.ts";
import type { CategoryFields } from "../ports/models.ts";
import type { Db } from "./db.ts";

/** A category as stored: its definition read through the codecs, with its version. */
export interface StoredCategory {
  name: string;
  description: string;
  keywords: string[];
  fields: CategoryFields;
  version: number;
  updatedAt: Date;
}

export interface CategoryDefinition {
  description: string;
  keywords: string[];
  fields: CategoryFields;
}

export function toCategory(
  r: Pick<CategoryRow, "name" | "description" | "keywords" | "fields" | "version" | "updatedAt">,
): StoredCategory {
  return {
    name: r.name,
    description: r.description,
    keywords: r.keywords,
    fields: categoryFields.read(r.fields),
    version: r.version,
    updatedAt: r.updatedAt,
  };
}

function definitionJson(c: CategoryDefinition) {
  return categoryDefinition.write({ description: c.description, keywords: c.keywords, fields: c.fields });
}

/** The tenant's categories by name. */
export async function list(db: Db, tenantId: string): Promise<StoredCategory[]> {
  const rows = await db.category.findMany({ where: { tenantId }, orderBy: { name: "asc" } });
  return rows.map(toCategory);
}

/** The tenant's category row of this name (id and version for a guarded change), or null. */
export async function findRow(db: Db, tenantId: string, name: string) {
  const row = await db.category.findUnique({ where: { tenantId_name: { tenantId, name } } });
  return row ? { id: row.id, ...toCategory(row) } : null;
}

/** Creates a category at version 1 with its first definition; a taken name throws P2002. */
export async function create(
  db: Db,
  tenantId: string,
  c: CategoryDefinition & { name: string },
): Promise<StoredCategory> {
  const row = await db.category.create({
    data: {
      tenantId,
      name: c.name,
      description: c.description,
      keywords: c.keywords,
      fields: categoryFields.write(c.fields),
      versions: { create: { version: 1, definition: definitionJson(c) } },
    },
  });
  return toCategory(row);
}

/**
 * Writes a new definition as `version`, guarded on the version read before (`version - 1`), and records
 * it. False when another change got there first.
 */
export async function updateGuarded(
  db: Db,
  tenantId: string,
  id: string,
  version: number,
  next: CategoryDefinition,
): Promise<boolean> {
  const res = await db.category.updateMany({
    where: { id, tenantId, version: version - 1 },
    data: {
      description: next.description,
      keywords: next.keywords,
      fields: categoryFields.write(next.fields),
      version,
    },
  });
  if (res.count !== 1) return false;
  await db.categoryVersion.create({ data: { categoryId: id, version, definition: definitionJson(next) } });
  return true;
}

/** Copies a default set into the tenant (two first requests may race: the loser's rows are skipped). */
export async function seed(
  db: Db,
  tenantId: string,
  defaults: readonly (CategoryDefinition & { name: string })[],
): Promise<void> {
  await db.category.createMany({
    data: defaults.map((c) => ({
      tenantId,
      name: c.name,
      description: c.description,
      keywords: c.keywords,
      fields: categoryFields.write(c.fields),
    })),
    skipDuplicates: true,
  });
  const rows = await db.category.findMany({ where: { tenantId } });
  await db.categoryVersion.createMany({
    data: rows.map((r) => ({
      categoryId: r.id,
      version: r.version,
      definition: definitionJson(toCategory(r)),
    })),
    skipDuplicates: true,
  });
}

/** Of the tenant's categories, the ones a batch allows: its chosen ones, or all of them. */
export function chosenForBatch(all: StoredCategory[], batchOptions: BatchOptions | null): StoredCategory[] {
  const chosen = batchOptions?.categories;
  if (!chosen || chosen.length === 0) return all;
  const names = new Set(chosen);
  const picked = all.filter((c) => names.has(c.name));
  return picked.length > 0 ? picked : all;
}
