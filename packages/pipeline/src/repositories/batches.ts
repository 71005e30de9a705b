import type { Batch } from "@docfleet/schema";
import { type BatchOptions, batchOptions } from "../domain/codecs.ts";
import { isUuid } from "../domain/ids.ts";
import type { Db } from "./db.ts";

/** The tenant's batch, or null (unknown id, another tenant's, or not an id at all). */
export function findOwned(db: Db, tenantId: string, batchId: string): Promise<Batch | null> {
  return isUuid(batchId) ? db.batch.findFirst({ where: { id: batchId, tenantId } }) : Promise.resolve(null);
}

export function create(
  db: Db,
  data: { tenantId: string; name: string; options: BatchOptions },
): Promise<Batch> {
  return db.batch.create({
    data: { tenantId: data.tenantId, name: data.name, options: batchOptions.write(data.options) },
  });
}

/** A batch's options, read through their codec. */
export async function optionsOf(db: Db, tenantId: string, batchId: string): Promise<BatchOptions | null> {
  const row = await db.batch.findUniqueOrThrow({
    where: { id: batchId, tenantId },
    select: { options: true },
  });
  return batchOptions.read(row.options);
}
