import { objectKeys } from "../context.ts";
import type { ChunksArtifact, StageHandler } from "./types.ts";

/** Upserts the document's chunks into search under deterministic ids. */
export const indexStage: StageHandler = async ({ doc, deps }) => {
  const artifact = JSON.parse(
    (await deps.store.get(objectKeys.chunks(doc.tenantId, doc.id))).toString("utf8"),
  ) as ChunksArtifact;
  await deps.search.upsert([
    {
      documentId: doc.id,
      tenantId: doc.tenantId,
      batchId: doc.batchId,
      name: doc.name,
      category: doc.category,
      chunks: artifact.chunks,
    },
  ]);
  return {
    data: {},
    provenance: { category: doc.category, chunks: artifact.chunks.length },
    payload: { chunks: artifact.chunks.length },
  };
};
