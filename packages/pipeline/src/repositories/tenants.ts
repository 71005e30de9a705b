import type { Db } from "./db.ts";
import type { SqlQuery } from "./transition.ts";

/**
 * The tenant with this id, created with `name` when missing; an existing one is left as it is (its name
 * included). Raw SQL (`Database.query`): `serve`'s start-up runs it for the local tenant without
 * initialising Prisma's client.
 */
export async function ensure(db: SqlQuery, id: string, name: string): Promise<void> {
  await db.query("INSERT INTO tenant (id, name) VALUES ($1::uuid, $2::text) ON CONFLICT (id) DO NOTHING", [
    id,
    name,
  ]);
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
