import { setMaxListeners } from "node:events";
import { stat } from "node:fs/promises";
import { type GatewayClient, GatewayError } from "../client.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { graphql } from "../generated/gql.ts";
import type { RequestUploadsMutation, StartMultipartUploadMutation } from "../generated/graphql.ts";
import { FingerprintSet, fingerprint } from "./fingerprints.ts";
import { HashPool } from "./hash-pool.ts";
import { fpKey, Manifest, type ManifestTotals, type PendingFile } from "./manifest.ts";
import { newProgressCounts, type ProgressCounts } from "./progress.ts";
import { Limiter, type RetryPolicy, TransientError, withRetry } from "./retry.ts";
import {
  type FoundFile,
  type Source,
  sourceKey,
  type WalkFilter,
  type WalkStats,
  walkSources,
} from "./sources.ts";
import { ExpiredError, type FormTarget, postFile, putPart, RefusedError } from "./transfer.ts";

export interface BulkOptions {
  sources: Source[];
  filter: WalkFilter;
  endpoint: string;
  /** Continue this batch (its manifest if this machine has one, else a new manifest for it). */
  batchId?: string;
  batchName?: string;
  /** Pick up an unfinished manifest of the same command (default true). */
  resume: boolean;
  stateDir: string;
  /** Files (or parts) in flight at once. */
  concurrency: number;
  /** Files per requestUploads / completeUploads call (the gateway takes at most 1000). */
  chunkSize: number;
  retry: RetryPolicy;
  /** Files of at least this many bytes go up in parts. */
  multipartThreshold: number;
  /** Part size to ask for; the gateway's default when undefined. */
  partSize?: number;
  hashThreads?: number;
  /** Ctrl-C: stop, keep the manifest, report what got done. */
  signal?: AbortSignal;
  counts?: ProgressCounts;
  /** One-line notices (resuming, retrying) for the person watching. */
  notice?: (line: string) => void;
}

export interface FileIssue {
  name: string;
  code: string;
  message: string;
}

export interface BulkResult {
  batchId: string;
  manifest: string;
  /** This run picked up an earlier run's manifest. */
  resumed: boolean;
  /** Stopped by Ctrl-C before the end; rerun to go on. */
  interrupted: boolean;
  /** Files the walk found this run (after include/exclude). */
  files: number;
  bytes: number;
  /** Files an earlier run dealt with, not read again. */
  skipped: number;
  /** Files sent this run and queued. */
  uploaded: number;
  uploadedBytes: number;
  /** Files an earlier run sent, queued by this one. */
  resumedUploads: number;
  /** Content the tenant already held (another batch, or another file of this one). */
  duplicates: number;
  /** Already in this batch (sent by an earlier run whose record of it was lost). */
  inBatch: number;
  rejected: FileIssue[];
  unreadable: FileIssue[];
  uploadFailed: FileIssue[];
  /** Files registered but still not queued (gone from the sources, or failed): a rerun retries them. */
  pendingLeft: number;
  /** True counts (the lists above keep the first 1000 of each). */
  problems: { rejected: number; unreadable: number; uploadFailed: number };
  /** Symbolic links and special files passed over; folders that could not be read. */
  passedOver: { special: number; unreadableDirs: { path: string; message: string }[] };
  /** Every run of this batch together, from the manifest. */
  totals: ManifestTotals;
  seconds: number;
}

const MAX_LISTED = 1000;
const CHUNKS_IN_FLIGHT = 3;
/** Files in the first chunk of a run (then doubling up to the chunk size). */
const FIRST_CHUNK = 32;
const STAT_WINDOW = 32;
const HASH_WINDOW = 128;

interface Ready {
  path: string;
  name: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  pending?: PendingFile;
}

type RequestResult = RequestUploadsMutation["requestUploads"][number];
type MultipartTarget = StartMultipartUploadMutation["startMultipartUpload"];

const CreateBatch = graphql(`
  mutation CreateBatch($input: CreateBatchInput!) {
    createBatch(input: $input) { id }
  }
`);

const CheckBatch = graphql(`
  query CheckBatch($id: ID!) {
    batch(id: $id) { id }
  }
`);

const RequestUploads = graphql(`
  mutation RequestUploads($batchId: ID!, $files: [FileInput!]!) {
    requestUploads(batchId: $batchId, files: $files) {
      status documentId batchId documentName code message target { url fields { name value } }
    }
  }
`);

const StartMultipartUpload = graphql(`
  mutation StartMultipartUpload($id: ID!, $partSize: Int, $u: String) {
    startMultipartUpload(documentId: $id, partSize: $partSize, uploadId: $u) {
      uploadId partSize parts { partNumber url }
    }
  }
`);

const CompleteMultipartUpload = graphql(`
  mutation CompleteMultipartUpload($id: ID!, $u: String!, $parts: [PartInput!]!) {
    completeMultipartUpload(documentId: $id, uploadId: $u, parts: $parts)
  }
`);

const CompleteUploads = graphql(`
  mutation CompleteUploads($ids: [ID!]!) {
    completeUploads(documentIds: $ids) { documentId status message }
  }
`);

/** Uploads everything the sources name into one batch, resumably; see README "Bulk upload". */
export async function bulkUpload(client: GatewayClient, opts: BulkOptions): Promise<BulkResult> {
  const run = await BulkRun.open(client, opts);
  return run.run();
}

class BulkRun {
  private readonly controller = new AbortController();
  private readonly limiter: Limiter;
  private readonly flows = new Set<Promise<void>>();
  private fatal: unknown = null;
  private multipartSupported = true;
  private readonly started = Date.now();
  private readonly walkStats: WalkStats = { special: 0, unreadableDirs: [] };
  private readonly result: BulkResult;
  private readonly counts: ProgressCounts;

  private constructor(
    private readonly client: GatewayClient,
    private readonly opts: BulkOptions,
    private readonly manifest: Manifest,
    resumed: boolean,
  ) {
    this.limiter = new Limiter(opts.concurrency);
    // Every request in flight listens on the run's signal (fetchLinked removes each when done).
    setMaxListeners(opts.concurrency * 4 + 64, this.controller.signal);
    this.counts = opts.counts ?? newProgressCounts();
    this.result = {
      batchId: manifest.state.batchId,
      manifest: manifest.path,
      resumed,
      interrupted: false,
      files: 0,
      bytes: 0,
      skipped: 0,
      uploaded: 0,
      uploadedBytes: 0,
      resumedUploads: 0,
      duplicates: 0,
      inBatch: 0,
      rejected: [],
      unreadable: [],
      uploadFailed: [],
      pendingLeft: 0,
      problems: { rejected: 0, unreadable: 0, uploadFailed: 0 },
      passedOver: { special: 0, unreadableDirs: [] },
      totals: manifest.state.totals,
      seconds: 0,
    };
    opts.signal?.addEventListener("abort", () => this.controller.abort(opts.signal?.reason), { once: true });
  }

  /** Finds or creates the batch and its manifest, before any file is read. */
  static async open(client: GatewayClient, opts: BulkOptions): Promise<BulkRun> {
    const key = sourceKey(opts.sources, opts.filter);
    const dir = `${opts.stateDir}/uploads`;
    let path: string | null = null;
    if (opts.batchId) {
      await checkBatch(client, opts.batchId, opts.signal);
      path = await Manifest.find(dir, opts.batchId);
    } else if (opts.resume) {
      path = await Manifest.findResumable(dir, opts.endpoint, key);
    }
    let manifest: Manifest;
    if (path) {
      manifest = await Manifest.open(path);
      if (!opts.batchId) await checkBatch(client, manifest.state.batchId, opts.signal, path);
      const s = manifest.state;
      opts.notice?.(
        `resuming batch ${s.batchId} from ${manifest.path}: ${s.done.size} files done, ${s.pending.size} pending`,
      );
    } else {
      const batchId =
        opts.batchId ??
        (
          await client.request(
            CreateBatch,
            { input: { name: opts.batchName ?? `upload ${new Date().toISOString()}` } },
            { idempotent: false, signal: opts.signal },
          )
        ).createBatch.id;
      manifest = await Manifest.create(dir, { batchId, endpoint: opts.endpoint, key });
    }
    manifest.write({ t: "run", at: new Date().toISOString(), key });
    return new BulkRun(client, opts, manifest, path !== null);
  }

  async run(): Promise<BulkResult> {
    const signal = this.controller.signal;
    const pool = new HashPool(this.opts.hashThreads);
    let walked = false;
    try {
      await this.completeEarlierUploads();
      let chunk: Ready[] = [];
      // The first chunks are small and each one twice the last, up to chunkSize: the first bytes go up
      // while the rest are still hashed, rather than after a whole chunk is hashed and registered.
      let size = Math.min(FIRST_CHUNK, this.opts.chunkSize);
      for await (const item of this.readyFiles(pool)) {
        if (signal.aborted) break;
        chunk.push(item);
        if (chunk.length >= size) {
          await this.dispatch(chunk);
          chunk = [];
          size = Math.min(size * 2, this.opts.chunkSize);
        }
      }
      if (!signal.aborted && chunk.length > 0) await this.dispatch(chunk);
      walked = !signal.aborted;
      await Promise.allSettled([...this.flows]);
    } catch (err) {
      if (!signal.aborted) this.fail(err);
      await Promise.allSettled([...this.flows]);
    } finally {
      await pool.close();
    }
    if (this.fatal) {
      await this.manifest.close();
      const err = this.fatal as Error;
      const hint = `; progress is kept in ${this.manifest.path}: rerun the same command to resume`;
      throw err instanceof CliError
        ? new CliError(`${err.message}${hint}`, err.exitCode)
        : new CliError(`${err.message}${hint}`, ExitCode.INTERNAL);
    }
    // Stopped after the walk but before the last uploads were queued is stopped all the same.
    const stopped = signal.aborted;
    if (walked && !stopped) this.manifest.write({ t: "w" });
    const r = this.result;
    r.interrupted = stopped;
    r.pendingLeft = this.manifest.state.pending.size;
    r.passedOver = { special: this.walkStats.special, unreadableDirs: this.walkStats.unreadableDirs };
    const clean =
      !stopped &&
      this.manifest.state.pending.size === 0 &&
      r.problems.unreadable === 0 &&
      r.problems.uploadFailed === 0;
    await this.manifest.close(clean);
    if (clean) r.manifest = this.manifest.path.replace(/\.jsonl$/, ".done.jsonl");
    r.seconds = (Date.now() - this.started) / 1000;
    return r;
  }

  /** Files an earlier run sent but could not queue (crash, Ctrl-C between the two): queue them now. */
  private async completeEarlierUploads(): Promise<void> {
    const ids = [...this.manifest.state.pending.values()].filter((p) => p.uploaded).map((p) => p.documentId);
    for (let i = 0; i < ids.length; i += this.opts.chunkSize) {
      const queued = await this.complete(ids.slice(i, i + this.opts.chunkSize), false);
      this.result.resumedUploads += queued;
    }
  }

  /**
   * The walk, minus what the manifest has done, stat'ed and hashed with bounded concurrency: at most
   * STAT_WINDOW + HASH_WINDOW files in flight, whatever the size of the tree.
   */
  private async *readyFiles(pool: HashPool): AsyncGenerator<Ready> {
    const state = this.manifest.state;
    // Paths seen this run (overlapping sources): fingerprints, 8 bytes a file.
    const seen = new FingerprintSet();
    const statted = mapUnordered(
      walkSources(this.opts.sources, this.opts.filter, this.walkStats),
      STAT_WINDOW,
      async (f: FoundFile) => ({ f, s: await stat(f.path).catch((err: Error) => err) }),
    );
    const hashed = mapUnordered(statted, HASH_WINDOW, async ({ f, s }): Promise<Ready | null> => {
      if (s instanceof Error) {
        this.result.files++;
        return this.unreadable(f.name, s);
      }
      const fp = fingerprint(f.path, s.size, s.mtimeMs);
      const key = fpKey(fp);
      // The same file reached through two overlapping sources counts once.
      if (!seen.add(fingerprint(f.path, 0, 0))) return null;
      this.result.files++;
      this.result.bytes += s.size;
      if (state.done.has(fp)) {
        this.result.skipped++;
        this.progress(s.size);
        return null;
      }
      const pendingId = state.pendingByFp.get(key);
      const pending = pendingId ? state.pending.get(pendingId) : undefined;
      if (pending)
        return { ...f, size: pending.size, mtimeMs: pending.mtimeMs, sha256: pending.sha256, pending };
      const h = await pool.hash(f.path);
      if ("error" in h)
        return this.unreadable(f.name, Object.assign(new Error(h.message), { code: h.error }));
      return { ...f, size: h.size, mtimeMs: h.mtimeMs, sha256: h.sha256 };
    });
    for await (const r of hashed) if (r) yield r;
  }

  /** Registers a chunk, then sends and queues its files in the background (CHUNKS_IN_FLIGHT at most). */
  private async dispatch(chunk: Ready[]): Promise<void> {
    while (this.flows.size >= CHUNKS_IN_FLIGHT) await Promise.race(this.flows);
    if (this.controller.signal.aborted) return;
    const answers = await this.requestUploads(chunk);
    const sends: Promise<string | null>[] = [];
    answers.forEach((a, i) => {
      const file = chunk[i]!;
      const line = {
        t: "r" as const,
        p: file.path,
        n: file.name,
        s: file.size,
        m: file.mtimeMs,
        h: file.sha256,
      };
      // The gateway answers a content it holds PENDING_UPLOAD with that document's target again (a rerun
      // resuming it). When that document is another file of this run still in flight (the same bytes
      // under another name, registered by an earlier chunk), this file is a duplicate of it, as it is
      // when both are in one request: sending it would count one document twice and lose this name.
      const twin =
        a.status === "UPLOAD" && a.documentId ? this.manifest.state.pending.get(a.documentId) : undefined;
      if (twin && twin.path !== file.path) {
        this.manifest.write({ ...line, o: "DUPLICATE", d: a.documentId ?? undefined });
        this.result.duplicates++;
        this.progress(file.size);
      } else if (a.status === "UPLOAD" && a.documentId && a.target) {
        this.manifest.write({ ...line, o: "UPLOAD", d: a.documentId });
        const pending = this.manifest.state.pending.get(a.documentId)!;
        sends.push(this.send(pending, a.target));
      } else if (a.status === "DUPLICATE") {
        // The same content under the same name in this batch is this very file, sent by an earlier run.
        const same = a.batchId === this.result.batchId && a.documentName === file.name;
        this.manifest.write({ ...line, o: same ? "IN_BATCH" : "DUPLICATE", d: a.documentId ?? undefined });
        if (same) this.result.inBatch++;
        else this.result.duplicates++;
        this.progress(file.size);
      } else {
        const code = a.code ?? "REJECTED";
        const message = a.message ?? "refused by the gateway";
        this.manifest.write({ ...line, o: "REJECTED", c: code, e: message });
        this.issue("rejected", { name: file.name, code, message });
        this.progress(file.size);
      }
    });
    const flow = (async () => {
      const ids = (await Promise.all(sends)).filter((id): id is string => id !== null);
      if (ids.length === 0 || this.controller.signal.aborted) return;
      // Not `+= await`: that reads the count before the wait and loses other chunks' additions.
      const queued = await this.complete(ids, true);
      this.result.uploaded += queued;
    })().catch((err) => this.fail(err));
    this.flows.add(flow);
    void flow.finally(() => this.flows.delete(flow));
  }

  private async requestUploads(files: readonly Ready[]): Promise<RequestResult[]> {
    const { requestUploads } = await this.client.request(
      RequestUploads,
      {
        batchId: this.result.batchId,
        files: files.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256 })),
      },
      { signal: this.controller.signal },
    );
    return requestUploads;
  }

  /** Whether `url` is on the gateway's own origin (the embedded local store's targets). */
  private sameOrigin(url: string): boolean {
    try {
      return new URL(url).origin === new URL(this.opts.endpoint).origin;
    } catch {
      return false;
    }
  }

  /** Sends one file's bytes; answers its document id, or null when the file failed (recorded). */
  private async send(file: PendingFile, target: FormTarget): Promise<string | null> {
    const signal = this.controller.signal;
    try {
      if (file.uploaded) return file.documentId;
      if (
        !(
          file.size > 0 &&
          file.size >= this.opts.multipartThreshold &&
          this.multipartSupported &&
          (await this.sendParts(file))
        )
      )
        await this.post(file, target);
      this.manifest.write({ t: "u", d: file.documentId });
      this.progress(file.size);
      this.counts.note = null;
      return file.documentId;
    } catch (err) {
      if (err instanceof RefusedError || err instanceof ExpiredError) {
        this.issue("uploadFailed", { name: file.name, code: "UPLOAD_REFUSED", message: err.message });
        this.progress(file.size);
        return null;
      }
      if (!signal.aborted) this.fail(err);
      return null;
    }
  }

  /** One POST of the whole file; a target that expired while the file waited its turn is renewed. */
  private async post(file: PendingFile, target: FormTarget): Promise<void> {
    const signal = this.controller.signal;
    let t = target;
    for (let renewed = 0; ; renewed++) {
      try {
        await this.limiter.run(() =>
          withRetry(
            () => postFile(t, file.path, file.name, signal, file.size, this.sameOrigin(t.url)),
            this.opts.retry,
            signal,
            (e, n, w) => this.retrying(e, n, w),
          ),
        );
        return;
      } catch (err) {
        if (!(err instanceof ExpiredError) || renewed >= 2) throw err;
        t = await this.freshTarget(file);
      }
    }
  }

  /**
   * Sends a large file in parts, resuming the upload the manifest recorded (only parts it lacks go
   * again). False when the gateway has no multipart support: the caller falls back to one POST.
   */
  private async sendParts(file: PendingFile): Promise<boolean> {
    const signal = this.controller.signal;
    let mp = file.multipart;
    let start: MultipartTarget;
    try {
      // A resumed upload keeps its cut: the parts already stored must line up with the rest.
      start = await this.startMultipart(file.documentId, mp?.uploadId, mp?.partSize);
    } catch (err) {
      if (err instanceof GatewayError && err.code === "GRAPHQL_VALIDATION_FAILED") {
        this.multipartSupported = false;
        return false;
      }
      const gone = err instanceof GatewayError && (err.code === "NOT_FOUND" || err.code === "BAD_REQUEST");
      if (!(mp && gone)) throw err;
      // The store forgot the upload (expired, aborted) or cannot resume it: start over.
      start = await this.startMultipart(file.documentId);
    }
    if (!mp || mp.uploadId !== start.uploadId) {
      this.manifest.write({ t: "mp", d: file.documentId, u: start.uploadId, z: start.partSize });
      mp = file.multipart!;
    }
    const { uploadId, partSize } = start;
    let urls = new Map(start.parts.map((p) => [p.partNumber, p.url]));
    const resign = async () => {
      urls = new Map(
        (await this.startMultipart(file.documentId, uploadId, partSize)).parts.map((p) => [
          p.partNumber,
          p.url,
        ]),
      );
    };
    const todo = [...urls.keys()].filter((n) => !mp!.etags.has(n));
    await Promise.all(
      todo.map((n) =>
        this.limiter.run(async () => {
          const from = (n - 1) * partSize;
          const to = Math.min(file.size, n * partSize);
          for (let renewed = 0; ; renewed++) {
            try {
              const etag = await withRetry(
                () => putPart(urls.get(n)!, file.path, from, to, `part ${n} of ${file.name}`, signal),
                this.opts.retry,
                signal,
                (e, a, w) => this.retrying(e, a, w),
              );
              this.manifest.write({ t: "pt", d: file.documentId, n, e: etag });
              return;
            } catch (err) {
              if (!(err instanceof ExpiredError) || renewed >= 2) throw err;
              await resign();
            }
          }
        }),
      ),
    );
    const parts = [...mp.etags]
      .sort((a, b) => a[0] - b[0])
      .map(([partNumber, etag]) => ({ partNumber, etag }));
    await this.client.request(
      CompleteMultipartUpload,
      { id: file.documentId, u: uploadId, parts },
      { signal },
    );
    return true;
  }

  private async startMultipart(
    documentId: string,
    uploadId?: string,
    partSize?: number,
  ): Promise<MultipartTarget> {
    const { startMultipartUpload } = await this.client.request(
      StartMultipartUpload,
      { id: documentId, partSize: partSize ?? this.opts.partSize ?? null, u: uploadId ?? null },
      { signal: this.controller.signal },
    );
    return startMultipartUpload;
  }

  /** A new target for a file whose signed target expired while it waited its turn. */
  private async freshTarget(file: PendingFile): Promise<FormTarget> {
    const [a] = await this.requestUploads([{ ...file }]);
    if (a?.status !== "UPLOAD" || !a.target || a.documentId !== file.documentId)
      throw new RefusedError(`could not renew the upload target of ${file.name}`, 403);
    return a.target;
  }

  /** completeUploads for sent files; answers how many got queued. */
  private async complete(ids: string[], sentNow: boolean): Promise<number> {
    let queued = 0;
    for (let i = 0; i < ids.length; i += 1000) {
      const { completeUploads } = await this.client.request(
        CompleteUploads,
        { ids: ids.slice(i, i + 1000) },
        { signal: this.controller.signal },
      );
      const ok: string[] = [];
      for (const c of completeUploads) {
        const p = this.manifest.state.pending.get(c.documentId);
        if (c.status === "QUEUED" || c.status === "ALREADY_QUEUED") {
          ok.push(c.documentId);
          if (p && sentNow) this.result.uploadedBytes += p.size;
        } else if (c.status === "NOT_FOUND") {
          // Not ours any more (deleted): forget it; the walk registers the file again.
          if (p) this.manifest.write({ t: "nq", d: c.documentId, s: c.status, e: c.message ?? undefined });
        } else {
          this.manifest.write({ t: "nq", d: c.documentId, s: c.status, e: c.message ?? undefined });
          if (sentNow && p)
            this.issue("uploadFailed", { name: p.name, code: c.status, message: c.message ?? "" });
        }
      }
      if (ok.length) this.manifest.write({ t: "q", d: ok });
      queued += ok.length;
    }
    return queued;
  }

  private unreadable(name: string, err: Error & { code?: string }): null {
    this.issue("unreadable", {
      name,
      code: "UNREADABLE",
      message: `${err.code ?? ""} ${err.message}`.trim(),
    });
    this.progress(0);
    return null;
  }

  private issue(kind: "rejected" | "unreadable" | "uploadFailed", i: FileIssue): void {
    this.result.problems[kind]++;
    if (this.result[kind].length < MAX_LISTED) this.result[kind].push(i);
  }

  private progress(bytes: number, files = 1): void {
    this.counts.files += files;
    this.counts.bytes += bytes;
  }

  private retrying(err: TransientError, attempt: number, waitMs: number): void {
    this.counts.note = `${err.message}; retry ${attempt} in ${(waitMs / 1000).toFixed(1)} s`;
  }

  /** The first fatal error stops the run: nothing new starts, in-flight requests are cancelled. */
  private fail(err: unknown): void {
    if (this.fatal || this.controller.signal.aborted) return;
    this.fatal = err instanceof TransientError ? unreachable(this.opts.endpoint, err) : err;
    this.controller.abort(err);
  }
}

function unreachable(endpoint: string, err: TransientError): CliError {
  return new CliError(
    `gave up after retries: ${err.message} (is the gateway at ${endpoint} and its object store up?)`,
    ExitCode.UNREACHABLE,
  );
}

async function checkBatch(client: GatewayClient, batchId: string, signal?: AbortSignal, manifest?: string) {
  let batch: { id: string } | null;
  try {
    ({ batch } = await client.request(CheckBatch, { id: batchId }, { signal }));
  } catch (err) {
    // An upload-only key may not read batches: requestUploads checks the batch itself (NOT_FOUND).
    if ((err as { code?: string }).code === "FORBIDDEN") return;
    throw err;
  }
  if (!batch)
    throw new CliError(
      `batch ${batchId} was not found for this API key${
        manifest ? ` (manifest ${manifest}); use --new-batch to start another` : ""
      }`,
      ExitCode.USAGE,
    );
}

/**
 * `fn` over `src` with at most `n` running; answers in completion order. Each task puts its outcome in
 * a queue as it settles (no Promise.race over every running task per answer: with a window of 128 that
 * was a hundred reactions and their garbage for each file of an upload).
 */
export async function* mapUnordered<T, R>(
  src: AsyncIterable<T>,
  n: number,
  fn: (t: T) => Promise<R>,
): AsyncGenerator<R> {
  const it = src[Symbol.asyncIterator]();
  const settled: ({ ok: true; v: R } | { ok: false; e: unknown })[] = [];
  let wake: (() => void) | null = null;
  const settle = (s: { ok: true; v: R } | { ok: false; e: unknown }) => {
    settled.push(s);
    const w = wake;
    wake = null;
    w?.();
  };
  // Started and not yet answered (running, or settled and waiting in the queue).
  let open = 0;
  let ended = false;
  try {
    for (;;) {
      while (!ended && open < n) {
        const r = await it.next();
        if (r.done) {
          ended = true;
          break;
        }
        open++;
        // Failures are caught here, so one left running when the caller stops early is never unhandled.
        new Promise<R>((resolve) => resolve(fn(r.value))).then(
          (v) => settle({ ok: true, v }),
          (e: unknown) => settle({ ok: false, e }),
        );
      }
      if (open === 0) return;
      while (settled.length === 0) await new Promise<void>((r) => (wake = r));
      const s = settled.shift()!;
      open--;
      if (!s.ok) throw s.e;
      yield s.v;
    }
  } finally {
    if (!ended) await it.return?.(undefined);
  }
}
