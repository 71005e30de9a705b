import type { Db } from "./db.ts";

/** The tenant with this id, created with `name` when missing. */
export function ensure(db: Db, id: string, name: string) {
  return db.tenant.upsert({ where: { id }, create: { id, name }, update: {} });
}

export function findById(db: Db, id: string) {
  return db.tenant.findUnique({ where: { id } });
}

/** The oldest tenant of this name (names are not unique). */
export function findOldestByName(db: Db, name: string) {
  return db.tenant.findFirst({ where: { name }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

export function create(db: Db, name: string) {
  return db.tenant.create({ data: { name } });
}
