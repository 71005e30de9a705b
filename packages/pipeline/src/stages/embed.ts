import { chunkText } from "../chunk.ts";
import { objectKeys } from "../domain/context.ts";
import { CHUNKER_VERSION } from "../domain/versions.ts";
import type { ChunksArtifact, StageHandler } from "./types.ts";

export { CHUNKER_VERSION };

/** Splits the text into chunks and embeds them in batches; the vectors go to an artifact for index. */
export const embedStage: StageHandler = async ({ doc, deps, signal }) => {
  const text = (await deps.store.get(doc.textKey!)).toString("utf8");
  const chunks = chunkText(text);
  const vectors: number[][] = [];
  for (let i = 0; i < chunks.length; i += deps.settings.embedBatchSize) {
    const slice = chunks.slice(i, i + deps.settings.embedBatchSize);
    vectors.push(
      ...(await deps.models.embed(
        slice.map((c) => c.text),
        signal,
      )),
    );
  }
  const artifact: ChunksArtifact = {
    model: deps.models.names.embed,
    dimensions: deps.models.embeddingDimensions,
    chunks: chunks.map((c, i) => ({ chunk: c.chunk, text: c.text, embedding: vectors[i]! })),
  };
  await deps.store.put(objectKeys.chunks(doc.tenantId, doc.id), JSON.stringify(artifact), "application/json");
  return {
    data: {},
    provenance: { model: artifact.model, dimensions: artifact.dimensions, chunker: CHUNKER_VERSION },
    payload: { chunks: chunks.length, model: artifact.model },
  };
};
