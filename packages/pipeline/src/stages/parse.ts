import { objectKeys } from "../context.ts";
import { DocumentError, FailureCode } from "../errors.ts";
import { parseDocument } from "../parse/index.ts";
import type { StageHandler } from "./types.ts";

/** Detects the type from the bytes, extracts the text and stores it as an artifact. */
export const parseStage: StageHandler = async ({ doc, deps }) => {
  const { settings, store } = deps;
  if (doc.size > settings.maxUploadBytes) {
    throw new DocumentError(
      FailureCode.TOO_LARGE,
      `${doc.size} bytes is over the limit of ${settings.maxUploadBytes}`,
    );
  }
  const bytes = await store.get(doc.objectKey);
  const parsed = await parseDocument(bytes, {
    maxPages: settings.maxPages,
    maxTextChars: settings.maxTextChars,
    fileName: doc.name,
  });
  const textKey = objectKeys.text(doc.tenantId, doc.id);
  await store.put(textKey, parsed.text, "text/plain; charset=utf-8");
  return {
    data: { detectedType: parsed.detectedType, pageCount: parsed.pageCount, textKey },
    payload: { detectedType: parsed.detectedType, pageCount: parsed.pageCount, chars: parsed.text.length },
  };
};
