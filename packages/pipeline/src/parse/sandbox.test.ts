import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import { createThreadParser } from "./sandbox.ts";
import { fanOutPdf } from "./test-pdf.ts";

const opts = { maxPages: 100, maxTextChars: 1_000_000 };
const corpus = new URL("../../../../../shared/corpus/", import.meta.url);

describe("the sandboxed parser", () => {
  const parser = createThreadParser({ threads: 1, heapMb: 512 });
  afterAll(() => parser.close());

  it("parses in a thread and hands back text, pages and thumbnails", async () => {
    const doc = await parser.parse(Buffer.from("Hello from a thread.\nSecond line."), opts);
    expect(doc).toMatchObject({ detectedType: "txt", text: "Hello from a thread.\nSecond line." });
    const pdf = await parser.parse(readFileSync(new URL("formats/pdf/right_to_left_01.pdf", corpus)), opts);
    expect(pdf.detectedType).toBe("pdf");
    expect(Buffer.isBuffer(pdf.thumbnail)).toBe(true);
  }, 60_000);

  it("fails a document that needs more memory than the thread's limit with TOO_LARGE, then goes on", async () => {
    const small = createThreadParser({ threads: 1, heapMb: 64 });
    try {
      // 40 MB of text decoded, normalised and copied blows a 64 MiB heap.
      const big = Buffer.alloc(40 * 1024 * 1024, "lorem ipsum dolor sit amet ");
      const err = await small.parse(big, { ...opts, maxTextChars: 100_000_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DocumentError);
      expect(err).toMatchObject({ code: FailureCode.TOO_LARGE });
      expect((err as Error).message).toMatch(/64 MiB memory limit/);
      expect((await small.parse(Buffer.from("still here"), opts)).text).toBe("still here");
    } finally {
      await small.close();
    }
  }, 60_000);

  it("stops a parse whose budget ran out by ending its thread, and the next parse gets a fresh one", async () => {
    const controller = new AbortController();
    const pending = parser.parse(readFileSync(new URL("sroie/img/000.jpg", corpus)), opts, controller.signal);
    setTimeout(
      () => controller.abort(new DocumentError(FailureCode.TIMEOUT, "PARSE ran past its 10 ms budget")),
      10,
    );
    await expect(pending).rejects.toMatchObject({ code: FailureCode.TIMEOUT });
    expect((await parser.parse(Buffer.from("after the timeout"), opts)).text).toBe("after the timeout");
  }, 60_000);

  it("fails runaway PDF content CORRUPT when one page's read outlasts its budget, then goes on", async () => {
    // 1.5 KB whose drawings fan out to 4^14 operations: pdf.js recurses through them without yielding,
    // so only the thread's watchdog can end it (before: TIMEOUT at the stage budget, or TOO_LARGE).
    const watched = createThreadParser({ threads: 1, heapMb: 512, pageReadBudgetMs: 3_000 });
    try {
      const err = await watched.parse(fanOutPdf(14), opts).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DocumentError);
      expect(err).toMatchObject({ code: FailureCode.CORRUPT });
      expect((err as Error).message).toMatch(/page 1's content did not finish reading: runaway content/);
      expect((await watched.parse(Buffer.from("after the runaway"), opts)).text).toBe("after the runaway");
      // A shallow fan-out is ordinary content and reads in time.
      expect((await watched.parse(fanOutPdf(3), opts)).text).toBe("Hello");
    } finally {
      await watched.close();
    }
  }, 120_000);

  it("tells the caller each page done, for the stage's progress-aware budget", async () => {
    let pages = 0;
    const doc = await parser.parse(
      readFileSync(new URL("formats/pdf/bookmark_sample.pdf", corpus)),
      opts,
      undefined,
      () => pages++,
    );
    expect(doc.pageCount).toBe(3);
    expect(pages).toBe(3);
  }, 180_000);

  it("queues more documents than threads and answers each", async () => {
    const texts = Array.from({ length: 6 }, (_, i) => `document number ${i}`);
    const docs = await Promise.all(texts.map((t) => parser.parse(Buffer.from(t), opts)));
    expect(docs.map((d) => d.text)).toEqual(texts);
  }, 60_000);
});
