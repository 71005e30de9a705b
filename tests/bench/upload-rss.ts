/**
 * Peak memory of `docfleet upload` against the number of files (issue 17 goal 4: "peak RSS flat at
 * 500K files"), with a stub gateway so that only the CLI's own state grows: the stub answers
 * createBatch, batch, requestUploads (every file UPLOAD, its target the stub's /objects/upload),
 * completeUploads (QUEUED) and the closing batch counts, and drops the bytes it is sent. No database, no store: what the run costs is
 * the CLI's walk, hashing, manifest, requests and bookkeeping.
 *
 *   node --import tsx tests/bench/upload-rss.ts <counts, e.g. 10000,100000,500000> [concurrency=16] [--dir D]
 *
 * Files of 16–80 bytes (memory does not depend on their size), 1,000 per folder, generated once per
 * count under D (default a temporary folder, removed at the end; a given D is kept and reused, so a
 * large tree is made once). The stub runs in this process; the CLI in its own, its peak RSS read by GNU
 * time (ru_maxrss). Prints one row per count: seconds, files/s, peak RSS, CPU.
 */
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/cli.ts";
import { runMeasured } from "../helpers/proc.ts";

const args = process.argv.slice(2);
const dirAt = args.indexOf("--dir");
const givenDir = dirAt >= 0 ? args[dirAt + 1] : undefined;
const positional = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--dir");
const COUNTS = (positional[0] ?? "10000,100000").split(",").map(Number);
const C = Number(positional[1] ?? 16);
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1) || !Number.isInteger(C) || C < 1) {
  console.error("usage: node --import tsx tests/bench/upload-rss.ts <n[,n...]> [concurrency] [--dir D]");
  process.exit(2);
}
const BIN = join(ROOT, "apps/cli/bin/docfleet.mjs");

/** The stub gateway: GraphQL by operation name, uploads dropped. */
function stubGateway() {
  let uploads = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url?.startsWith("/objects/")) {
        uploads++;
        res.writeHead(204).end();
        return;
      }
      const { query, variables } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        query: string;
        variables: Record<string, unknown>;
      };
      const op = /(?:mutation|query)\s+(\w+)/.exec(query)?.[1];
      let data: unknown;
      if (op === "CreateBatch") data = { createBatch: { id: randomUUID() } };
      else if (op === "CheckBatch") data = { batch: { id: variables.id } };
      else if (op === "BatchCounts") {
        // The CLI's closing summary: every file it sent, queued.
        const counts = { total: uploads, pendingUpload: 0, queued: uploads, processing: 0 };
        data = { batch: { counts: { ...counts, completed: 0, failed: 0, needsReview: 0, done: 0 } } };
      } else if (op === "RequestUploads") {
        const files = variables.files as { name: string }[];
        data = {
          requestUploads: files.map((f) => ({
            status: "UPLOAD",
            documentId: randomUUID(),
            batchId: variables.batchId,
            documentName: f.name,
            code: null,
            message: null,
            target: { url: `${url}/objects/upload`, fields: [{ name: "key", value: "k" }] },
          })),
        };
      } else if (op === "CompleteUploads") {
        data = {
          completeUploads: (variables.ids as string[]).map((id) => ({
            documentId: id,
            status: "QUEUED",
            message: null,
          })),
        };
      } else {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: [{ message: `the stub does not know ${op}` }] }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ data }));
    });
  });
  let url = "";
  return {
    listen: () =>
      new Promise<string>((r) =>
        server.listen(0, "127.0.0.1", () => {
          url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
          r(url);
        }),
      ),
    uploads: () => uploads,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

/** `n` small files, 1,000 per folder; kept when already complete (a `.complete` marker). */
async function generate(root: string, n: number): Promise<number> {
  const done = join(root, ".complete");
  if (await stat(done).catch(() => null)) return 0;
  const t0 = performance.now();
  for (let f = 0; f < Math.ceil(n / 1000); f++) {
    const dir = join(root, `d${f}`);
    await mkdir(dir, { recursive: true });
    const end = Math.min(n, (f + 1) * 1000);
    const writes: Promise<void>[] = [];
    for (let i = f * 1000; i < end; i++)
      writes.push(writeFile(join(dir, `f${i}.txt`), `file ${i} ${"x".repeat(i % 64)}\n`));
    await Promise.all(writes);
  }
  await writeFile(done, "");
  return (performance.now() - t0) / 1000;
}

const base = givenDir ?? (await mkdtemp(join(tmpdir(), "docfleet-uprss-")));
const stub = stubGateway();
const url = await stub.listen();
const rows: string[][] = [
  ["files", "generated s", "seconds", "files/s", "peak RSS MiB", "CPU s", "stub saw"],
];
let failed = false;
try {
  for (const n of COUNTS) {
    const docs = join(base, `files-${n}`);
    const gen = await generate(docs, n);
    const state = join(base, `state-${n}-${Date.now()}`);
    const before = stub.uploads();
    const m = await runMeasured(
      process.execPath,
      [BIN, "upload", docs, "--endpoint", url, "--no-wait", "--json", "--concurrency", String(C)],
      { env: { DOCFLEET_STATE_DIR: state } },
    );
    await rm(state, { recursive: true, force: true });
    let summary: { uploaded?: number } = {};
    try {
      summary = JSON.parse(m.stdout);
    } catch {
      // reported below
    }
    if (m.code !== 0 || summary.uploaded !== n) {
      failed = true;
      console.error(`${n} files: exit ${m.code}, ${m.stdout.slice(0, 500)} ${m.stderr.slice(-1500)}`);
    }
    rows.push([
      String(n),
      gen ? gen.toFixed(0) : "kept",
      m.seconds.toFixed(1),
      (n / m.seconds).toFixed(0),
      (m.peakRssKiB / 1024).toFixed(0),
      m.cpuSeconds.toFixed(1),
      String(stub.uploads() - before),
    ]);
  }
} finally {
  await stub.close();
  if (!givenDir) await rm(base, { recursive: true, force: true });
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(`\nupload RSS bench (stub gateway), ${new Date().toISOString()}, concurrency ${C}`);
for (const r of rows) console.log(r.map((c, i) => c.padStart(widths[i]!)).join("  "));
if (failed) process.exitCode = 1;
