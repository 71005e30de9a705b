export interface ParsedPage {
  /** 1-based page number. */
  number: number;
  text: string;
}

export interface ParsedDocument {
  /** Canonical type id: "pdf" | "docx" | "html" | "txt" | "md" | "csv". */
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
}

export interface ParseOptions {
  /** Documents with more pages fail with TOO_LARGE. */
  maxPages: number;
  /** Longer text is cut, not rejected. */
  maxTextChars: number;
  /** Only used to break ties between txt, md and csv; never overrides the bytes. */
  fileName?: string;
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
}
