import { fileTypeFromBuffer } from "file-type";
import { decodeText, sniffDelimiter } from "./text.ts";
import type { DetectedType } from "./types.ts";

export const TEXT_MIME = {
  html: "text/html",
  csv: "text/csv",
  md: "text/markdown",
  txt: "text/plain",
} as const;
export type TextType = keyof typeof TEXT_MIME;

/** Only the start is inspected for text heuristics: enough to classify, cheap on huge files. */
const SAMPLE_CHARS = 64 * 1024;
/** pdf.js, like Acrobat, accepts a header after up to a KiB of junk; file-type wants it at offset 0. */
const PDF_HEADER_WINDOW = 1024;

/**
 * What the bytes are, from magic numbers first and text heuristics second; null when they are binary
 * of a kind we do not recognise (or empty). The file name never overrides the bytes: its extension only
 * breaks ties between txt, md and csv.
 */
export async function detectType(bytes: Uint8Array, fileName?: string): Promise<DetectedType | null> {
  if (bytes.length === 0) return null;
  // A UTF-16 BOM (FF FE) also passes for an MPEG audio frame header: a BOM decides first.
  if (hasBom(bytes)) {
    const text = decodeText(sample(bytes));
    if (text !== null) return textType(text, fileName);
  }
  const magic = await fileTypeFromBuffer(bytes);
  if (magic?.ext === "cfb" && isOutlookMessage(bytes)) return { type: "msg", mimeType: MSG_MIME };
  // `<?xml ` is the only magic file-type reports that XHTML also starts with.
  if (magic && magic.ext !== "xml") return toType(magic);
  const text = decodeText(sample(bytes));
  if (magic) return text !== null && looksLikeHtml(text) ? textType(text, fileName) : toType(magic);
  if (text !== null) return textType(text, fileName);
  // Checked last: a text file may well mention "%PDF-" near its start.
  if (hasPdfHeader(bytes)) return { type: "pdf", mimeType: "application/pdf" };
  return null;
}

export const EML_MIME = "message/rfc822";
export const MSG_MIME = "application/vnd.ms-outlook";

/** Macro-enabled OOXML is read like its plain sibling; the mime type keeps the difference. */
const SAME_READER: Record<string, string> = { xlsm: "xlsx", docm: "docx", pptm: "pptx" };

function toType(magic: { ext: string; mime: string }): DetectedType {
  return { type: SAME_READER[magic.ext] ?? magic.ext, mimeType: magic.mime };
}

const MSG_STREAMS = [
  Buffer.from("__substg1.0_", "utf16le"),
  Buffer.from("__properties_version1.0", "utf16le"),
];

/**
 * An OLE compound file is an Outlook message when its directory names the MAPI property streams
 * (`__substg1.0_XXXXYYYY`, `__properties_version1.0`), stored in UTF-16LE like every directory name.
 */
export function isOutlookMessage(bytes: Uint8Array): boolean {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return MSG_STREAMS.some((name) => buffer.includes(name));
}

const MAIL_HEADERS = new Set(["from", "to", "subject", "date", "received", "message-id", "mime-version"]);
/** RFC 5322 field names are printable ASCII without spaces or colons. */
const HEADER_LINE = /^([!-9;-~]+):/;
/** A header block longer than this is not one. */
const MAX_HEADER_LINES = 500;

/**
 * An RFC 822 message: the text opens with a block of `Name: value` lines (continuations indented) that
 * ends with a blank line, naming at least two of From, To, Subject, Date, Received, Message-ID and
 * MIME-Version.
 */
export function looksLikeEmail(text: string): boolean {
  const lines = text.split(/\r?\n/, MAX_HEADER_LINES + 1);
  const seen = new Set<string>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "") return i > 0 && seen.size >= 2;
    if (/^[ \t]/.test(line)) {
      if (i === 0) return false;
      continue;
    }
    const name = HEADER_LINE.exec(line)?.[1]?.toLowerCase();
    if (!name) return false;
    if (MAIL_HEADERS.has(name)) seen.add(name);
  }
  return false;
}

function textType(text: string, fileName?: string): DetectedType {
  if (looksLikeEmail(text)) return { type: "eml", mimeType: EML_MIME };
  const type = classifyText(text.slice(0, SAMPLE_CHARS), fileName);
  return { type, mimeType: TEXT_MIME[type] };
}

/** The first bytes, cut on a UTF-8 character boundary so a valid UTF-8 file stays valid. */
function sample(bytes: Uint8Array): Uint8Array {
  let end = SAMPLE_CHARS * 4;
  if (bytes.length <= end) return bytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

function hasBom(bytes: Uint8Array): boolean {
  const [b0, b1, b2] = bytes;
  return (
    (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) ||
    (b0 === 0xff && b1 === 0xfe) ||
    (b0 === 0xfe && b1 === 0xff)
  );
}

function hasPdfHeader(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, PDF_HEADER_WINDOW))
    .toString("latin1")
    .includes("%PDF-");
}

/** Decides among the text formats; `fileName`'s extension is the tie-breaker described above. */
export function classifyText(text: string, fileName?: string): TextType {
  if (looksLikeHtml(text)) return "html";
  // Two lines with a comma each may be prose; three consistent rows are a table. A markdown pipe table
  // also has a consistent "|" column count: its separator row tells them apart.
  if (!MD_TABLE_SEPARATOR.test(text) && sniffDelimiter(text, 3) !== null) return "csv";
  if (looksLikeMarkdown(text)) return "md";
  const ext = extensionOf(fileName);
  if (ext === "md" || ext === "markdown") return "md";
  if (ext === "csv" || ext === "tsv") return "csv";
  return "txt";
}

function extensionOf(fileName?: string): string {
  const dot = fileName?.lastIndexOf(".") ?? -1;
  return dot >= 0 ? fileName!.slice(dot + 1).toLowerCase() : "";
}

const HTML_ROOT = /<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]/i;
const HTML_TAG =
  /<\/?(?:p|div|span|a|table|tr|td|th|ul|ol|li|h[1-6]|br|img|section|article|meta|title|link)[\s/>]/gi;

/**
 * Must open with markup; then a root element, or tags throughout. Markdown may embed HTML, but opens
 * with text or has headings.
 */
export function looksLikeHtml(text: string): boolean {
  if (!/^\s*</.test(text)) return false;
  if (HTML_ROOT.test(text)) return true;
  return (text.match(HTML_TAG)?.length ?? 0) >= 3 && !MD_HEADING.test(text);
}

const MD_HEADING = /^#{1,6}[ \t]+\S/m;
const MD_LINK = /\[[^\]\n]+\]\([^)\s]+(?:\s+"[^"]*")?\)/;
const MD_FENCE = /^(?:```|~~~)/m;
const MD_TABLE_SEPARATOR = /^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*$/m;
const MD_SETEXT = /^\S.*\n(?:={3,}|-{3,})[ \t]*$/m;
const MD_LIST = /^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+\S/m;
const MD_EMPHASIS = /(\*\*|__)\S(?:.*?\S)?\1|`[^`\n]+`/;
const MD_QUOTE = /^>[ \t]?\S/m;

/**
 * One construct plain text rarely has (ATX heading, link, code fence, pipe table, setext heading), or two
 * kinds of those plain notes also use (lists, emphasis or code spans, quotes).
 */
export function looksLikeMarkdown(text: string): boolean {
  if ([MD_HEADING, MD_LINK, MD_FENCE, MD_TABLE_SEPARATOR, MD_SETEXT].some((re) => re.test(text))) return true;
  return [MD_LIST, MD_EMPHASIS, MD_QUOTE].filter((re) => re.test(text)).length >= 2;
}
