import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { classifyText, detectType, looksLikeEmail } from "./detect.ts";

const corpus = new URL("../../../../../shared/corpus/", import.meta.url);
const formats = new URL("formats/", corpus);

function filesOf(folder: string): string[] {
  return readdirSync(new URL(`${folder}/`, formats))
    .filter((f) => !f.endsWith(".expected.md"))
    .sort();
}
const read = (path: string) => readFileSync(new URL(path, formats));

/** A 1×1 PNG: the corpus has none, and its magic number is all that matters here. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

describe("detectType on the corpus", () => {
  for (const [folder, type] of [
    ["pdf", "pdf"],
    ["docx", "docx"],
    ["html", "html"],
    ["md", "md"],
    ["csv", "csv"],
    ["xlsx", "xlsx"],
    ["pptx", "pptx"],
    ["epub", "epub"],
    ["email", "msg"],
  ] as const) {
    it(`detects every file in formats/${folder} as ${type}`, async () => {
      const files = filesOf(folder);
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        expect({ file, type: (await detectType(read(`${folder}/${file}`), file))?.type }).toEqual({
          file,
          type,
        });
      }
    });
  }

  it("detects html, md and csv from the bytes alone, without a file name", async () => {
    for (const folder of ["html", "md", "csv"]) {
      for (const file of filesOf(folder)) {
        // One column has no delimiter to see: only the extension can call it CSV.
        if (file === "csv-single-column.csv") continue;
        expect({ file, type: (await detectType(read(`${folder}/${file}`)))?.type }).toEqual({
          file,
          type: folder,
        });
      }
    }
  });

  it("lets the bytes win over a misleading file name", async () => {
    expect(await detectType(read("pdf/bookmark_sample.pdf"), "notes.txt")).toEqual({
      type: "pdf",
      mimeType: "application/pdf",
    });
    expect((await detectType(read("docx/lorem_ipsum.docx"), "report.md"))?.type).toBe("docx");
    expect((await detectType(read("html/table_01.html"), "table.csv"))?.type).toBe("html");
  });

  it("does not take a PNG or a JPEG renamed .txt for text", async () => {
    expect(await detectType(PNG, "image.txt")).toEqual({ type: "png", mimeType: "image/png" });
    const jpeg = readFileSync(new URL("sroie/img/000.jpg", corpus));
    expect((await detectType(jpeg, "receipt.txt"))?.type).toBe("jpg");
  });

  it("names the formats it detects but does not read", async () => {
    expect((await detectType(read("tiff/2206.01062.tif")))?.type).toBe("tif");
  });

  it("reads macro-enabled workbooks as xlsx, keeping their mime type", async () => {
    expect(await detectType(read("xlsx/xlsx_02_sample_sales_data.xlsm"), "sales.xlsx")).toEqual({
      type: "xlsx",
      mimeType: "application/vnd.ms-excel.sheet.macroenabled.12",
    });
  });

  it("tells OpenDocument text from presentation from its mimetype entry", async () => {
    expect((await detectType(read("odf/text_document_01.odt")))?.type).toBe("odt");
    expect((await detectType(read("odf/odf_presentation_01.odp"), "slides.odt"))?.type).toBe("odp");
  });

  it("tells an Outlook message from another compound file", async () => {
    expect(await detectType(read("email/msg_simple.msg"), "mail.doc")).toEqual({
      type: "msg",
      mimeType: "application/vnd.ms-outlook",
    });
    const cfb = Buffer.alloc(2048);
    Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(cfb);
    expect((await detectType(cfb, "mail.msg"))?.type).toBe("cfb");
    Buffer.from("__properties_version1.0", "utf16le").copy(cfb, 1100);
    expect((await detectType(cfb))?.type).toBe("msg");
  });
});

describe("detectType on crafted bytes", () => {
  it("returns null for empty input and unknown binary", async () => {
    expect(await detectType(new Uint8Array())).toBeNull();
    expect(await detectType(Uint8Array.from({ length: 512 }, (_, i) => (i * 7919) % 251))).toBeNull();
  });

  it("reads UTF-16 with a BOM as text, although FF FE also looks like an MPEG frame", async () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("# Title\n\nSome text.\n", "utf16le")]);
    expect(await detectType(le)).toEqual({ type: "md", mimeType: "text/markdown" });
    const be = Buffer.from("\ufeffplain words\n", "utf16le").swap16();
    expect((await detectType(be))?.type).toBe("txt");
  });

  it("reads latin-1 text as text", async () => {
    expect((await detectType(Buffer.from("Caf\xe9 cr\xe8me br\xfbl\xe9e\n", "latin1")))?.type).toBe("txt");
  });

  it("tells XHTML from other XML", async () => {
    const xhtml =
      '<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body><p>Hi</p></body></html>';
    expect((await detectType(Buffer.from(xhtml)))?.type).toBe("html");
    const svg = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>';
    expect((await detectType(Buffer.from(svg)))?.type).toBe("xml");
  });

  it("finds a PDF header after leading junk, but not in text that mentions one", async () => {
    const pdf = read("pdf/bookmark_sample.pdf");
    const junk = Buffer.concat([Buffer.from([0x00, 0x01, 0x02, 0xff]), pdf]);
    expect((await detectType(junk))?.type).toBe("pdf");
    expect((await detectType(Buffer.from("A file starts with %PDF-1.7 and then...\n")))?.type).toBe("txt");
  });
});

describe("e-mail detection", () => {
  const message = "From: Ann <ann@example.com>\r\nTo: bob@example.org\r\nSubject: Hi\r\n\r\nHello Bob.\r\n";

  it("detects an RFC 822 message from its header block, whatever the file is called", async () => {
    expect(await detectType(Buffer.from(message), "notes.txt")).toEqual({
      type: "eml",
      mimeType: "message/rfc822",
    });
    const folded = "Received: from a\n\tby b; Tue, 14 May 2024\nMessage-ID: <1@x>\nX-Custom: y\n\nbody";
    expect(looksLikeEmail(folded)).toBe(true);
  });

  it("wants two known headers, only header lines, and a blank line after them", () => {
    expect(looksLikeEmail("Subject: Hi\nX-Other: 1\n\nbody")).toBe(false);
    expect(looksLikeEmail("From: a\nTo: b\nSubject: c")).toBe(false);
    expect(looksLikeEmail("Dear Bob,\nFrom: a\nTo: b\n\nbody")).toBe(false);
    expect(looksLikeEmail("From: a\nTo: b\nthis line is prose\n\nbody")).toBe(false);
    expect(looksLikeEmail(" From: a\nTo: b\n\nbody")).toBe(false);
    expect(classifyText("# Minutes\n\nFrom: a\nTo: b\n\n")).toBe("md");
  });
});

describe("classifyText", () => {
  it("needs markup at the start to call text HTML", () => {
    expect(classifyText("<div><p>a</p><p>b</p></div>")).toBe("html");
    expect(classifyText("# Title\n\n<table><tr><td>x</td></tr></table>\n")).toBe("md");
    expect(classifyText("Use <b> and <i> tags, and <br> for breaks.")).toBe("txt");
  });

  it("calls consistent delimited rows CSV, but not two lines of prose or a markdown table", () => {
    expect(classifyText("a;b;c\n1;2;3\n4;5;6\n")).toBe("csv");
    expect(classifyText("Hello, world.\nThis is, I think, prose.\n")).toBe("txt");
    expect(classifyText("| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n")).toBe("md");
    const prose = Array.from(
      { length: 5 },
      (_, i) => `Line ${i} goes on for a while, and then it stops here`,
    );
    expect(classifyText(prose.join("\n"))).toBe("txt");
  });

  it("needs a strong marker or two weak ones for markdown", () => {
    expect(classifyText("## Heading\nbody")).toBe("md");
    expect(classifyText("see [the docs](https://example.com)")).toBe("md");
    expect(classifyText("Shopping\n- milk\n- eggs\n")).toBe("txt");
    expect(classifyText("Shopping\n- milk\n- **fresh** eggs\n")).toBe("md");
  });

  it("uses the extension only to break ties", () => {
    expect(classifyText("Shopping\n- milk\n- eggs\n", "list.md")).toBe("md");
    expect(classifyText("Industry\nAutomotive\nHealthcare\n", "industries.csv")).toBe("csv");
    expect(classifyText("## Heading\nbody", "notes.txt")).toBe("md");
    expect(classifyText("a,b,c\n1,2,3\n4,5,6\n", "data.md")).toBe("csv");
  });
});
