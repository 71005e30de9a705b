import { createRequire } from "node:module";
import sharp, { type Sharp } from "sharp";
import { createWorker, type Page, type Worker } from "tesseract.js";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import { lookAtScan, MIN_GLYPHS } from "./scan-prep.ts";
import type { OcrEngine, PageWord } from "./types.ts";

// The English model ships in an npm package: tesseract.js reads it from disk, never from the network.
const eng = createRequire(import.meta.url)("@tesseract.js-data/eng") as { langPath: string };

/** Tesseract reads best with text 20-40 px high; receipts scanned at low resolution have ~13 px. */
const MIN_TEXT_HEIGHT = 20;
const TARGET_TEXT_HEIGHT = 30;
/** Upscaling never goes past this factor nor past this many pixels (time grows with pixels). */
const MAX_UPSCALE = 4;
const MAX_UPSCALED_PIXELS = 12_000_000;
/** Tesseract's page segmentation modes used: automatic layout, and one uniform block of text. */
const PSM_AUTO = 3;
const PSM_SINGLE_BLOCK = 6;
const PSM_SINGLE_COLUMN = 4;
/**
 * Automatic layout only for a page of running text in columns (this many character-like components or
 * more, on the looked-at copy): a table or a slide of a few dozen words has "gutters" too, and reads
 * worse laid out automatically (the table slide of odf_presentation_01: 0.524 in one block, 0.405 in
 * automatic layout, with 78 glyphs; a two-column manual page has thousands).
 */
const DENSE_TEXT_GLYPHS = 300;
/**
 * With secondRead, text narrower than this many glyph heights is a column (a receipt: 12-38 on the SROIE
 * receipts), read twice; a page of running text (70-80) is read once: a second read doubled its time for
 * no recall (ocr-scans.ts tune: bookmark_sample 2.6 -> 9.7 s a page, recall 0.989 both).
 */
const NARROW_LINE_GLYPHS = 50;
/**
 * Gaussian blur (sigma, px of the page as read, after enlarging) on a narrow column read as one block
 * (a receipt): it joins the dots of dot-matrix and thermal print and smooths JPEG edges, which tesseract
 * misreads letter by letter in big letterheads. SROIE tuning receipts (sroie.ts --ocr
 * '{"filter":{"blur":S}}', company/date/address/total right of 41/41/41/40; in brackets how many the OCR
 * text holds at all): none 26/36/8/36 (24/36/3/33); 0.6 30/36/10/34 (27/36/5/34); 0.7 30/37/7/33;
 * 0.8 29/35/9/33; 0.9 27/32/10/33; 1.0 30/32/8/34; 1.5 29/34/7/30 (sigma 0.5 leaves the pixels as
 * they are). Stronger blur merges small digits (dates). No measurable OCR time.
 */
const NARROW_BLUR = 0.6;
/** The page is looked at (blank? skewed? small text?) at most this many pixels on its long side. */
const LOOK_SIDE = 1600;
/**
 * Median glyph height (px, full resolution) under which the page is enlarged before it is read, and the
 * height it is enlarged to: the old path's word-box heights (20 -> 30 px) in glyph heights (a word box
 * is about 1.5 glyphs tall). On the SROIE tuning receipts (company/date/address/total right of
 * 41/41/41/40), one read: 14 -> 20 px 25/35/7/32, 18 -> 26 px 24/35/7/35, 22 -> 30 px 22/36/4/32;
 * read twice (secondRead): 18 -> 26 px 28/36/8/34 (sroie.ts --ocr).
 */
const MIN_GLYPH_HEIGHT = 14;
const TARGET_GLYPH_HEIGHT = 20;
/**
 * Skew smaller than this (degrees) is left alone: tesseract's line finder copes, and rotating thermal
 * print blurs it (SROIE tuning receipts: dates 35/41 at 1 degree, 34/41 at 0.3).
 */
const MIN_DESKEW = 1;
/**
 * The letterhead band re-read (option `letterhead`): glyph height (px) it is enlarged to, and the share
 * of the page it covers at most (the SROIE receipts' addresses end within the top 10-35 %). SROIE
 * (sroie.ts --ocr '{"letterhead":true}', company/date/address/total right): tuning receipts 26/36/8/36
 * -> 28/36/8/36 of 41/41/41/40 (band in PSM 4: 28/36/8/36 too); held-out 9/15/7/16 -> 8/17/8/16 of 19;
 * OCR time 1.72 times one read (8 receipts read alternately with and without). So off by default.
 * With NARROW_BLUR on the page (the band read with the page's filter unless `letterhead.filter` says):
 * tuning receipts 29/36/10/35 -> 28/36/7/35 at ~1.5 times the OCR time (separate runs; re-read only
 * below 0.8 mean confidence: 28/36/8/35), so still off.
 */
const LETTERHEAD_GLYPH = 32;
const LETTERHEAD_MAX_SHARE = 0.4;
/** Tesseract's thresholding_method for the band: 2, Sauvola (adaptive); the page keeps 0 (Otsu). */
const LETTERHEAD_THRESHOLDING = 2;
/** A re-read line with no first-read line beside it is kept only when read this surely. */
const LETTERHEAD_NEW_LINE_CONFIDENCE = 0.7;
/** An amount with two decimals standing alone: an item or total line, below the letterhead. */
const PRICE = /(?<![\d.,])\d{1,6}\.\d{2}(?![\d.])/;

export interface OcrPoolOptions {
  /** Worker threads, each reading one image at a time (200-300 MB each on 8 MP pages). Default 1. */
  size?: number;
  /** Tesseract language(s) available in `langPath`. Default "eng" from @tesseract.js-data/eng. */
  lang?: string;
  langPath?: string;
  /**
   * Look at each page before reading it (default true): skip blank and picture-only pages, straighten
   * skewed ones, enlarge small text before the one read. false: the page as given, small text read twice.
   */
  preprocess?: boolean;
  /**
   * Tesseract page segmentation mode for every page. Default: chosen per page when looked at, 3
   * (automatic layout) where the text stands in columns, else 6 (one block, tesseract's own default).
   */
  psm?: number;
  /**
   * Median glyph height (px) under which a looked-at page is enlarged, and the height it is enlarged
   * to. Default { below: MIN_GLYPH_HEIGHT, to: TARGET_GLYPH_HEIGHT }.
   */
  enlarge?: { below: number; to: number };
  /**
   * Narrow pages read as one block (PSM 6: receipts, slides) are read once more as a single column
   * (PSM 4) and each band of lines is taken from the read with the higher mean confidence. Default
   * false: on the 19 held-out SROIE receipts (with enlarge 18 -> 26 px) dates 15 -> 18 right, totals
   * 16 -> 16, company 9 -> 8, address 7 -> 5, at 2.2 times the OCR time per receipt.
   */
  secondRead?: boolean;
  /**
   * Narrow pages read as one block (receipts) are read once more in their top band, the letterhead
   * (name, registration number, address): the page above its first price line (at most the top
   * LETTERHEAD_MAX_SHARE), cropped, enlarged to `glyph` px glyphs (default LETTERHEAD_GLYPH) and read
   * in `psm` (default 6) with tesseract's `thresholding` method (default 2, Sauvola); each band of
   * its lines is taken from the read with the higher mean confidence (mergeReads), the rest of the
   * page as first read. Default off (see LETTERHEAD_GLYPH for the figures).
   */
  letterhead?:
    | boolean
    | { psm?: number; glyph?: number; thresholding?: number; filter?: OcrFilter; below?: number };
  /** Further tesseract parameters set on each worker (e.g. { user_defined_dpi: "300" }). */
  parameters?: Record<string, string>;
  /**
   * Tesseract parameters that only take effect when a worker starts (e.g. { load_system_dawg: "0",
   * load_freq_dawg: "0" }: no word lists; the LSTM reads characters as it sees them).
   */
  initParameters?: Record<string, string>;
  /**
   * Filters applied to a looked-at page after enlarging, before tesseract reads it. Default: a blur of
   * NARROW_BLUR on narrow columns read as one block (receipts), nothing on other pages; {} for none.
   */
  filter?: OcrFilter;
  /**
   * The page read once more with these filters instead of `filter`, each band of lines taken from the
   * surer read (mergeReads). Default none (one read).
   */
  alsoFiltered?: OcrFilter;
}

/** sharp operations on the greyscale page tesseract reads (see OcrPoolOptions.filter). */
export interface OcrFilter {
  /** Gaussian blur sigma (px of the enlarged page): joins the dots of dot-matrix print. */
  blur?: number;
  /** Unsharp mask sigma. */
  sharpen?: number;
  /** Contrast-limited adaptive histogram equalisation: tile size (px) and slope limit. */
  clahe?: { size: number; slope?: number };
  /** Grey levels from this one (0-255) up stretched over 0-255: faint print darker, paper as white. */
  levels?: number;
  /** Median filter window (odd px): removes specks and JPEG noise. */
  median?: number;
  /** Binarised by sharp at this grey level (0-255) before tesseract thresholds it again. */
  threshold?: number;
}

type Result = Awaited<ReturnType<OcrEngine["recognize"]>>;

interface Job {
  image: Buffer;
  page: number;
  signal?: AbortSignal;
  resolve(result: Result): void;
  reject(err: unknown): void;
  onAbort?: () => void;
}

interface Slot {
  worker?: Promise<Worker>;
  busy: boolean;
  /** Ends the running recognition: terminates the worker and rejects the request with `reason`. */
  stop?: (reason: unknown) => void;
}

/**
 * A pool of tesseract.js workers (each a worker thread), started on first use. Requests wait in
 * FIFO order for a free worker. A recognition cannot be interrupted, so aborting one terminates its
 * worker; the pool starts a fresh one for the next request.
 */
export function createOcrPool(options: OcrPoolOptions = {}): OcrEngine {
  const size = Math.max(1, Math.floor(options.size ?? 1));
  const lang = options.lang ?? "eng";
  const langPath = options.langPath ?? eng.langPath;
  const slots: Slot[] = Array.from({ length: size }, () => ({ busy: false }));
  const queue: Job[] = [];
  let closed = false;

  // Tesseract's own diagnostics ("Warning: Invalid resolution 25 dpi...") go to its debug file, not
  // to the terminal of `serve`: they say nothing an operator can act on.
  const start = () =>
    createWorker(lang, 1, { langPath, gzip: true, cacheMethod: "none" }, options.initParameters ?? {}).then(
      async (w) => {
        await w.setParameters({
          ...options.parameters,
          debug_file: process.platform === "win32" ? "NUL" : "/dev/null",
        });
        return w;
      },
    );

  function pump(): void {
    for (const slot of slots) {
      if (slot.busy) continue;
      const job = queue.shift();
      if (!job) return;
      if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
      slot.busy = true;
      run(slot, job).finally(() => {
        slot.busy = false;
        pump();
      });
    }
  }

  async function run(slot: Slot, job: Job): Promise<void> {
    const { signal } = job;
    if (signal?.aborted) return job.reject(signal.reason);
    let stop: (reason: unknown) => void = () => undefined;
    const halted = new AbortController();
    const stopped = new Promise<never>((_, reject) => {
      stop = (reason) => {
        halted.abort(reason);
        // The thread cannot stop mid-recognition: drop it, the next request starts a new one.
        const worker = slot.worker;
        slot.worker = undefined;
        worker?.then((w) => w.terminate()).catch(() => undefined);
        reject(reason);
      };
    });
    stopped.catch(() => undefined);
    const onAbort = () => stop(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    slot.stop = stop;
    try {
      if (!slot.worker) {
        const created = start();
        slot.worker = created;
        created.catch(() => {
          if (slot.worker === created) slot.worker = undefined;
        });
      }
      const reading =
        options.preprocess === false
          ? recognizeWith(slot.worker, job.image, job.page, halted.signal)
          : recognizeLooked(
              slot.worker,
              job.image,
              job.page,
              halted.signal,
              options.psm,
              options.enlarge,
              options.secondRead,
              options.letterhead,
              options.parameters,
              options.filter,
              options.alsoFiltered,
            );
      reading.catch(() => undefined);
      job.resolve(await Promise.race([reading, stopped]));
    } catch (err) {
      job.reject(err);
    } finally {
      slot.stop = undefined;
      signal?.removeEventListener("abort", onAbort);
    }
  }

  return {
    recognize(image, page, signal) {
      if (closed) return Promise.reject(new Error("The OCR pool is closed"));
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<Result>((resolve, reject) => {
        const job: Job = { image, page, signal, resolve, reject };
        if (signal) {
          job.onAbort = () => {
            const at = queue.indexOf(job);
            if (at >= 0) {
              queue.splice(at, 1);
              reject(signal.reason);
            }
          };
          signal.addEventListener("abort", job.onAbort, { once: true });
        }
        queue.push(job);
        pump();
      });
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) {
        if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
        job.reject(new Error("The OCR pool is closed"));
      }
      for (const slot of slots) slot.stop?.(new Error("The OCR pool is closed"));
      const workers = slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));
      for (const slot of slots) slot.worker = undefined;
      await Promise.all(workers.map((w) => w.then((worker) => worker.terminate()).catch(() => undefined)));
    },
  };
}

/** The page as given, in tesseract's default mode (6); small text read once more, enlarged. */
async function recognizeWith(
  pending: Promise<Worker>,
  image: Buffer,
  page: number,
  halted: AbortSignal,
): Promise<Result> {
  const prepared = await prepare(image);
  const worker = await pending;
  // A stopped run must not hand its terminated worker another job (tesseract.js throws inside).
  halted.throwIfAborted();
  let { lines: _lines, ...read } = await read1(worker, prepared.data, page);
  // Small text is read once to measure it, then again enlarged (SROIE totals found: 47/60 -> 49/60).
  const height = medianHeight(read.words);
  if (height > 0 && height < MIN_TEXT_HEIGHT) {
    const factor = Math.min(
      MAX_UPSCALE,
      TARGET_TEXT_HEIGHT / height,
      Math.sqrt(MAX_UPSCALED_PIXELS / (prepared.width * prepared.height)),
    );
    if (factor > 1.2) {
      const enlarged = await sharp(prepared.data)
        .resize(Math.round(prepared.width * factor), Math.round(prepared.height * factor), {
          kernel: "lanczos3",
        })
        .png({ compressionLevel: 1 })
        .toBuffer();
      halted.throwIfAborted();
      ({ lines: _lines, ...read } = await read1(
        worker,
        enlarged,
        page,
        prepared.width / Math.round(prepared.width * factor),
      ));
    }
  }
  return read;
}

const NOTHING: Result = { text: "", words: [], confidence: 0 };

/**
 * Reads a page after looking at it on a downscaled copy: a page without character-like ink (blank,
 * a photo, a rule, a logo) is not read at all (tesseract turns such pages into noise, slowly); a page
 * skewed by 0.3-6° is straightened; small text is enlarged to ~18 px glyphs before the one read; the
 * segmentation mode follows the layout (columns: automatic, else one block).
 * Word boxes are mapped back to the image as given.
 */
async function recognizeLooked(
  pending: Promise<Worker>,
  image: Buffer,
  page: number,
  halted: AbortSignal,
  psm?: number,
  enlarge = { below: MIN_GLYPH_HEIGHT, to: TARGET_GLYPH_HEIGHT },
  secondRead = false,
  letterhead: OcrPoolOptions["letterhead"] = false,
  parameters?: Record<string, string>,
  pageFilter?: OcrFilter,
  alsoFiltered?: OcrFilter,
): Promise<Result> {
  const grey = await prepare(image);
  const { width, height } = grey;
  const look = Math.min(1, LOOK_SIDE / Math.max(width, height));
  const small = await sharp(grey.data)
    .resize(Math.max(1, Math.round(width * look)), Math.max(1, Math.round(height * look)), { fit: "fill" })
    // One sample per pixel (a greyscale PNG can still decode to three channels).
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const seen = lookAtScan({ data: small.data, width: small.info.width, height: small.info.height });
  if (seen.glyphs < MIN_GLYPHS) return NOTHING;
  const factor = enlargement(seen.glyphHeight / look, width, height, enlarge);
  const angle = Math.abs(seen.skew) >= MIN_DESKEW ? seen.skew : 0;
  // Columns read best laid out by tesseract (one block would interleave their lines); everything else as
  // one block, as before: receipts (their rules were tuned on it), slides, big titles (which automatic
  // layout drops as pictures).
  const mode = String(
    psm ?? (seen.columns && seen.glyphs >= DENSE_TEXT_GLYPHS ? PSM_AUTO : PSM_SINGLE_BLOCK),
  );
  const readIn = async (psmOf: string, input: Buffer, scale = 1 / factor): Promise<Read> => {
    const worker = await pending;
    halted.throwIfAborted();
    await worker.setParameters({ tessedit_pageseg_mode: psmOf as never });
    halted.throwIfAborted();
    return read1(worker, input, page, scale);
  };
  // On a narrow column (a receipt, a slide), one block (6) keeps a label and its amount on one line and
  // single column (4) reads letterheads' lines of mixed sizes better: both are read and each band of
  // lines taken from the surer read. Pages of running text gain nothing from it (ocr-scans.ts).
  const narrowBlock =
    psm === undefined && mode === String(PSM_SINGLE_BLOCK) && seen.lineGlyphs < NARROW_LINE_GLYPHS;
  const twice = secondRead && narrowBlock;
  // A narrow column read as one block (a receipt) is softened a little by default (NARROW_BLUR).
  const filter = pageFilter ?? (narrowBlock ? { blur: NARROW_BLUR } : undefined);
  const readPage = async (input: Buffer): Promise<Read> => {
    const first = await readIn(mode, input);
    if (!twice || first.lines.length === 0) return first;
    return mergeReads(first, await readIn(String(PSM_SINGLE_COLUMN), input));
  };
  /** The region as given, enlarged by `by` and straightened, read in `psmOf`; boxes mapped back. */
  const readRegion = async (
    region: Buffer,
    w: number,
    h: number,
    by: number,
    psmOf: string,
    filterOf: OcrFilter | undefined = filter,
  ) => {
    // The whole page in its own mode is read as readPage reads it (twice with secondRead).
    const whole = region === grey.data && psmOf === mode;
    let input = region;
    const outW = Math.round(w * by);
    const outH = Math.round(h * by);
    if (by > 1 || filterOf)
      input = await applyFilter(
        by > 1 ? sharp(input).resize(outW, outH, { kernel: "lanczos3" }) : sharp(input),
        filterOf,
      )
        .png({ compressionLevel: 1 })
        .toBuffer();
    if (angle === 0) {
      if (whole) return readPage(input);
      return readIn(psmOf, input, 1 / by);
    }
    // sharp turns clockwise for positive angles: the text rose by `angle`, so it turns back by it.
    const { data, info } = await sharp(input)
      .rotate(angle, { background: "#ffffff" })
      .png({ compressionLevel: 1 })
      .toBuffer({ resolveWithObject: true });
    const back = unrotate(angle, info.width, info.height, outW, outH);
    halted.throwIfAborted();
    const read = whole ? await readPage(data) : await readIn(psmOf, data, 1 / by);
    const lines = read.lines.map((l) => ({ words: l.words.map((w) => ({ ...w, bbox: back(w.bbox, by) })) }));
    return { ...read, lines, words: lines.flatMap((l) => l.words) };
  };
  let first = await readRegion(grey.data, width, height, factor, mode);
  if (alsoFiltered && first.lines.length > 0)
    first = mergeReads(first, await readRegion(grey.data, width, height, factor, mode, alsoFiltered));
  const band =
    letterhead &&
    psm === undefined &&
    mode === String(PSM_SINGLE_BLOCK) &&
    seen.lineGlyphs < NARROW_LINE_GLYPHS
      ? letterheadBand(first.lines, height)
      : undefined;
  const {
    glyph = LETTERHEAD_GLYPH,
    psm: bandPsm = PSM_SINGLE_BLOCK,
    thresholding = LETTERHEAD_THRESHOLDING,
    filter: bandFilter = filter,
    below = 1.01,
  } = letterhead === true ? {} : letterhead || {};
  // A letterhead read surely enough (mean confidence per character) is not read again.
  if (band === undefined || meanConfidence(first.lines.slice(0, band.lines)) >= below) {
    const { lines: _lines, ...read } = first;
    return read;
  }
  // The band's glyphs measured on the looked-at copy (the body's median can be smaller or larger).
  const rows = Math.max(1, Math.min(small.info.height, Math.round(band.bottom * look)));
  const bandLook = lookAtScan({
    data: small.data.subarray(0, rows * small.info.width),
    width: small.info.width,
    height: rows,
  });
  const bandGlyph = bandLook.glyphHeight / look;
  const by =
    bandGlyph > 0
      ? Math.max(
          1,
          Math.min(MAX_UPSCALE, glyph / bandGlyph, Math.sqrt(MAX_UPSCALED_PIXELS / (width * band.bottom))),
        )
      : factor;
  const crop = await sharp(grey.data)
    .extract({ left: 0, top: 0, width, height: band.bottom })
    .png({ compressionLevel: 1 })
    .toBuffer();
  halted.throwIfAborted();
  // Binarised by tesseract's adaptive (Sauvola) threshold for this read only: the crop alone, under the
  // global Otsu threshold, splits a bold black name from the paper and drops the faint thermal print
  // beside it (SROIE 001: only a handwritten name was read).
  const worker = await pending;
  halted.throwIfAborted();
  await worker.setParameters({ thresholding_method: String(thresholding) as never });
  let again: Read;
  try {
    again = await readRegion(crop, width, band.bottom, by, String(bandPsm), bandFilter);
  } finally {
    if (!halted.aborted)
      await worker.setParameters({
        thresholding_method: (parameters?.thresholding_method ?? "0") as never,
      });
  }
  const { lines: _lines, ...read } = spliceLetterhead(first, band.lines, again, band.bottom);
  return read;
}

/** `image` with the filters of `filter` applied, in a fixed order (see OcrFilter). */
function applyFilter(image: Sharp, filter: OcrFilter | undefined): Sharp {
  if (!filter) return image;
  let out = image;
  if (filter.median) out = out.median(filter.median);
  if (filter.clahe)
    out = out.clahe({
      width: filter.clahe.size,
      height: filter.clahe.size,
      maxSlope: filter.clahe.slope ?? 3,
    });
  if (filter.blur) out = out.blur(filter.blur);
  if (filter.sharpen) out = out.sharpen({ sigma: filter.sharpen });
  if (filter.levels) {
    const a = 255 / (255 - filter.levels);
    out = out.linear(a, -filter.levels * a);
  }
  if (filter.threshold) out = out.threshold(filter.threshold);
  return out;
}

/**
 * The letterhead band of a page read as one block: its leading lines down to (not including) the
 * first line with a price (an item or total) or the first reaching below LETTERHEAD_MAX_SHARE of the
 * page; `bottom` is that line's top (px). None when fewer than 2 lines would be in it.
 */
export function letterheadBand(
  lines: ReadLine[],
  pageHeight: number,
): { lines: number; bottom: number } | undefined {
  const limit = LETTERHEAD_MAX_SHARE * pageHeight;
  let end = lines.length;
  for (const [i, line] of lines.entries()) {
    const y1 = Math.max(...line.words.map((w) => w.bbox[3]));
    if (y1 > limit || PRICE.test(line.words.map((w) => w.text).join(" "))) {
      end = i;
      break;
    }
  }
  if (end < 2) return undefined;
  const next = lines[end];
  const bottom = Math.round(
    next
      ? Math.min(...next.words.map((w) => w.bbox[1]))
      : Math.min(limit, Math.max(...lines[end - 1]!.words.map((w) => w.bbox[3])) + 4),
  );
  const lastBottom = Math.max(...lines[end - 1]!.words.map((w) => w.bbox[3]));
  return bottom > lastBottom - 2 && bottom > 0
    ? { lines: end, bottom: Math.min(Math.round(pageHeight), bottom) }
    : undefined;
}

/**
 * The page as first read with its first `bandLines` lines (the letterhead) merged with a re-read of
 * the band above `bottom` (mergeReads: per band of lines, the surer read). The re-read's lines that
 * reach the crop's edge (cut glyphs) are dropped; the rest of the text is the first read's, as read.
 */
export function spliceLetterhead<R extends Result & { lines: ReadLine[] }>(
  first: R,
  bandLines: number,
  again: R,
  bottom: number,
): R {
  const head = first.lines.slice(0, bandLines);
  const span = (l: ReadLine) => [
    Math.min(...l.words.map((w) => w.bbox[1])),
    Math.max(...l.words.map((w) => w.bbox[3])),
  ];
  const sure = (l: ReadLine) => {
    const chars = l.words.reduce((n, w) => n + w.text.length, 0);
    return l.words.reduce((n, w) => n + w.confidence * w.text.length, 0) / Math.max(1, chars);
  };
  // Lines of the re-read that the first read has nothing beside are rule lines and specks read as
  // text, unless read with some confidence (a faint line the first read missed).
  const whole = again.lines.filter((l) => {
    const [y0, y1] = span(l) as [number, number];
    if (y1 >= bottom - 1) return false;
    const beside = head.some((h) => {
      const [h0, h1] = span(h) as [number, number];
      return Math.min(y1, h1) - Math.max(y0, h0) > 0;
    });
    return beside || sure(l) >= LETTERHEAD_NEW_LINE_CONFIDENCE;
  });
  const wordsOf = (lines: ReadLine[]) => lines.flatMap((l) => l.words);
  const merged = mergeReads(
    { ...first, lines: head, words: wordsOf(head) },
    { ...again, lines: whole, words: wordsOf(whole) },
  );
  const tail = first.lines.slice(bandLines);
  // The first read's text past its first `bandLines` non-empty lines, blank lines and all.
  const textLines = first.text.split("\n");
  let seen = 0;
  let cut = textLines.length;
  for (const [i, line] of textLines.entries()) {
    if (seen === bandLines) {
      cut = i;
      break;
    }
    if (line.trim() !== "") seen++;
  }
  const rest = textLines.slice(cut).join("\n");
  const lines = [...merged.lines, ...tail];
  const words = wordsOf(lines);
  return {
    ...first,
    text: tidy([merged.text, rest].filter((t) => t !== "").join("\n")),
    words,
    lines,
    confidence: words.length ? words.reduce((n, w) => n + w.confidence, 0) / words.length : 0,
  };
}

/**
 * The factor a page of `width`×`height` px whose median glyph is `glyphHeight` px tall is enlarged by
 * before it is read: to `enlarge.to` px glyphs when they are under `enlarge.below` px, at most
 * MAX_UPSCALE times and MAX_UPSCALED_PIXELS; 1 (as given) when that would be under 1.2.
 */
export function enlargement(
  glyphHeight: number,
  width: number,
  height: number,
  enlarge = { below: MIN_GLYPH_HEIGHT, to: TARGET_GLYPH_HEIGHT },
): number {
  if (!(glyphHeight > 0 && glyphHeight < enlarge.below)) return 1;
  const factor = Math.min(
    MAX_UPSCALE,
    enlarge.to / glyphHeight,
    Math.sqrt(MAX_UPSCALED_PIXELS / (width * height)),
  );
  return factor < 1.2 ? 1 : factor;
}

/**
 * Maps a box read on the page turned by `angle` degrees (canvas `w`×`h`, grown to hold the turned
 * page of `srcW`×`srcH`) back onto the page before turning, scaled by 1/`factor`.
 */
function unrotate(
  angle: number,
  w: number,
  h: number,
  srcW: number,
  srcH: number,
): (bbox: PageWord["bbox"], factor: number) => PageWord["bbox"] {
  const rad = (-angle * Math.PI) / 180;
  const cos = Math.cos(rad);
  const sin = Math.sin(rad);
  return ([x0, y0, x1, y1], factor) => {
    // read1 already divided by `factor`: work in enlarged pixels, divide again at the end.
    const xs: number[] = [];
    const ys: number[] = [];
    for (const [x, y] of [
      [x0, y0],
      [x1, y0],
      [x0, y1],
      [x1, y1],
    ] as const) {
      const dx = x * factor - w / 2;
      const dy = y * factor - h / 2;
      xs.push((dx * cos - dy * sin + srcW / 2) / factor);
      ys.push((dx * sin + dy * cos + srcH / 2) / factor);
    }
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)].map((v) =>
      Math.max(0, Math.round(v)),
    ) as PageWord["bbox"];
  };
}

/**
 * Greyscale PNG of the upright image (EXIF orientation applied, white under transparency). No
 * contrast stretching: sharp's normalise() clips at percentiles, and on receipts photographed on
 * white (99% paper) it fattens the print into blobs (SROIE totals found: 47/60 grey, 32/60 normalised).
 */
async function prepare(image: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    const { data, info } = await sharp(image, { limitInputPixels: MAX_UPSCALED_PIXELS * 10 })
      .rotate()
      .flatten({ background: "#ffffff" })
      .greyscale()
      .png({ compressionLevel: 1 })
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw new DocumentError(FailureCode.CORRUPT, `The image cannot be read for OCR: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

/** A line of words as read, in reading order. */
interface ReadLine {
  words: PageWord[];
}
type Read = Result & { lines: ReadLine[] };

async function read1(worker: Worker, image: Buffer, page: number, scale = 1): Promise<Read> {
  let data: Page;
  try {
    ({ data } = await worker.recognize(image, {}, { text: true, blocks: true }));
  } catch (err) {
    // tesseract.js rejects with strings.
    throw err instanceof Error ? err : new Error(`OCR failed: ${String(err)}`);
  }
  const words: PageWord[] = [];
  const lines: ReadLine[] = [];
  for (const block of data.blocks ?? []) {
    for (const paragraph of block.paragraphs) {
      for (const line of paragraph.lines) {
        const at = words.length;
        for (const word of line.words) {
          const text = word.text.trim();
          if (text === "") continue;
          const { x0, y0, x1, y1 } = word.bbox;
          words.push({
            text,
            page,
            bbox: [x0 * scale, y0 * scale, x1 * scale, y1 * scale].map(Math.round) as PageWord["bbox"],
            confidence: clamp01(word.confidence / 100),
          });
        }
        if (words.length > at) lines.push({ words: words.slice(at) });
      }
    }
  }
  return {
    text: tidy(data.text ?? ""),
    words,
    lines,
    confidence: clamp01((data.confidence ?? 0) / 100),
  };
}

/**
 * Two reads of one page merged band by band: lines of either read that overlap vertically (by half the
 * lower one's height) form a band; each band's lines come from the read whose words in it have the
 * higher mean confidence per character (`a` on ties or where `b` has none), bands top to bottom. The
 * text is the chosen lines, one per line; the page's confidence the chosen words' mean.
 */
export function mergeReads<R extends Result & { lines: ReadLine[] }>(a: R, b: R): R {
  type Placed = { words: PageWord[]; from: 0 | 1; y0: number; y1: number; conf: number; chars: number };
  const place = (lines: ReadLine[], from: 0 | 1): Placed[] =>
    lines.map(({ words }) => {
      let conf = 0;
      let chars = 0;
      for (const w of words) {
        conf += w.confidence * w.text.length;
        chars += w.text.length;
      }
      return {
        words,
        from,
        y0: Math.min(...words.map((w) => w.bbox[1])),
        y1: Math.max(...words.map((w) => w.bbox[3])),
        conf,
        chars,
      };
    });
  const all = [...place(a.lines, 0), ...place(b.lines, 1)];
  const parent = all.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const overlaps = (p: Placed, q: Placed) =>
    Math.min(p.y1, q.y1) - Math.max(p.y0, q.y0) > 0.5 * Math.min(p.y1 - p.y0, q.y1 - q.y0);
  for (let i = 0; i < all.length; i++)
    for (let j = i + 1; j < all.length; j++)
      if (all[i]!.from !== all[j]!.from && overlaps(all[i]!, all[j]!)) parent[root(i)] = root(j);
  const bands = new Map<number, Placed[]>();
  all.forEach((line, i) => {
    const band = bands.get(root(i));
    if (band) band.push(line);
    else bands.set(root(i), [line]);
  });
  const meanOf = (lines: Placed[]) => {
    const chars = lines.reduce((n, l) => n + l.chars, 0);
    return chars > 0 ? lines.reduce((n, l) => n + l.conf, 0) / chars : -1;
  };
  const chosen: (Placed & { top: number })[] = [];
  for (const band of bands.values()) {
    const fromA = band.filter((l) => l.from === 0);
    const fromB = band.filter((l) => l.from === 1);
    const take = fromA.length > 0 && meanOf(fromA) >= meanOf(fromB) ? fromA : fromB;
    const top = Math.min(...band.map((l) => l.y0));
    for (const line of take) chosen.push({ ...line, top });
  }
  chosen.sort((p, q) => p.top - q.top || p.y0 - q.y0);
  const words = chosen.flatMap((l) => l.words);
  return {
    ...a,
    text: chosen.map((l) => l.words.map((w) => w.text).join(" ")).join("\n"),
    words,
    lines: chosen.map(({ words }) => ({ words })),
    confidence: words.length ? words.reduce((n, w) => n + w.confidence, 0) / words.length : 0,
  };
}

/** Mean word confidence per character over `lines` (0 without characters). */
function meanConfidence(lines: ReadLine[]): number {
  let conf = 0;
  let chars = 0;
  for (const l of lines)
    for (const w of l.words) {
      conf += w.confidence * w.text.length;
      chars += w.text.length;
    }
  return chars > 0 ? conf / chars : 0;
}

/** Median height of the words read with some confidence (noise boxes are often tiny or huge). */
function medianHeight(words: PageWord[]): number {
  const heights = words
    .filter((w) => w.confidence >= 0.5)
    .map((w) => w.bbox[3] - w.bbox[1])
    .sort((a, b) => a - b);
  return heights[heights.length >> 1] ?? 0;
}

function tidy(text: string): string {
  return text
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

function clamp01(n: number): number {
  return Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
