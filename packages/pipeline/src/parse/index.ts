import { DocumentError, FailureCode } from "../errors.ts";
import { detectType } from "./detect.ts";
import { extractDocx, isEncryptedOoxml } from "./docx.ts";
import { extractHtml } from "./html.ts";
import { extractPdf } from "./pdf.ts";
import { csvToText, decodeText } from "./text.ts";
import type { DetectedType, Extracted, ParsedDocument, ParseOptions } from "./types.ts";

export { detectType } from "./detect.ts";
export type { DetectedType, ParsedDocument, ParsedPage, ParseOptions } from "./types.ts";

/** Types parseDocument reads; others are detected but fail with UNSUPPORTED_TYPE. */
export const SUPPORTED_TYPES: readonly string[] = ["pdf", "docx", "html", "txt", "md", "csv"];

/**
 * Detects the type from the bytes and extracts the text. Every failure is a DocumentError:
 * EMPTY (no bytes or no text), UNSUPPORTED_TYPE, CORRUPT, ENCRYPTED (PDF or Office password),
 * TOO_LARGE (> maxPages).
 * Text over `maxTextChars` is truncated, not rejected.
 */
export async function parseDocument(bytes: Buffer, opts: ParseOptions): Promise<ParsedDocument> {
  if (bytes.length === 0) throw new DocumentError(FailureCode.EMPTY, "The file is empty (0 bytes)");
  try {
    const detected = await detectType(bytes, opts.fileName);
    if (!detected) {
      throw new DocumentError(
        FailureCode.UNSUPPORTED_TYPE,
        "Unrecognised binary content: not a PDF, DOCX, HTML or text document",
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
      throw new DocumentError(FailureCode.EMPTY, `The ${detected.type} document contains no text`);
    }
    return assemble(detected, extracted, opts.maxTextChars);
  } catch (err) {
    if (err instanceof DocumentError) throw err;
    // Parsers fail on malformed input in their own ways; to the pipeline they all mean "unreadable".
    throw new DocumentError(
      FailureCode.CORRUPT,
      `The document cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

async function extract(detected: DetectedType, bytes: Buffer, opts: ParseOptions): Promise<Extracted> {
  if (detected.type === "pdf") return extractPdf(bytes, opts);
  if (detected.type === "docx") return single(await extractDocx(bytes));
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

function assemble(
  detected: DetectedType,
  { pages, pageCount }: Extracted,
  maxTextChars: number,
): ParsedDocument {
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
  };
}

/** Cuts at `length` without splitting a surrogate pair. */
function cut(text: string, length: number): string {
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}
