import type { PageImage, PageWord } from "../ports/models.ts";

export type { PageImage, PageWord } from "../ports/models.ts";

export interface ParsedPage {
  /** 1-based page number. */
  number: number;
  text: string;
  /** How the text was obtained: the file's own text, or OCR of the page's image. */
  source?: "text" | "ocr";
  /** Lines of form field values and annotation text appended after the page's text (PDF). */
  annotations?: number;
}

/** A file attached to a message (EML, MSG): listed, not parsed. */
export interface Attachment {
  name: string;
  size: number;
  contentType?: string;
}

export interface ParsedDocument {
  /** Canonical type id: "pdf" | "docx" | "xlsx" | "png" | "eml" | ... */
  detectedType: string;
  /** Mime type of the detected type. */
  mimeType: string;
  /** Full text; pages joined with "\f" when the format has pages. Never longer than `maxTextChars`. */
  text: string;
  /** One entry for page-less formats. When `truncated`, pages past the cut are left out. */
  pages: ParsedPage[];
  /** Pages in the document, even those left out by truncation. */
  pageCount: number;
  /** True when the text was cut at `maxTextChars`. */
  truncated: boolean;
  /** OCR words with page and box (pages read by OCR only). */
  words: PageWord[];
  /** Downscaled images of pages without a text layer, for a vision model. */
  images: PageImage[];
  /** A small WebP of the first page or image, when the format has one. */
  thumbnail?: Buffer;
  /** Attachments of a message. */
  attachments: Attachment[];
  /** Document title or subject, when the format records one. */
  title?: string;
}

/** Recognises text in an image; shared by every parse in a process (a pool of OCR threads). */
export interface OcrEngine {
  /**
   * Reads the text of one image (PNG, JPEG, ...). Words carry boxes in the image's pixels and
   * `page` set to `page`. Throws when aborted.
   */
  recognize(
    image: Buffer,
    page: number,
    signal?: AbortSignal,
  ): Promise<{ text: string; words: PageWord[]; confidence: number }>;
  /** Stops the OCR threads. */
  close(): Promise<void>;
}

export type PageReadState = "reading" | "read" | "done";

export interface ParseOptions {
  /** Documents with more pages fail with TOO_LARGE. */
  maxPages: number;
  /** Longer text is cut, not rejected. */
  maxTextChars: number;
  /** Only used to break ties between txt, md and csv; never overrides the bytes. */
  fileName?: string;
  /** Images (and rendered pages) with more pixels fail with TOO_LARGE (pixel bombs). Default 100 MP. */
  maxPixels?: number;
  /** Page images for the vision model are downscaled to at most this many pixels. Default 1 MP. */
  visionPixelBudget?: number;
  /** Pages without a text layer are read with it; without it they stay empty. */
  ocr?: OcrEngine;
  /** At most this many pages are OCR'd per document (the rest keep no text). Default 50. */
  maxOcrPages?: number;
  /** Aborted when the stage's time budget runs out. */
  signal?: AbortSignal;
  /**
   * Told when the parser starts (`reading`) and ends (`read`) reading one page's content (PDF), and when
   * a page is `done` (OCR included; PDF and multi-page images): a watchdog outside a blocked thread tells
   * runaway content from slow work (sandbox.ts), and the stage's budget counts from the last page done.
   */
  onPageRead?: (page: number, state: PageReadState) => void;
}

export interface DetectedType {
  /** Canonical type id ("pdf", "docx", "png", ...). */
  type: string;
  mimeType: string;
}

/** What a format extractor hands back before truncation. */
export interface Extracted {
  pages: ParsedPage[];
  pageCount: number;
  words?: PageWord[];
  images?: PageImage[];
  thumbnail?: Buffer;
  attachments?: Attachment[];
  title?: string;
}
