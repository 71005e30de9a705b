import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { objectKeys } from "../domain/context.ts";
import { FailureCode } from "../domain/errors.ts";
import { stageMessage } from "../domain/messages.ts";
import type { UploadTarget } from "../ports/object-store.ts";
import { sha256, serviceTest as test } from "./test-resources.ts";

// Issue 15, holes 5 and 8: what an upload target lets a client do, and what the pipeline believes of
// the bytes. The store's side (sizes per part, CORS, the closed target's 409) is in the object store
// contract (tests/contracts/object-store.contract.ts); this is the intake's and parse's.

let server: Server;
let base = "";
/** The service env's local store answers here (its signed URLs name another port: the path is what counts). */
let handler: Parameters<typeof createServer>[1] = (_req, res) => res.writeHead(503).end();
beforeAll(async () => {
  server = createServer((req, res) => handler!(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** POSTs `body` through `target` as a browser form does, to this file's server. */
async function post(target: UploadTarget, body: string | Buffer) {
  const form = new FormData();
  for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
  form.append("file", new Blob([new Uint8Array(Buffer.from(body))]), "f");
  const res = await fetch(`${base}${new URL(target.url).pathname}`, { method: "POST", body: form });
  return { status: res.status, text: await res.text() };
}

describe("upload targets (issue 15)", () => {
  test("bind the exact size and the declared type, and point at the upload key, not the original", async ({
    env,
    tenantId,
  }) => {
    const { intake } = env.services();
    const batch = await intake.createBatch(tenantId, { name: "signed" });
    const content = "%PDF-1.7 exact";
    const [out, blank, bad] = await intake.requestUploads(tenantId, batch.id, [
      { name: "a.pdf", size: content.length, sha256: sha256(content), contentType: "application/pdf" },
      { name: "b.bin", size: 3, sha256: sha256("b"), contentType: "" },
      { name: "c.bin", size: 3, sha256: sha256("c"), contentType: "text/html\r\nX-Evil: 1" },
    ]);
    expect(out?.status).toBe("UPLOAD");
    if (out?.status !== "UPLOAD") return;
    expect(out.target.fields).toMatchObject({
      key: objectKeys.upload(tenantId, out.document.id),
      minSize: String(content.length),
      maxSize: String(content.length),
      "Content-Type": "application/pdf",
    });
    expect(out.document.objectKey).toBe(objectKeys.original(tenantId, out.document.id));
    // a browser's unknown type is no type; a malformed one is refused before any target exists
    expect(blank?.status === "UPLOAD" && blank.target.fields["Content-Type"]).toBeUndefined();
    expect(bad).toMatchObject({ status: "REJECTED", code: "BAD_REQUEST" });
  });

  test("are single use: completion moves the bytes to the original; the same target is refused after", async ({
    env,
    tenantId,
  }) => {
    handler = (req, res) => void env.deps.store.handleHttp!(req, res);
    const { intake } = env.services();
    const batch = await intake.createBatch(tenantId, { name: "once" });
    const content = "the genuine bytes";
    const [out] = await intake.requestUploads(tenantId, batch.id, [
      { name: "g.txt", size: content.length, sha256: sha256(content), contentType: "text/plain" },
    ]);
    if (out?.status !== "UPLOAD") throw new Error(`expected UPLOAD, got ${out?.status}`);
    // a second request for the same file while it is pending: another target for the same document
    const [second] = await intake.requestUploads(tenantId, batch.id, [
      { name: "g.txt", size: content.length, sha256: sha256(content), contentType: "text/plain" },
    ]);
    if (second?.status !== "UPLOAD") throw new Error(`expected UPLOAD, got ${second?.status}`);
    // another size than announced: refused by the store, nothing kept
    expect((await post(out.target, `${content}!`)).status).toBe(413);
    expect((await post(out.target, content)).status).toBe(204);
    expect(await intake.completeUploads(tenantId, [out.document.id])).toEqual([
      { documentId: out.document.id, status: "QUEUED" },
    ]);
    const { objectKey } = out.document;
    expect(await env.deps.store.stat(objectKeys.upload(tenantId, out.document.id))).toBeNull();
    expect((await env.deps.store.get(objectKey)).toString()).toBe(content);
    // either target, used again with bytes of the same size: refused, the original unchanged
    const swap = "the swapped bytes";
    for (const t of [out.target, second.target]) {
      const again = await post(t, swap);
      expect(again.status).toBe(409);
      expect(again.text).toMatch(/<Code>UploadCompleted<\/Code>/);
    }
    expect((await env.deps.store.get(objectKey)).toString()).toBe(content);
    expect(await intake.completeUploads(tenantId, [out.document.id])).toEqual([
      { documentId: out.document.id, status: "ALREADY_QUEUED" },
    ]);
  });

  test("an upload of another size is deleted at completion (SIZE_MISMATCH) and can be sent again", async ({
    env,
    tenantId,
  }) => {
    const { intake } = env.services();
    const batch = await intake.createBatch(tenantId, { name: "size" });
    const content = "twelve bytes";
    const [out] = await intake.requestUploads(tenantId, batch.id, [
      { name: "s.txt", size: content.length, sha256: sha256(content) },
    ]);
    if (out?.status !== "UPLOAD") throw new Error("expected UPLOAD");
    const upload = objectKeys.upload(tenantId, out.document.id);
    // as an S3 multipart upload with a part of another size would leave it
    await env.deps.store.put(upload, "thirteen bytes");
    const [mismatch] = await intake.completeUploads(tenantId, [out.document.id]);
    expect(mismatch).toMatchObject({ status: "SIZE_MISMATCH", message: expect.stringMatching(/deleted/) });
    expect(await env.deps.store.stat(upload)).toBeNull();
    await env.deps.store.put(upload, content);
    expect((await intake.completeUploads(tenantId, [out.document.id]))[0]?.status).toBe("QUEUED");
  });

  test("multipart uploads go to the upload key too, and their parts are closed once completed", async ({
    env,
    tenantId,
  }) => {
    handler = (req, res) => void env.deps.store.handleHttp!(req, res);
    const { intake } = env.services();
    const batch = await intake.createBatch(tenantId, { name: "multi" });
    const content = "in one part";
    const [out] = await intake.requestUploads(tenantId, batch.id, [
      { name: "m.txt", size: content.length, sha256: sha256(content) },
    ]);
    if (out?.status !== "UPLOAD") throw new Error("expected UPLOAD");
    const mp = await intake.startMultipartUpload(tenantId, out.document.id);
    const partUrl = `${base}${new URL(mp.parts[0]!.url).pathname}${new URL(mp.parts[0]!.url).search}`;
    // more than the document announced: refused as soon as it passes
    const big = await fetch(partUrl, { method: "PUT", body: new Uint8Array(content.length + 1) });
    expect([big.status, await big.text()]).toEqual([413, expect.stringMatching(/EntityTooLarge/)]);
    const put = await fetch(partUrl, { method: "PUT", body: new Uint8Array(Buffer.from(content)) });
    expect(put.status).toBe(200);
    await intake.completeMultipartUpload(tenantId, out.document.id, mp.uploadId, [
      { partNumber: 1, etag: put.headers.get("etag")! },
    ]);
    expect(await env.deps.store.stat(objectKeys.upload(tenantId, out.document.id))).toEqual({
      size: content.length,
    });
    expect((await intake.completeUploads(tenantId, [out.document.id]))[0]?.status).toBe("QUEUED");
    const late = await fetch(partUrl, { method: "PUT", body: new Uint8Array(Buffer.from(content)) });
    expect(late.status).toBe(404);
    expect((await env.deps.store.get(out.document.objectKey)).toString()).toBe(content);
  });
});

describe("declared sha256 (issue 15, hole 8)", () => {
  test("bytes that do not match fail CHECKSUM_MISMATCH at parse and are never answered as a DUPLICATE", async ({
    env,
    tenantId,
  }) => {
    const services = env.services();
    const { intake } = services;
    const batch = await intake.createBatch(tenantId, { name: "poison" });
    const genuine = "the contract everyone signs";
    const poison = "a different text, same size";
    expect(poison.length).toBe(genuine.length);
    const [out] = await intake.requestUploads(tenantId, batch.id, [
      { name: "contract.txt", size: genuine.length, sha256: sha256(genuine) },
    ]);
    if (out?.status !== "UPLOAD") throw new Error("expected UPLOAD");
    await env.deps.store.put(objectKeys.upload(tenantId, out.document.id), poison);
    expect((await intake.completeUploads(tenantId, [out.document.id]))[0]?.status).toBe("QUEUED");
    await services.stages.processStage(stageMessage(out.document, "PARSE"), 1);
    const failed = await env.prisma.document.findUniqueOrThrow({ where: { id: out.document.id } });
    expect(failed).toMatchObject({ status: "FAILED", errorCode: FailureCode.CHECKSUM_MISMATCH });
    expect(failed.errorMessage).toContain(sha256(poison));
    // the genuine file is registered anew, not pointed at the poisoned document
    const [again] = await intake.requestUploads(tenantId, batch.id, [
      { name: "contract.txt", size: genuine.length, sha256: sha256(genuine) },
    ]);
    expect(again?.status).toBe("UPLOAD");
    expect(again?.status === "UPLOAD" && again.document.id).not.toBe(out.document.id);
  });

  test("matching bytes pass parse", async ({ env, tenantId }) => {
    const services = env.services();
    const { intake } = services;
    const batch = await intake.createBatch(tenantId, { name: "honest" });
    const text = "honest bytes for parse";
    const [out] = await intake.requestUploads(tenantId, batch.id, [
      { name: "h.txt", size: text.length, sha256: sha256(text) },
    ]);
    if (out?.status !== "UPLOAD") throw new Error("expected UPLOAD");
    await env.deps.store.put(objectKeys.upload(tenantId, out.document.id), text);
    await intake.completeUploads(tenantId, [out.document.id]);
    await services.stages.processStage(stageMessage(out.document, "PARSE"), 1);
    const doc = await env.prisma.document.findUniqueOrThrow({ where: { id: out.document.id } });
    expect(doc.errorCode).toBeNull();
    expect(doc.stage).not.toBe("PARSE");
  });
});
