import { randomUUID } from "node:crypto";
import { describe, expect, vi } from "vitest";
import { objectKeys } from "../domain/context.ts";
import { RequestError } from "../domain/errors.ts";
import { EventType, stageMessage } from "../domain/messages.ts";
import type { PipelineEvent } from "../ports/event-bus.ts";
import type { ObjectStore } from "../ports/object-store.ts";
import { createServices } from "./index.ts";
import type { FileRequest } from "./intake.ts";
import { counters, createTenant, outboxFor, sha256, serviceTest as test } from "./test-resources.ts";

const file = (content: string, name = `${content}.txt`): FileRequest => ({
  name,
  size: Buffer.byteLength(content),
  sha256: sha256(content),
  contentType: "text/plain",
});

/** Rejects with a RequestError of this code. */
async function expectRequestError(p: Promise<unknown>, code: RequestError["code"], message?: RegExp) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RequestError);
  expect((err as RequestError).code).toBe(code);
  if (message) expect((err as RequestError).message).toMatch(message);
}

describe("IntakeService.createBatch", () => {
  test("trims the name and keeps the chosen categories as the batch's options", async ({ env, tenantId }) => {
    const { intake } = env.services();
    const batch = await intake.createBatch(tenantId, {
      name: "  march  ",
      categories: ["invoice", "receipt"],
    });
    expect(batch).toMatchObject({ tenantId, name: "march", options: { categories: ["invoice", "receipt"] } });
    const plain = await intake.createBatch(tenantId, { name: "april" });
    expect(plain.options).toEqual({});
  });

  test("refuses an empty or over-long name and unknown categories (BAD_REQUEST)", async ({
    env,
    tenantId,
  }) => {
    const { intake } = env.services();
    await expectRequestError(intake.createBatch(tenantId, { name: "   " }), "BAD_REQUEST", /1 to 200/);
    await expectRequestError(
      intake.createBatch(tenantId, { name: "x".repeat(201) }),
      "BAD_REQUEST",
      /1 to 200/,
    );
    await expect(intake.createBatch(tenantId, { name: "x".repeat(200) })).resolves.toBeTruthy();
    await expectRequestError(
      intake.createBatch(tenantId, { name: "b", categories: ["invoice", "nonsense", "also_not"] }),
      "BAD_REQUEST",
      /unknown categories: nonsense, also_not$/,
    );
    expect(await env.prisma.batch.count({ where: { tenantId } })).toBe(1);
  });
});

describe("IntakeService.requestUploads", () => {
  test("registers a new file as PENDING_UPLOAD with a signed target for its own key", async ({
    env,
    tenantId,
  }) => {
    const { intake } = env.services();
    const batch = await intake.createBatch(tenantId, { name: "b" });
    const [out] = await intake.requestUploads(tenantId, batch.id, [file("hello")]);
    expect(out?.status).toBe("UPLOAD");
    if (out?.status !== "UPLOAD") return;
    expect(out.document).toMatchObject({
      tenantId,
      batchId: batch.id,
      name: "hello.txt",
      size: 5,
      status: "PENDING_UPLOAD",
      objectKey: `${tenantId}/${out.document.id}/original`,
    });
    expect(out.target.url).toMatch(/^http:\/\/127\.0\.0\.1:9\//);
    expect(out.target.expiresAt.getTime()).toBeGreaterThan(Date.now());
    const stored = await env.prisma.document.findUniqueOrThrow({ where: { id: out.document.id } });
    expect(stored.status).toBe("PENDING_UPLOAD");
    expect(await counters(env.prisma, batch.id)).toMatchObject({ total: 1, pendingUpload: 1, queued: 0 });
    const events = await env.prisma.event.findMany({ where: { batchId: batch.id } });
    expect(events).toMatchObject([{ type: EventType.DOCUMENTS_REQUESTED, documentId: null, seq: 1 }]);
  });

  test("answers DUPLICATE for content the tenant holds, a fresh target while it is still pending", async ({
    env,
    tenantId,
  }) => {
    const { intake } = env.services();
    const batch = await intake.createBatch(tenantId, { name: "b" });
    // The same content twice in one request: one upload, one duplicate.
    const first = await intake.requestUploads(tenantId, batch.id, [
      file("same", "a.txt"),
      file("same", "b.txt"),
    ]);
    expect(first.map((o) => o.status)).toEqual(["UPLOAD", "DUPLICATE"]);
    const id = first[0]!.status === "UPLOAD" ? first[0]!.document.id : "";
    expect(first[1]!.status === "DUPLICATE" && first[1]!.document.id).toBe(id);

    // Asked again before the bytes came: the same document, a new target.
    const again = await intake.requestUploads(tenantId, batch.id, [file("same", "c.txt")]);
    expect(again).toMatchObject([{ status: "UPLOAD", document: { id } }]);

    // Uploaded and queued: a duplicate from now on, in any batch of the tenant.
    await env.deps.store.put(`${tenantId}/${id}/original`, "same");
    await intake.completeUploads(tenantId, [id]);
    const other = await intake.createBatch(tenantId, { name: "other" });
    const dup = await intake.requestUploads(tenantId, other.id, [file("same", "d.txt")]);
    expect(dup).toMatchObject([{ status: "DUPLICATE", document: { id, status: "QUEUED" } }]);
    expect(await env.prisma.document.count({ where: { tenantId } })).toBe(1);
    expect(await counters(env.prisma, other.id)).toMatchObject({ total: 0 });

    // Deduplication is per tenant: another tenant uploads the same content as a new document.
    const stranger = await createTenant(env.prisma);
    const theirs = await intake.createBatch(stranger, { name: "b" });
    const [up] = await intake.requestUploads(stranger, theirs.id, [file("same")]);
    expect(up?.status).toBe("UPLOAD");
    expect(up?.status === "UPLOAD" && up.document.id).not.toBe(id);
  });

  test("rejects bad names (INVALID_NAME), sizes over the limit (TOO_LARGE) and bad hashes, creating nothing for them", async ({
    env,
    tenantId,
  }) => {
    const { intake } = env.services();
    const batch = await intake.createBatch(tenantId, { name: "b" });
    const max = env.deps.settings.maxUploadBytes;
    const out = await intake.requestUploads(tenantId, batch.id, [
      { ...file("one"), name: "../etc/passwd" },
      { ...file("two"), name: "   " },
      { ...file("three"), size: max + 1 },
      { ...file("four"), sha256: "abc" },
      { ...file("five"), size: -1 },
      { ...file("six"), sha256: sha256("six").toUpperCase() },
    ]);
    expect(out.map((o) => (o.status === "REJECTED" ? o.code : o.status))).toEqual([
      "INVALID_NAME",
      "INVALID_NAME",
      "TOO_LARGE",
      "BAD_REQUEST",
      "BAD_REQUEST",
      "UPLOAD", // an upper-case hash is the same hash
    ]);
    expect(out[0]).toMatchObject({
      status: "REJECTED",
      name: "../etc/passwd",
      message: expect.stringMatching(/\.\./),
    });
    const six = out[5]!;
    expect(six.status === "UPLOAD" && six.document.sha256).toBe(sha256("six"));
    expect(await counters(env.prisma, batch.id)).toMatchObject({ total: 1, pendingUpload: 1 });
  });

  test("refuses another tenant's batch (NOT_FOUND) and more than 1000 files (BAD_REQUEST)", async ({
    env,
    tenantId,
  }) => {
    const { intake } = env.services();
    const stranger = await createTenant(env.prisma);
    const theirs = await intake.createBatch(stranger, { name: "theirs" });
    await expectRequestError(intake.requestUploads(tenantId, theirs.id, [file("x")]), "NOT_FOUND");
    await expectRequestError(intake.requestUploads(tenantId, "not-an-id", [file("x")]), "NOT_FOUND");
    const mine = await intake.createBatch(tenantId, { name: "mine" });
    const many = Array.from({ length: 1001 }, (_, i) => file(`f${i}`));
    await expectRequestError(intake.requestUploads(tenantId, mine.id, many), "BAD_REQUEST", /1000/);
    expect(await env.prisma.document.count({ where: { batchId: { in: [theirs.id, mine.id] } } })).toBe(0);
  });
});

describe("IntakeService.completeUploads", () => {
  test("queues uploaded documents with one outbox row each, calls the after-commit hook, and is idempotent", async ({
    env,
    tenantId,
  }) => {
    const afterCommit = vi.fn();
    const { intake } = env.services({ afterCommit });
    const published: PipelineEvent[] = [];
    const unsubscribe = env.deps.events.subscribe((e) => published.push(e));
    try {
      const batch = await intake.createBatch(tenantId, { name: "b" });
      const out = await intake.requestUploads(tenantId, batch.id, [
        file("alpha"),
        file("beta"),
        file("gamma"),
        file("delta"),
      ]);
      const [a, b, missing, wrongSize] = out.map((o) => (o.status === "UPLOAD" ? o.document : null));
      await env.deps.store.put(a!.objectKey, "alpha");
      await env.deps.store.put(b!.objectKey, "beta");
      await env.deps.store.put(wrongSize!.objectKey, "delta plus more");
      afterCommit.mockClear();

      const unknown = randomUUID();
      const res = await intake.completeUploads(tenantId, [a!.id, b!.id, missing!.id, wrongSize!.id, unknown]);
      expect(res).toMatchObject([
        { documentId: a!.id, status: "QUEUED" },
        { documentId: b!.id, status: "QUEUED" },
        { documentId: missing!.id, status: "NOT_UPLOADED" },
        { documentId: wrongSize!.id, status: "SIZE_MISMATCH", message: "uploaded 15 bytes, announced 5" },
        { documentId: unknown, status: "NOT_FOUND" },
      ]);
      expect(afterCommit).toHaveBeenCalled();

      for (const d of [a!, b!]) {
        expect(await env.prisma.document.findUniqueOrThrow({ where: { id: d.id } })).toMatchObject({
          status: "QUEUED",
          stage: "PARSE",
        });
        const rows = await outboxFor(env.prisma, d.id);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({
          topic: "docfleet.parse",
          sentAt: null,
          payload: stageMessage({ id: d.id, tenantId }, "PARSE"),
        });
      }
      for (const d of [missing!, wrongSize!]) {
        expect((await env.prisma.document.findUniqueOrThrow({ where: { id: d.id } })).status).toBe(
          "PENDING_UPLOAD",
        );
        expect(await outboxFor(env.prisma, d.id)).toHaveLength(0);
      }
      expect(await counters(env.prisma, batch.id)).toMatchObject({
        total: 4,
        pendingUpload: 2,
        queued: 2,
        atParse: 2,
        processing: 0,
      });
      const queued = published.filter((e) => e.type === EventType.DOCUMENT_QUEUED);
      expect(queued.map((e) => e.documentId).sort()).toEqual([a!.id, b!.id].sort());
      expect(queued.at(-1)?.payload).toMatchObject({
        status: "QUEUED",
        stage: "PARSE",
        batch: { queued: 2 },
      });

      // Again: nothing moves, no second outbox row, no transaction.
      afterCommit.mockClear();
      const twice = await intake.completeUploads(tenantId, [a!.id, b!.id]);
      expect(twice.map((o) => o.status)).toEqual(["ALREADY_QUEUED", "ALREADY_QUEUED"]);
      expect(afterCommit).not.toHaveBeenCalled();
      expect(await outboxFor(env.prisma, a!.id)).toHaveLength(1);
      expect(await counters(env.prisma, batch.id)).toMatchObject({ queued: 2, pendingUpload: 2 });
    } finally {
      unsubscribe();
    }
  });

  test("a store that holds upload sizes itself (S3) is not asked an upload's size: promoted unread, an absent upload NOT_UPLOADED", async ({
    env,
    tenantId,
  }) => {
    // The service env's local store, as S3 declares itself (ObjectStore.uploadSizesHeld), with its stats counted.
    const statted: string[] = [];
    const store = env.deps.store;
    const held: ObjectStore = new Proxy(store, {
      get(target, prop) {
        if (prop === "uploadSizesHeld") return true;
        if (prop === "stat")
          return (key: string) => {
            statted.push(key);
            return target.stat(key);
          };
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const { intake } = createServices({ ...env.deps, store: held });
    const batch = await intake.createBatch(tenantId, { name: "held" });
    const out = await intake.requestUploads(tenantId, batch.id, [file("one"), file("two")]);
    const [sent, missing] = out.map((o) => (o.status === "UPLOAD" ? o.document : null));
    await store.put(objectKeys.upload(tenantId, sent!.id), "one");
    expect(await intake.completeUploads(tenantId, [sent!.id, missing!.id])).toMatchObject([
      { documentId: sent!.id, status: "QUEUED" },
      { documentId: missing!.id, status: "NOT_UPLOADED" },
    ]);
    // No upload key was statted: only the absent one's original, after its promotion found nothing.
    expect(statted).toEqual([missing!.objectKey]);
    expect((await store.get(sent!.objectKey)).toString()).toBe("one");
    expect(await store.stat(objectKeys.upload(tenantId, sent!.id))).toBeNull();
  });

  test("never completes another tenant's document", async ({ env, tenantId }) => {
    const { intake } = env.services();
    const stranger = await createTenant(env.prisma);
    const theirs = await intake.createBatch(stranger, { name: "theirs" });
    const [out] = await intake.requestUploads(stranger, theirs.id, [file("secret")]);
    const doc = out?.status === "UPLOAD" ? out.document : null;
    await env.deps.store.put(doc!.objectKey, "secret");
    expect(await intake.completeUploads(tenantId, [doc!.id])).toEqual([
      { documentId: doc!.id, status: "NOT_FOUND" },
    ]);
    expect((await env.prisma.document.findUniqueOrThrow({ where: { id: doc!.id } })).status).toBe(
      "PENDING_UPLOAD",
    );
    await expectRequestError(
      intake.completeUploads(
        tenantId,
        Array.from({ length: 1001 }, () => doc!.id),
      ),
      "BAD_REQUEST",
    );
  });
});
