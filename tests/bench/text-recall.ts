/**
 * Text extraction quality over the format corpus: every file of ../shared/corpus/formats with a
 * `.expected.md` ground truth is parsed with parseDocument and its token recall measured. Prints, per
 * format folder, the files, mean and minimum recall, and failures by code; then an overall line.
 *
 * Two more rows use the PDFs printed from the ODF documents: their text layer ("pdf") and OCR of their
 * pages rendered at 200 dpi ("scan").
 *
 *   npm run bench -- tests/bench/text-recall.ts [--files]   (--files: one line per file too)
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDocumentError } from "@docfleet/pipeline/domain/errors";
import { parseDocument } from "@docfleet/pipeline/parse/index";
import { createOcrPool } from "@docfleet/pipeline/parse/ocr";
import { tokenRecall } from "@docfleet/pipeline/parse/recall";
import { createCanvas } from "@napi-rs/canvas";
import { getDocument } from "pdfjs-dist/legacy/build/pdf.mjs";

const root = fileURLToPath(new URL("../../../shared/corpus/formats/", import.meta.url));
const perFile = process.argv.includes("--files");
const opts = { maxPages: 1000, maxTextChars: 50_000_000 };

interface Row {
  folder: string;
  files: number;
  recalls: number[];
  failures: Map<string, number>;
}

const rows: Row[] = [];
for (const folder of readdirSync(root).sort()) {
  const dir = join(root, folder);
  const files = readdirSync(dir)
    .filter((f) => !f.endsWith(".expected.md") && existsSync(join(dir, `${f}.expected.md`)))
    .sort();
  if (files.length === 0) continue;
  const row: Row = { folder, files: files.length, recalls: [], failures: new Map() };
  for (const file of files) {
    const expected = readFileSync(join(dir, `${file}.expected.md`), "utf8");
    try {
      const doc = await parseDocument(readFileSync(join(dir, file)), { ...opts, fileName: file });
      const recall = tokenRecall(expected, doc.text);
      row.recalls.push(recall);
      if (perFile) console.log(`  ${folder}/${file}: ${doc.detectedType} recall ${recall.toFixed(3)}`);
    } catch (err) {
      const code = isDocumentError(err) ? err.code : "CRASH";
      row.failures.set(code, (row.failures.get(code) ?? 0) + 1);
      // A failure recalls nothing: it counts in the mean as 0.
      row.recalls.push(0);
      if (perFile) console.log(`  ${folder}/${file}: ${code} ${err instanceof Error ? err.message : err}`);
    }
  }
  rows.push(row);
}

// The PDFs of odf/ were printed from the documents their .expected.md describes: their text layer is
// one row, and the same pages rendered at 200 dpi and read by OCR (as a scan would be) another.
const printed = ["odf_presentation_01.odp", "text_document_01.odt"];
const pdfRow: Row = { folder: "pdf", files: printed.length, recalls: [], failures: new Map() };
const scanRow: Row = { folder: "scan", files: printed.length, recalls: [], failures: new Map() };
const ocr = createOcrPool();
for (const doc of printed) {
  const expected = readFileSync(join(root, "odf", `${doc}.expected.md`), "utf8");
  const bytes = readFileSync(join(root, "odf", `${doc}.pdf`));
  pdfRow.recalls.push(tokenRecall(expected, (await parseDocument(bytes, opts)).text));
  const pdf = await getDocument({ data: new Uint8Array(bytes), isEvalSupported: false }).promise;
  const texts: string[] = [];
  for (let n = 1; n <= pdf.numPages; n++) {
    const page = await pdf.getPage(n);
    const viewport = page.getViewport({ scale: 200 / 72 });
    const canvas = createCanvas(Math.floor(viewport.width), Math.floor(viewport.height));
    await page.render({ canvas: canvas as unknown as HTMLCanvasElement, viewport }).promise;
    const png = await canvas.encode("png");
    texts.push((await parseDocument(png, { ...opts, ocr })).text);
  }
  await pdf.destroy();
  const recall = tokenRecall(expected, texts.join("\f"));
  scanRow.recalls.push(recall);
  if (perFile) console.log(`  scan/${doc}.pdf: OCR of ${pdf.numPages} pages, recall ${recall.toFixed(3)}`);
}
await ocr.close();
rows.push(pdfRow, scanRow);

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const failures = (m: Map<string, number>) =>
  m.size === 0 ? "none" : [...m].map(([code, n]) => `${code}×${n}`).join(", ");
console.log("format  files  mean recall  min recall  failures");
for (const r of rows) {
  console.log(
    `${r.folder.padEnd(7)} ${String(r.files).padStart(5)}  ${mean(r.recalls).toFixed(3).padStart(11)}  ` +
      `${Math.min(...r.recalls)
        .toFixed(3)
        .padStart(10)}  ${failures(r.failures)}`,
  );
}
const all = rows.flatMap((r) => r.recalls);
const allFailures = new Map<string, number>();
for (const r of rows) for (const [c, n] of r.failures) allFailures.set(c, (allFailures.get(c) ?? 0) + n);
console.log(
  `${"overall".padEnd(7)} ${String(all.length).padStart(5)}  ${mean(all).toFixed(3).padStart(11)}  ` +
    `${Math.min(...all)
      .toFixed(3)
      .padStart(10)}  ${failures(allFailures)}`,
);
