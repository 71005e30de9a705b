import type { PrismaClient } from "@docfleet/schema";
import { describe, expect } from "vitest";
import { objectKeys } from "../domain/context.ts";
import { STAGES, type StageName, stageMessage } from "../domain/messages.ts";
import { STAGE_HANDLERS, type StageHandler } from "../stages/index.ts";
import { stageOutbox } from "./resources.ts";
import {
  counters,
  createTenant,
  insertBatch,
  insertDocument,
  outboxFor,
  type ServiceEnv,
  sha256,
  serviceTest as test,
} from "./test-resources.ts";

// Deletion that leaves no trace (issue 20): after deleteDocuments / deleteBatch nothing of a processed
// document is left in the object store (listing), the search index, the rows (document, event, label)
// or the outbox, also when a worker held the document mid-stage; cancelBatch stops unfinished documents.

const TEXT = "Invoice 1042 from Acme Ltd. Total due 120.00 EUR by 2026-12-31. Thank you for your order.";

/** A document as completeUploads leaves it: its original stored, QUEUED at PARSE with its outbox row. */
async function uploaded(env: ServiceEnv, tenantId: string, batchId: string, text = TEXT) {
  const doc = await insertDocument(env.prisma, { tenantId, batchId, status: "QUEUED", stage: "PARSE" });
  const body = `${text} (${doc.id})`;
  await env.prisma.document.update({
    where: { id: doc.id },
    data: { sha256: sha256(body), size: Buffer.byteLength(body), contentType: "text/plain" },
  });
  await env.deps.store.put(objectKeys.original(tenantId, doc.id), body, "text/plain");
  await env.prisma.outbox.create({ data: stageOutbox(doc, "PARSE") });
  return doc;
}

/** Runs the document's stages in order through the stage runner, as workers would. */
async function processStages(
  runner: { processStage(body: unknown, attempt: number): Promise<unknown> },
  doc: { id: string; tenantId: string },
  stages: readonly StageName[] = STAGES,
) {
  for (const stage of stages)
    expect(await runner.processStage(stageMessage(doc, stage), 1)).toEqual({ action: "ack" });
}

/** Everything docfleet keeps of these documents, store by store. */
async function traces(env: ServiceEnv, tenantId: string, ids: readonly string[]) {
  const prisma: PrismaClient = env.prisma;
  return {
    objects: await env.deps.store.list(`${tenantId}/`),
    index: await env.deps.search.stats(tenantId),
    documents: await prisma.document.count({ where: { id: { in: [...ids] } } }),
    events: await prisma.event.count({ where: { documentId: { in: [...ids] } } }),
    labels: await prisma.label.count({ where: { documentId: { in: [...ids] } } }),
    outbox: await prisma.outbox.count({ where: { key: { in: [...ids] } } }),
  };
}

const NOTHING = {
  objects: [],
  index: { documents: 0, chunks: 0 },
  documents: 0,
  events: 0,
  labels: 0,
  outbox: 0,
};

describe("DeletionService", () => {
  test("deleteDocuments: upload, process, delete, and nothing is left in any store", async ({
    env,
    tenantId,
  }) => {
    const services = env.services();
    const batch = await insertBatch(env.prisma, tenantId);
    const doc = await uploaded(env, tenantId, batch.id);
    await processStages(services.stages, doc);
    expect(await env.prisma.document.findUniqueOrThrow({ where: { id: doc.id } })).toMatchObject({
      status: "COMPLETED",
    });
    // a multipart upload nobody finished, to the document's upload key
    await env.deps.store.createMultipartUpload(objectKeys.upload(tenantId, doc.id), {
      size: 6 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
      ttlSeconds: 60,
    });
    const before = await traces(env, tenantId, [doc.id]);
    expect(before.objects).toEqual(
      expect.arrayContaining([
        objectKeys.original(tenantId, doc.id),
        objectKeys.text(tenantId, doc.id),
        objectKeys.upload(tenantId, doc.id),
      ]),
    );
    expect(before.index.documents).toBe(1);
    expect(before.events).toBeGreaterThan(0);
    expect(before.outbox).toBeGreaterThan(0);

    // another tenant cannot delete it
    const other = await createTenant(env.prisma, "other");
    expect(await services.deletion.deleteDocuments(other, [doc.id])).toEqual({
      deleted: [],
      notFound: [doc.id],
    });
    expect((await traces(env, tenantId, [doc.id])).documents).toBe(1);

    expect(await services.deletion.deleteDocuments(tenantId, [doc.id, "not-an-id"])).toEqual({
      deleted: [doc.id],
      notFound: ["not-an-id"],
    });
    expect(await traces(env, tenantId, [doc.id])).toEqual(NOTHING);
    expect(await counters(env.prisma, batch.id)).toMatchObject({ total: 0, completed: 0, queued: 0 });
    // idempotent
    expect(await services.deletion.deleteDocuments(tenantId, [doc.id])).toEqual({
      deleted: [],
      notFound: [doc.id],
    });
  });

  test("a worker holding the document mid-stage neither resurrects it nor leaves what it wrote", async ({
    env,
    tenantId,
  }) => {
    let entered!: () => void;
    const inStage = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    // The index stage as a worker runs it with its input already read: it writes after the deletion
    // purged the document (an object, then its index entries), then tries to move it on.
    let held: Buffer | undefined;
    let lateIndex: { documents: number } | undefined;
    const holdIndex: StageHandler = async (input) => {
      const key = objectKeys.chunks(input.doc.tenantId, input.doc.id);
      held = await input.deps.store.get(key);
      entered();
      await released;
      await input.deps.store.put(key, held);
      const out = await STAGE_HANDLERS.INDEX(input);
      lateIndex = await env.deps.search.stats(input.doc.tenantId);
      return out;
    };
    const services = env.services({ handlers: { ...STAGE_HANDLERS, INDEX: holdIndex } });
    const batch = await insertBatch(env.prisma, tenantId);
    const doc = await uploaded(env, tenantId, batch.id);
    const keep = await uploaded(env, tenantId, batch.id, "A letter to keep, about the garden fence.");
    await processStages(services.stages, doc, ["PARSE", "UNDERSTAND", "EMBED"]);
    const running = services.stages.processStage(stageMessage(doc, "INDEX"), 1);
    await inStage;
    expect(await services.deletion.deleteDocuments(tenantId, [doc.id])).toMatchObject({ deleted: [doc.id] });
    release();
    expect(await running).toEqual({ action: "ack" });
    expect(lateIndex?.documents).toBe(1); // the late write did land in the index
    const left = await traces(env, tenantId, [doc.id]);
    expect(left.objects.filter((k) => k.startsWith(`${tenantId}/${doc.id}/`))).toEqual([]);
    expect({ ...left, objects: [] }).toEqual(NOTHING);
    // a late redelivery of any stage finds nothing to do
    await processStages(services.stages, doc);
    expect(await env.prisma.document.count({ where: { id: doc.id } })).toBe(0);
    // the other document of the batch is untouched
    expect(left.objects).toEqual([objectKeys.original(tenantId, keep.id)]);
    expect(await outboxFor(env.prisma, keep.id)).toHaveLength(1);
    expect(await counters(env.prisma, batch.id)).toMatchObject({
      total: 1,
      queued: 1,
      atParse: 1,
      processing: 0,
    });
  });

  test("deleteBatch removes the batch, its events and every document's traces; NOT_FOUND for another tenant", async ({
    env,
    tenantId,
  }) => {
    const services = env.services();
    const batch = await insertBatch(env.prisma, tenantId);
    const done = await uploaded(env, tenantId, batch.id);
    await processStages(services.stages, done);
    const waiting = await uploaded(env, tenantId, batch.id, "Second document, still waiting.");
    const other = await createTenant(env.prisma, "other");
    await expect(services.deletion.deleteBatch(other, batch.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await services.deletion.deleteBatch(tenantId, batch.id)).toBe(2);
    expect(await traces(env, tenantId, [done.id, waiting.id])).toEqual(NOTHING);
    expect(await env.prisma.batch.count({ where: { id: batch.id } })).toBe(0);
    expect(await env.prisma.event.count({ where: { batchId: batch.id } })).toBe(0);
    await expect(services.deletion.deleteBatch(tenantId, batch.id)).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  test("cancelBatch fails unfinished documents with CANCELLED, drops their messages, leaves completed ones", async ({
    env,
    tenantId,
  }) => {
    const services = env.services();
    const batch = await insertBatch(env.prisma, tenantId);
    const done = await uploaded(env, tenantId, batch.id);
    await processStages(services.stages, done);
    const queued = await uploaded(env, tenantId, batch.id, "Queued one.");
    const processing = await insertDocument(env.prisma, {
      tenantId,
      batchId: batch.id,
      status: "PROCESSING",
      stage: "EMBED",
      leaseExpiresAt: new Date(Date.now() + 600_000),
    });
    const pending = await insertDocument(env.prisma, {
      tenantId,
      batchId: batch.id,
      status: "PENDING_UPLOAD",
    });
    await expect(
      services.deletion.cancelBatch(await createTenant(env.prisma), batch.id),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    expect(await services.deletion.cancelBatch(tenantId, batch.id)).toBe(3);
    const rows = await env.prisma.document.findMany({ where: { batchId: batch.id } });
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(done.id)).toMatchObject({ status: "COMPLETED", errorCode: null });
    for (const d of [queued, processing, pending])
      expect(byId.get(d.id)).toMatchObject({
        status: "FAILED",
        errorCode: "CANCELLED",
        leaseExpiresAt: null,
      });
    expect(await outboxFor(env.prisma, queued.id)).toEqual([]);
    expect(await counters(env.prisma, batch.id)).toMatchObject({
      total: 4,
      completed: 1,
      failed: 3,
      queued: 0,
      processing: 0,
      pendingUpload: 0,
      atParse: 0,
      atEmbed: 0,
    });
    // the dropped message, had it been sent already, finds nothing to run
    expect(await services.stages.processStage(stageMessage(queued, "PARSE"), 1)).toEqual({ action: "ack" });
    expect(byId.get(queued.id)?.status).toBe("FAILED");
    expect(await services.deletion.cancelBatch(tenantId, batch.id)).toBe(0);
  });
});
