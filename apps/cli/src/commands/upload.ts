import { createHash } from "node:crypto";
import { createReadStream, openAsBlob } from "node:fs";
import { opendir, stat } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import type { GatewayClient } from "../client.ts";
import { CliError, ExitCode } from "../exit-codes.ts";

export interface UploadOptions {
  batchName?: string;
  concurrency: number;
  wait: boolean;
  json: boolean;
  /** Called with progress lines (stderr); null for silence. */
  progress: ((line: string, final: boolean) => void) | null;
  pollMs?: number;
}

export interface UploadSummary {
  batchId: string;
  files: number;
  uploaded: number;
  duplicates: number;
  rejected: { name: string; code: string; message: string }[];
  notQueued: { name: string; status: string; message: string | null }[];
  completed: number;
  failed: number;
  failuresByCode: Record<string, number>;
  needsReview: number;
  seconds: number;
}

interface LocalFile {
  path: string;
  name: string;
  size: number;
  sha256: string;
}

const CHUNK = 200;

/** Files under `root` (or `root` itself), depth-first, without holding the whole tree in memory. */
export async function* walk(root: string): AsyncGenerator<string> {
  const s = await stat(root).catch(() => {
    throw new CliError(`no such file or folder: ${root}`, ExitCode.USAGE);
  });
  if (s.isFile()) {
    yield root;
    return;
  }
  const dir = await opendir(root);
  for await (const entry of dir) {
    if (entry.name.startsWith(".")) continue;
    const p = join(root, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else if (entry.isFile()) yield p;
  }
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Runs `fn` over `items` with at most `n` at once, keeping order of results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  n: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

async function sendFile(target: { url: string; fields: { name: string; value: string }[] }, file: LocalFile) {
  const form = new FormData();
  for (const f of target.fields) form.append(f.name, f.value);
  form.append("file", await openAsBlob(file.path), file.name);
  let lastErr: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const res = await fetch(target.url, { method: "POST", body: form });
      if (res.ok) return;
      const text = await res.text();
      // 4xx will not get better by trying again
      if (res.status < 500)
        throw new CliError(`upload of ${file.name} refused (${res.status}): ${text}`, ExitCode.INTERNAL);
      lastErr = new Error(`${res.status} ${text}`);
    } catch (err) {
      if (err instanceof CliError) throw err;
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
  }
  throw new CliError(`upload of ${file.name} failed: ${(lastErr as Error)?.message}`, ExitCode.UNREACHABLE);
}

/** Uploads every file under `roots` as one batch and, unless told not to, waits for it to finish. */
export async function upload(
  client: GatewayClient,
  roots: string[],
  opts: UploadOptions,
): Promise<UploadSummary> {
  const started = Date.now();
  const say = opts.progress ?? (() => {});
  const files: LocalFile[] = [];
  for (const root of roots) {
    for await (const path of walk(root)) {
      const s = await stat(path);
      files.push({ path, name: relative(root, path) || basename(path), size: s.size, sha256: "" });
    }
  }
  if (files.length === 0) throw new CliError(`no files found under ${roots.join(", ")}`, ExitCode.USAGE);
  await mapLimit(files, 4, async (f) => {
    f.sha256 = await sha256File(f.path);
  });

  const { createBatch } = await client.request<{ createBatch: { id: string } }>(
    "mutation($input: CreateBatchInput!) { createBatch(input: $input) { id } }",
    { input: { name: opts.batchName ?? `upload ${new Date().toISOString()}` } },
  );
  const batchId = createBatch.id;
  const summary: UploadSummary = {
    batchId,
    files: files.length,
    uploaded: 0,
    duplicates: 0,
    rejected: [],
    notQueued: [],
    completed: 0,
    failed: 0,
    failuresByCode: {},
    needsReview: 0,
    seconds: 0,
  };

  for (let i = 0; i < files.length; i += CHUNK) {
    const chunk = files.slice(i, i + CHUNK);
    const { requestUploads } = await client.request<{
      requestUploads: {
        status: string;
        documentId: string | null;
        code: string | null;
        message: string | null;
        target: { url: string; fields: { name: string; value: string }[] } | null;
      }[];
    }>(
      `mutation($batchId: ID!, $files: [FileInput!]!) {
        requestUploads(batchId: $batchId, files: $files) {
          status documentId code message target { url fields { name value } }
        }
      }`,
      { batchId, files: chunk.map((f) => ({ name: f.name, size: f.size, sha256: f.sha256 })) },
    );
    const toSend: {
      file: LocalFile;
      documentId: string;
      target: NonNullable<(typeof requestUploads)[number]["target"]>;
    }[] = [];
    requestUploads.forEach((r, j) => {
      const file = chunk[j]!;
      if (r.status === "UPLOAD" && r.target && r.documentId)
        toSend.push({ file, documentId: r.documentId, target: r.target });
      else if (r.status === "DUPLICATE") summary.duplicates++;
      else summary.rejected.push({ name: file.name, code: r.code ?? "REJECTED", message: r.message ?? "" });
    });
    await mapLimit(toSend, opts.concurrency, async (s) => {
      await sendFile(s.target, s.file);
      summary.uploaded++;
      say(`uploading ${summary.uploaded}/${files.length}`, false);
    });
    if (toSend.length > 0) {
      const { completeUploads } = await client.request<{
        completeUploads: { documentId: string; status: string; message: string | null }[];
      }>("mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { documentId status message } }", {
        ids: toSend.map((s) => s.documentId),
      });
      const names = new Map(toSend.map((s) => [s.documentId, s.file.name]));
      for (const c of completeUploads) {
        if (c.status !== "QUEUED" && c.status !== "ALREADY_QUEUED") {
          summary.notQueued.push({
            name: names.get(c.documentId) ?? c.documentId,
            status: c.status,
            message: c.message,
          });
        }
      }
    }
  }

  if (opts.wait) await waitForBatch(client, batchId, summary, say, opts.pollMs ?? 300);
  summary.seconds = (Date.now() - started) / 1000;
  return summary;
}

async function waitForBatch(
  client: GatewayClient,
  batchId: string,
  summary: UploadSummary,
  say: (line: string, final: boolean) => void,
  pollMs: number,
) {
  for (;;) {
    const { batch } = await client.request<{
      batch: {
        finished: boolean;
        counts: {
          total: number;
          pendingUpload: number;
          completed: number;
          failed: number;
          needsReview: number;
          done: number;
        };
      };
    }>(
      "query($id: ID!) { batch(id: $id) { finished counts { total pendingUpload completed failed needsReview done } } }",
      {
        id: batchId,
      },
    );
    const c = batch.counts;
    const expected = c.total - c.pendingUpload;
    say(
      `processing ${bar(c.done, expected)} ${c.done}/${expected} (completed ${c.completed}, failed ${c.failed})`,
      false,
    );
    if (c.done >= expected) {
      summary.completed = c.completed;
      summary.failed = c.failed;
      summary.needsReview = c.needsReview;
      break;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  say("", true);
  let after: string | null = null;
  for (;;) {
    const res: {
      documents: {
        edges: { node: { errorCode: string | null } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      };
    } = await client.request(
      `query($f: DocumentFilter, $after: String) {
        documents(filter: $f, first: 100, after: $after) { edges { node { errorCode } } pageInfo { hasNextPage endCursor } }
      }`,
      { f: { batchId, status: ["FAILED"] }, after },
    );
    for (const e of res.documents.edges) {
      const code = e.node.errorCode ?? "UNKNOWN";
      summary.failuresByCode[code] = (summary.failuresByCode[code] ?? 0) + 1;
    }
    if (!res.documents.pageInfo.hasNextPage) break;
    after = res.documents.pageInfo.endCursor;
  }
}

function bar(done: number, total: number, width = 30): string {
  const filled = total > 0 ? Math.round((done / total) * width) : 0;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

export function formatSummary(s: UploadSummary): string {
  const lines = [
    `batch ${s.batchId}: ${s.files} files in ${s.seconds.toFixed(1)} s`,
    `  uploaded ${s.uploaded}, duplicates ${s.duplicates}, rejected ${s.rejected.length}, not queued ${s.notQueued.length}`,
    `  completed ${s.completed}, failed ${s.failed}, needs review ${s.needsReview}`,
  ];
  for (const [code, n] of Object.entries(s.failuresByCode).sort()) lines.push(`    ${code}: ${n}`);
  for (const r of s.rejected) lines.push(`  rejected ${r.name}: ${r.code} ${r.message}`);
  for (const r of s.notQueued) lines.push(`  not queued ${r.name}: ${r.status} ${r.message ?? ""}`);
  return lines.join("\n");
}
