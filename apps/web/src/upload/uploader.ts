// The browser's side of docfleet's upload protocol, as `docfleet upload` does it (apps/cli/src/upload):
// hash first (SHA-256 in Web Workers), then requestUploads per chunk of files (the server answers
// DUPLICATE for content it holds), each new file's bytes straight to its signed target (one POST
// policy form, or multipart parts for large files, resumable), then completeUploads. Bounded
// concurrency; transient failures (network, 5xx, 429) retried with backoff and jitter.
import type { AnyVariables, TypedDocumentNode } from "urql";
import type { Api } from "../client.ts";
import type { RequestUploadsMutation } from "../generated/graphql.ts";
import {
  CompleteMultipartUpload,
  CompleteUploads,
  CreateBatch,
  RequestUploads,
  StartMultipartUpload,
} from "../operations.ts";

export interface PickedFile {
  file: File;
  /** The name it is registered under: its path relative to the dropped folder. */
  path: string;
}

export interface Problem {
  path: string;
  message: string;
}

export interface UploadState {
  phase: "hashing" | "uploading" | "done" | "failed";
  batchId?: string;
  files: number;
  hashed: number;
  /** Files whose bytes are in and whose documents are queued. */
  queued: number;
  duplicates: number;
  bytesTotal: number;
  bytesSent: number;
  rejected: Problem[];
  failed: Problem[];
  error?: string;
}

export interface UploadOptions {
  batchName: string;
  /** Files (or parts) in flight at once. */
  concurrency?: number;
  /** Files of this size or more go in parts. */
  multipartThreshold?: number;
  /** Files registered per requestUploads call (the server takes at most 1000). */
  chunk?: number;
}

type Target = NonNullable<RequestUploadsMutation["requestUploads"][number]["target"]>;

class Transient extends Error {}
class Expired extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withRetry<T>(what: string, fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof Transient) || n + 1 >= attempts) throw err;
      await sleep(Math.random() * Math.min(15_000, 400 * 2 ** n));
      console.debug(`retrying ${what}: ${(err as Error).message}`);
    }
  }
}

/** One request to the store; network errors, 429 and 5xx are transient, an expired signature re-signs. */
async function store(url: string, init: RequestInit, what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, credentials: "omit" });
  } catch (err) {
    throw new Transient(`${what}: ${(err as Error).message}`);
  }
  if (res.ok) return res;
  const text = (await res.text().catch(() => "")).slice(0, 300);
  if (res.status === 429 || res.status >= 500) throw new Transient(`${what}: HTTP ${res.status}`);
  if (res.status === 403 && /expired/i.test(text)) throw new Expired(`${what}: the signed URL expired`);
  throw new Error(
    `${what}: HTTP ${res.status} ${text
      .replace(/<[^>]+>/g, " ")
      .replace(/\s+/g, " ")
      .trim()}`,
  );
}

/** A bounded pool of slots: at most `n` tasks run at once. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** SHA-256 of files in a few Web Workers. */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: (() => void)[] = [];
  private next = 0;
  private readonly pending = new Map<number, { resolve(s: string): void; reject(e: Error): void }>();

  constructor(size = Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 1))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL("./hash-worker.ts", import.meta.url), { type: "module" });
      w.onmessage = (e: MessageEvent<{ id: number; sha256?: string; error?: string }>) => {
        const p = this.pending.get(e.data.id);
        this.pending.delete(e.data.id);
        if (e.data.sha256) p?.resolve(e.data.sha256);
        else p?.reject(new Error(e.data.error ?? "hashing failed"));
        this.idle.push(w);
        this.queue.shift()?.();
      };
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  async hash(file: File): Promise<string> {
    while (this.idle.length === 0) await new Promise<void>((r) => this.queue.push(r));
    const w = this.idle.pop()!;
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, file });
    });
  }

  close() {
    for (const w of this.workers) w.terminate();
  }
}

/** Multipart progress kept across reloads: the upload id, its part size and the ETags of parts in. */
interface MultipartMemo {
  uploadId: string;
  partSize: number;
  etags: Record<number, string>;
}
const memoKey = (documentId: string) => `docfleet.multipart.${documentId}`;
function readMemo(documentId: string): MultipartMemo | undefined {
  try {
    const m = JSON.parse(localStorage.getItem(memoKey(documentId)) ?? "null") as MultipartMemo | null;
    return m && typeof m.uploadId === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

export class UploadRun {
  readonly state: UploadState;
  private readonly listeners = new Set<(s: UploadState) => void>();
  private readonly limiter: Limiter;
  private readonly opts: Required<UploadOptions>;

  constructor(
    private readonly api: Api,
    private readonly picked: PickedFile[],
    opts: UploadOptions,
  ) {
    this.opts = { concurrency: 4, multipartThreshold: 64 * 1024 * 1024, chunk: 100, ...opts };
    this.limiter = new Limiter(this.opts.concurrency);
    this.state = {
      phase: "hashing",
      files: picked.length,
      hashed: 0,
      queued: 0,
      duplicates: 0,
      bytesTotal: picked.reduce((n, p) => n + p.file.size, 0),
      bytesSent: 0,
      rejected: [],
      failed: [],
    };
  }

  onChange(fn: (s: UploadState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(change: Partial<UploadState> = {}) {
    Object.assign(this.state, change);
    const copy = { ...this.state };
    for (const l of this.listeners) l(copy);
  }

  private async call<D, V extends AnyVariables>(
    doc: TypedDocumentNode<D, V>,
    variables: V,
    what: string,
  ): Promise<D> {
    return withRetry(what, async () => {
      const r = await this.api.urql.mutation(doc, variables).toPromise();
      if (r.error) {
        const code = r.error.graphQLErrors[0]?.extensions?.code;
        const msg = `${what}: ${r.error.message.replace(/^\[(Network|GraphQL)\] /, "")}`;
        if (r.error.networkError || code === "RATE_LIMITED") throw new Transient(msg);
        throw Object.assign(new Error(msg), { code });
      }
      return r.data as D;
    });
  }

  /** Runs the whole upload; resolves with the batch id once every file is queued, a duplicate or failed. */
  async run(): Promise<string> {
    const pool = new HashPool();
    try {
      const { createBatch } = await this.call(
        CreateBatch,
        { input: { name: this.opts.batchName } },
        "createBatch",
      );
      this.emit({ batchId: createBatch.id });
      for (let i = 0; i < this.picked.length; i += this.opts.chunk) {
        await this.chunk(createBatch.id, this.picked.slice(i, i + this.opts.chunk), pool);
      }
      this.emit({ phase: "done" });
      return createBatch.id;
    } catch (err) {
      this.emit({ phase: "failed", error: (err as Error).message });
      throw err;
    } finally {
      pool.close();
    }
  }

  private async chunk(batchId: string, files: PickedFile[], pool: HashPool) {
    this.emit({ phase: "hashing" });
    const hashes = await Promise.all(
      files.map(async (f) => {
        const sha = await pool.hash(f.file);
        this.emit({ hashed: this.state.hashed + 1 });
        return sha;
      }),
    );
    this.emit({ phase: "uploading" });
    const inputs = files.map((f, i) => ({
      name: f.path,
      size: f.file.size,
      sha256: hashes[i]!,
      contentType: f.file.type || null,
    }));
    const { requestUploads } = await this.call(RequestUploads, { batchId, files: inputs }, "requestUploads");
    const sent: string[] = [];
    await Promise.all(
      requestUploads.map(async (r, i) => {
        const f = files[i]!;
        if (r.status === "DUPLICATE") {
          this.emit({ duplicates: this.state.duplicates + 1, bytesSent: this.state.bytesSent + f.file.size });
          return;
        }
        if (r.status === "REJECTED" || !r.documentId || !r.target) {
          this.emit({
            rejected: [...this.state.rejected, { path: f.path, message: `${r.code}: ${r.message}` }],
          });
          return;
        }
        try {
          await this.transfer(batchId, r.documentId, r.target, f, inputs[i]!);
          sent.push(r.documentId);
        } catch (err) {
          this.emit({ failed: [...this.state.failed, { path: f.path, message: (err as Error).message }] });
        }
      }),
    );
    if (sent.length === 0) return;
    const { completeUploads } = await this.call(CompleteUploads, { ids: sent }, "completeUploads");
    const queued = completeUploads.filter((c) => c.status === "QUEUED" || c.status === "ALREADY_QUEUED");
    const bad = completeUploads.filter((c) => c.status !== "QUEUED" && c.status !== "ALREADY_QUEUED");
    const names = new Map(requestUploads.map((r, i) => [r.documentId, files[i]!.path]));
    this.emit({
      queued: this.state.queued + queued.length,
      failed: [
        ...this.state.failed,
        ...bad.map((c) => ({
          path: names.get(c.documentId) ?? c.documentId,
          message: `${c.status}: ${c.message ?? ""}`,
        })),
      ],
    });
  }

  private async transfer(
    batchId: string,
    documentId: string,
    first: Target,
    f: PickedFile,
    input: { name: string; size: number; sha256: string; contentType: string | null },
  ) {
    if (f.file.size >= this.opts.multipartThreshold) {
      await this.multipart(documentId, f);
      return;
    }
    let target = first;
    for (let resign = 0; ; resign++) {
      try {
        await withRetry(`upload of ${f.path}`, () =>
          this.limiter.run(async () => {
            const form = new FormData();
            for (const field of target.fields) form.append(field.name, field.value);
            form.append("file", f.file, f.path.split("/").pop() ?? "file");
            await store(target.url, { method: "POST", body: form }, `upload of ${f.path}`);
          }),
        );
        this.emit({ bytesSent: this.state.bytesSent + f.file.size });
        return;
      } catch (err) {
        if (!(err instanceof Expired) || resign >= 2) throw err;
        // The document is still waiting for its bytes: asking again answers a fresh target for it.
        const again = await this.call(RequestUploads, { batchId, files: [input] }, "requestUploads");
        const t = again.requestUploads[0]?.target;
        if (!t) throw err;
        target = t;
      }
    }
  }

  /** Parts PUT in parallel (each taking a slot), ETags kept in localStorage so a reload resumes. */
  private async multipart(documentId: string, f: PickedFile) {
    let memo = readMemo(documentId);
    const start = async (m?: MultipartMemo) => {
      const { startMultipartUpload } = await this.call(
        StartMultipartUpload,
        { id: documentId, partSize: m?.partSize ?? null, u: m?.uploadId ?? null },
        "startMultipartUpload",
      );
      return startMultipartUpload;
    };
    let plan: Awaited<ReturnType<typeof start>>;
    try {
      plan = await start(memo);
    } catch (err) {
      if (!memo || (err as { code?: string }).code !== "NOT_FOUND") throw err;
      memo = undefined; // the earlier upload is gone: start again
      plan = await start();
    }
    const m: MultipartMemo = memo ?? { uploadId: plan.uploadId, partSize: plan.partSize, etags: {} };
    const save = () => localStorage.setItem(memoKey(documentId), JSON.stringify(m));
    save();
    const already = Object.keys(m.etags).length;
    this.emit({ bytesSent: this.state.bytesSent + Math.min(f.file.size, already * m.partSize) });
    await Promise.all(
      plan.parts
        .filter((p) => !m.etags[p.partNumber])
        .map((p) =>
          withRetry(`part ${p.partNumber} of ${f.path}`, () =>
            this.limiter.run(async () => {
              const from = (p.partNumber - 1) * plan.partSize;
              const to = Math.min(f.file.size, p.partNumber * plan.partSize);
              const res = await store(
                p.url,
                { method: "PUT", body: f.file.slice(from, to) },
                `part ${p.partNumber}`,
              );
              const etag = res.headers.get("etag");
              if (!etag)
                throw new Error(`part ${p.partNumber} of ${f.path}: no ETag exposed by the store (CORS)`);
              m.etags[p.partNumber] = etag;
              save();
              this.emit({ bytesSent: this.state.bytesSent + (to - from) });
            }),
          ),
        ),
    );
    const parts = Object.entries(m.etags)
      .map(([n, etag]) => ({ partNumber: Number(n), etag }))
      .sort((a, b) => a.partNumber - b.partNumber);
    await this.call(
      CompleteMultipartUpload,
      { id: documentId, u: m.uploadId, parts },
      "completeMultipartUpload",
    );
    localStorage.removeItem(memoKey(documentId));
  }
}

/** Files of a drop: folders walked (their files named by their path inside the drop). */
export async function filesOfDrop(items: DataTransferItemList): Promise<PickedFile[]> {
  const entries = Array.from(items)
    .map((i) => i.webkitGetAsEntry?.())
    .filter((e): e is FileSystemEntry => !!e);
  const out: PickedFile[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      out.push({ file, path: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        // readEntries answers at most 100 at a time: call until it answers none.
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, "");
  return out;
}

/** Files of an <input type=file> (with webkitdirectory: their path inside the chosen folder). */
export function filesOfInput(list: FileList): PickedFile[] {
  return Array.from(list, (file) => ({ file, path: file.webkitRelativePath || file.name }));
}
