import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { classifyText, detectType } from "./detect.ts";

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
    expect((await detectType(read("xlsx/xlsx_01.xlsx")))?.type).toBe("xlsx");
    expect((await detectType(read("pptx/pptx_chart.pptx")))?.type).toBe("pptx");
    expect((await detectType(read("tiff/2206.01062.tif")))?.type).toBe("tif");
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
