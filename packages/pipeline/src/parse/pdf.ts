import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createCanvas } from "@napi-rs/canvas";
import type { PDFDocumentProxy, PDFPageProxy } from "pdfjs-dist/legacy/build/pdf.mjs";
import { getDocument, OPS, VerbosityLevel } from "pdfjs-dist/legacy/build/pdf.mjs";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import {
  DEFAULT_MAX_OCR_PAGES,
  DEFAULT_MAX_PIXELS,
  DEFAULT_VISION_PIXEL_BUDGET,
  fitToPixels,
  MAX_VISION_PAGES,
  makeThumbnail,
  type RawImage,
  THUMBNAIL_SIZE,
  toPng,
} from "./image.ts";
import { PAGE_READ_BUDGET_MS } from "./pdf-limits.ts";
import type { Extracted, PageImage, PageWord, ParseOptions } from "./types.ts";

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

/** Pages are rendered for OCR at 300 dpi, within this many pixels (an A4 page at 300 dpi is 8.7 MP). */
const OCR_DPI = 300;
const RENDER_PIXEL_BUDGET = 8_000_000;
/** A page with fewer characters than this in its text layer and an image on it is treated as a scan. */
const HANDFUL = 32;
/** Thumbnails are rendered at twice their size, then downscaled, for legible edges. */
const THUMBNAIL_RENDER = 2 * THUMBNAIL_SIZE;
/** Some pages (huge shadings, pathological paths) take minutes to render: give up on them. */
const RENDER_TIMEOUT_MS = 15_000;
const THUMBNAIL_TIMEOUT_MS = 3_000;
/** Stream filters pdf.js cannot decode: their streams read as empty, so the document would look EMPTY. */
const UNSUPPORTED_FILTERS: Record<string, string> = {
  BrotliDecode: "Brotli-compressed streams (/BrotliDecode, a PDF 2.0 extension)",
};
/** OCR on fewer pixels reads nothing (tesseract refuses images this small). */
const MIN_OCR_SIDE = 16;

const IMAGE_OPS = new Set<number>([
  OPS.paintImageXObject,
  OPS.paintInlineImageXObject,
  OPS.paintImageMaskXObject,
  OPS.paintImageXObjectRepeat,
  OPS.paintImageMaskXObjectRepeat,
  OPS.paintInlineImageXObjectGroup,
  OPS.paintImageMaskXObjectGroup,
]);

/**
 * Text of a PDF, one string per page: the text layer, or OCR of the rendered page where the layer is
 * missing or a handful of characters over an image (scans), on at most `maxOcrPages` pages. Stops
 * reading pages once `maxTextChars` is reached. Rendered pages (up to 4) also come back as images
 * for a vision model; page 1 always as a thumbnail.
 * Throws DocumentError: ENCRYPTED (password), CORRUPT (unreadable), TOO_LARGE (> maxPages),
 * EMPTY (no text layer and OCR found none or is not configured); the signal's reason when aborted.
 */
export async function extractPdf(bytes: Uint8Array, opts: ParseOptions): Promise<Extracted> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxOcrPages = opts.maxOcrPages ?? DEFAULT_MAX_OCR_PAGES;
  const budget = opts.visionPixelBudget ?? DEFAULT_VISION_PIXEL_BUDGET;
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
    if (doc.numPages > opts.maxPages) {
      throw new DocumentError(
        FailureCode.TOO_LARGE,
        `PDF has ${doc.numPages} pages, more than the limit of ${opts.maxPages}`,
      );
    }
    const pages: Extracted["pages"] = [];
    const words: PageWord[] = [];
    const images: PageImage[] = [];
    let thumbnail: Buffer | undefined;
    let chars = 0;
    let failed = 0;
    let firstFailure: unknown;
    let ocrPages = 0;
    for (let number = 1; number <= doc.numPages && chars < opts.maxTextChars; number++) {
      opts.signal?.throwIfAborted();
      let page: PDFPageProxy | undefined;
      let text = "";
      let source: "text" | "ocr" = "text";
      let extras: string[] = [];
      try {
        page = await doc.getPage(number);
        opts.onPageRead?.(number, "reading");
        text = await withinBudget(readText(page), number, "text");
        extras = await withinBudget(annotationLines(page), number, "annotations").catch((err: unknown) => {
          if (err instanceof DocumentError) throw err;
          return [];
        });
        opts.onPageRead?.(number, "read");
      } catch (err) {
        if (err instanceof DocumentError) throw err;
        // One broken page should not cost the others their text.
        failed++;
        firstFailure ??= err;
      }
      const ocr = opts.ocr !== undefined && ocrPages < maxOcrPages ? opts.ocr : undefined;
      if (page && (ocr || images.length < MAX_VISION_PAGES) && (await isScan(page, text, opts))) {
        // Without OCR the page is only looked at by a vision model: render no more than it takes.
        const scale = ocr ? ocrScale(page, maxPixels) : fitScale(page, Math.min(budget, maxPixels));
        // A page that cannot be rendered keeps its text layer (if any): the others still count.
        const raw = await render(page, scale, RENDER_TIMEOUT_MS, opts.signal).catch(() => undefined);
        opts.signal?.throwIfAborted();
        if (raw) {
          if (number === 1) thumbnail = await makeThumbnail(raw).catch(() => undefined);
          const image =
            images.length < MAX_VISION_PAGES && (await fitToPixels(raw, budget).catch(() => undefined));
          if (image) images.push({ page: number, ...image });
          if (ocr && Math.min(raw.width, raw.height) >= MIN_OCR_SIDE) {
            ocrPages++;
            const read = await ocr.recognize(await toPng(raw), number, opts.signal);
            if (read.text.length > text.trim().length) {
              text = read.text;
              source = "ocr";
              words.push(...read.words);
            }
          }
        }
      }
      if (page && number === 1 && !thumbnail) {
        const scale = fitScale(page, THUMBNAIL_RENDER * THUMBNAIL_RENDER);
        const raw = await render(page, scale, THUMBNAIL_TIMEOUT_MS, opts.signal).catch(() => undefined);
        opts.signal?.throwIfAborted();
        if (raw) thumbnail = await makeThumbnail(raw).catch(() => undefined);
      }
      page?.cleanup();
      // Form field values and annotation text come after the page's own text, each line marked as such.
      if (extras.length > 0) text = text.trim() ? `${text}\n${extras.join("\n")}` : extras.join("\n");
      pages.push({ number, text, source, ...(extras.length > 0 ? { annotations: extras.length } : {}) });
      // The page is done, OCR included: a progress-aware budget counts from here.
      opts.onPageRead?.(number, "done");
      chars += text.length + 1;
    }
    if (failed === pages.length && pages.length > 0) {
      throw new DocumentError(FailureCode.CORRUPT, `PDF pages cannot be read: ${messageOf(firstFailure)}`, {
        cause: firstFailure,
      });
    }
    if (pages.every((p) => p.text.trim() === "")) {
      const feature = unsupportedFeature(bytes);
      if (feature) {
        throw new DocumentError(
          FailureCode.UNSUPPORTED_FEATURE,
          `PDF uses ${feature}, which docfleet cannot read`,
        );
      }
      throw new DocumentError(
        FailureCode.EMPTY,
        opts.ocr
          ? "PDF has no text layer and OCR found no text on its pages"
          : "PDF has no text layer (scanned or image-only pages) and OCR is not configured",
      );
    }
    return { pages, pageCount: doc.numPages, words, images, thumbnail };
  } finally {
    // Destroying the task also destroys the document and its fake worker: nothing is left behind.
    await task.destroy().catch(() => undefined);
  }
}

/**
 * A page read that is still running after PAGE_READ_BUDGET_MS fails the document CORRUPT (runaway content).
 * This timer only fires where pdf.js yields to the event loop; where its evaluator recurses through
 * nested drawings without yielding, the parse thread's watchdog (sandbox.ts, told by `onPageRead`) ends it.
 */
function withinBudget<T>(work: Promise<T>, page: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new DocumentError(
            FailureCode.CORRUPT,
            `PDF page ${page}'s ${what} did not finish reading in ${PAGE_READ_BUDGET_MS / 1000} s: ` +
              "runaway content (drawings that contain themselves or multiply without bound)",
          ),
        ),
      PAGE_READ_BUDGET_MS,
    );
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

/** The name of a feature the file uses that pdf.js cannot decode, if any (checked only for empty results). */
export function unsupportedFeature(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const [filter, feature] of Object.entries(UNSUPPORTED_FILTERS)) {
    if (head.includes(`/${filter}`)) return feature;
  }
  return undefined;
}

interface AnnotationLike {
  subtype?: string;
  fieldType?: string;
  fieldName?: string;
  fieldValue?: unknown;
  alternativeText?: string;
  exportValue?: string;
  buttonValue?: string;
  checkBox?: boolean;
  radioButton?: boolean;
  pushButton?: boolean;
  hidden?: boolean;
  noView?: boolean;
  contentsObj?: { str?: string };
  titleObj?: { str?: string };
}

/**
 * Text a page holds outside its content stream: form field values ("Form field Name: value", check boxes
 * as "[x]"/"[ ]") and annotations' text ("Annotation (FreeText) by Author: text"). Hidden fields, push
 * buttons, links and popups (which repeat their parent's text) are left out.
 */
async function annotationLines(page: PDFPageProxy): Promise<string[]> {
  const annotations = (await page.getAnnotations({ intent: "display" })) as AnnotationLike[];
  const lines: string[] = [];
  for (const a of annotations) {
    if (a.hidden || a.noView) continue;
    if (a.subtype === "Widget") {
      const label = clean(a.alternativeText) || clean(a.fieldName);
      const named = (value: string) => (label ? `Form field ${label}: ${value}` : `Form field: ${value}`);
      if (a.fieldType === "Tx" || a.fieldType === "Ch") {
        const value = Array.isArray(a.fieldValue)
          ? a.fieldValue
              .map((v) => clean(String(v)))
              .filter(Boolean)
              .join(", ")
          : clean(typeof a.fieldValue === "string" ? a.fieldValue : "");
        if (value) lines.push(named(value));
      } else if (a.fieldType === "Btn" && a.checkBox) {
        const on = typeof a.fieldValue === "string" && a.fieldValue !== "Off" && a.fieldValue !== "";
        lines.push(
          label ? `Form field ${label}: ${on ? "[x]" : "[ ]"}` : `Form field: ${on ? "[x]" : "[ ]"}`,
        );
      } else if (a.fieldType === "Btn" && a.radioButton) {
        if (typeof a.fieldValue === "string" && a.fieldValue === a.buttonValue && a.fieldValue !== "Off") {
          lines.push(named(clean(a.fieldValue)));
        }
      }
      continue;
    }
    if (a.subtype === "Link" || a.subtype === "Popup") continue;
    const text = clean(a.contentsObj?.str);
    if (!text) continue;
    const author = clean(a.titleObj?.str);
    lines.push(`Annotation (${a.subtype ?? "note"})${author ? ` by ${author}` : ""}: ${text}`);
  }
  return lines;
}

const clean = (s: string | undefined): string => normalise((s ?? "").replace(/\s+/g, " "));

async function readText(page: PDFPageProxy): Promise<string> {
  const content = await page.getTextContent();
  return joinItems(content.items.flatMap((item) => ("str" in item ? [item] : [])));
}

/** No text at all, or a handful of characters (a page number, a stamp) over an image. */
async function isScan(page: PDFPageProxy, text: string, opts: ParseOptions): Promise<boolean> {
  const visible = text.replace(/\s+/g, "").length;
  if (visible === 0) return true;
  if (visible >= HANDFUL) return false;
  try {
    opts.onPageRead?.(page.pageNumber, "reading");
    const { fnArray } = await withinBudget(page.getOperatorList(), page.pageNumber, "drawing operators");
    opts.onPageRead?.(page.pageNumber, "read");
    return fnArray.some((fn) => IMAGE_OPS.has(fn));
  } catch (err) {
    if (err instanceof DocumentError) throw err;
    return false;
  }
}

function ocrScale(page: PDFPageProxy, maxPixels: number): number {
  const { width, height } = page.getViewport({ scale: 1 });
  const pixels = Math.min(RENDER_PIXEL_BUDGET, maxPixels);
  return Math.min(OCR_DPI / 72, Math.sqrt(pixels / Math.max(1, width * height)));
}

/** The scale at which the page has at most `pixels` pixels. */
function fitScale(page: PDFPageProxy, pixels: number): number {
  const { width, height } = page.getViewport({ scale: 1 });
  return Math.sqrt(pixels / Math.max(1, width * height));
}

/**
 * Renders one page to RGBA pixels; the canvas is released before returning. Rendering runs on this
 * thread in chunks: between chunks it yields to the event loop and gives up past `timeoutMs` or on
 * abort (one chunk, a huge shading or path, can still take seconds).
 */
async function render(
  page: PDFPageProxy,
  scale: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<RawImage> {
  const viewport = page.getViewport({ scale });
  const width = Math.max(1, Math.floor(viewport.width));
  const height = Math.max(1, Math.floor(viewport.height));
  const canvas = createCanvas(width, height);
  const deadline = Date.now() + timeoutMs;
  try {
    const context = canvas.getContext("2d");
    // pdf.js paints white under the page itself; its types name the DOM canvas it mimics.
    const task = page.render({ canvas: canvas as unknown as HTMLCanvasElement, viewport });
    task.onContinue = (next: () => void) => {
      if (Date.now() > deadline || signal?.aborted) task.cancel();
      else setImmediate(next);
    };
    await task.promise;
    const { data } = context.getImageData(0, 0, width, height);
    return { data: Buffer.from(data.buffer, data.byteOffset, data.byteLength), width, height, channels: 4 };
  } finally {
    // Frees the native pixel buffer now rather than at the next garbage collection.
    canvas.width = 0;
    canvas.height = 0;
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
