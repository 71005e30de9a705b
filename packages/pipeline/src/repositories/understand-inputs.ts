import { type BatchOptions, batchOptions, learnedLabels } from "../domain/codecs.ts";
import type { LearnedLabels } from "../ports/models.ts";
import { type StoredCategory, toCategory } from "./categories.ts";
import type { SqlQuery } from "./transition.ts";

/** What the understand stage reads from the database about a document, besides the document. */
export interface UnderstandInputs {
  /** The batch's options (`batches.optionsOf`). */
  options: BatchOptions | null;
  /** What the tenant's labels taught (`labels.learnedOf`). */
  learned: LearnedLabels | undefined;
  /** The document's confirmed category (`labels.labelledCategory`). */
  labelled: string | null;
  /** The tenant's categories in name order (`categories.list`): none before they are seeded. */
  categories: StoredCategory[];
}

/** The understand stage's reads in one statement instead of four queries. */
export async function understandInputs(
  db: SqlQuery,
  q: { tenantId: string; batchId: string; documentId: string },
): Promise<UnderstandInputs> {
  const [row] = await db.query<{
    options: unknown;
    learned: unknown;
    labelled: string | null;
    categories: {
      name: string;
      description: string;
      keywords: string[];
      fields: unknown;
      version: number;
      updatedAt: string;
    }[];
  }>(
    `SELECT
       (SELECT options FROM batch WHERE id = $2::uuid AND tenant_id = $1::uuid) AS options,
       (SELECT learned FROM tenant_model WHERE tenant_id = $1::uuid) AS learned,
       (SELECT category FROM label WHERE document_id = $3::uuid AND tenant_id = $1::uuid) AS labelled,
       (SELECT coalesce(json_agg(json_build_object('name', name, 'description', description,
                 'keywords', keywords, 'fields', fields, 'version', version, 'updatedAt', updated_at)
                 ORDER BY name), '[]'::json)
          FROM category WHERE tenant_id = $1::uuid) AS categories`,
    [q.tenantId, q.batchId, q.documentId],
    // Every document's understand stage runs it: parsed once per connection.
    { prepared: true },
  );
  return {
    options: row?.options == null ? null : batchOptions.read(row.options),
    learned: row?.learned == null ? undefined : learnedLabels.read(row.learned),
    labelled: row?.labelled ?? null,
    categories: (row?.categories ?? []).map((c) =>
      toCategory({ ...c, fields: c.fields as never, updatedAt: new Date(c.updatedAt) }),
    ),
  };
}
