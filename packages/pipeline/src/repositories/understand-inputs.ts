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

interface InputsRow {
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
}

/** The tenant's categories as one JSON array, in name order, over the tenant id `tenant` (SQL). */
const categoriesJson = (tenant: string) =>
  `(SELECT coalesce(json_agg(json_build_object('name', c.name, 'description', c.description,
       'keywords', c.keywords, 'fields', c.fields, 'version', c.version, 'updatedAt', c.updated_at)
       ORDER BY c.name), '[]'::json)
     FROM category c WHERE c.tenant_id = ${tenant})`;

/** The understand stage's reads in one statement instead of four queries. */
export async function understandInputs(
  db: SqlQuery,
  q: { tenantId: string; batchId: string; documentId: string },
): Promise<UnderstandInputs> {
  const [row] = await db.query<InputsRow>(
    `SELECT
       (SELECT options FROM batch WHERE id = $2::uuid AND tenant_id = $1::uuid) AS options,
       (SELECT learned FROM tenant_model WHERE tenant_id = $1::uuid) AS learned,
       (SELECT category FROM label WHERE document_id = $3::uuid AND tenant_id = $1::uuid) AS labelled,
       ${categoriesJson("$1::uuid")} AS categories`,
    [q.tenantId, q.batchId, q.documentId],
    // Every document's understand stage runs it: parsed once per connection.
    { prepared: true },
  );
  return readInputs(row);
}

/**
 * The same reads as more columns of the understand stage's claim (`transitionOne`'s `also`), saving
 * their statement: SQL over the claim's `d` (the document as claimed) and `b` (its batch row).
 */
export const UNDERSTAND_INPUTS_ALSO = `b.options AS "x_options",
  (SELECT learned FROM tenant_model WHERE tenant_id = d."tenantId") AS "x_learned",
  (SELECT category FROM label WHERE document_id = d.id AND tenant_id = d."tenantId") AS "x_labelled",
  ${categoriesJson('d."tenantId"')} AS "x_categories"`;

/** `UNDERSTAND_INPUTS_ALSO`'s columns of a claim's answer, read as `understandInputs` reads its own. */
export function readUnderstandInputsAlso(row: Record<string, unknown>): UnderstandInputs {
  return readInputs({
    options: row.x_options,
    learned: row.x_learned,
    labelled: (row.x_labelled as string | null) ?? null,
    categories: row.x_categories as InputsRow["categories"],
  });
}

function readInputs(row: InputsRow | undefined): UnderstandInputs {
  return {
    options: row?.options == null ? null : batchOptions.read(row.options),
    learned: row?.learned == null ? undefined : learnedLabels.read(row.learned),
    labelled: row?.labelled ?? null,
    categories: (row?.categories ?? []).map((c) =>
      toCategory({ ...c, fields: c.fields as never, updatedAt: new Date(c.updatedAt) }),
    ),
  };
}
