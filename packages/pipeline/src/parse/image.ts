import sharp, { type Metadata, type Sharp } from "sharp";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import type { Extracted, PageImage, PageWord, ParsedPage, ParseOptions } from "./types.ts";

export const DEFAULT_MAX_PIXELS = 100_000_000;
export const DEFAULT_VISION_PIXEL_BUDGET = 1_000_000;
export const DEFAULT_MAX_OCR_PAGES = 50;
/** Page images handed to the vision model per document. */
export const MAX_VISION_PAGES = 4;
export const THUMBNAIL_SIZE = 320;

/** Decoded 8-bit pixels, upright, with `channels` samples per pixel. */
export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

type ImageInput = Buffer | RawImage;

function open(image: ImageInput): Sharp {
  if (Buffer.isBuffer(image)) return sharp(image).rotate();
  const { data, width, height, channels } = image;
  return sharp(data, { raw: { width, height, channels } });
}

/** A JPEG of the image downscaled to at most `budget` pixels (never upscaled), for a vision model. */
export async function fitToPixels(
  image: ImageInput,
  budget: number,
): Promise<{ data: Buffer; width: number; height: number }> {
  const source = open(image);
  const { width, height } = Buffer.isBuffer(image) ? await upright(image) : image;
  const factor = Math.min(1, Math.sqrt(budget / (width * height)));
  const { data, info } = await source
    .resize(Math.max(1, Math.floor(width * factor)), Math.max(1, Math.floor(height * factor)), {
      fit: "fill",
    })
    .flatten({ background: "#ffffff" })
    .jpeg({ quality: 85, mozjpeg: true })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** A WebP that fits in 320×320 (never upscaled). */
export async function makeThumbnail(image: ImageInput): Promise<Buffer> {
  return open(image)
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: "inside", withoutEnlargement: true })
    .webp({ quality: 70 })
    .toBuffer();
}

/** A lossless PNG of the pixels, the input OCR reads (fast compression: it is decoded right away). */
export function toPng(image: RawImage): Promise<Buffer> {
  return open(image).png({ compressionLevel: 1 }).toBuffer();
}

async function upright(image: Buffer): Promise<{ width: number; height: number }> {
  const { width = 0, height = 0, orientation = 1 } = await sharp(image).metadata();
  return orientation >= 5 ? { width: height, height: width } : { width, height };
}

/**
 * Pages of a PNG, JPEG, TIFF (every page), WebP or GIF (first frame), read with OCR when `opts.ocr`
 * is set. Throws DocumentError: TOO_LARGE (a page over `maxPixels`, checked before decoding, or
 * more pages than `maxPages`), CORRUPT (undecodable or truncated data).
 */
export async function extractImage(bytes: Buffer, type: string, opts: ParseOptions): Promise<Extracted> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxOcrPages = opts.maxOcrPages ?? DEFAULT_MAX_OCR_PAGES;
  const budget = opts.visionPixelBudget ?? DEFAULT_VISION_PIXEL_BUDGET;
  // Animated GIF and WebP frames are rarely separate documents: the first frame stands for the file.
  const multiPage = type === "tif" || type === "tiff";
  const first = await metadata(bytes, 0, maxPixels);
  const pageCount = multiPage ? (first.pages ?? 1) : 1;
  if (pageCount > opts.maxPages) {
    throw new DocumentError(
      FailureCode.TOO_LARGE,
      `The image has ${pageCount} pages, more than the limit of ${opts.maxPages}`,
    );
  }

  const pages: ParsedPage[] = [];
  const words: PageWord[] = [];
  const images: PageImage[] = [];
  let thumbnail: Buffer | undefined;
  for (let number = 1; number <= pageCount; number++) {
    opts.signal?.throwIfAborted();
    if (number > 1) await metadata(bytes, number - 1, maxPixels);
    const raw = await decode(bytes, number - 1, maxPixels);
    if (number === 1) thumbnail = await makeThumbnail(raw);
    if (number <= MAX_VISION_PAGES) images.push({ page: number, ...(await fitToPixels(raw, budget)) });
    let text = "";
    if (opts.ocr && number <= maxOcrPages) {
      const read = await opts.ocr.recognize(await toPng(raw), number, opts.signal);
      text = read.text;
      words.push(...read.words);
    }
    pages.push({ number, text, source: "ocr" });
    // A page read: a progress-aware budget counts from here (see StageInput.progress).
    opts.onPageRead?.(number, "done");
  }
  return { pages, pageCount, words, images, thumbnail };
}

/** Header only: refuses a pixel bomb before a single pixel is decoded. */
async function metadata(bytes: Buffer, page: number, maxPixels: number): Promise<Metadata> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { page, limitInputPixels: false }).metadata();
  } catch (err) {
    throw corrupt(err);
  }
  const { width = 0, height = 0 } = meta;
  // Multi-page files report the whole strip's height; pageHeight is one page's.
  const pageHeight = meta.pageHeight ?? height;
  if (width <= 0 || pageHeight <= 0) throw new DocumentError(FailureCode.CORRUPT, "The image has no pixels");
  if (width * pageHeight > maxPixels) {
    throw new DocumentError(
      FailureCode.TOO_LARGE,
      `The image is ${width}×${pageHeight} px, more than the limit of ${Math.round(maxPixels / 1e6)} MP`,
    );
  }
  return meta;
}

/** Upright (EXIF orientation applied), white under transparency, 8-bit sRGB pixels of one page. */
async function decode(bytes: Buffer, page: number, maxPixels: number): Promise<RawImage> {
  try {
    const { data, info } = await sharp(bytes, { page, limitInputPixels: maxPixels, failOn: "error" })
      .rotate()
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels };
  } catch (err) {
    throw corrupt(err);
  }
}

function corrupt(err: unknown): DocumentError {
  const message = err instanceof Error ? err.message : String(err);
  return new DocumentError(FailureCode.CORRUPT, `The image cannot be decoded: ${message}`, { cause: err });
}
