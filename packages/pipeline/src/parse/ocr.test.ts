import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createCanvas } from "@napi-rs/canvas";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { createOcrPool, enlargement, letterheadBand, mergeReads, spliceLetterhead } from "./ocr.ts";
import type { PageWord } from "./types.ts";

/** A white PNG with black lines of text, 28 px sans-serif, left-aligned. */
function textImage(lines: string[], width = 900): Buffer {
  const lineHeight = 48;
  const canvas = createCanvas(width, 40 + lines.length * lineHeight);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000000";
  ctx.font = "28px sans-serif";
  ctx.textBaseline = "top";
  lines.forEach((line, i) => {
    ctx.fillText(line, 30, 20 + i * lineHeight);
  });
  return canvas.toBuffer("image/png");
}

describe("createOcrPool", () => {
  const pool = createOcrPool();
  afterAll(() => pool.close());

  it("reads a rendered line, with word boxes in the image's pixels", async () => {
    const image = textImage(["Invoice number 4711", "Total due 123.45 EUR"]);
    const { text, words, confidence } = await pool.recognize(image, 3);
    expect(text).toContain("Invoice number 4711");
    expect(text).toContain("Total due 123.45 EUR");
    expect(confidence).toBeGreaterThan(0.7);
    const total = words.find((w) => w.text === "123.45");
    expect(total).toMatchObject({ page: 3 });
    const [x0, y0, x1, y1] = total?.bbox ?? [0, 0, 0, 0];
    // Second line starts at y = 68; "Total due " is about 130 px wide at 28 px.
    expect(y0).toBeGreaterThan(60);
    expect(y1).toBeLessThan(110);
    expect(x0).toBeGreaterThan(120);
    expect(x1).toBeLessThan(400);
    for (const word of words) expect(word.confidence).toBeGreaterThanOrEqual(0);
  });

  it("on abort rejects with the signal's reason, then serves the next request with a fresh worker", async () => {
    const controller = new AbortController();
    const reason = new Error("stage budget spent");
    const busy = pool.recognize(
      textImage(Array(12).fill("A long line of text to keep the worker busy")),
      1,
      controller.signal,
    );
    // Queued behind the aborted one: must still be answered, by the replacement worker.
    const next = pool.recognize(textImage(["Queued request"]), 2);
    queueMicrotask(() => controller.abort(reason));
    await expect(busy).rejects.toBe(reason);
    expect((await next).text).toContain("Queued request");
  });

  it("rejects at once when the signal is already aborted", async () => {
    const reason = new Error("too late");
    await expect(pool.recognize(textImage(["x"]), 1, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it("reads requests in order of arrival when several wait", async () => {
    const order: number[] = [];
    const requests = [1, 2, 3].map((n) =>
      pool.recognize(textImage([`Page ${n}`]), n).then((r) => {
        order.push(n);
        return r;
      }),
    );
    const results = await Promise.all(requests);
    expect(order).toEqual([1, 2, 3]);
    expect(results.map((r) => r.words[0]?.page)).toEqual([1, 2, 3]);
  });

  it("does not read a blank page or a picture without characters", async () => {
    const blank = createCanvas(1200, 1600);
    const ctx = blank.getContext("2d");
    ctx.fillStyle = "#f4f4f4";
    ctx.fillRect(0, 0, 1200, 1600);
    expect(await pool.recognize(blank.toBuffer("image/png"), 1)).toEqual({
      text: "",
      words: [],
      confidence: 0,
    });
    ctx.fillStyle = "#202020";
    ctx.beginPath();
    ctx.arc(600, 800, 300, 0, Math.PI * 2);
    ctx.fill();
    expect((await pool.recognize(blank.toBuffer("image/png"), 1)).text).toBe("");
  });

  it("straightens a skewed page before reading it; word boxes stay on the page as given", async () => {
    const image = await sharp(
      textImage(["Invoice number 4711", "Total due 123.45 EUR", "Payable within thirty days"], 900),
    )
      .rotate(3, { background: "#ffffff" })
      .png()
      .toBuffer();
    const { text, words } = await pool.recognize(image, 1);
    expect(text).toContain("Total due 123.45 EUR");
    const meta = await sharp(image).metadata();
    const total = words.find((w) => w.text === "123.45");
    const [x0, y0, x1, y1] = total?.bbox ?? [0, 0, 0, 0];
    // Unturned, "123.45" sits at x 160-250, y 68-100; turned 3° clockwise around the centre it moves
    // a few pixels, never out of the image.
    expect(x0).toBeGreaterThan(120);
    expect(x1).toBeLessThan(330);
    expect(y0).toBeGreaterThan(40);
    expect(y1).toBeLessThan(140);
    expect(x1).toBeLessThanOrEqual(meta.width ?? 0);
  });

  it("with secondRead, reads a narrow column twice (one block, single column) and merges the reads", async () => {
    const twice = createOcrPool({ secondRead: true });
    try {
      const { text, words } = await twice.recognize(
        textImage(["Invoice number 4711", "Total due 123.45 EUR"]),
        2,
      );
      expect(text).toContain("Invoice number 4711");
      expect(text).toContain("Total due 123.45 EUR");
      expect(words.map((w) => w.text)).toEqual(text.split(/\s+/));
      expect(words.every((w) => w.page === 2)).toBe(true);
    } finally {
      await twice.close();
    }
  });

  it("with letterhead, reads a receipt's top band again and keeps the rest of the page as read", async () => {
    const receipt = textImage(
      [
        "TEO HENG STATIONERY",
        "NO 12 JALAN DEDAP 13",
        "45600 KLANG SELANGOR",
        "RICE 2 12.00",
        "TOTAL 12.00",
        "CASH 20.00",
        "CHANGE 8.00",
        "THANK YOU",
      ],
      520,
    );
    const plain = await pool.recognize(receipt, 1);
    const head = createOcrPool({ letterhead: true });
    try {
      const { text, words } = await head.recognize(receipt, 1);
      expect(text).toContain("TEO HENG STATIONERY");
      expect(text).toContain("45600 KLANG SELANGOR");
      expect(words.map((w) => w.text)).toEqual(text.split(/\s+/));
      // below the letterhead: the first read, unchanged
      expect(text.slice(text.indexOf("RICE"))).toBe(plain.text.slice(plain.text.indexOf("RICE")));
      const teo = words.find((w) => w.text === "TEO");
      const [, y0, , y1] = teo?.bbox ?? [0, 0, 0, 0];
      // the first line starts at y = 20, 28 px type: boxes in the image's pixels, not the enlarged crop's
      expect(y0).toBeGreaterThan(10);
      expect(y1).toBeLessThan(60);
      // the band's own thresholding is put back: the next page reads as the pool without the option
      expect((await head.recognize(textImage(["Invoice number 4711"]), 1)).text).toBe(
        (await pool.recognize(textImage(["Invoice number 4711"]), 1)).text,
      );
    } finally {
      await head.close();
    }
  });

  it("reads a narrow column (a receipt) with the default softening and without it (filter {}); filters reach tesseract", async () => {
    const receipt = textImage(["KEDAI RUNCIT MAJU", "RICE 2 12.00", "TOTAL 12.00", "CASH 20.00"], 420);
    const given = createOcrPool({ filter: {} });
    const smeared = createOcrPool({ filter: { blur: 9 } });
    try {
      const [soft, asGiven, blurred] = await Promise.all([
        pool.recognize(receipt, 1),
        given.recognize(receipt, 1),
        smeared.recognize(receipt, 1),
      ]);
      for (const read of [soft, asGiven]) {
        expect(read.text).toContain("KEDAI RUNCIT MAJU");
        expect(read.text).toContain("TOTAL 12.00");
      }
      // the filter reaches tesseract: a blur of 9 px leaves nothing readable of the same page
      expect(blurred.text).not.toContain("TOTAL 12.00");
    } finally {
      await Promise.all([given.close(), smeared.close()]);
    }
  });

  it("fails requests after close", async () => {
    const closed = createOcrPool();
    await closed.close();
    await expect(closed.recognize(textImage(["x"]), 1)).rejects.toThrow(/closed/);
  });

  it("keeps tesseract's own diagnostics off the process's stderr (serve's terminal)", async () => {
    // a tiny image makes tesseract warn "Invalid resolution 25 dpi"; its worker thread writes to the
    // process's stderr, so the check runs in a child process of its own
    const dir = mkdtempSync(join(tmpdir(), "docfleet-ocr-"));
    try {
      const script = `
        import sharp from ${JSON.stringify(createRequire(import.meta.url).resolve("sharp"))};
        import { createOcrPool } from ${JSON.stringify(fileURLToPath(new URL("./ocr.ts", import.meta.url)))};
        const tiny = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#fff" } }).png().toBuffer();
        // the page as given: looked at first, a blank page never reaches tesseract
        const pool = createOcrPool({ preprocess: false });
        const r = await pool.recognize(tiny, 1);
        await pool.close();
        process.stdout.write("read " + r.text.length);`;
      const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        const file = join(dir, "read.mjs");
        writeFileSync(file, script);
        const child = spawn(process.execPath, ["--import", "tsx", file], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.once("error", reject);
        child.once("close", () => resolve({ stdout: out, stderr: err }));
      });
      expect(stdout, stderr).toMatch(/^read \d+$/);
      expect(stderr).not.toMatch(/Warning|Invalid resolution/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("enlargement", () => {
  it("enlarges glyphs under the threshold to the target height, else leaves the page as given", () => {
    expect(enlargement(12, 1000, 2000, { below: 18, to: 26 })).toBeCloseTo(26 / 12);
    expect(enlargement(17, 1000, 2000, { below: 18, to: 26 })).toBeCloseTo(26 / 17);
    expect(enlargement(18, 1000, 2000, { below: 18, to: 26 })).toBe(1);
    expect(enlargement(0, 1000, 2000, { below: 18, to: 26 })).toBe(1);
    // under 1.2 it is not worth the pixels
    expect(enlargement(17, 1000, 2000, { below: 18, to: 20 })).toBe(1);
  });

  it("enlarges at most 4 times and to at most 12 MP", () => {
    expect(enlargement(3, 500, 1000, { below: 18, to: 26 })).toBe(4);
    expect(enlargement(10, 3000, 2000, { below: 18, to: 26 })).toBeCloseTo(Math.sqrt(12_000_000 / 6_000_000));
  });
});

describe("mergeReads", () => {
  const word = (text: string, x: number, y: number, confidence: number): PageWord => ({
    text,
    page: 1,
    bbox: [x, y, x + 10 * text.length, y + 20],
    confidence,
  });
  const read = (lines: PageWord[][]) => ({
    text: lines.map((l) => l.map((w) => w.text).join(" ")).join("\n"),
    words: lines.flat(),
    lines: lines.map((words) => ({ words })),
    confidence: 0.5,
  });

  it("takes each band of lines from the read that is surer of it, top to bottom", () => {
    // one block: the letterhead misread, the amounts on their lines
    const block = read([
      [word("SACU", 0, 0, 0.4), word("TRADING", 60, 0, 0.5)],
      [word("TOTAL", 0, 40, 0.9), word("9.00", 200, 40, 0.9)],
      [word("CASH", 0, 80, 0.8), word("10.00", 200, 81, 0.8)],
    ]);
    // single column: the letterhead right, the total's line split in two, a line the block missed
    const column = read([
      [word("SAGU", 0, 1, 0.9), word("TRADING", 60, 1, 0.9)],
      [word("TOTAL", 0, 40, 0.6)],
      [word("9.00", 200, 42, 0.7)],
      [word("CASH", 0, 80, 0.5), word("10.00", 200, 80, 0.5)],
      [word("THANK", 0, 120, 0.8), word("YOU", 70, 120, 0.8)],
    ]);
    const merged = mergeReads(block, column);
    expect(merged.text).toBe("SAGU TRADING\nTOTAL 9.00\nCASH 10.00\nTHANK YOU");
    expect(merged.words.map((w) => w.text)).toEqual(merged.text.split(/\s+/));
    expect(merged.lines).toHaveLength(4);
    expect(merged.confidence).toBeCloseTo((0.9 * 2 + 0.9 * 2 + 0.8 * 2 + 0.8 * 2) / 8);
  });

  it("keeps the first read on ties", () => {
    const a = read([[word("INDAH", 0, 0, 0.7)]]);
    const b = read([[word("INOAH", 0, 0, 0.7)]]);
    expect(mergeReads(a, b).text).toBe("INDAH");
  });
});

describe("letterhead re-read", () => {
  const word = (text: string, x: number, y: number, confidence: number): PageWord => ({
    text,
    page: 1,
    bbox: [x, y, x + 10 * text.length, y + 20],
    confidence,
  });
  const read = (lines: PageWord[][], text?: string) => ({
    text: text ?? lines.map((l) => l.map((w) => w.text).join(" ")).join("\n"),
    words: lines.flat(),
    lines: lines.map((words) => ({ words })),
    confidence: 0.5,
  });
  const page = read(
    [
      [word("TED", 0, 0, 0.5), word("HENG", 40, 0, 0.5), word("SDN", 90, 0, 0.9)],
      [word("JALAN", 0, 40, 0.6), word("DEDAF", 70, 40, 0.4)],
      [word("45500", 0, 80, 0.5), word("KLANG", 70, 80, 0.8)],
      [word("RICE", 0, 120, 0.9), word("12.00", 200, 120, 0.9)],
      [word("TOTAL", 0, 160, 0.9), word("12.00", 200, 160, 0.9)],
    ],
    "TED HENG SDN\nJALAN DEDAF\n\n45500 KLANG\n\nRICE 12.00\nTOTAL 12.00",
  );

  it("ends the band above the first price line, or at the share of the page it may cover", () => {
    expect(letterheadBand(page.lines, 400)).toEqual({ lines: 3, bottom: 120 });
    // a long page: the price line lies below the top 40 %, so the band stops at the line reaching past it
    expect(letterheadBand(page.lines, 200)).toEqual({ lines: 2, bottom: 80 });
    // fewer than two lines above the first price: no band
    expect(letterheadBand(page.lines.slice(2), 400)).toBeUndefined();
    // a house number with a comma or a date is not a price
    const head = [
      [word("NO", 0, 0, 1), word("55,57", 30, 0, 1)],
      [word("12.03.2018", 0, 40, 1)],
      [word("9.90", 0, 80, 1)],
    ];
    expect(
      letterheadBand(
        head.map((words) => ({ words })),
        1000,
      ),
    ).toEqual({ lines: 2, bottom: 80 });
  });

  it("takes the surer read of each letterhead line and keeps the rest of the page as first read", () => {
    const again = read([
      [word("TEO", 0, 1, 0.9), word("HENG", 40, 1, 0.9), word("SDN", 90, 1, 0.9)],
      [word("JALAN", 0, 41, 0.5), word("DEDAP", 70, 41, 0.3)],
      [word("-----", 0, 60, 0.2)],
      [word("45600", 0, 81, 0.9), word("KLANG", 70, 81, 0.9)],
      // cut by the crop's edge
      [word("RICF", 0, 101, 0.9)],
    ]);
    const spliced = spliceLetterhead(page, 3, again, 120);
    // line 2: the first read was surer; the rule line the first read left out stays out
    expect(spliced.text).toBe("TEO HENG SDN\nJALAN DEDAF\n45600 KLANG\n\nRICE 12.00\nTOTAL 12.00");
    expect(spliced.words.map((w) => w.text)).toEqual(spliced.text.split(/\s+/));
    expect(spliced.lines).toHaveLength(5);
  });

  it("keeps a line only the re-read found when it is sure of it", () => {
    const again = read([
      [word("TEO", 0, 1, 0.4), word("HENG", 40, 1, 0.4), word("SDN", 90, 1, 0.4)],
      [word("(12345-A)", 0, 20, 0.9)],
    ]);
    const spliced = spliceLetterhead(page, 3, again, 120);
    expect(spliced.text.split("\n").slice(0, 4)).toEqual([
      "TED HENG SDN",
      "(12345-A)",
      "JALAN DEDAF",
      "45500 KLANG",
    ]);
  });
});
