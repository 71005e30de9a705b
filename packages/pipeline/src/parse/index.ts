import { DocumentError, FailureCode } from "../domain/errors.ts";
import { storable } from "../storable.ts";
import { detectType } from "./detect.ts";
import { extractDocx, isEncryptedOoxml } from "./docx.ts";
import { extractEml, extractMsg } from "./email.ts";
import { extractEpub } from "./epub.ts";
import { extractHtml } from "./html.ts";
import { extractImage } from "./image.ts";
import { extractOdf } from "./odf.ts";
import { extractPdf } from "./pdf.ts";
import { extractPptx } from "./pptx.ts";
import { csvToText, decodeText } from "./text.ts";
import type { DetectedType, Extracted, ParsedDocument, ParseOptions } from "./types.ts";
import { extractXlsx } from "./xlsx.ts";

export { detectType } from "./detect.ts";
export type { Attachment, DetectedType, ParsedDocument, ParsedPage, ParseOptions } from "./types.ts";

/** Types parseDocument reads; others are detected but fail with UNSUPPORTED_TYPE. */
export const SUPPORTED_TYPES: readonly string[] = [
  "pdf",
  "docx",
  "xlsx",
  "pptx",
  "odt",
  "ods",
  "odp",
  "epub",
  "eml",
  "msg",
  "html",
  "txt",
  "md",
  "csv",
  "png",
  "jpg",
  "tif",
  "webp",
  "gif",
];

const IMAGE_TYPES: ReadonlySet<string> = new Set(["png", "jpg", "tif", "webp", "gif"]);

/**
 * Detects the type from the bytes and extracts the text. Every failure is a DocumentError:
 * EMPTY (no bytes or no text), UNSUPPORTED_TYPE, CORRUPT, ENCRYPTED (PDF, Office or zip password),
 * TOO_LARGE (> maxPages pages, sheets or slides; a zip over its limits, such as a zip bomb).
 * Text over `maxTextChars` is truncated, not rejected.
 */
export async function parseDocument(bytes: Buffer, opts: ParseOptions): Promise<ParsedDocument> {
  if (bytes.length === 0) throw new DocumentError(FailureCode.EMPTY, "The file is empty (0 bytes)");
  try {
    const detected = await detectType(bytes, opts.fileName);
    if (!detected) {
      throw new DocumentError(
        FailureCode.UNSUPPORTED_TYPE,
        "Unrecognised binary content: not a PDF, Office, OpenDocument, EPUB, e-mail, HTML or text document",
      );
    }
    if (detected.type === "cfb" && isEncryptedOoxml(bytes)) {
      throw new DocumentError(FailureCode.ENCRYPTED, "The Office document is password-protected");
    }
    if (!SUPPORTED_TYPES.includes(detected.type)) {
      throw new DocumentError(
        FailureCode.UNSUPPORTED_TYPE,
        `Documents of type ${detected.type} (${detected.mimeType}) are not supported yet`,
      );
    }
    const extracted = await extract(detected, bytes, opts);
    if (extracted.pages.every((p) => p.text.trim() === "")) {
      throw new DocumentError(
        FailureCode.EMPTY,
        IMAGE_TYPES.has(detected.type)
          ? `The ${detected.type} image contains no text ${opts.ocr ? "OCR could read" : "(OCR is not configured)"}`
          : `The ${detected.type} document contains no text`,
      );
    }
    return assemble(detected, extracted, opts.maxTextChars);
  } catch (err) {
    // A stage's time budget ran out: that is the caller's TIMEOUT, not a broken file.
    if (err instanceof DocumentError || opts.signal?.aborted) throw err;
    // Parsers fail on malformed input in their own ways; to the pipeline they all mean "unreadable".
    throw new DocumentError(
      FailureCode.CORRUPT,
      `The document cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

async function extract(detected: DetectedType, bytes: Buffer, opts: ParseOptions): Promise<Extracted> {
  if (IMAGE_TYPES.has(detected.type)) return extractImage(bytes, detected.type, opts);
  switch (detected.type) {
    case "pdf":
      return extractPdf(bytes, opts);
    case "docx":
      return single(await extractDocx(bytes));
    case "xlsx":
      return extractXlsx(bytes, opts);
    case "pptx":
      return extractPptx(bytes, opts);
    case "odt":
    case "ods":
    case "odp":
      return extractOdf(bytes, opts);
    case "epub":
      return extractEpub(bytes, opts);
    case "eml":
      return extractEml(bytes);
    case "msg":
      return extractMsg(bytes);
  }
  const text = decodeText(bytes);
  if (text === null) {
    throw new DocumentError(FailureCode.CORRUPT, `The ${detected.type} file contains binary data`);
  }
  if (detected.type === "html") return single(extractHtml(text));
  if (detected.type === "csv") return single(csvToText(text));
  return single(text.replace(/\r\n?/g, "\n").trim());
}

function single(text: string): Extracted {
  return { pages: [{ number: 1, text }], pageCount: 1 };
}

function assemble(detected: DetectedType, extracted: Extracted, maxTextChars: number): ParsedDocument {
  const { pageCount } = extracted;
  // Text, titles and attachment names come from the file: NUL or a lone surrogate in them would make
  // every later write to the database fail.
  const pages = extracted.pages.map((p) => ({ ...p, text: storable(p.text) }));
  const kept: Extracted["pages"] = [];
  let length = 0;
  let truncated = false;
  for (const page of pages) {
    const separator = kept.length > 0 ? 1 : 0;
    const room = maxTextChars - length - separator;
    if (room < 0 || (room === 0 && page.text !== "")) {
      truncated = true;
      break;
    }
    if (page.text.length > room) {
      kept.push({ number: page.number, text: cut(page.text, room) });
      truncated = true;
      break;
    }
    kept.push(page);
    length += separator + page.text.length;
  }
  // The PDF extractor stops reading once the budget is spent, so missing pages mean truncation too.
  truncated ||= kept.length < pageCount;
  return {
    detectedType: detected.type,
    mimeType: detected.mimeType,
    text: kept.map((p) => p.text).join("\f"),
    pages: kept,
    pageCount,
    truncated,
    words: extracted.words ?? [],
    images: extracted.images ?? [],
    attachments: (extracted.attachments ?? []).map((a) => ({
      ...a,
      name: storable(a.name),
      ...(a.contentType ? { contentType: storable(a.contentType) } : {}),
    })),
    ...(extracted.thumbnail ? { thumbnail: extracted.thumbnail } : {}),
    ...(extracted.title ? { title: storable(extracted.title) } : {}),
  };
}

/** Cuts at `length` without splitting a surrogate pair. */
function cut(text: string, length: number): string {
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}
