import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

export type HashResult =
  | { sha256: string; size: number; mtimeMs: number }
  | { error: string; message: string };

interface Job {
  id: number;
  path: string;
  resolve: (r: HashResult) => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  /** Batches sent and not yet answered, oldest first. */
  inFlight: Job[][];
}

/** Files per message: enough to amortise messaging for small files, small enough to spread the work. */
const BATCH = 16;
/** Batches queued per thread, so it never waits on the main thread between two. */
const DEPTH = 2;

/**
 * sha256 of files in worker threads, so hashing (CPU) and reading (blocking I/O there) never hold up
 * the main thread's network work. Answers in any order; a file that cannot be read answers its error
 * code instead of throwing.
 */
export class HashPool {
  private readonly threads: Thread[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  constructor(threads = defaultThreads()) {
    for (let i = 0; i < threads; i++) this.threads.push(this.spawn());
  }

  hash(path: string): Promise<HashResult> {
    if (this.closed) return Promise.reject(new Error("the hash pool is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, path, resolve, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error("the hash pool is closed"));
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    // What the threads held will get no answer now: settle it rather than leave its callers waiting.
    for (const t of this.threads)
      for (const job of t.inFlight.splice(0).flat()) job.reject(new Error("the hash pool is closed"));
  }

  private spawn(): Thread {
    const thread: Thread = {
      worker: new Worker(new URL("./hash-thread.mjs", import.meta.url)),
      inFlight: [],
    };
    thread.worker.on("message", (results: ({ id: number } & HashResult)[]) => {
      const batch = thread.inFlight.shift() ?? [];
      const byId = new Map(results.map((r) => [r.id, r]));
      for (const job of batch) {
        const r = byId.get(job.id);
        if (!r) job.reject(new Error(`no hash answer for ${job.path}`));
        else if ("error" in r) job.resolve({ error: r.error, message: r.message });
        else job.resolve({ sha256: r.sha256, size: r.size, mtimeMs: r.mtimeMs });
      }
      this.pump();
    });
    thread.worker.on("error", (err) => {
      // A bug, not a bad file (those answer an error): fail what it held and carry on with a new thread.
      for (const job of thread.inFlight.flat()) job.reject(err);
      const i = this.threads.indexOf(thread);
      if (i >= 0 && !this.closed) {
        this.threads[i] = this.spawn();
        this.pump();
      }
    });
    return thread;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const thread = this.threads.reduce((a, b) => (b.inFlight.length < a.inFlight.length ? b : a));
      if (thread.inFlight.length >= DEPTH) return;
      const batch = this.queue.splice(0, BATCH);
      thread.inFlight.push(batch);
      thread.worker.postMessage(batch.map((j) => ({ id: j.id, path: j.path })));
    }
  }
}

/** One thread per core beyond the main thread's, at least one and at most four (the disk is the limit). */
function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}
