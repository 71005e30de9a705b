import { existsSync, readdirSync, readFileSync } from "node:fs";
import { strToU8, zipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { DocumentError } from "../domain/errors.ts";
import { parseDocument } from "./index.ts";
import { tokenRecall } from "./recall.ts";

const formats = new URL("../../../../../shared/corpus/formats/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, formats));
const opts = { maxPages: 100, maxTextChars: 5_000_000 };

async function failure(promise: Promise<unknown>): Promise<DocumentError> {
  const err = await promise.then(
    () => new Error("expected a failure"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DocumentError);
  return err as DocumentError;
}

/** Files with a ground truth; the PDFs of odf/ were printed from the documents their .expected.md describes. */
function casesOf(folder: string): { file: string; expected: string }[] {
  if (folder === "pdf") {
    return ["odf_presentation_01.odp", "text_document_01.odt"].map((doc) => ({
      file: `odf/${doc}.pdf`,
      expected: `odf/${doc}.expected.md`,
    }));
  }
  return readdirSync(new URL(`${folder}/`, formats))
    .filter((f) => !f.endsWith(".expected.md") && existsSync(new URL(`${folder}/${f}.expected.md`, formats)))
    .sort()
    .map((f) => ({ file: `${folder}/${f}`, expected: `${folder}/${f}.expected.md` }));
}

// Thresholds sit a little under what was measured (see the report), so a regression shows.
const recallBars = {
  csv: { min: 0.99, mean: 0.99 },
  md: { min: 0.99, mean: 0.99 },
  html: { min: 0.7, mean: 0.95 },
  docx: { min: 0.95, mean: 0.98 },
  pdf: { min: 0.9, mean: 0.95 },
  // xlsx_comments: the ground truth prints each comment's author id and timestamp, which no sheet shows.
  xlsx: { min: 0.75, mean: 0.95 },
  pptx: { min: 0.95, mean: 0.97 },
  odf: { min: 0.95, mean: 0.97 },
  epub: { min: 0.99, mean: 0.99 },
} as const;
/** Detected types where the folder holds several. */
const folderTypes: Record<string, string[]> = { odf: ["odt", "odp"] };
/** Known gaps, each with its reason: kept out of the per-file bar, still in the mean. */
const knownGaps: Record<string, string> = {};

describe("text recall against .expected.md", () => {
  for (const [folder, bar] of Object.entries(recallBars)) {
    it(`${folder}: every file ≥ ${bar.min}, mean ≥ ${bar.mean}`, async () => {
      const cases = casesOf(folder);
      expect(cases.length).toBeGreaterThan(0);
      const recalls: number[] = [];
      for (const { file, expected } of cases) {
        const doc = await parseDocument(read(file), { ...opts, fileName: file.split("/").pop() });
        expect(folderTypes[folder] ?? [folder]).toContain(doc.detectedType);
        const recall = tokenRecall(readFileSync(new URL(expected, formats), "utf8"), doc.text);
        recalls.push(recall);
        if (!(file in knownGaps)) expect(recall, file).toBeGreaterThanOrEqual(bar.min);
      }
      expect(recalls.reduce((a, b) => a + b, 0) / recalls.length).toBeGreaterThanOrEqual(bar.mean);
    });
  }
});

describe("parseDocument", () => {
  it("returns pages joined by form feeds for a PDF", async () => {
    const doc = await parseDocument(read("pdf/bookmark_sample.pdf"), opts);
    expect(doc).toMatchObject({
      detectedType: "pdf",
      mimeType: "application/pdf",
      pageCount: 3,
      truncated: false,
    });
    expect(doc.pages.map((p) => p.number)).toEqual([1, 2, 3]);
    expect(doc.text).toBe(doc.pages.map((p) => p.text).join("\f"));
  });

  it("returns one page for page-less formats", async () => {
    const doc = await parseDocument(read("docx/lorem_ipsum.docx"), opts);
    expect(doc).toMatchObject({ detectedType: "docx", pageCount: 1 });
    expect(doc.pages).toEqual([{ number: 1, text: doc.text }]);
  });

  it("leaves scripts, styles and link targets out of HTML", async () => {
    const html = Buffer.from(
      "<html><head><style>p{color:red}</style></head><body><h1>Title</h1>" +
        '<script>var secret = 1;</script><p>See <a href="https://x.example/y">this</a>.</p>' +
        '<img src="a.png" alt="alt text"><table><tr><th>k</th><td>v</td></tr></table></body></html>',
    );
    const { text } = await parseDocument(html, opts);
    expect(text).toContain("Title");
    expect(text).toContain("See this.");
    expect(text).toMatch(/k\s+v/);
    expect(text).not.toMatch(/secret|color|x\.example|alt text/);
  });

  it("normalises CSV delimiters to tabs", async () => {
    const { text } = await parseDocument(read("csv/csv-pipe.csv"), opts);
    expect(text.split("\n")[0]).toBe(
      "Index\tCustomer Id\tFirst Name\tLast Name\tCompany\tCity\tCountry\tPhone 1\tPhone 2\tEmail\tSubscription Date\tWebsite",
    );
  });

  it("truncates text over maxTextChars, keeping pages consistent with the text", async () => {
    const md = await parseDocument(read("md/mixed.md"), { ...opts, maxTextChars: 20 });
    expect(md.text).toHaveLength(20);
    expect(md.truncated).toBe(true);
    const pdf = await parseDocument(read("pdf/bookmark_sample.pdf"), { ...opts, maxTextChars: 50 });
    expect(pdf.text.length).toBeLessThanOrEqual(50);
    expect(pdf).toMatchObject({ truncated: true, pageCount: 3 });
    expect(pdf.text).toBe(pdf.pages.map((p) => p.text).join("\f"));
  });

  it("fails EMPTY on zero bytes and on text that is only whitespace", async () => {
    expect((await failure(parseDocument(Buffer.alloc(0), opts))).code).toBe("EMPTY");
    expect((await failure(parseDocument(Buffer.from(" \n\t\n"), opts))).code).toBe("EMPTY");
  });

  it("reads images by their bytes, whatever their name, and fails EMPTY when OCR is not configured", async () => {
    const png = Buffer.from(
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
      "base64",
    );
    const err = await failure(parseDocument(png, { ...opts, fileName: "image.txt" }));
    expect(err.code).toBe("EMPTY");
    expect(err.message).toMatch(/png image contains no text \(OCR is not configured\)/);
  });

  it("fails UNSUPPORTED_TYPE naming the type, for formats not read", async () => {
    const zip = Buffer.from(zipSync({ "notes.txt": strToU8("a plain zip, not a document format") }));
    expect((await failure(parseDocument(zip, opts))).message).toContain("zip");
    const binary = Buffer.from(Uint8Array.from({ length: 512 }, (_, i) => (i * 7919) % 251));
    expect((await failure(parseDocument(binary, opts))).code).toBe("UNSUPPORTED_TYPE");
  });

  it("fails CORRUPT on a truncated PDF, DOCX, XLSX, PPTX, ODT and EPUB", async () => {
    for (const file of [
      "pdf/bookmark_sample.pdf",
      "docx/lorem_ipsum.docx",
      "xlsx/xlsx_01.xlsx",
      "pptx/pptx_chart.pptx",
      "odf/text_document_01.odt",
      "epub/epub_purvis_poetry.epub",
    ]) {
      const bytes = read(file);
      const err = await failure(parseDocument(bytes.subarray(0, bytes.length / 2), opts));
      expect({ file, code: err.code }).toEqual({ file, code: "CORRUPT" });
    }
  });

  it("fails ENCRYPTED on a password-protected Office file, which is a compound file, not a zip", async () => {
    // The corpus has none: the magic number and the stream name are what is looked at.
    const cfb = Buffer.alloc(2048);
    Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(cfb);
    const plain = Buffer.from(cfb);
    Buffer.from("EncryptedPackage", "utf16le").copy(cfb, 1100);
    expect((await failure(parseDocument(cfb, { ...opts, fileName: "secret.docx" }))).code).toBe("ENCRYPTED");
    expect((await failure(parseDocument(plain, opts))).code).toBe("UNSUPPORTED_TYPE");
  });

  it("carries title and attachments, and empty words and images, into the document", async () => {
    const msg = await parseDocument(read("email/msg_with_attachment.msg"), opts);
    expect(msg).toMatchObject({ title: "Email with Attachment", words: [], images: [] });
    expect(msg.attachments.map((a) => a.name)).toEqual(["test.txt", "report.pdf"]);
    const md = await parseDocument(read("md/mixed.md"), opts);
    expect(md).toMatchObject({ words: [], images: [], attachments: [] });
    expect(md).not.toHaveProperty("title");
  });

  it("gives one page per slide or sheet, joined by form feeds", async () => {
    const pptx = await parseDocument(read("pptx/powerpoint_malformed_pictures.pptx"), opts);
    expect(pptx).toMatchObject({ pageCount: 3, truncated: false });
    expect(pptx.text).toBe(pptx.pages.map((p) => p.text).join("\f"));
    const cut = await parseDocument(read("xlsx/xlsx_01.xlsx"), { ...opts, maxTextChars: 30 });
    expect(cut).toMatchObject({ truncated: true, pageCount: 4 });
    expect(cut.text.length).toBeLessThanOrEqual(30);
  });

  it("hands out text and names PostgreSQL can store: no NUL, no lone surrogate", async () => {
    // UTF-16 with a BOM decodes whatever code units it holds; 2 NULs in 400 characters pass for text.
    const bytes = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`Minutes\u0000 of March. ${"The budget was agreed. ".repeat(16)}\u0000`, "utf16le"),
      Buffer.from([0x00, 0xd8]),
      Buffer.from(" End.", "utf16le"),
    ]);
    const doc = await parseDocument(bytes, opts);
    expect(doc.text.startsWith("Minutes of March.")).toBe(true);
    expect(doc.text.includes("\u0000")).toBe(false);
    expect(doc.text).not.toMatch(/\p{Cs}/u);
    const eml = Buffer.from(
      "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?UTF-8?B?UmVwb3J0AA==?=\r\nMIME-Version: 1.0\r\n" +
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n' +
        '--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="=?UTF-8?B?YQBiLnR4dA==?="\r\n\r\nx\r\n--b--\r\n',
    );
    const mail = await parseDocument(eml, opts);
    expect(mail.title).toBe("Report");
    expect(mail.attachments.map((a) => a.name)).toEqual(["ab.txt"]);
  });

  it("fails TOO_LARGE over maxPages", async () => {
    const err = await failure(parseDocument(read("pdf/bookmark_sample.pdf"), { ...opts, maxPages: 1 }));
    expect(err.code).toBe("TOO_LARGE");
  });
});
