import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gql, type Served, startServe } from "../helpers/cli.ts";
import { sseMessages } from "../helpers/graphql.ts";
import { type CorpusFile, hostileCorpus } from "../helpers/hostile.ts";
import { peakRssKiB } from "../helpers/proc.ts";

/** Heap limit of each parse thread (DOCFLEET_PARSE_HEAP_MB): past it a document fails TOO_LARGE. */
const PARSE_HEAP_MB = 512;
const PARSE_THREADS = 2;
/**
 * The serving process as a whole at its peak (VmHWM): about 1 GiB once ready (PGlite, tsx, the gateway),
 * plus per parse thread its heap limit and 256 MiB of what lives outside V8's heap (ArrayBuffers of
 * inflated parts, decoded pixels, the OCR thread). Measured on this corpus: 2.0 to 2.2 GiB.
 */
const PROCESS_BOUND_KIB = (1024 + PARSE_THREADS * (PARSE_HEAP_MB + 256)) * 1024; // 2.5 GiB

const REQUEST_UPLOADS = `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
  name status code message documentId target { url fields { name value } } } }`;

interface UploadResult {
  name: string;
  status: "UPLOAD" | "DUPLICATE" | "REJECTED";
  code: string | null;
  message: string | null;
  documentId: string | null;
  target: { url: string; fields: { name: string; value: string }[] } | null;
}

interface Doc {
  id: string;
  name: string;
  status: string;
  stage: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  detectedType: string | null;
  text: string | null;
}

async function sha256Of(f: CorpusFile): Promise<string> {
  const hash = createHash("sha256");
  if (f.bytes) return hash.update(f.bytes).digest("hex");
  for await (const chunk of createReadStream(f.path!)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function createBatch(url: string, name: string): Promise<string> {
  const { createBatch } = await gql<{ createBatch: { id: string } }>(
    url,
    "mutation($n: String!) { createBatch(input: { name: $n }) { id } }",
    { n: name },
  );
  return createBatch.id;
}

async function requestUploads(
  url: string,
  batchId: string,
  files: { name: string; size: number; sha256: string }[],
): Promise<UploadResult[]> {
  return (await gql<{ requestUploads: UploadResult[] }>(url, REQUEST_UPLOADS, { b: batchId, f: files }))
    .requestUploads;
}

/** POSTs `bytes` to an upload target as a browser form would; answers the HTTP status. */
async function post(target: NonNullable<UploadResult["target"]>, bytes: Buffer): Promise<number> {
  const form = new FormData();
  for (const f of target.fields) form.append(f.name, f.value);
  form.append("file", new Blob([new Uint8Array(bytes)]), "file");
  const res = await fetch(target.url, { method: "POST", body: form });
  await res.body?.cancel();
  return res.status;
}

/** Waits for the batch's progress subscription (GraphQL over SSE) to say it is finished. */
async function finished(
  url: string,
  batchId: string,
): Promise<{ total: number; completed: number; failed: number }> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({
      query: `subscription($id: ID!) { batchProgress(id: $id) { finished counts { total completed failed } } }`,
      variables: { id: batchId },
    }),
  });
  type Message = { finished: boolean; counts: { total: number; completed: number; failed: number } };
  for await (const msg of sseMessages<{ data?: { batchProgress: Message }; errors?: unknown }>(res)) {
    if (msg.errors) throw new Error(JSON.stringify(msg.errors));
    if (msg.data?.batchProgress.finished) return msg.data.batchProgress.counts;
  }
  throw new Error("the progress stream ended before the batch finished");
}

async function batchDocuments(url: string, batchId: string): Promise<Doc[]> {
  const { batch } = await gql<{ batch: { documents: { edges: { node: Doc }[] } } }>(
    url,
    `query($id: ID!) { batch(id: $id) { documents(first: 100) { edges { node {
      id name status stage errorCode errorMessage detectedType text } } } } }`,
    { id: batchId },
  );
  return batch.documents.edges.map((e) => e.node);
}

/** Generated hostile files mixed with ordinary ones, through the real API of `docfleet serve`. */
describe("hostile corpus", () => {
  let dir: string;
  let server: Served;
  let corpus: CorpusFile[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-hostile-"));
    corpus = await hostileCorpus(dir);
    server = await startServe(join(dir, "data"), {
      // The files are the attack here, not the caller: requests without a key, by explicit opt-in.
      DOCFLEET_ALLOW_ANONYMOUS: "true",
      DOCFLEET_PARSE_THREADS: String(PARSE_THREADS),
      DOCFLEET_PARSE_HEAP_MB: String(PARSE_HEAP_MB),
    });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("fails every hostile file with its code, completes the good ones, within the memory bound", async () => {
    const url = server.url;
    const batchId = await createBatch(url, "hostile");
    const requested = await Promise.all(
      corpus.map(async (f) => ({ name: f.name, size: f.size, sha256: await sha256Of(f) })),
    );
    const answers = await requestUploads(url, batchId, requested);
    expect(answers).toHaveLength(corpus.length);

    // Refused at request time get no target: not one of their bytes is ever sent.
    const uploads: { file: CorpusFile; id: string }[] = [];
    for (const [i, file] of corpus.entries()) {
      const a = answers[i]!;
      if (file.expect.at === "request") {
        expect({ name: file.name, status: a.status, code: a.code, target: a.target }).toEqual({
          name: file.name,
          status: "REJECTED",
          code: file.expect.code,
          target: null,
        });
        continue;
      }
      expect({ name: file.name, status: a.status }).toEqual({ name: file.name, status: "UPLOAD" });
      expect(await post(a.target!, file.bytes!)).toBe(204);
      uploads.push({ file, id: a.documentId! });
    }
    const { completeUploads } = await gql<{ completeUploads: { status: string }[] }>(
      url,
      "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }",
      { ids: uploads.map((u) => u.id) },
    );
    expect(completeUploads.map((c) => c.status)).toEqual(uploads.map(() => "QUEUED"));

    const counts = await finished(url, batchId);
    const docs = new Map((await batchDocuments(url, batchId)).map((d) => [d.id, d]));
    // Nothing but the uploaded files became documents (a refused name never reached the database).
    expect(docs.size).toBe(uploads.length);

    const table = corpus.map((file, i) => {
      const upload = uploads.find((u) => u.file === file);
      const doc = upload && docs.get(upload.id);
      const expected =
        file.expect.at === "request"
          ? `REJECTED ${file.expect.code}`
          : file.expect.status === "FAILED"
            ? `FAILED ${file.expect.code}`
            : `COMPLETED ${file.expect.detectedType}`;
      const observed = doc
        ? `${doc.status} ${doc.status === "FAILED" ? doc.errorCode : doc.detectedType}`
        : `${answers[i]!.status} ${answers[i]!.code}`;
      return { name: JSON.stringify(file.name), expected, observed, why: file.why };
    });
    console.table(table);

    for (const { file, id } of uploads) {
      const doc = docs.get(id)!;
      const e = file.expect;
      if (e.at !== "pipeline") continue;
      if (e.status === "FAILED") {
        expect({ name: file.name, status: doc.status, code: doc.errorCode }).toEqual({
          name: file.name,
          status: "FAILED",
          code: e.code,
        });
        expect(doc.errorMessage, file.name).toMatch(e.message ?? /./);
        // Messages quote the file (a zip entry name with NUL): stored without what PostgreSQL refuses.
        expect(doc.errorMessage!.includes("\u0000"), file.name).toBe(false);
      } else {
        expect({ name: file.name, status: doc.status, type: doc.detectedType }).toEqual({
          name: file.name,
          status: "COMPLETED",
          type: e.detectedType,
        });
        expect(doc.text, file.name).toMatch(e.text);
      }
    }
    // No document stuck: every one ended COMPLETED or FAILED, and the counters agree.
    const good = uploads.filter(
      (u) => u.file.expect.at === "pipeline" && u.file.expect.status === "COMPLETED",
    );
    expect(counts).toEqual({
      total: uploads.length,
      completed: good.length,
      failed: uploads.length - good.length,
    });
    expect([...docs.values()].filter((d) => d.status !== "COMPLETED" && d.status !== "FAILED")).toEqual([]);

    // Names never became paths: the store holds only `<tenant>/<uploaded document id>/<artifact>`.
    const ids = new Set(uploads.map((u) => u.id));
    const stored = (await readdir(join(dir, "data", "objects"), { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(join(dir, "data", "objects").length + 1));
    const strays = stored.filter((path) => {
      // The local store's own bookkeeping mirrors the same keys: content types (.types/), sealed
      // upload keys (.<artifact>.sealed beside the artifact; .sealed/ in earlier versions); they
      // follow the same rule.
      const p = path.replace(/^\.(types|sealed)\//, "");
      const [, id, stored, ...rest] = p.split("/");
      const artifact = stored!.replace(/^\.(.+)\.sealed$/, "$1");
      return !(
        ids.has(id!) &&
        rest.length === 0 &&
        /^(original|upload|text\.txt|chunks\.json|words\.json|page-\d+\.jpg|thumbnail\.webp)$/.test(artifact!)
      );
    });
    expect(strays).toEqual([]);
    // A download is named by the last segment of the document's name, percent-encoded.
    const readme = uploads.find((u) => u.file.name === "good/readme ünïcödé.md")!;
    const { document } = await gql<{ document: { downloadUrl: string } }>(
      url,
      "query($id: ID!) { document(id: $id) { downloadUrl } }",
      { id: readme.id },
    );
    const download = await fetch(document.downloadUrl);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-disposition")).toBe(
      `attachment; filename*=UTF-8''${encodeURIComponent("readme ünïcödé.md")}`,
    );
    expect(Buffer.from(await download.arrayBuffer()).equals(readme.file.bytes!)).toBe(true);
    // The name is part of the signature: another one is refused.
    const renamed = new URL(document.downloadUrl);
    renamed.searchParams.set("name", "invoice.exe");
    expect((await fetch(renamed)).status).toBe(403);
    // `downloadUrl(inline: true)`: a PDF opens in the browser's viewer; a type that is not shown without
    // running or parsing markup (markdown here) stays an attachment whatever is asked.
    const paper = uploads.find((u) => u.file.name === "good/paper.pdf")!;
    const previews = await gql<{ pdf: { downloadUrl: string }; md: { downloadUrl: string } }>(
      url,
      "query($pdf: ID!, $md: ID!) { pdf: document(id: $pdf) { downloadUrl(inline: true) } md: document(id: $md) { downloadUrl(inline: true) } }",
      { pdf: paper.id, md: readme.id },
    );
    const pdfPreview = await fetch(previews.pdf.downloadUrl);
    expect(pdfPreview.status).toBe(200);
    expect(pdfPreview.headers.get("content-disposition")).toBe("inline; filename*=UTF-8''paper.pdf");
    expect(pdfPreview.headers.get("content-type")).toBe("application/pdf");
    expect((await fetch(previews.md.downloadUrl)).headers.get("content-disposition")).toMatch(/^attachment;/);

    const peak = await peakRssKiB(server.child.pid!);
    console.log(
      `peak RSS of docfleet serve: ${(peak / 1024).toFixed(0)} MiB (bound ${PROCESS_BOUND_KIB / 1024} MiB; ` +
        `${PARSE_THREADS} parse threads × ${PARSE_HEAP_MB} MiB heap)`,
    );
    expect(peak).toBeLessThan(PROCESS_BOUND_KIB);
    expect(server.child.exitCode).toBeNull();
    expect((await fetch(`${url}/ready`)).status).toBe(200);
  }, 300_000);

  it("enforces the signed policy in the store: no more bytes than announced", async () => {
    const url = server.url;
    const batchId = await createBatch(url, "liar");
    const bytes = Buffer.alloc(64 * 1024, "a");
    // Announces 16 bytes, then sends 64 KiB: the store refuses past the signed maximum.
    const [answer] = await requestUploads(url, batchId, [
      { name: "liar.txt", size: 16, sha256: createHash("sha256").update(bytes).digest("hex") },
    ]);
    expect(answer).toMatchObject({ status: "UPLOAD" });
    expect(await post(answer!.target!, bytes)).toBe(413);
    // A tampered policy (a larger maximum) breaks the signature.
    const forged = {
      ...answer!.target!,
      fields: answer!.target!.fields.map((f) => (f.name === "maxSize" ? { ...f, value: "1000000" } : f)),
    };
    expect(await post(forged, bytes)).toBe(403);
    const { completeUploads } = await gql<{ completeUploads: { status: string }[] }>(
      url,
      "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }",
      { ids: [answer!.documentId] },
    );
    expect(completeUploads[0]!.status).toBe("NOT_UPLOADED");
    expect(await readdir(join(dir, "data", "objects", ".tmp"))).toEqual([]);
  });

  it("refuses names that are paths, control sequences or invalid Unicode, and keeps ordinary ones", async () => {
    const url = server.url;
    const batchId = await createBatch(url, "names");
    const cases: [string, string][] = [
      ["", "INVALID_NAME"],
      ["   ", "INVALID_NAME"],
      ["x".repeat(1025), "INVALID_NAME"],
      ["a\nb.txt", "INVALID_NAME"],
      ["tab\tname.txt", "INVALID_NAME"],
      ["\u001b[2Jclear.txt", "INVALID_NAME"],
      ["invoice\u202efdp.exe", "INVALID_NAME"],
      ["lone-low-\udc00.txt", "INVALID_NAME"],
      ["a/../../b.txt", "INVALID_NAME"],
      ["C:\\Windows\\win.ini", "INVALID_NAME"],
      ["\\\\server\\share\\x.txt", "INVALID_NAME"],
      ["a/b/c.txt", "UPLOAD"],
      ["Été 2024/facture n°5 — copie.txt", "UPLOAD"],
      ["契約書 📄.txt", "UPLOAD"],
      ["..hidden..txt", "UPLOAD"],
      ["x".repeat(1024), "UPLOAD"],
    ];
    const answers = await requestUploads(
      url,
      batchId,
      cases.map(([name], i) => ({
        name,
        size: 10,
        sha256: createHash("sha256").update(`name case ${i}`).digest("hex"),
      })),
    );
    expect(answers.map((a, i) => [cases[i]![0], a.code ?? a.status])).toEqual(cases);
    // The document keeps the name as given: a label.
    const unicode = answers[12]!;
    const { document } = await gql<{ document: { name: string } }>(
      url,
      "query($id: ID!) { document(id: $id) { name } }",
      { id: unicode.documentId },
    );
    expect(document.name).toBe("Été 2024/facture n°5 — copie.txt");
  });
});
