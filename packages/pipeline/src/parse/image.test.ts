import { readFileSync } from "node:fs";
import { crc32, deflateSync } from "node:zlib";
import { createCanvas } from "@napi-rs/canvas";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { DocumentError } from "../domain/errors.ts";
import { extractImage, fitToPixels, makeThumbnail } from "./image.ts";
import { createOcrPool } from "./ocr.ts";

const corpus = new URL("../../../../../shared/corpus/", import.meta.url);
const limits = { maxPages: 100, maxTextChars: 1_000_000 };

/** A white PNG with black lines of text, 28 px sans-serif. */
function textImage(lines: string[], width = 700): Buffer {
  const canvas = createCanvas(width, 40 + lines.length * 48);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000000";
  ctx.font = "28px sans-serif";
  ctx.textBaseline = "top";
  lines.forEach((line, i) => {
    ctx.fillText(line, 30, 20 + i * 48);
  });
  return canvas.toBuffer("image/png");
}

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type), data]);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([head, body, crc]);
}

/** A 74-byte PNG whose header claims width × height: its pixel data would not even fill one row. */
function pixelBomb(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.alloc(1024))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function failure(promise: Promise<unknown>): Promise<DocumentError> {
  const err = await promise.then(
    () => new Error("expected a failure"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DocumentError);
  return err as DocumentError;
}

describe("extractImage", () => {
  const ocr = createOcrPool();
  afterAll(() => ocr.close());
  const upright = textImage(["Receipt 2024-03-15", "Total 42.50"]);

  it("reads the text of an image with OCR, words on page 1", async () => {
    const { pages, pageCount, words } = await extractImage(upright, "png", { ...limits, ocr });
    expect(pageCount).toBe(1);
    expect(pages).toEqual([{ number: 1, text: "Receipt 2024-03-15\nTotal 42.50", source: "ocr" }]);
    expect(words?.map((w) => w.text)).toEqual(["Receipt", "2024-03-15", "Total", "42.50"]);
    expect(words?.every((w) => w.page === 1)).toBe(true);
  });

  it("honours EXIF orientation: a photo stored sideways (orientation 6) reads like the upright one", async () => {
    // Orientation 6 means "turn 90° clockwise to view": store the pixels turned the other way.
    const sideways = await sharp(upright)
      .rotate(270)
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(sideways).metadata()).orientation).toBe(6);
    const { pages, images, thumbnail } = await extractImage(sideways, "jpg", { ...limits, ocr });
    expect(pages[0]?.text).toBe("Receipt 2024-03-15\nTotal 42.50");
    const { width, height } = await sharp(upright).metadata();
    expect(images?.[0]).toMatchObject({ width, height });
    const thumb = await sharp(thumbnail).metadata();
    expect(thumb.width).toBeGreaterThan(thumb.height ?? 0);
  });

  it("refuses a pixel bomb with TOO_LARGE from its header, before decoding", async () => {
    const err = await failure(extractImage(pixelBomb(100_000, 100_000), "png", limits));
    expect(err.code).toBe("TOO_LARGE");
    expect(err.message).toContain("100000×100000");
    // The limit is configurable: a small real image over a small limit fails the same way.
    expect((await failure(extractImage(upright, "png", { ...limits, maxPixels: 1000 }))).code).toBe(
      "TOO_LARGE",
    );
  });

  it("gives every page of a multi-page TIFF, OCR only up to maxOcrPages", async () => {
    const tiff = readFileSync(new URL("formats/tiff/2206.01062.tif", corpus));
    const { pages, pageCount, images, thumbnail, words } = await extractImage(tiff, "tif", {
      ...limits,
      ocr,
      maxOcrPages: 1,
    });
    expect(pageCount).toBe(2);
    expect(pages.map((p) => p.number)).toEqual([1, 2]);
    expect(pages[0]?.text).toMatch(/\w{4,}/);
    expect(pages[1]?.text).toBe("");
    expect(words?.every((w) => w.page === 1)).toBe(true);
    expect(images?.map((i) => i.page)).toEqual([1, 2]);
    expect(thumbnail).toBeDefined();
    expect((await failure(extractImage(tiff, "tif", { ...limits, maxPages: 1 }))).code).toBe("TOO_LARGE");
  });

  it("leaves the text empty without an OCR engine, still with images and a thumbnail", async () => {
    const { pages, images, thumbnail } = await extractImage(upright, "png", limits);
    expect(pages).toEqual([{ number: 1, text: "", source: "ocr" }]);
    expect(images).toHaveLength(1);
    expect(thumbnail).toBeDefined();
  });

  it("makes a WebP thumbnail that fits in 320×320 and a JPEG for the vision model within its budget", async () => {
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: "#abc" } })
      .png()
      .toBuffer();
    const { images, thumbnail } = await extractImage(big, "png", { ...limits, visionPixelBudget: 500_000 });
    const thumb = await sharp(thumbnail).metadata();
    expect(thumb).toMatchObject({ format: "webp", width: 320, height: 213 });
    const image = images?.[0];
    expect(image && image.width * image.height).toBeLessThanOrEqual(500_000);
    expect((await sharp(image?.data).metadata()).format).toBe("jpeg");
    // Never upscaled.
    expect(await fitToPixels(upright, 10_000_000)).toMatchObject({ width: 700, height: 136 });
    expect((await sharp(await makeThumbnail(upright)).metadata()).width).toBe(320);
  });

  it("fails CORRUPT on a truncated JPEG and on bytes that are no image", async () => {
    const jpeg = await sharp(upright).jpeg().toBuffer();
    const truncated = await failure(extractImage(jpeg.subarray(0, jpeg.length / 2), "jpg", limits));
    expect(truncated.code).toBe("CORRUPT");
    expect((await failure(extractImage(Buffer.from("not an image at all"), "png", limits))).code).toBe(
      "CORRUPT",
    );
  });

  it("stops between pages once the signal is aborted", async () => {
    const reason = new Error("budget spent");
    await expect(extractImage(upright, "png", { ...limits, signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
  });
});
