import { parentPort } from "node:worker_threads";
import { DocumentError } from "../domain/errors.ts";
import { parseDocument } from "./index.ts";
import { createOcrPool } from "./ocr.ts";
import type { ParserOptions } from "./sandbox.ts";
import type { OcrEngine } from "./types.ts";

// One parse at a time per thread (the pool sends the next job only after the reply).
let ocr: OcrEngine | undefined;
let ocrPages = 0;
/** Tesseract's memory grows with the largest page it saw and never shrinks: start afresh now and then. */
const RECYCLE_OCR_AFTER_PAGES = 50;

parentPort!.on("message", async (msg: { bytes?: Uint8Array; opts?: ParserOptions; close?: boolean }) => {
  if (msg.close) {
    await ocr?.close().catch(() => undefined);
    process.exit(0);
  }
  try {
    ocr ??= createOcrPool({ size: 1 });
    const bytes = Buffer.from(msg.bytes!.buffer, msg.bytes!.byteOffset, msg.bytes!.byteLength);
    const doc = await parseDocument(bytes, {
      ...msg.opts!,
      ocr,
      // The pool's watchdog ends this thread when one page's read never finishes (runaway content).
      onPageRead: (page, state) => parentPort!.postMessage({ progress: { page, state } }),
    });
    ocrPages += doc.pages.filter((p) => p.source === "ocr").length;
    if (ocrPages >= RECYCLE_OCR_AFTER_PAGES) {
      const old = ocr;
      ocr = undefined;
      ocrPages = 0;
      await old.close().catch(() => undefined);
    }
    // Copied, not transferred: small Buffers share Node's pool, which must not be detached.
    parentPort!.postMessage({ ok: true, doc });
  } catch (err) {
    const known = err instanceof DocumentError;
    parentPort!.postMessage({
      ok: false,
      error: {
        code: known ? err.code : "INTERNAL",
        message: err instanceof Error ? err.message : String(err),
        internal: !known,
      },
    });
  }
});
