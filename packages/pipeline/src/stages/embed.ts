import { artifactSha256, readArtifact } from "../artifact-cache.ts";
import { chunkText } from "../chunk.ts";
import { documentProvenance } from "../domain/codecs.ts";
import { objectKeys } from "../domain/context.ts";
import { CHUNKER_VERSION } from "../domain/versions.ts";
import type { ChunksArtifact, StageHandler } from "./types.ts";

export { CHUNKER_VERSION };

/** Splits the text into chunks and embeds them in batches; the vectors go to an artifact for index. */
export const embedStage: StageHandler = async ({ doc, deps, signal }) => {
  const textSha256 = documentProvenance.read(doc.provenance)?.PARSE?.textSha256;
  const text = (
    await readArtifact(deps.artifacts, doc.textKey!, textSha256, (k) => deps.store.get(k))
  ).toString("utf8");
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
  const chunksKey = objectKeys.chunks(doc.tenantId, doc.id);
  const body = Buffer.from(JSON.stringify(artifact), "utf8");
  const chunksSha256 = artifactSha256(body);
  await deps.store.put(chunksKey, body, "application/json");
  deps.artifacts?.remember(chunksKey, chunksSha256, body);
  return {
    data: {},
    provenance: {
      model: artifact.model,
      dimensions: artifact.dimensions,
      chunker: CHUNKER_VERSION,
      chunksSha256,
    },
    payload: { chunks: chunks.length, model: artifact.model },
  };
};
