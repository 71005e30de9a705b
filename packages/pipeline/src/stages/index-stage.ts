import { readArtifact } from "../artifact-cache.ts";
import { documentMetadata, documentProvenance } from "../domain/codecs.ts";
import { objectKeys } from "../domain/context.ts";
import type { IndexField } from "../ports/search.ts";
import type { ChunksArtifact, StageHandler } from "./types.ts";

/** Upserts the document's chunks, category, date and extracted fields into search under deterministic ids. */
export const indexStage: StageHandler = async ({ doc, deps }) => {
  const chunksSha256 = documentProvenance.read(doc.provenance)?.EMBED?.chunksSha256;
  const artifact = JSON.parse(
    (
      await readArtifact(deps.artifacts, objectKeys.chunks(doc.tenantId, doc.id), chunksSha256, (k) =>
        deps.store.get(k),
      )
    ).toString("utf8"),
  ) as ChunksArtifact;
  const stored = documentMetadata.read(doc.metadata)?.fields ?? [];
  const fields: IndexField[] = stored.map((f) => ({ name: f.name, kind: f.kind, value: f.value }));
  await deps.search.upsert([
    {
      documentId: doc.id,
      tenantId: doc.tenantId,
      batchId: doc.batchId,
      name: doc.name,
      category: doc.category,
      createdAt: doc.createdAt.toISOString(),
      date: documentDate(stored),
      fields,
      chunks: artifact.chunks,
    },
  ]);
  return {
    data: {},
    provenance: { category: doc.category, chunks: artifact.chunks.length },
    payload: { chunks: artifact.chunks.length },
  };
};

/** The document's own date: a field named `date`, else the first date field (`invoice_date`, ...). */
export function documentDate(
  fields: readonly { name: string; kind: string; value: string }[],
): string | null {
  const dates = fields.filter((f) => f.kind === "date" && /^\d{4}-\d{2}-\d{2}$/.test(f.value));
  return (
    (dates.find((f) => f.name === "date") ?? dates.find((f) => !/due|expir/.test(f.name)) ?? dates[0])
      ?.value ?? null
  );
}
