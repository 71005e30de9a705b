import { stat } from "node:fs/promises";
import type { BatchCounts } from "../batch-counts.ts";
import type { GatewayClient } from "../client.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { graphql } from "../generated/gql.ts";
import type { FailedDocumentsQuery } from "../generated/graphql.ts";
import { type BulkOptions, type BulkResult, bulkUpload, mapUnordered } from "../upload/bulk.ts";
import { fingerprint } from "../upload/fingerprints.ts";
import { Manifest } from "../upload/manifest.ts";
import { bytesStr, newProgressCounts, num, type ProgressCounts, progressView } from "../upload/progress.ts";
import { DEFAULT_RETRY } from "../upload/retry.ts";
import { type Source, sourceKey, type WalkFilter, walkSources } from "../upload/sources.ts";

export interface UploadOptions extends Omit<BulkOptions, "counts" | "notice" | "signal"> {
  wait: boolean;
  /** Where the progress bar (or periodic lines) goes; null for none. */
  progress: (NodeJS.WritableStream & { isTTY?: boolean; columns?: number }) | null;
  /** Where notices go (resuming a batch...); default: `progress`. */
  notices?: NodeJS.WritableStream | null;
  pollMs?: number;
  signal?: AbortSignal;
}

export interface UploadSummary extends BulkResult {
  /** Processing outcome, when the command waited for it. */
  completed: number;
  failed: number;
  failuresByCode: Record<string, number>;
  needsReview: number;
  /** The batch as the gateway counts it at the end. */
  batch: Pick<BatchCounts, "total" | "pendingUpload"> | null;
  /** Why processing was not followed (a key without the read scope), when it was not. */
  notFollowed?: string;
}

/** What an upload-only key is told once its files are in. */
export const NO_READ_SCOPE =
  'uploaded and queued; this API key has no "read" scope, so the progress of the batch cannot be followed (a key with "read" can: docfleet watch <batch>)';

/** A FORBIDDEN answer: the key lacks a scope. */
export function isForbidden(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "FORBIDDEN";
}

const BatchCountsQuery = graphql(`
  query BatchCounts($id: ID!) {
    batch(id: $id) { counts { ...BatchCountsFields } }
  }
`);

const FailedDocuments = graphql(`
  query FailedDocuments($f: DocumentFilter, $after: String) {
    documents(filter: $f, first: 100, after: $after) {
      edges { node { errorCode } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

/** Defaults of the command's options (main.ts shows them in --help). */
export const UPLOAD_DEFAULTS = {
  filter: { include: [], exclude: [], hidden: false } as WalkFilter,
  resume: true,
  concurrency: 8,
  chunkSize: 500,
  retry: DEFAULT_RETRY,
  multipartThreshold: 64 * 1024 ** 2,
};

/** Uploads the sources as one batch (resumably) and, unless told not to, waits for its processing. */
export async function upload(client: GatewayClient, opts: UploadOptions): Promise<UploadSummary> {
  const counts = newProgressCounts();
  const out = opts.progress;
  const notices = opts.notices === undefined ? out : opts.notices;
  const view = out ? progressView(counts, out) : null;
  const counting = new AbortController();
  if (out) void countFiles(opts.sources, opts.filter, counts, counting.signal);
  let result: BulkResult;
  try {
    view?.start();
    result = await bulkUpload(client, {
      ...opts,
      counts,
      notice: notices ? (line) => notices.write(`${out?.isTTY ? "\r\x1b[K" : ""}${line}\n`) : undefined,
    });
  } finally {
    counting.abort();
    view?.stop();
  }
  const summary: UploadSummary = {
    ...result,
    completed: 0,
    failed: 0,
    failuresByCode: {},
    needsReview: 0,
    batch: null,
  };
  if (!result.interrupted) {
    try {
      if (opts.wait && result.totals.queued > 0)
        await waitForBatch(client, summary, out, opts.pollMs ?? 300, opts.signal);
      const { total, pendingUpload } = await batchCounts(client, result.batchId, opts.signal);
      summary.batch = { total, pendingUpload };
    } catch (err) {
      // An upload-only key: its work is done; reading the batch back is not its to do.
      if (!isForbidden(err)) throw err;
      summary.notFollowed = NO_READ_SCOPE.replace("<batch>", result.batchId);
    }
  }
  return summary;
}

/** The exit code a summary stands for (README "Exit codes"). */
export function uploadExitCode(s: UploadSummary): number {
  if (s.interrupted) return ExitCode.INTERRUPTED;
  const p = s.problems;
  return p.rejected + p.unreadable + p.uploadFailed + s.failed > 0 ? ExitCode.PARTIAL : ExitCode.OK;
}

/** Counts the files and bytes the upload will walk, for the progress bar's total and ETA. */
async function countFiles(
  sources: Source[],
  filter: WalkFilter,
  counts: ProgressCounts,
  signal: AbortSignal,
) {
  let bytes = 0;
  try {
    const sizes = mapUnordered(walkSources(sources, filter), 16, (f) =>
      stat(f.path).then(
        (s) => s.size,
        () => 0,
      ),
    );
    for await (const size of sizes) {
      if (signal.aborted) return;
      counts.countedFiles++;
      bytes += size;
    }
    counts.totalFiles = counts.countedFiles;
    counts.totalBytes = bytes;
  } catch {
    // only the bar's total is lost
  }
}

export interface DryRunResult {
  dryRun: true;
  batchId: string | null;
  manifest: string | null;
  files: number;
  bytes: number;
  /** Done by an earlier run of the same command (or of --batch), per its manifest. */
  skipped: number;
  wouldUpload: number;
  wouldUploadBytes: number;
  unreadable: number;
}

/**
 * What an upload would do, without contacting the gateway or writing anything: every file it would
 * send goes to `list` (name and size), and the totals are answered.
 */
export async function dryRun(
  opts: Pick<UploadOptions, "sources" | "filter" | "endpoint" | "batchId" | "resume" | "stateDir">,
  list: ((name: string, size: number) => void) | null,
): Promise<DryRunResult> {
  const dir = `${opts.stateDir}/uploads`;
  const path = opts.batchId
    ? await Manifest.find(dir, opts.batchId)
    : opts.resume
      ? await Manifest.findResumable(dir, opts.endpoint, sourceKey(opts.sources, opts.filter))
      : null;
  const state = path ? await Manifest.read(path) : null;
  const r: DryRunResult = {
    dryRun: true,
    batchId: state?.batchId ?? opts.batchId ?? null,
    manifest: path,
    files: 0,
    bytes: 0,
    skipped: 0,
    wouldUpload: 0,
    wouldUploadBytes: 0,
    unreadable: 0,
  };
  const found = mapUnordered(walkSources(opts.sources, opts.filter), 16, async (f) => ({
    f,
    s: await stat(f.path).catch(() => null),
  }));
  for await (const { f, s } of found) {
    r.files++;
    if (!s) {
      r.unreadable++;
      continue;
    }
    r.bytes += s.size;
    if (state?.done.has(fingerprint(f.path, s.size, s.mtimeMs))) {
      r.skipped++;
      continue;
    }
    r.wouldUpload++;
    r.wouldUploadBytes += s.size;
    list?.(f.name, s.size);
  }
  return r;
}

export function formatDryRun(r: DryRunResult): string {
  return [
    `dry run: ${num(r.files)} files (${bytesStr(r.bytes)}) found`,
    `  would upload ${num(r.wouldUpload)} (${bytesStr(r.wouldUploadBytes)})${
      r.manifest ? `, skip ${num(r.skipped)} done earlier (batch ${r.batchId}, ${r.manifest})` : ""
    }`,
    ...(r.unreadable ? [`  ${num(r.unreadable)} could not be read`] : []),
  ].join("\n");
}

async function batchCounts(client: GatewayClient, id: string, signal?: AbortSignal): Promise<BatchCounts> {
  const { batch } = await client.request(BatchCountsQuery, { id }, { signal });
  if (!batch) throw new CliError(`batch ${id} was not found for this API key`, ExitCode.USAGE);
  return batch.counts;
}

async function waitForBatch(
  client: GatewayClient,
  summary: UploadSummary,
  out: UploadOptions["progress"],
  pollMs: number,
  signal?: AbortSignal,
) {
  let printed = 0;
  for (;;) {
    const c = await batchCounts(client, summary.batchId, signal);
    const expected = c.total - c.pendingUpload;
    const line = `processing ${num(c.done)}/${num(expected)} (completed ${num(c.completed)}, failed ${num(c.failed)})`;
    if (out?.isTTY) out.write(`\r${line.padEnd(80)}`);
    else if (out && Date.now() - printed >= 10_000) {
      out.write(`${line}\n`);
      printed = Date.now();
    }
    if (c.done >= expected) {
      summary.completed = c.completed;
      summary.failed = c.failed;
      summary.needsReview = c.needsReview;
      break;
    }
    await sleep(pollMs, signal);
  }
  if (out?.isTTY) out.write("\n");
  let after: string | null = null;
  for (;;) {
    // annotated: `after` below is read from it, which TypeScript cannot infer through
    const res: FailedDocumentsQuery = await client.request(
      FailedDocuments,
      { f: { batchId: summary.batchId, status: ["FAILED"] }, after },
      { signal },
    );
    for (const e of res.documents.edges) {
      const code = e.node.errorCode ?? "UNKNOWN";
      summary.failuresByCode[code] = (summary.failuresByCode[code] ?? 0) + 1;
    }
    if (!res.documents.pageInfo.hasNextPage) break;
    after = res.documents.pageInfo.endCursor;
  }
}

/** Waits `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener("abort", abort);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

export function formatSummary(s: UploadSummary): string {
  const rate = s.seconds > 0 ? (s.uploaded + s.skipped + s.duplicates + s.inBatch) / s.seconds : 0;
  const lines = [
    `batch ${s.batchId}: ${num(s.files)} files (${bytesStr(s.bytes)}) in ${s.seconds.toFixed(1)} s, ${rate.toFixed(0)} files/s${
      s.interrupted ? " (interrupted)" : ""
    }`,
    `  uploaded ${num(s.uploaded)} (${bytesStr(s.uploadedBytes)}), skipped ${num(s.skipped)} done earlier` +
      `${s.resumedUploads ? ` (${num(s.resumedUploads)} of them queued now)` : ""}, ` +
      `duplicates ${num(s.duplicates)}, already in batch ${num(s.inBatch)}`,
    `  rejected ${num(s.problems.rejected)}, unreadable ${num(s.problems.unreadable)}, upload failed ${num(s.problems.uploadFailed)}`,
  ];
  if (s.batch)
    lines.push(
      `  the batch holds ${num(s.batch.total)} documents${s.batch.pendingUpload ? `, ${num(s.batch.pendingUpload)} still waiting for their bytes` : ""}`,
    );
  if (s.completed + s.failed > 0) {
    lines.push(
      `  completed ${num(s.completed)}, failed ${num(s.failed)}, needs review ${num(s.needsReview)}`,
    );
    for (const [code, n] of Object.entries(s.failuresByCode).sort()) lines.push(`    ${code}: ${num(n)}`);
  }
  if (s.passedOver.special) lines.push(`  passed over ${num(s.passedOver.special)} links and special files`);
  for (const d of s.passedOver.unreadableDirs) lines.push(`  could not read folder ${d.path}: ${d.message}`);
  for (const [kind, list] of [
    ["rejected", s.rejected],
    ["unreadable", s.unreadable],
    ["upload failed", s.uploadFailed],
  ] as const) {
    for (const i of list.slice(0, 20)) lines.push(`  ${kind} ${i.name}: ${i.code} ${i.message}`);
    if (list.length > 20) lines.push(`  ... and ${num(list.length - 20)} more ${kind} (see --json)`);
  }
  if (s.notFollowed) lines.push(`  ${s.notFollowed}`);
  lines.push(`  manifest ${s.manifest}`);
  if (s.interrupted || s.pendingLeft > 0)
    lines.push(
      `  ${s.interrupted ? "interrupted" : `${num(s.pendingLeft)} files not uploaded yet`}: rerun the same command, or add --batch ${s.batchId}, to go on`,
    );
  return lines.join("\n");
}

/** `64MiB`, `100MB`, `1G`, `1048576` → bytes. */
export function parseBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:([kmgt])(ib|b)?|b)?$/i.exec(v.trim());
  if (!m) throw new CliError(`not a size: ${v} (e.g. 64MiB, 100MB, 1048576)`, ExitCode.USAGE);
  const exp = m[2] ? " kmgt".indexOf(m[2].toLowerCase()) : 0;
  // KB, MB: powers of 1000; KiB, MiB and a bare K, M: powers of 1024
  const base = m[3]?.toLowerCase() === "b" ? 1000 : 1024;
  return Math.round(Number(m[1]) * base ** exp);
}
