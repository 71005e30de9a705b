import { createHash } from "node:crypto";
import type { Prisma } from "@docfleet/schema";
import { artifactSha256 } from "../artifact-cache.ts";
import { objectKeys } from "../domain/context.ts";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import { PARSER_VERSION } from "../domain/versions.ts";
import * as documents from "../repositories/documents.ts";
import type { StageHandler } from "./types.ts";

export { PARSER_VERSION };

/** What parse records for the later stages (in the document's provenance). */
export interface ParseProvenance {
  parser: string;
  detectedType: string;
  /** Pages read by OCR. */
  ocrPages: number[];
  /** Pages whose text ends with lines of form field values or annotation text ("Form field ...:", "Annotation ..."). */
  annotationPages: number[];
  /** Pages with an image for a vision model (artifacts `page-N.jpg`). */
  images: number[];
  /** OCR words stored (artifact `words.json`). */
  words: boolean;
  truncated: boolean;
  /** sha256 of the stored text (artifact `text.txt`): later stages may read it from memory when it matches. */
  textSha256: string;
}

/**
 * Detects the type from the bytes, extracts the text (OCR for pages without a text layer) and stores
 * the artifacts: text, OCR words, page images for a vision model, a thumbnail.
 */
export const parseStage: StageHandler = async ({ doc, deps, signal, progress }) => {
  const { settings, store } = deps;
  if (doc.size > settings.maxUploadBytes) {
    throw new DocumentError(
      FailureCode.TOO_LARGE,
      `${doc.size} bytes is over the limit of ${settings.maxUploadBytes}`,
    );
  }
  const bytes = await store.get(doc.objectKey);
  // The first read of the original, on every store: the bytes must be the ones the upload declared
  // (S3 cannot check a POST's sha256). A mismatch is never a dedupe source.
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  if (sha256 !== doc.sha256) {
    await documents.releaseSha256(deps.db.prisma, doc.id, doc.sha256);
    throw new DocumentError(
      FailureCode.CHECKSUM_MISMATCH,
      `the stored bytes have sha256 ${sha256}, the upload declared ${doc.sha256}: upload the file again`,
    );
  }
  const parsed = await deps.parser.parse(
    bytes,
    {
      maxPages: settings.maxPages,
      maxTextChars: settings.maxTextChars,
      fileName: doc.name,
      maxPixels: settings.maxPixels,
      maxOcrPages: settings.maxOcrPages,
      visionPixelBudget: deps.models.visionPixelBudget,
    },
    signal,
    progress,
  );
  const { tenantId, id } = doc;
  const textKey = objectKeys.text(tenantId, id);
  // The text as bytes once: stored, hashed into the provenance, kept for this worker's next stages.
  const text = Buffer.from(parsed.text, "utf8");
  const textSha256 = artifactSha256(text);
  const writes: Promise<void>[] = [store.put(textKey, text, "text/plain; charset=utf-8")];
  if (parsed.words.length > 0) {
    writes.push(store.put(objectKeys.words(tenantId, id), JSON.stringify(parsed.words), "application/json"));
  }
  for (const image of parsed.images) {
    writes.push(store.put(objectKeys.pageImage(tenantId, id, image.page), image.data, "image/jpeg"));
  }
  const thumbnailKey = parsed.thumbnail ? objectKeys.thumbnail(tenantId, id) : null;
  if (parsed.thumbnail && thumbnailKey) writes.push(store.put(thumbnailKey, parsed.thumbnail, "image/webp"));
  await Promise.all(writes);
  deps.artifacts?.remember(textKey, textSha256, text);
  const provenance: ParseProvenance = {
    parser: PARSER_VERSION,
    detectedType: parsed.detectedType,
    ocrPages: parsed.pages.filter((p) => p.source === "ocr").map((p) => p.number),
    // Pages whose text ends with form field values or annotation text (marked as such in the text).
    annotationPages: parsed.pages.filter((p) => (p.annotations ?? 0) > 0).map((p) => p.number),
    images: parsed.images.map((i) => i.page),
    words: parsed.words.length > 0,
    truncated: parsed.truncated,
    textSha256,
  };
  return {
    data: {
      detectedType: parsed.detectedType,
      pageCount: parsed.pageCount,
      textKey,
      thumbnailKey,
      ...(parsed.title || parsed.attachments.length
        ? {
            metadata: {
              ...(parsed.title ? { title: parsed.title } : {}),
              ...(parsed.attachments.length ? { attachments: parsed.attachments } : {}),
            } as Prisma.InputJsonValue,
          }
        : {}),
    },
    provenance: provenance as unknown as Record<string, unknown>,
    payload: {
      detectedType: parsed.detectedType,
      pageCount: parsed.pageCount,
      chars: parsed.text.length,
      ocrPages: provenance.ocrPages.length,
    },
  };
};
