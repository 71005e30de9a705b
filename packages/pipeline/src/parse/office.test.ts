import { readFileSync } from "node:fs";
import { strFromU8, strToU8, unzipSync, zipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { DocumentError } from "../domain/errors.ts";
import { parseDocument } from "./index.ts";
import { tokenRecall } from "./recall.ts";

const formats = new URL("../../../../../shared/corpus/formats/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, formats));
const opts = { maxPages: 100, maxTextChars: 5_000_000 };

const REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const rels = (items: [id: string, type: string, target: string][]) =>
  `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${items
    .map(([id, type, target]) => `<Relationship Id="${id}" Type="${REL}/${type}" Target="${target}"/>`)
    .join("")}</Relationships>`;

function pack(files: Record<string, string>): Buffer {
  return Buffer.from(zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)]))));
}

/** An XLSX with an inline string, a shared string with an entity, a date, a float and a gap. */
function craftedXlsx(): Buffer {
  const ct =
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>';
  return pack({
    "[Content_Types].xml": ct,
    "_rels/.rels": rels([["rId1", "officeDocument", "xl/workbook.xml"]]),
    "xl/workbook.xml": `<workbook xmlns="x" xmlns:r="${REL}"><sheets><sheet name="R&amp;D" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    "xl/_rels/workbook.xml.rels": rels([
      ["rId1", "worksheet", "worksheets/sheet1.xml"],
      ["rId2", "sharedStrings", "sharedStrings.xml"],
      ["rId3", "styles", "styles.xml"],
    ]),
    "xl/sharedStrings.xml":
      "<sst><si><t>Fish &amp; chips</t></si><si><r><t>Ri</t></r><r><t>ch</t></r></si></sst>",
    "xl/styles.xml":
      '<styleSheet><numFmts><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/></numFmts><cellXfs><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs></styleSheet>',
    "xl/worksheets/sheet1.xml":
      '<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="inlineStr"><is><t>inline</t></is></c></row>' +
      '<row r="3"><c r="A3" s="1"><v>45292</v></c><c r="B3"><v>0.30000000000000004</v></c><c r="C3" t="s"><v>1</v></c><c r="D3" t="b"><v>1</v></c></row></sheetData></worksheet>',
  });
}

describe("XLSX", () => {
  it("gives one page per sheet: the sheet name, then tab-separated rows", async () => {
    const doc = await parseDocument(craftedXlsx(), opts);
    expect(doc).toMatchObject({ detectedType: "xlsx", pageCount: 1 });
    expect(doc.text).toBe("R&D\nFish & chips\t\tinline\n2024-01-01\t0.3\tRich\tTRUE");
  });

  it("reads the corpus workbooks: shared strings, numbers, dates, chart sheets and comments", async () => {
    const multi = await parseDocument(read("xlsx/xlsx_01.xlsx"), opts);
    expect(multi.pages.map((p) => p.text.split("\n")[0])).toEqual(["Sheet1", "Sheet2", "Sheet3", "Sheet4"]);
    expect(multi.pages[0]!.text).toContain("first\tsecond\tthird\n1\t5\t9");

    const xlsm = await parseDocument(read("xlsx/xlsx_02_sample_sales_data.xlsm"), opts);
    expect(xlsm.detectedType).toBe("xlsx");
    expect(xlsm.mimeType).toContain("macroenabled");
    expect(xlsm.text).toContain("Widget A\t2024-01-01 00:00:00\t5\t5000");

    // The chart sheet has no cells: its page is its name and its chart's title and data.
    const chart = await parseDocument(read("xlsx/xlsx_03_chartsheet.xlsx"), opts);
    expect(chart.pages).toHaveLength(2);
    expect(chart.pages[1]!.text).toMatch(/^Duck Chart\nWild Duck Observations by Year\n/);

    const comments = await parseDocument(read("xlsx/xlsx_comments.xlsx"), opts);
    expect(comments.text).toContain("Comment by John Reviewer (A1): Why Python specifically?");
    expect(comments.text).toContain(
      "Comment by Marcus Sterling (MS) (F7): I never thought it would be so low",
    );
    expect(comments.text).not.toContain("[Threaded comment]");
  });

  it("fails TOO_LARGE over maxPages sheets and CORRUPT when truncated", async () => {
    const bytes = read("xlsx/xlsx_01.xlsx");
    await expect(parseDocument(bytes, { ...opts, maxPages: 2 })).rejects.toMatchObject({ code: "TOO_LARGE" });
    await expect(parseDocument(bytes.subarray(0, bytes.length - 100), opts)).rejects.toMatchObject({
      code: "CORRUPT",
    });
  });
});

/** A PPTX whose slide order (presentation.xml) is the reverse of its part names, with notes. */
function craftedPptx(): Buffer {
  const slide = (title: string, body: string) =>
    `<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>${title}</a:t></a:r></a:p></p:txBody></p:sp>` +
    `<p:sp><p:txBody><a:p><a:r><a:t>${body}</a:t></a:r><a:br/><a:r><a:t>second line</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>`;
  return pack({
    "[Content_Types].xml":
      '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/></Types>',
    "_rels/.rels": rels([["rId1", "officeDocument", "ppt/presentation.xml"]]),
    "ppt/presentation.xml": `<p:presentation xmlns:p="p" xmlns:r="${REL}"><p:sldIdLst><p:sldId id="256" r:id="rId3"/><p:sldId id="257" r:id="rId2"/></p:sldIdLst></p:presentation>`,
    "ppt/_rels/presentation.xml.rels": rels([
      ["rId2", "slide", "slides/slide1.xml"],
      ["rId3", "slide", "slides/slide2.xml"],
    ]),
    "ppt/slides/slide1.xml": slide("Last", "Closing &lt;remarks&gt;"),
    "ppt/slides/slide2.xml": slide("First", "Opening"),
    "ppt/slides/_rels/slide2.xml.rels": rels([["rId1", "notesSlide", "../notesSlides/notesSlide1.xml"]]),
    "ppt/notesSlides/notesSlide1.xml":
      '<p:notes xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree>' +
      '<p:sp><p:nvSpPr><p:nvPr><p:ph type="body"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>Say hello</a:t></a:r></a:p></p:txBody></p:sp>' +
      '<p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>1</a:t></a:r></a:p></p:txBody></p:sp>' +
      "</p:spTree></p:cSld></p:notes>",
  });
}

/** A one-slide PPTX with an equation, a legacy comment and a modern comment with a reply. */
function commentedPptx(): Buffer {
  const base = craftedPptx();
  const files: Record<string, string> = {};
  const zip = unzipSync(new Uint8Array(base));
  for (const [name, data] of Object.entries(zip)) files[name] = strFromU8(data);
  files["ppt/_rels/presentation.xml.rels"] = rels([
    ["rId2", "slide", "slides/slide1.xml"],
    ["rId3", "slide", "slides/slide2.xml"],
    ["rId4", "commentAuthors", "commentAuthors.xml"],
    ["rId5", "authors", "authors.xml"],
  ]);
  files["ppt/commentAuthors.xml"] =
    '<p:cmAuthorLst xmlns:p="p"><p:cmAuthor id="0" name="Ann"/></p:cmAuthorLst>';
  files["ppt/authors.xml"] =
    '<p188:authorLst xmlns:p188="q"><p188:author id="{B0}" name="Bo"/><p188:author id="{C0}" name="Cy"/></p188:authorLst>';
  files["ppt/slides/slide1.xml"] =
    '<p:sld xmlns:p="p" xmlns:a="a" xmlns:mc="mc" xmlns:a14="a14" xmlns:m="m"><p:cSld><p:spTree><p:sp><p:txBody>' +
    '<a:p><a:r><a:t>Area: </a:t></a:r><mc:AlternateContent><mc:Choice Requires="a14"><a14:m><m:oMathPara><m:oMath><m:r><m:t>π</m:t></m:r><m:sSup><m:e><m:r><m:t>r</m:t></m:r></m:e><m:sup><m:r><m:t>2</m:t></m:r></m:sup></m:sSup></m:oMath></m:oMathPara></a14:m></mc:Choice><mc:Fallback><a:r><a:t>[picture]</a:t></a:r></mc:Fallback></mc:AlternateContent></a:p>' +
    "</p:txBody></p:sp></p:spTree></p:cSld></p:sld>";
  files["ppt/slides/_rels/slide1.xml.rels"] = rels([
    ["rId1", "comments", "../comments/comment1.xml"],
    ["rId2", "comments", "../comments/modernComment_1.xml"],
  ]);
  files["ppt/comments/comment1.xml"] =
    '<p:cmLst xmlns:p="p"><p:cm authorId="0" idx="1"><p:text>Check the units</p:text></p:cm></p:cmLst>';
  files["ppt/comments/modernComment_1.xml"] =
    '<p188:cmLst xmlns:p188="q" xmlns:a="a"><p188:cm id="{1}" authorId="{B0}"><p188:txBody><a:p><a:r><a:t>Use a diagram</a:t></a:r></a:p></p188:txBody>' +
    '<p188:replyLst><p188:reply id="{2}" authorId="{C0}"><p188:txBody><a:p><a:r><a:t>Done</a:t></a:r></a:p></p188:txBody></p188:reply></p188:replyLst></p188:cm></p188:cmLst>';
  return pack(files);
}

describe("PPTX", () => {
  it("reads equations as LaTeX-like text and review comments with their authors after the slide", async () => {
    const doc = await parseDocument(commentedPptx(), opts);
    expect(doc.pages[1]!.text).toBe(
      "Area: π{r}^{2}\nComment by Ann: Check the units\nComment by Bo: Use a diagram\nReply by Cy: Done",
    );
  });

  it("gives one page per slide in presentation order, with the notes after the slide text", async () => {
    const doc = await parseDocument(craftedPptx(), opts);
    expect(doc).toMatchObject({ detectedType: "pptx", pageCount: 2 });
    expect(doc.pages.map((p) => p.text)).toEqual([
      "First\nOpening second line\nNotes:\nSay hello",
      "Last\nClosing <remarks> second line",
    ]);
  });

  it("reads charts' titles and data, and survives malformed pictures", async () => {
    const chart = await parseDocument(read("pptx/pptx_chart.pptx"), opts);
    expect(chart.pages[0]!.text).toContain("Quarterly Duck Survey\nWild Duck Observations by Year");
    expect(chart.pages[0]!.text).toContain("2022\t175\t130");
    const malformed = await parseDocument(read("pptx/powerpoint_malformed_pictures.pptx"), opts);
    expect(malformed.pages.map((p) => p.text)).toEqual([
      "Slide With Missing BlipFill",
      "Slide With Dangling Rel",
      "Slide With Wrong Content Type",
    ]);
  });
});

describe("OpenDocument", () => {
  it("gives one page per ODP slide, with tables as rows", async () => {
    const doc = await parseDocument(read("odf/odf_presentation_01.odp"), opts);
    expect(doc).toMatchObject({ detectedType: "odp", pageCount: 3 });
    expect(doc.pages[0]!.text).toMatch(/^Test Table Slide\nWith footnote\n/);
    expect(doc.pages[0]!.text).toContain("R1\tTrue\tFalse");
    expect(doc.pages[1]!.text).toContain("A rectangle shape with this text inside.");
  });

  it("reads ODT headings, paragraphs and lists in order", async () => {
    const doc = await parseDocument(read("odf/text_document_01.odt"), opts);
    expect(doc).toMatchObject({ detectedType: "odt", pageCount: 1 });
    const lines = doc.text.split("\n");
    expect(lines.slice(0, 3)).toEqual(["Title", "Subtitle", "heading level 1.0"]);
    expect(lines.indexOf("• bullet list 2.2.1")).toBeGreaterThan(lines.indexOf("2. numbered list 2"));
    expect(lines.indexOf("2. numbered list 2")).toBeGreaterThan(0);
  });

  it("gives one page per ODS table, without expanding repeated empty cells and rows", async () => {
    const content =
      '<office:document-content xmlns:office="o" xmlns:table="t" xmlns:text="x"><office:body><office:spreadsheet>' +
      '<table:table table:name="Budget"><table:table-row><table:table-cell office:value-type="string"><text:p>Item</text:p></table:table-cell>' +
      '<table:table-cell table:number-columns-repeated="2"/><table:table-cell office:value-type="float" office:value="3"><text:p>3</text:p></table:table-cell>' +
      '<table:table-cell table:number-columns-repeated="16380"/></table:table-row>' +
      '<table:table-row table:number-rows-repeated="1048575"><table:table-cell table:number-columns-repeated="16384"/></table:table-row></table:table>' +
      '<table:table table:name="Two"><table:table-row><table:table-cell><text:p>a<text:s text:c="2"/>b</text:p></table:table-cell></table:table-row></table:table>' +
      "</office:spreadsheet></office:body></office:document-content>";
    const ods = Buffer.from(
      zipSync({
        mimetype: [strToU8("application/vnd.oasis.opendocument.spreadsheet"), { level: 0 }],
        "content.xml": strToU8(content),
      }),
    );
    const doc = await parseDocument(ods, opts);
    expect(doc).toMatchObject({ detectedType: "ods", pageCount: 2 });
    expect(doc.pages.map((p) => p.text)).toEqual(["Budget\nItem\t\t\t3", "Two\na b"]);
  });
});

describe("EPUB", () => {
  it("reads the spine in order through the HTML extractor, with the package title", async () => {
    const doc = await parseDocument(read("epub/epub_purvis_poetry.epub"), opts);
    expect(doc).toMatchObject({ detectedType: "epub", pageCount: 1, title: "Poetry" });
    expect(doc.text).not.toMatch(/<\/?[a-z]+[ >]/);
    const imprint = doc.text.indexOf("Imprint");
    const uncopyright = doc.text.lastIndexOf("Uncopyright");
    expect(imprint).toBeGreaterThanOrEqual(0);
    expect(uncopyright).toBeGreaterThan(imprint);
  });
});

describe("malformed zip-based documents", () => {
  it("give text or a DocumentError, never a crash", async () => {
    const files = [
      "pptx/powerpoint_malformed_pictures.pptx",
      "pptx/powerpoint_bad_text.pptx",
      "xlsx/xlsx_04_inflated.xlsx",
      "odf/odf_presentation_01.odp",
      "epub/epub_purvis_poetry.epub",
    ];
    for (const file of files) {
      const bytes = read(file);
      // Cut at several points: every outcome is text or a coded failure.
      for (const cut of [bytes.length, Math.floor(bytes.length * 0.9), Math.floor(bytes.length / 2)]) {
        const outcome = await parseDocument(bytes.subarray(0, cut), opts).then(
          (d) => d.detectedType,
          (e: unknown) => (e instanceof DocumentError ? e.code : `crash: ${e}`),
        );
        expect(outcome, `${file} cut at ${cut}`).not.toMatch(/^crash/);
      }
    }
  });

  it("read a Strict OOXML document", async () => {
    const doc = await parseDocument(read("docx/Strict.docx"), opts);
    expect(doc.text).toBe("Some text");
  });
});

describe("XLSX as displayed", () => {
  it("repeats a merged range's value across the cells it covers", async () => {
    const doc = await parseDocument(read("xlsx/xlsx_07_gap_tolerance_.xlsx"), opts);
    // The ground truth of this workbook shows each merged block's value in every cell of the block.
    const expected = readFileSync(new URL("xlsx/xlsx_07_gap_tolerance_.xlsx.expected.md", formats), "utf8");
    expect(tokenRecall(expected, doc.text)).toBe(1);
  });
});

describe("DOCX as Word displays it", () => {
  const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
  const M = 'xmlns:m="http://schemas.openxmlformats.org/officeDocument/2006/math"';
  const docx = (
    body: string,
    extra: Record<string, string> = {},
    relItems: [string, string, string][] = [],
  ) =>
    pack({
      "[Content_Types].xml":
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
      "_rels/.rels": rels([["rId1", "officeDocument", "word/document.xml"]]),
      "word/document.xml": `<w:document ${W} ${M}><w:body>${body}</w:body></w:document>`,
      "word/_rels/document.xml.rels": rels(relItems),
      ...extra,
    });
  const p = (inner: string, pPr = "") => `<w:p>${pPr ? `<w:pPr>${pPr}</w:pPr>` : ""}${inner}</w:p>`;
  const r = (text: string, rPr = "") =>
    `<w:r>${rPr ? `<w:rPr>${rPr}</w:rPr>` : ""}<w:t xml:space="preserve">${text}</w:t></w:r>`;

  it("numbers lists and headings as displayed, resuming a list after another", async () => {
    const doc = await parseDocument(read("docx/docx_list_resumed_numbering.docx"), opts);
    expect(doc.text).toMatch(
      /1\. First ordered item\n\n2\. Second ordered item\n\n• bullet one\n\n• bullet two\n\n3\. Third ordered item/,
    );
    const nested = await parseDocument(read("docx/docx_list_blank_spacer.docx"), opts);
    expect(nested.text).toContain(
      "1.1 Sub one\n\nProse that belongs under Sub one.\n\n1.2 Sub two\n\n2 Second section",
    );
  });

  it("writes equations as LaTeX-like text, each oMath of a paragraph apart", async () => {
    const frac = await parseDocument(read("docx/omml_frac_superscript.docx"), opts);
    expect(frac.text).toContain("{\\frac{(x-c)}{v}}^{2}");
    const crafted = docx(
      p(
        `<m:oMath><m:nary><m:naryPr><m:chr m:val="∑"/></m:naryPr><m:sub>${"<m:r><m:t>i=1</m:t></m:r>"}</m:sub><m:sup><m:r><m:t>n</m:t></m:r></m:sup><m:e><m:sSub><m:e><m:r><m:t>x</m:t></m:r></m:e><m:sub><m:r><m:t>i</m:t></m:r></m:sub></m:sSub></m:e></m:nary></m:oMath>` +
          `<m:oMath><m:rad><m:radPr><m:degHide m:val="1"/></m:radPr><m:deg/><m:e><m:r><m:t>2</m:t></m:r></m:e></m:rad></m:oMath>` +
          `<m:oMath><m:m><m:mr><m:e><m:r><m:t>a</m:t></m:r></m:e><m:e><m:r><m:t>b</m:t></m:r></m:e></m:mr><m:mr><m:e><m:r><m:t>c</m:t></m:r></m:e><m:e><m:r><m:t>d</m:t></m:r></m:e></m:mr></m:m></m:oMath>`,
      ),
    );
    const doc = await parseDocument(crafted, opts);
    expect(doc.text).toBe("\\sum_{i=1}^{n} {x}_{i} \\sqrt{2} \\begin{matrix}a & b \\\\ c & d\\end{matrix}");
  });

  it("shows check boxes, repeats merged cells, raises superscripts and leaves deleted text out", async () => {
    const boxes = await parseDocument(read("docx/docx_checkboxes.docx"), opts);
    expect(boxes.text).toContain("[x] Design\n\n[x] Implementation\n\n[ ] Documentation");
    const crafted = docx(
      p(
        `${r("E=mc")}${r("2", '<w:vertAlign w:val="superscript"/>')}${r(" and H")}${r("2", '<w:vertAlign w:val="subscript"/>')}${r("O")}`,
      ) +
        p(
          `${r("kept ")}<w:del><w:r><w:delText>removed</w:delText></w:r></w:del><w:ins>${r("inserted")}</w:ins>`,
        ) +
        `<w:tbl><w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr>${p(r("wide"))}</w:tc></w:tr>` +
        `<w:tr><w:tc><w:tcPr><w:vMerge w:val="restart"/></w:tcPr>${p(r("tall"))}</w:tc><w:tc>${p(r("x"))}</w:tc></w:tr>` +
        `<w:tr><w:tc><w:tcPr><w:vMerge/></w:tcPr>${p("")}</w:tc><w:tc>${p(r("y"))}</w:tc></w:tr></w:tbl>`,
      {
        "word/footnotes.xml": `<w:footnotes ${W}><w:footnote w:type="separator" w:id="-1">${p(r("---"))}</w:footnote><w:footnote w:id="1">${p(r("A note."))}</w:footnote></w:footnotes>`,
        "word/comments.xml": `<w:comments ${W}><w:comment w:id="0" w:author="Ann">${p(r("Check this."))}</w:comment></w:comments>`,
      },
      [
        ["rId2", "footnotes", "footnotes.xml"],
        ["rId3", "comments", "comments.xml"],
      ],
    );
    const doc = await parseDocument(crafted, opts);
    expect(doc.text).toBe(
      "E=mc^2 and H_2O\n\nkept inserted\n\nwide\twide\ntall\tx\ntall\ty\n\nFootnote: A note.\n\nComment by Ann: Check this.",
    );
  });
});

describe("OpenDocument as displayed", () => {
  it("numbers lists, raises superscripts and labels charts", async () => {
    const odt = await parseDocument(read("odf/text_document_01.odt"), opts);
    expect(odt.text).toContain("1. numbered list 1\n2. numbered list 2\n• bullet list 2.1");
    expect(odt.text).toContain("X^2 + Y_2 = Z");
    const odp = await parseDocument(read("odf/odf_presentation_01.odp"), opts);
    expect(odp.text).toContain("1. List item4\n2. List item5\n3. List item6");
  });

  it("reads embedded formulas (MathML) and charts, and comments after the page", async () => {
    const NS =
      'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" ' +
      'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" ' +
      'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:chart="urn:oasis:names:tc:opendocument:xmlns:chart:1.0" ' +
      'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"';
    const odt = pack({
      mimetype: "application/vnd.oasis.opendocument.text",
      "content.xml": `<office:document-content ${NS}><office:body><office:text><text:p>Energy<draw:frame><draw:object xlink:href="./Object 1"/></draw:frame></text:p><text:p>Sales<office:annotation><dc:creator>Bo</dc:creator><text:p>Source?</text:p></office:annotation><draw:frame><draw:object xlink:href="./Object 2"/></draw:frame></text:p></office:text></office:body></office:document-content>`,
      "Object 1/content.xml":
        '<math xmlns="http://www.w3.org/1998/Math/MathML"><semantics><mrow><mi>E</mi><mo>=</mo><mfrac><mi>m</mi><msup><mi>c</mi><mn>2</mn></msup></mfrac></mrow><annotation encoding="StarMath 5.0">E = m over c^2</annotation></semantics></math>',
      "Object 2/content.xml": `<office:document-content ${NS}><office:body><office:chart><chart:chart chart:class="chart:bar"><chart:title><text:p>Ducks per year</text:p></chart:title><table:table><table:table-rows><table:table-row><table:table-cell><text:p>2024</text:p></table:table-cell><table:table-cell><text:p>17</text:p></table:table-cell></table:table-row></table:table-rows></table:table></chart:chart></office:chart></office:body></office:document-content>`,
    });
    const doc = await parseDocument(odt, opts);
    expect(doc.text).toBe(
      "Energy\nE = \\frac{m}{{c}^{2}}\nSales\nDucks per year\nBar chart\n2024\t17\nComment by Bo: Source?",
    );
  });
});
