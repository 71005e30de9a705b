import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { PDFDocumentProxy } from "pdfjs-dist/legacy/build/pdf.mjs";
import { getDocument, VerbosityLevel } from "pdfjs-dist/legacy/build/pdf.mjs";
import { DocumentError, FailureCode } from "../errors.ts";
import type { Extracted } from "./types.ts";

// pdf.js reads fonts and CMaps from these folders through `fs` (its Node factories): no network.
const pdfjsRoot = dirname(createRequire(import.meta.url).resolve("pdfjs-dist/package.json"));
const assetDir = (name: string) => `${join(pdfjsRoot, name)}/`;

interface TextItemLike {
  str: string;
  transform: number[];
  width: number;
  height: number;
  hasEOL: boolean;
}

/**
 * Text layer of a PDF, one string per page. Stops reading pages once `maxTextChars` is reached.
 * Throws DocumentError: ENCRYPTED (password), CORRUPT (unreadable), TOO_LARGE (> maxPages),
 * EMPTY (no text layer: scanned pages wait for OCR).
 */
export async function extractPdf(
  bytes: Uint8Array,
  limits: { maxPages: number; maxTextChars: number },
): Promise<Extracted> {
  const task = getDocument({
    // pdf.js transfers the buffer to its worker, detaching it: hand it a copy so the caller's stays usable.
    data: new Uint8Array(bytes),
    standardFontDataUrl: assetDir("standard_fonts"),
    cMapUrl: assetDir("cmaps"),
    cMapPacked: true,
    wasmUrl: assetDir("wasm"),
    useWorkerFetch: false,
    isEvalSupported: false,
    useSystemFonts: false,
    disableFontFace: true,
    verbosity: VerbosityLevel.ERRORS,
  });
  try {
    let doc: PDFDocumentProxy;
    try {
      doc = await task.promise;
    } catch (err) {
      throw openError(err);
    }
    if (doc.numPages > limits.maxPages) {
      throw new DocumentError(
        FailureCode.TOO_LARGE,
        `PDF has ${doc.numPages} pages, more than the limit of ${limits.maxPages}`,
      );
    }
    const pages: Extracted["pages"] = [];
    let chars = 0;
    let failed = 0;
    let firstFailure: unknown;
    for (let number = 1; number <= doc.numPages && chars < limits.maxTextChars; number++) {
      let text = "";
      try {
        text = await readPage(doc, number);
      } catch (err) {
        // One broken page should not cost the others their text.
        failed++;
        firstFailure ??= err;
      }
      pages.push({ number, text });
      chars += text.length + 1;
    }
    if (failed === pages.length && pages.length > 0) {
      throw new DocumentError(FailureCode.CORRUPT, `PDF pages cannot be read: ${messageOf(firstFailure)}`, {
        cause: firstFailure,
      });
    }
    if (pages.every((p) => p.text.trim() === "")) {
      throw new DocumentError(
        FailureCode.EMPTY,
        "PDF has no text layer (scanned or image-only pages); OCR is not supported yet",
      );
    }
    return { pages, pageCount: doc.numPages };
  } finally {
    // Destroying the task also destroys the document and its fake worker: nothing is left behind.
    await task.destroy().catch(() => undefined);
  }
}

function openError(err: unknown): DocumentError {
  const name = err instanceof Error ? err.name : "";
  if (name === "PasswordException") {
    return new DocumentError(FailureCode.ENCRYPTED, "PDF is password-protected", { cause: err });
  }
  return new DocumentError(FailureCode.CORRUPT, `PDF cannot be opened: ${messageOf(err)}`, { cause: err });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readPage(doc: PDFDocumentProxy, number: number): Promise<string> {
  const page = await doc.getPage(number);
  try {
    const content = await page.getTextContent();
    return joinItems(content.items.flatMap((item) => ("str" in item ? [item] : [])));
  } finally {
    page.cleanup();
  }
}

/**
 * Rebuilds lines from positioned text runs. pdf.js marks most line ends (`hasEOL`) but not all, and
 * omits spaces that a PDF expresses as gaps, so the baseline and the horizontal gap decide the rest.
 */
export function joinItems(items: TextItemLike[]): string {
  let out = "";
  let prev: { end: number; y: number; size: number } | null = null;
  for (const item of items) {
    const [, , c = 0, d = 0, x = 0, y = 0] = item.transform;
    const size = Math.hypot(c, d) || item.height || 1;
    if (prev && item.str !== "" && !out.endsWith("\n")) {
      if (Math.abs(y - prev.y) > Math.max(size, prev.size) * 0.5) {
        out += "\n";
      } else if (!/\s$/.test(out) && !/^\s/.test(item.str)) {
        // A jump back to the left (a table's next row, right-to-left runs) separates words as well.
        const gap = x - prev.end;
        const em = Math.min(size, prev.size);
        if (gap > em * 0.15 || gap < -em) out += " ";
      }
    }
    out += item.str;
    if (item.hasEOL) out += "\n";
    if (item.str !== "") prev = { end: x + item.width, y, size };
  }
  return normalise(out);
}

function normalise(text: string): string {
  return (
    text
      // Control characters come from fonts with broken encodings; they are never text.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping them is the point
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "")
      .replace(/[ \t]+\n/g, "\n")
      .replace(/\n{3,}/g, "\n\n")
      .trim()
  );
}
