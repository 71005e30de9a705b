/**
 * OCR quality and cost on scans, engine settings side by side on the same pages in the same run.
 *
 * Pages: the corpus PDFs with a text layer (../shared/corpus/formats/pdf and the PDFs printed from
 * the ODF documents in formats/odf), page by page, rendered and "scanned" two ways: `clean` (200 dpi,
 * as text-recall.ts's scan row) and `skewed` (150 dpi, turned 1.5-3.5°, greyed paper, JPEG quality 60);
 * the truth is the page's own text layer. `tune` pages (formats/pdf) chose the settings; `held`
 * pages (formats/odf) were not looked at while tuning. Right-to-left PDFs are left out (English model).
 * `pictures`: pdfjs corpus PDFs whose pages are only pictures or nearly blank, read through
 * parseDocument (render at 300 dpi, OCR): cost, and the characters OCR makes up there.
 *
 *   node --import tsx tests/bench/ocr-scans.ts [sets=tune,held,pictures] [configs=legacy,auto] [pages per file=2]
 *
 * configs: legacy (the page as given, tesseract's default PSM 6, small text read twice: the engine
 * before issue 21's OCR work); auto (the default now: looked at first, blank and picture-only pages
 * skipped, deskew, small text enlarged before the one read, PSM 3 for columns else 6); psm3 / psm4 /
 * psm6 (looked at first, that PSM on every page); enlarge-B-T (the default with glyphs under B px
 * enlarged to T px); twice (narrow PSM 6 pages read again as PSM 4 and merged, glyphs under 18 px
 * enlarged to 26 px: createOcrPool's secondRead); unfiltered (the default without the blur of narrow
 * one-block pages, NARROW_BLUR: createOcrPool's filter {}).
 * Prints per set and config: pages, token recall (mean), precision (share of read tokens that are
 * the page's), OCR seconds per page; with --files one line per page.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "@docfleet/pipeline/parse/index";
import { createOcrPool } from "@docfleet/pipeline/parse/ocr";
import { joinItems } from "@docfleet/pipeline/parse/pdf";
import { tokenRecall, tokens } from "@docfleet/pipeline/parse/recall";
import type { OcrEngine } from "@docfleet/pipeline/parse/types";
import { createCanvas } from "@napi-rs/canvas";
import { getDocument } from "pdfjs-dist/legacy/build/pdf.mjs";
import sharp from "sharp";

const corpus = fileURLToPath(new URL("../../../shared/corpus/", import.meta.url));
const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const perFile = process.argv.includes("--files");
const sets = (args[0] ?? "tune,held,pictures").split(",");
const configNames = (args[1] ?? "legacy,auto").split(",");
const pagesPerFile = Number(args[2] ?? 2);

const TUNE = [
  "2305.03393v1-pg9.pdf",
  "amt_handbook_sample.pdf",
  "bookmark_sample.pdf",
  "code_and_formula.pdf",
  "skipped_1page.pdf",
].map((f) => join(corpus, "formats/pdf", f));
const HELD = [
  "odf_presentation_01.odp.pdf",
  "odf_table_with_title_01.ods.pdf",
  "text_document_01.odt.pdf",
  "text_document_03.odt.pdf",
].map((f) => join(corpus, "formats/odf", f));
const PICTURES = [
  "bitmap-symbol.pdf",
  "bitmap-template1.pdf",
  "bug1065245.pdf",
  "bug1942064.pdf",
  "cmykjpeg.pdf",
  "issue17147.pdf",
  "issue4379.pdf",
  "issue4706.pdf",
  "issue5280.pdf",
  "issue8798r.pdf",
  "tagged_stamp.pdf",
  "images.pdf",
].map((f) => join(corpus, "pdfjs", f));

const engines = new Map<string, OcrEngine>();
for (const name of configNames) {
  engines.set(
    name,
    name === "legacy"
      ? createOcrPool({ preprocess: false })
      : name === "auto"
        ? createOcrPool()
        : name === "unfiltered"
          ? createOcrPool({ filter: {} })
          : name === "twice"
            ? createOcrPool({ secondRead: true, enlarge: { below: 18, to: 26 } })
            : name.startsWith("enlarge")
              ? createOcrPool({
                  enlarge: { below: Number(name.split("-")[1]), to: Number(name.split("-")[2]) },
                })
              : createOcrPool({ psm: Number(name.replace("psm", "")) }),
  );
}

interface Score {
  pages: number;
  recall: number;
  read: number;
  matched: number;
  seconds: number;
}
const scores = new Map<string, Score>();
const add = (key: string, recall: number, read: number, matched: number, seconds: number) => {
  const s = scores.get(key) ?? { pages: 0, recall: 0, read: 0, matched: 0, seconds: 0 };
  s.pages++;
  s.recall += recall;
  s.read += read;
  s.matched += matched;
  s.seconds += seconds;
  scores.set(key, s);
};

/** Tokens of `actual` that are in `truth` (with multiplicity). */
function matchedTokens(truth: string, actual: string): number {
  const have = new Map<string, number>();
  for (const t of tokens(truth)) have.set(t, (have.get(t) ?? 0) + 1);
  let n = 0;
  for (const t of tokens(actual)) {
    const k = have.get(t) ?? 0;
    if (k > 0) {
      n++;
      have.set(t, k - 1);
    }
  }
  return n;
}

/** A deterministic stand-in for a scan: greyer paper, a turn, low resolution, JPEG artefacts. */
async function skewedScan(png: Buffer, seed: number): Promise<Buffer> {
  const angle = (seed % 2 === 0 ? 1 : -1) * (1.5 + (seed % 5) * 0.5);
  return sharp(png)
    .flatten({ background: "#ffffff" })
    .greyscale()
    .linear(0.8, 30)
    .rotate(angle, { background: "#e6e6e6" })
    .jpeg({ quality: 60 })
    .toBuffer();
}

async function pageImages(path: string, seed: number) {
  const pdf = await getDocument({
    data: new Uint8Array(readFileSync(path)),
    isEvalSupported: false,
    verbosity: 0,
  }).promise;
  const out: { name: string; truth: string; variant: string; image: Buffer }[] = [];
  for (let n = 1; n <= Math.min(pdf.numPages, pagesPerFile); n++) {
    const page = await pdf.getPage(n);
    const content = await page.getTextContent();
    const truth = joinItems(content.items.flatMap((i) => ("str" in i ? [i] : [])));
    if (tokens(truth).length < 5) continue;
    for (const [variant, dpi] of [
      ["clean", 200],
      ["skewed", 150],
    ] as const) {
      const viewport = page.getViewport({ scale: dpi / 72 });
      const canvas = createCanvas(Math.floor(viewport.width), Math.floor(viewport.height));
      await page.render({ canvas: canvas as unknown as HTMLCanvasElement, viewport }).promise;
      const png = await canvas.encode("png");
      out.push({
        name: `${path.split("/").pop()}#${n}`,
        truth,
        variant,
        image: variant === "clean" ? png : await skewedScan(png, seed + n),
      });
    }
  }
  await pdf.destroy();
  return out;
}

const opts = { maxPages: 1000, maxTextChars: 50_000_000 };
for (const set of sets) {
  if (set === "pictures") {
    for (const path of PICTURES) {
      const bytes = readFileSync(path);
      for (const [name, ocr] of engines) {
        const started = performance.now();
        let chars = 0;
        let outcome = "ok";
        try {
          chars = (await parseDocument(bytes, { ...opts, ocr })).text.replace(/\s+/g, "").length;
        } catch (err) {
          outcome = (err as { code?: string }).code ?? "error";
        }
        const seconds = (performance.now() - started) / 1000;
        add(`pictures ${name}`, 0, chars, 0, seconds);
        if (perFile)
          console.log(
            `  pictures ${name} ${path.split("/").pop()}: ${outcome} ${chars} chars read, ${seconds.toFixed(2)} s`,
          );
      }
    }
    continue;
  }
  const files = set === "tune" ? TUNE : HELD;
  let seed = 0;
  for (const path of files) {
    for (const { name, truth, variant, image } of await pageImages(path, seed++)) {
      for (const [config, ocr] of engines) {
        const started = performance.now();
        const read = await ocr.recognize(image, 1);
        const seconds = (performance.now() - started) / 1000;
        const recall = tokenRecall(truth, read.text);
        const readTokens = tokens(read.text).length;
        add(`${set}/${variant} ${config}`, recall, readTokens, matchedTokens(truth, read.text), seconds);
        add(`${set} ${config}`, recall, readTokens, matchedTokens(truth, read.text), seconds);
        if (perFile)
          console.log(
            `  ${set}/${variant} ${config} ${name}: recall ${recall.toFixed(3)}, ${seconds.toFixed(2)} s`,
          );
      }
    }
  }
}
for (const ocr of engines.values()) await ocr.close();

console.log("set              config  pages  recall  precision  s/page");
for (const [key, s] of [...scores].sort(([a], [b]) => a.localeCompare(b))) {
  const [set, config] = key.split(" ");
  const picture = set === "pictures";
  console.log(
    `${(set ?? "").padEnd(16)} ${(config ?? "").padEnd(7)} ${String(s.pages).padStart(5)}  ` +
      `${picture ? "     -" : (s.recall / s.pages).toFixed(3).padStart(6)}  ` +
      `${picture ? `${String(Math.round(s.read)).padStart(6)} ch` : (s.matched / Math.max(1, s.read)).toFixed(3).padStart(9)}  ` +
      `${(s.seconds / s.pages).toFixed(2).padStart(6)}`,
  );
}
