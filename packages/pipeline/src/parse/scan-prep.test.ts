import { createCanvas } from "@napi-rs/canvas";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { lookAtScan, otsu } from "./scan-prep.ts";

/** Greyscale pixels of a page of 28 px text lines, turned clockwise by `angle` degrees (sharp's sense). */
async function page(
  lines: number,
  angle = 0,
  fontPx = 28,
  text = "Invoice total 123.45 due within thirty days",
) {
  const canvas = createCanvas(1000, 1300);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#111111";
  ctx.font = `${fontPx}px sans-serif`;
  for (let i = 0; i < lines; i++) ctx.fillText(text, 50, 80 + i * fontPx * 1.6);
  const { data, info } = await sharp(canvas.toBuffer("image/png"))
    .rotate(angle, { background: "#ffffff" })
    .greyscale()
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

describe("lookAtScan", () => {
  it("splits paper from ink with Otsu's threshold", () => {
    const data = new Uint8Array(1000).fill(240);
    data.fill(20, 0, 100);
    const t = otsu(data);
    expect(t).toBeGreaterThanOrEqual(20);
    expect(t).toBeLessThan(240);
  });

  it("finds character-like ink on a text page and measures its height", async () => {
    const look = lookAtScan(await page(12));
    expect(look.glyphs).toBeGreaterThan(200);
    // 28 px sans-serif: x-height about 15 px, capitals and ascenders about 20.
    expect(look.glyphHeight).toBeGreaterThanOrEqual(12);
    expect(look.glyphHeight).toBeLessThanOrEqual(22);
    expect(look.skew).toBe(0);
  });

  it("measures how wide the text runs in glyph heights: a receipt's column is narrow, running text wide", async () => {
    // 43 characters a line, as a receipt prints 32-48
    const narrow = lookAtScan(await page(12)).lineGlyphs;
    expect(narrow).toBeGreaterThan(20);
    expect(narrow).toBeLessThan(50);
    const line = "Payment is due within thirty days of the invoice date; late payments bear interest at 8%.";
    expect(lookAtScan(await page(20, 0, 16, line)).lineGlyphs).toBeGreaterThan(60);
  });

  it("measures the skew of turned pages, counter-clockwise positive", async () => {
    expect(lookAtScan(await page(12, 2.5)).skew).toBeCloseTo(-2.5, 0);
    expect(lookAtScan(await page(12, -4)).skew).toBeCloseTo(4, 0);
  });

  it("finds no characters on blank paper, a uniform tint or a big shape", async () => {
    expect(lookAtScan({ data: new Uint8Array(400 * 300).fill(250), width: 400, height: 300 }).glyphs).toBe(0);
    const canvas = createCanvas(800, 1000);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, 800, 1000);
    ctx.fillStyle = "#000000";
    ctx.beginPath();
    ctx.arc(400, 500, 250, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillRect(50, 50, 700, 4);
    const { data, info } = await sharp(canvas.toBuffer("image/png"))
      .greyscale()
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(lookAtScan({ data, width: info.width, height: info.height }).glyphs).toBe(0);
  });
});
