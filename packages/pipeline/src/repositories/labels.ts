import { learnedLabels } from "../domain/codecs.ts";
import type { LearnedLabels } from "../ports/models.ts";
import type { Db, Tx } from "./db.ts";

/** A document's confirmed label (category and the tokens it teaches), or null. */
export function findLabel(db: Db, tenantId: string, documentId: string) {
  return db.label.findUnique({ where: { documentId, tenantId } });
}

/** A document's confirmed category only, or null. */
export async function labelledCategory(db: Db, tenantId: string, documentId: string): Promise<string | null> {
  const row = await db.label.findUnique({ where: { documentId, tenantId }, select: { category: true } });
  return row?.category ?? null;
}

export async function saveLabel(
  tx: Tx,
  label: { tenantId: string; documentId: string; category: string; tokens: string[] },
): Promise<void> {
  await tx.label.upsert({
    where: { documentId: label.documentId },
    create: label,
    update: { category: label.category, tokens: label.tokens, createdAt: new Date() },
  });
}

/** What the tenant's labels taught so far, or undefined before its first label. */
export async function learnedOf(db: Db, tenantId: string): Promise<LearnedLabels | undefined> {
  const row = await db.tenantModel.findUnique({ where: { tenantId }, select: { learned: true } });
  return row ? learnedLabels.read(row.learned) : undefined;
}

/** The tenant's model row, created when missing and locked for this transaction (one relabel at a time). */
export async function lockModel(
  tx: Tx,
  tenantId: string,
): Promise<{ learned: LearnedLabels; labels: number }> {
  await tx.$executeRaw`INSERT INTO tenant_model (tenant_id) VALUES (${tenantId}::uuid) ON CONFLICT DO NOTHING`;
  const [row] = await tx.$queryRaw<{ learned: unknown; labels: number }[]>`
    SELECT learned, labels FROM tenant_model WHERE tenant_id = ${tenantId}::uuid FOR UPDATE`;
  if (!row) throw new Error(`tenant_model row of ${tenantId} vanished inside its transaction`);
  return { learned: learnedLabels.read(row.learned), labels: row.labels };
}

export async function saveModel(
  tx: Tx,
  tenantId: string,
  learned: LearnedLabels,
  labels: number,
): Promise<void> {
  await tx.tenantModel.update({
    where: { tenantId },
    data: { learned: learnedLabels.write(learned), labels },
  });
}
