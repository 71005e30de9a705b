/**
 * Issue 15's upload attacks (holes 5 and 8), rerun against a running docfleet with their figures.
 *
 *   node --import tsx tests/bench/upload-attacks.ts [local|radosgw]
 *
 * docfleet runs in this process (tests/helpers/system.ts: gateway, every worker role, PGlite, memory
 * queue), on the local store or, with `radosgw` and RGW_URL set (.ci/rgw-start.sh), on a radosgw
 * bucket. An attacker holding an upload key:
 * 1. a 6 MiB document, then 600 MB sent to its second part URL (1 MiB in the cut) and to its POST target:
 *    the answer, the time to it, the bytes the client got to send, the bytes kept in the store;
 * 2. a document uploaded, completed and processed, then its target used again with other bytes of
 *    the same size: the answer, and whether the download still gives the processed bytes;
 * 3. a document whose bytes do not match its declared sha256: its end state, and what requestUploads
 *    answers next for that sha256 (a DUPLICATE would be a poisoned dedupe).
 * Prints one line per figure; exits 1 when an attack got through.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { gql } from "../helpers/cli.ts";
import { RGW, removeRgwBucket, rgwBucketName } from "../helpers/rgw.ts";
import { inProcessSystem, perStage } from "../helpers/system.ts";

const MiB = 1024 * 1024;
const ATTACK_BYTES = 600 * 1000 * 1000;
const kind = process.argv[2] ?? "local";
if (kind !== "local" && kind !== "radosgw") throw new Error("usage: upload-attacks.ts [local|radosgw]");
if (kind === "radosgw" && !RGW) throw new Error("radosgw: set RGW_URL (.ci/rgw-start.sh DIR)");

const dir = await mkdtemp(join(tmpdir(), "docfleet-attacks-"));
const bucket = rgwBucketName("attacks");
const env: Record<string, string> =
  kind === "radosgw"
    ? {
        S3_ENDPOINT: RGW!.url,
        S3_ACCESS_KEY: RGW!.accessKey,
        S3_SECRET_KEY: RGW!.secretKey,
        S3_BUCKET: bucket,
      }
    : {};
const system = await inProcessSystem(dir, {
  env,
  worker: { roles: ["PARSE", "UNDERSTAND", "EMBED", "INDEX"], concurrency: perStage(2) },
});
const url = system.url;
let breached = false;
const report = (line: string) => console.log(line);

type Target = { url: string; fields: { name: string; value: string }[] };
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function request(batchId: string, name: string, size: number, sha256: string) {
  const { requestUploads } = await gql<{
    requestUploads: { status: string; documentId: string; target: Target | null }[];
  }>(
    url,
    `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status documentId target { url fields { name value } } } }`,
    { b: batchId, f: [{ name, size, sha256 }] },
  );
  return requestUploads[0]!;
}

/** A body of `total` bytes made as it is pulled; `sent()` says how many the client handed over. */
function generated(total: number) {
  let pulled = 0;
  const chunk = Buffer.alloc(MiB, 0x61);
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (pulled >= total) return c.close();
      const n = Math.min(chunk.length, total - pulled);
      pulled += n;
      c.enqueue(new Uint8Array(chunk.subarray(0, n)));
    },
  });
  return { body, sent: () => pulled };
}

/**
 * As curl sends it: a Content-Length announcing `total` file bytes, then the bytes as fast as the
 * server takes them (node:http, so the count is what the socket accepted). S3 servers want the length.
 */
function sendSized(method: "PUT" | "POST", to: string, total: number, form?: Target) {
  const t0 = performance.now();
  const boundary = `----attack${randomBytes(8).toString("hex")}`;
  const head = form
    ? Buffer.from(
        `${form.fields.map((f) => `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"\r\n\r\n${f.value}\r\n`).join("")}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      )
    : Buffer.alloc(0);
  const tail = form ? Buffer.from(`\r\n--${boundary}--\r\n`) : Buffer.alloc(0);
  const u = new URL(to);
  return new Promise<{ status: number; etag: string; ms: number; sentMB: number }>((resolve) => {
    let sent = 0;
    let answered: { status: number; etag: string } | undefined;
    const done = () =>
      resolve({
        status: answered?.status ?? -1,
        etag: answered?.etag ?? "",
        ms: Math.round(performance.now() - t0),
        sentMB: Math.round(sent / 1e6),
      });
    const req = httpRequest(
      {
        method,
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        headers: {
          "content-length": head.length + total + tail.length,
          ...(form ? { "content-type": `multipart/form-data; boundary=${boundary}` } : {}),
        },
      },
      (res) => {
        answered = { status: res.statusCode ?? 0, etag: String(res.headers.etag ?? "") };
        res.resume();
        res.on("end", () => {
          req.destroy();
          done();
        });
      },
    );
    req.on("error", () => done());
    const chunk = Buffer.alloc(MiB, 0x61);
    const write = () => {
      while (!answered && sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!req.write(chunk.subarray(0, n))) return void req.once("drain", write);
      }
      if (!answered) req.end(tail);
    };
    req.write(head);
    write();
  });
}

/** Sends `total` bytes: answer status, ms to the answer, MB the client handed to the socket. */
async function send(method: "PUT" | "POST", to: string, total: number, form?: Target) {
  const t0 = performance.now();
  let status = 0;
  let sent = 0;
  let etag = "";
  try {
    if (method === "PUT") {
      const g = generated(total);
      const res = await fetch(to, { method, body: g.body, duplex: "half" } as RequestInit);
      status = res.status;
      etag = res.headers.get("etag") ?? "";
      await res.arrayBuffer().catch(() => {});
      sent = g.sent();
    } else {
      // a multipart/form-data body by hand: the policy fields, then a file of `total` bytes, streamed
      const boundary = `----attack${randomBytes(8).toString("hex")}`;
      const head = Buffer.from(
        `${form!.fields.map((f) => `--${boundary}\r\nContent-Disposition: form-data; name="${f.name}"\r\n\r\n${f.value}\r\n`).join("")}--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      const g = generated(total);
      const reader = g.body.getReader();
      let stage = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (stage === 0) {
            stage = 1;
            return c.enqueue(new Uint8Array(head));
          }
          if (stage === 1) {
            const r = await reader.read();
            if (!r.done) return c.enqueue(r.value);
            stage = 2;
          }
          if (stage === 2) {
            stage = 3;
            return c.enqueue(new Uint8Array(tail));
          }
          c.close();
        },
      });
      const res = await fetch(to, {
        method,
        body,
        duplex: "half",
        headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      } as RequestInit);
      status = res.status;
      await res.arrayBuffer().catch(() => {});
      sent = g.sent();
    }
  } catch (err) {
    status = -1;
    report(`  (client error: ${(err as Error).message} ${(err as { cause?: Error }).cause?.message ?? ""})`);
  }
  return { status, etag, ms: Math.round(performance.now() - t0), sentMB: Math.round(sent / 1e6) };
}

/** Bytes under the local store's folder (objects, parts, temporary files). */
async function storeBytes(): Promise<number> {
  if (kind !== "local") return Number.NaN;
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else total += (await stat(p)).size;
    }
  };
  await walk(join(dir, "objects"));
  return total;
}

async function waitFor(documentId: string, done: (s: string) => boolean) {
  for (;;) {
    const { document } = await gql<{
      document: { status: string; errorCode: string | null; downloadUrl: string };
    }>(url, "query($id: ID!) { document(id: $id) { status errorCode downloadUrl } }", { id: documentId });
    if (done(document.status)) return document;
    await new Promise((r) => setTimeout(r, 100));
  }
}

try {
  const { createBatch } = await gql<{ createBatch: { id: string } }>(
    url,
    'mutation { createBatch(input: { name: "attacks" }) { id } }',
  );
  const batchId = createBatch.id;
  report(`store: ${kind}`);

  // 1. 600 MB for a 6 MiB document
  const six = randomBytes(6 * MiB);
  const doc = await request(batchId, "six.bin", six.length, sha(six));
  const { startMultipartUpload: mp } = await gql<{
    startMultipartUpload: { uploadId: string; parts: { partNumber: number; url: string }[] };
  }>(
    url,
    "mutation($d: ID!) { startMultipartUpload(documentId: $d, partSize: 5242880) { uploadId parts { partNumber url } } }",
    {
      d: doc.documentId,
    },
  );
  const before = await storeBytes();
  const chunked = kind === "local" ? await send("PUT", mp.parts[1]!.url, ATTACK_BYTES) : undefined;
  if (chunked)
    report(
      `1a. 600 MB PUT, chunked (no length), to part 2 of a 6 MiB document (1 MiB in the cut): HTTP ${chunked.status} after ${chunked.ms} ms, client sent ${chunked.sentMB} MB`,
    );
  const part = await sendSized("PUT", mp.parts[1]!.url, ATTACK_BYTES);
  const afterPart = await storeBytes();
  report(
    `1a. 600 MB PUT with Content-Length to part 2 of a 6 MiB document (1 MiB in the cut): HTTP ${part.status} after ${part.ms} ms, client sent ${part.sentMB} MB, store grew ${kind === "local" ? `${Math.round((afterPart - before) / 1e6)} MB` : "(see completion)"}`,
  );
  if (kind === "radosgw" && part.status === 200) {
    // S3 took the part (its URL cannot bind a size): docfleet's completion must refuse the object
    const first = await fetch(mp.parts[0]!.url, {
      method: "PUT",
      body: new Uint8Array(six.subarray(0, 5 * MiB)),
    });
    await first.arrayBuffer();
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query:
          "mutation($d: ID!, $u: String!, $p: [PartInput!]!) { completeMultipartUpload(documentId: $d, uploadId: $u, parts: $p) }",
        variables: {
          d: doc.documentId,
          u: mp.uploadId,
          p: [
            { partNumber: 1, etag: first.headers.get("etag") },
            { partNumber: 2, etag: part.etag },
          ],
        },
      }),
    });
    const answer = (await res.json()) as { errors?: { message: string; extensions?: { code?: string } }[] };
    const stored = await system.deps.store.stat(`${doc.target!.fields.find((f) => f.name === "key")!.value}`);
    report(
      `    completion of those parts: ${answer.errors?.[0]?.extensions?.code ?? "accepted"} (${answer.errors?.[0]?.message ?? ""}); object left: ${stored ? `${stored.size} bytes` : "none"}`,
    );
    if (!answer.errors || stored) breached = true;
  } else if (part.status < 400) breached = true;
  const chunkedPost =
    kind === "local" ? await send("POST", doc.target!.url, ATTACK_BYTES, doc.target!) : undefined;
  if (chunkedPost)
    report(
      `1b. 600 MB POST, chunked, to the 6 MiB document's target: HTTP ${chunkedPost.status} after ${chunkedPost.ms} ms, client sent ${chunkedPost.sentMB} MB`,
    );
  if (chunkedPost && chunkedPost.status >= 0 && chunkedPost.status < 400) breached = true;
  const post = await sendSized("POST", doc.target!.url, ATTACK_BYTES, doc.target!);
  const afterPost = await storeBytes();
  report(
    `1b. 600 MB POST with Content-Length to the 6 MiB document's target: HTTP ${post.status} after ${post.ms} ms, client sent ${post.sentMB} MB, store grew ${kind === "local" ? `${Math.round((afterPost - afterPart) / 1e6)} MB` : "n/a"}`,
  );
  if (post.status >= 0 && post.status < 400) breached = true;

  // 2. the target of a completed, processed document used again
  const genuine = Buffer.from(`genuine bytes ${randomBytes(8).toString("hex")}\n`);
  const swap = Buffer.from(`swapped bytes ${randomBytes(8).toString("hex")}\n`);
  const g = await request(batchId, "genuine.txt", genuine.length, sha(genuine));
  const postForm = async (t: Target, bytes: Buffer) => {
    const form = new FormData();
    for (const f of t.fields) form.append(f.name, f.value);
    form.append("file", new Blob([new Uint8Array(bytes)]), "f");
    const res = await fetch(t.url, { method: "POST", body: form });
    return { status: res.status, text: await res.text() };
  };
  await postForm(g.target!, genuine);
  await gql(url, "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }", {
    ids: [g.documentId],
  });
  const processed = await waitFor(g.documentId, (s) => s === "COMPLETED" || s === "FAILED");
  const reuse = await postForm(g.target!, swap);
  const served = Buffer.from(await (await fetch(processed.downloadUrl)).arrayBuffer());
  const intact = served.equals(genuine);
  report(
    `2.  reuse of a completed target (document ${processed.status}): HTTP ${reuse.status} ${/<Code>(\w+)/.exec(reuse.text)?.[1] ?? ""}; download ${intact ? "still the processed bytes" : "SWAPPED"}`,
  );
  if (!intact) breached = true;

  // 3. bytes that do not match the declared sha256
  const declared = Buffer.from(`the file everyone has ${randomBytes(4).toString("hex")}`);
  const poison = Buffer.from("a poisoned replacement".padEnd(declared.length, "!"));
  const p = await request(batchId, "poison.txt", declared.length, sha(declared));
  const posted = await postForm(p.target!, poison);
  const { completeUploads } = await gql<{ completeUploads: { status: string }[] }>(
    url,
    "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }",
    { ids: [p.documentId] },
  );
  if (completeUploads[0]?.status !== "QUEUED")
    throw new Error(
      `the poisoned upload was not queued: HTTP ${posted.status}, ${completeUploads[0]?.status}`,
    );
  const end = await waitFor(p.documentId, (s) => s === "COMPLETED" || s === "FAILED");
  const next = await request(batchId, "genuine-again.txt", declared.length, sha(declared));
  report(
    `3.  wrong sha256: document ${end.status} ${end.errorCode ?? ""}; requestUploads of the declared sha256 next: ${next.status}${next.documentId === p.documentId ? " (the poisoned document)" : ""}`,
  );
  if (end.status !== "FAILED" || next.status === "DUPLICATE") breached = true;
  report(
    `peak RSS of this process (docfleet + the client): ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`,
  );
} finally {
  await system.stop();
  await rm(dir, { recursive: true, force: true });
  if (kind === "radosgw") await removeRgwBucket(RGW!, bucket).catch(() => {});
}
process.exit(breached ? 1 : 0);
