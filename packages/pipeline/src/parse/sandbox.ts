import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import { PAGE_READ_BUDGET_MS } from "./pdf-limits.ts";
import type { OcrEngine, PageReadState, ParsedDocument, ParseOptions } from "./types.ts";

/** What the parse stage needs from options: everything but the engine and the signal, which it owns. */
export type ParserOptions = Omit<ParseOptions, "ocr" | "signal" | "onPageRead">;

/** Parses documents: in this thread (tests, tools) or in a pool of sandboxed threads (workers). */
export interface DocumentParser {
  /**
   * Detects the type and extracts the text (OCR included). Throws DocumentError for bad input
   * (CORRUPT, ENCRYPTED, EMPTY, TOO_LARGE, UNSUPPORTED_TYPE, UNSUPPORTED_FEATURE, TIMEOUT when `signal` aborts).
   */
  parse(
    bytes: Buffer,
    opts: ParserOptions,
    signal?: AbortSignal,
    /** Called each time a page is done (a stage's progress-aware budget then counts from now). */
    onProgress?: () => void,
  ): Promise<ParsedDocument>;
  /** Stops every thread it started. */
  close(): Promise<void>;
}

/** Parses in the calling thread: no memory bound and no way to stop a parser stuck in a loop. */
export function createInProcessParser(ocr?: OcrEngine): DocumentParser {
  return {
    // loaded on first use: the parsers' libraries (pdfjs, sharp, mailparser...) cost start-up time
    // in every process that only hands documents to parse threads
    parse: async (bytes, opts, signal, onProgress) =>
      (await import("./index.ts")).parseDocument(bytes, {
        ...opts,
        ocr,
        signal,
        onPageRead: (_page, state) => {
          if (state === "done") onProgress?.();
        },
      }),
    close: async () => {
      await ocr?.close();
    },
  };
}

export interface ThreadParserOptions {
  /** Parse threads (default: cores, at most 4). Each owns one OCR thread. */
  threads?: number;
  /** V8 heap limit of each parse thread in MiB (default 1024); a document needing more fails TOO_LARGE. */
  heapMb?: number;
  /**
   * How long one page's content may be read (default PAGE_READ_BUDGET_MS, 20 s) before the document fails
   * CORRUPT as runaway content and its thread is replaced: a real page reads in well under a second.
   */
  pageReadBudgetMs?: number;
}

interface Job {
  bytes: Buffer;
  opts: ParserOptions;
  signal?: AbortSignal;
  onProgress?: () => void;
  resolve: (doc: ParsedDocument) => void;
  reject: (err: unknown) => void;
  onAbort?: () => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
  /** Runs out when one page's read of the current job has lasted PAGE_READ_BUDGET_MS. */
  watchdog?: NodeJS.Timeout;
}

interface Reply {
  /** A progress note from the thread, not the job's answer. */
  progress?: { page: number; state: PageReadState };
  ok: boolean;
  doc?: ParsedDocument;
  error?: { code: string; message: string; internal: boolean };
}

/**
 * Parses in a pool of worker threads, each with a V8 heap limit: a document that needs more memory
 * fails with TOO_LARGE instead of taking the process down, and one that outlives its time budget is
 * stopped by terminating its thread (parsers cannot be interrupted otherwise). A fresh thread replaces
 * any thread that was terminated or crashed; jobs wait in FIFO order for a free thread.
 */
export function createThreadParser(options: ThreadParserOptions = {}): DocumentParser {
  const pageReadBudgetMs = options.pageReadBudgetMs ?? PAGE_READ_BUDGET_MS;
  const size = Math.max(1, options.threads ?? Math.min(4, availableParallelism()));
  const heapMb = options.heapMb ?? 1024;
  const slots: (Slot | null)[] = Array.from({ length: size }, () => null);
  const waiting: Job[] = [];
  let closed = false;

  const spawn = (): Worker =>
    new Worker(new URL("./sandbox-thread.mjs", import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 64 },
      stdout: false,
      stderr: false,
    });

  const finish = (index: number, outcome: { doc?: ParsedDocument; err?: unknown }, replace: boolean) => {
    const slot = slots[index];
    if (!slot?.job) return;
    const { job } = slot;
    slot.job = null;
    clearTimeout(slot.watchdog);
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
    if (replace) {
      slots[index] = null;
      void slot.worker.terminate();
    }
    if (outcome.err !== undefined) job.reject(outcome.err);
    else job.resolve(outcome.doc!);
    pump();
  };

  const run = (index: number, job: Job) => {
    let slot = slots[index];
    if (!slot) {
      const worker = spawn();
      slot = { worker, job: null };
      slots[index] = slot;
      worker.on("message", (reply: Reply) => {
        if (reply.progress) {
          const current = slots[index];
          if (current?.worker !== worker) return;
          clearTimeout(current.watchdog);
          const { page } = reply.progress;
          if (reply.progress.state === "done") current.job?.onProgress?.();
          if (reply.progress.state === "reading") {
            current.watchdog = setTimeout(() => {
              finish(index, { err: runaway(page) }, true);
            }, pageReadBudgetMs);
          }
          return;
        }
        if (reply.ok) finish(index, { doc: revive(reply.doc!) }, false);
        else finish(index, { err: replyError(reply.error!) }, false);
      });
      worker.on("error", (err: Error & { code?: string }) => {
        const oom = err.code === "ERR_WORKER_OUT_OF_MEMORY";
        finish(
          index,
          {
            err: oom
              ? new DocumentError(
                  FailureCode.TOO_LARGE,
                  `parsing needed more than the ${heapMb} MiB memory limit of a parse thread`,
                )
              : new DocumentError(FailureCode.CORRUPT, `the parser crashed: ${err.message}`),
          },
          true,
        );
      });
      worker.on("exit", () => {
        if (slots[index]?.worker === worker) {
          finish(index, { err: new DocumentError(FailureCode.CORRUPT, "the parser thread exited") }, true);
          if (slots[index]?.worker === worker) slots[index] = null;
        }
      });
    }
    slot.job = job;
    const onAbort = () => {
      const reason = job.signal?.reason;
      finish(
        index,
        {
          err:
            reason instanceof Error
              ? reason
              : new DocumentError(FailureCode.TIMEOUT, "parsing ran past its time budget"),
        },
        true,
      );
    };
    job.onAbort = onAbort;
    if (job.signal?.aborted) return onAbort();
    job.signal?.addEventListener("abort", onAbort, { once: true });
    // A copy is transferred: the caller keeps its buffer.
    const copy = new Uint8Array(job.bytes);
    slot.worker.postMessage({ bytes: copy, opts: job.opts }, [copy.buffer]);
  };

  const pump = () => {
    while (waiting.length > 0 && !closed) {
      const free = slots.findIndex((s) => !s?.job);
      if (free < 0) return;
      run(free, waiting.shift()!);
    }
  };

  return {
    parse(bytes, opts, signal, onProgress) {
      if (closed) return Promise.reject(new Error("the parser is closed"));
      return new Promise<ParsedDocument>((resolve, reject) => {
        waiting.push({ bytes, opts, signal, onProgress, resolve, reject });
        pump();
      });
    },
    async close() {
      closed = true;
      for (const job of waiting.splice(0)) job.reject(new Error("the parser is closed"));
      await Promise.all(
        slots.map(async (s, i) => {
          slots[i] = null;
          if (!s) return;
          s.job?.reject(new Error("the parser is closed"));
          s.worker.postMessage({ close: true });
          // Give the thread a moment to stop its OCR threads cleanly, then make sure it is gone.
          const exited = new Promise((r) => s.worker.once("exit", r));
          await Promise.race([exited, new Promise((r) => setTimeout(r, 2000).unref())]);
          await s.worker.terminate();
        }),
      );
    },
  };
}

function replyError(e: { code: string; message: string; internal: boolean }): Error {
  if (e.internal) return new Error(e.message);
  return new DocumentError(e.code as FailureCode, e.message);
}

/** Buffers come back from a thread as plain Uint8Arrays. */
function revive(doc: ParsedDocument): ParsedDocument {
  const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    ...doc,
    thumbnail: doc.thumbnail ? buf(doc.thumbnail) : undefined,
    images: doc.images.map((i) => ({ ...i, data: buf(i.data) })),
  };
}

function runaway(page: number): DocumentError {
  return new DocumentError(
    FailureCode.CORRUPT,
    `PDF page ${page}'s content did not finish reading: runaway content (drawings that contain themselves ` +
      "or multiply without bound)",
  );
}
