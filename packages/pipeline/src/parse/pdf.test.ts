import { readdirSync, readFileSync } from "node:fs";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { DocumentError } from "../domain/errors.ts";
import { createOcrPool } from "./ocr.ts";
import { extractPdf, joinItems } from "./pdf.ts";
import { filteredPdf } from "./test-pdf.ts";

const corpus = new URL("../../../../../shared/corpus/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, corpus));
const limits = { maxPages: 1000, maxTextChars: 1_000_000 };

async function failure(promise: Promise<unknown>): Promise<DocumentError> {
  const err = await promise.then(
    () => new Error("expected a failure"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DocumentError);
  return err as DocumentError;
}

function item(str: string, x: number, y: number, width: number, hasEOL = false, size = 10) {
  return { str, transform: [size, 0, 0, size, x, y], width, height: size, hasEOL };
}

describe("joinItems", () => {
  it("breaks lines on hasEOL and on a baseline change pdf.js did not mark", () => {
    const text = joinItems([
      item("Title", 0, 700, 30, true),
      item("first", 0, 680, 25),
      item("second", 0, 660, 30),
    ]);
    expect(text).toBe("Title\nfirst\nsecond");
  });

  it("inserts a space for a horizontal gap, not for adjacent runs", () => {
    expect(joinItems([item("Hel", 0, 700, 15), item("lo", 15, 700, 10), item("world", 30, 700, 25)])).toBe(
      "Hello world",
    );
  });

  it("separates runs when the text jumps back to the left on the same baseline", () => {
    expect(joinItems([item("(secs)", 300, 700, 30), item("simple", 100, 701, 30)])).toBe("(secs) simple");
  });

  it("drops control characters from broken font encodings", () => {
    expect(joinItems([item("a\u0001b\u0000", 0, 700, 10)])).toBe("ab");
  });
});

describe("extractPdf", () => {
  it("reads each page of a text PDF, with words and lines apart", async () => {
    const { pages, pageCount } = await extractPdf(read("formats/pdf/2305.03393v1-pg9.pdf"), limits);
    expect(pageCount).toBe(1);
    expect(pages[0]?.number).toBe(1);
    expect(pages[0]?.text).toContain(
      "5.1 Hyper Parameter Optimization\nWe have chosen the PubTabNet data set",
    );
    expect(pages[0]?.text).toContain("time (secs) simple complex all");
  });

  it("leaves the caller's buffer intact (pdf.js detaches what it is given)", async () => {
    const bytes = read("formats/pdf/bookmark_sample.pdf");
    const length = bytes.length;
    await extractPdf(bytes, limits);
    expect(bytes.length).toBe(length);
  });

  it("fails ENCRYPTED on a password-protected PDF", async () => {
    for (const file of ["issue15893_reduced.pdf", "print_protection.pdf"]) {
      expect((await failure(extractPdf(read(`pdfjs/${file}`), limits))).code).toBe("ENCRYPTED");
    }
  });

  it("fails CORRUPT on a truncated PDF and on a broken structure", async () => {
    const pdf = read("formats/pdf/bookmark_sample.pdf");
    const truncated = await failure(extractPdf(pdf.subarray(0, pdf.length / 2), limits));
    expect(truncated.code).toBe("CORRUPT");
    expect(truncated.message).toMatch(/^PDF cannot be opened: ./);
    expect((await failure(extractPdf(read("pdfjs/REDHAT-1531897-0.pdf"), limits))).code).toBe("CORRUPT");
  });

  it("fails TOO_LARGE over maxPages", async () => {
    const err = await failure(
      extractPdf(read("formats/pdf/bookmark_sample.pdf"), { ...limits, maxPages: 2 }),
    );
    expect(err.code).toBe("TOO_LARGE");
    expect(err.message).toContain("3 pages");
  });

  it("fails EMPTY, pointing at OCR, when there is no text layer and no OCR engine", async () => {
    const err = await failure(extractPdf(read("pdfjs/jbig2_file_header.pdf"), limits));
    expect(err.code).toBe("EMPTY");
    expect(err.message).toMatch(/OCR is not configured/);
  });

  it("fails UNSUPPORTED_FEATURE naming it when the text sits in streams pdf.js cannot decode (Brotli)", async () => {
    const err = await failure(extractPdf(filteredPdf("BrotliDecode"), limits));
    expect(err.code).toBe("UNSUPPORTED_FEATURE");
    expect(err.message).toMatch(/Brotli-compressed streams/);
  });

  it("reads form field values and annotation text, after the page's text and marked as such", async () => {
    // Before: a PDF whose only text is a form field's value came out EMPTY.
    const field = await extractPdf(read("pdfjs/annotation-tx.pdf"), limits);
    expect(field.pages[0]).toMatchObject({ text: "Form field Text2: tx annotation", annotations: 1 });
    const notes = await extractPdf(read("pdfjs/freetexts.pdf"), limits);
    expect(notes.pages[0]!.text).toContain("Annotation (FreeText) by calix: Hello World from Acrobat");
    // Popups repeat their parent's text, and links have none: neither adds a line.
    expect(notes.pages[0]!.text).not.toMatch(/Annotation \((Popup|Link)\)/);
  });

  it("gives a text PDF a WebP thumbnail of page 1 and no page images", async () => {
    const { thumbnail, images, words, pages } = await extractPdf(
      read("formats/pdf/bookmark_sample.pdf"),
      limits,
    );
    const meta = await sharp(thumbnail).metadata();
    expect(meta.format).toBe("webp");
    expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBe(320);
    expect(images).toEqual([]);
    expect(words).toEqual([]);
    expect(pages.every((p) => p.source === "text")).toBe(true);
  });

  it("stops reading pages once maxTextChars is reached", async () => {
    const { pages, pageCount } = await extractPdf(read("formats/pdf/bookmark_sample.pdf"), {
      ...limits,
      maxTextChars: 10,
    });
    expect(pageCount).toBe(3);
    expect(pages).toHaveLength(1);
  });
});

describe("extractPdf with OCR", () => {
  const ocr = createOcrPool();
  afterAll(() => ocr.close());

  it("reads a page without a text layer with OCR (its text is an image mask)", async () => {
    const { pages, words, images, thumbnail } = await extractPdf(read("pdfjs/issue4379.pdf"), {
      ...limits,
      ocr,
    });
    expect(pages).toEqual([{ number: 1, text: "Image\nMask\nExample", source: "ocr" }]);
    expect(words?.map((w) => [w.text, w.page])).toEqual([
      ["Image", 1],
      ["Mask", 1],
      ["Example", 1],
    ]);
    // Rendered at 300 dpi (A4: 2481 px wide, within the 8 MP budget): boxes are in those pixels.
    const [x0 = 0, , x1 = 0] = words?.[0]?.bbox ?? [];
    expect(x1 - x0).toBeGreaterThan(300);
    expect(images).toHaveLength(1);
    expect(images?.[0]?.width).toBeLessThanOrEqual(1000);
    expect((images?.[0]?.width ?? 0) * (images?.[0]?.height ?? 0)).toBeLessThanOrEqual(1_000_000);
    expect((await sharp(thumbnail).metadata()).format).toBe("webp");
  });

  it("fails EMPTY when OCR reads nothing either", async () => {
    const err = await failure(extractPdf(read("pdfjs/jbig2_file_header.pdf"), { ...limits, ocr }));
    expect(err.code).toBe("EMPTY");
    expect(err.message).toMatch(/OCR found no text/);
  });

  it("keeps pages past maxOcrPages empty, and stops when the signal is aborted", async () => {
    const scan = read("pdfjs/issue4379.pdf");
    const none = await failure(extractPdf(scan, { ...limits, ocr, maxOcrPages: 0 }));
    expect(none.code).toBe("EMPTY");
    const reason = new Error("budget spent");
    await expect(extractPdf(scan, { ...limits, ocr, signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
  });
});

describe("robustness over corpus/pdfjs", () => {
  // Sequential on purpose: the test must show each file completes on its own, and 2 cores gain little.
  it("parses or fails with a DocumentError on every file", { timeout: 360_000 }, async () => {
    const files = readdirSync(new URL("pdfjs/", corpus)).sort();
    expect(files).toHaveLength(255);
    const outcomes: Record<string, number> = {};
    const escaped: string[] = [];
    for (const file of files) {
      let outcome: string;
      try {
        await extractPdf(read(`pdfjs/${file}`), limits);
        outcome = "parsed";
      } catch (err) {
        outcome = err instanceof DocumentError ? err.code : "escaped";
        if (!(err instanceof DocumentError)) escaped.push(`${file}: ${String(err)}`);
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    expect(escaped).toEqual([]);
    expect(Object.keys(outcomes).sort()).toEqual(["CORRUPT", "EMPTY", "ENCRYPTED", "parsed"]);
    // With fonts or CMaps misconfigured, text-bearing files turn EMPTY: 165 parse with pdfjs-dist 5.4.624.
    expect(outcomes.parsed).toBeGreaterThanOrEqual(150);
  });
});
