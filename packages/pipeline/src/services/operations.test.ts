import { randomUUID } from "node:crypto";
import { describe, expect } from "vitest";
import { documentProvenance, type Provenance } from "../domain/codecs.ts";
import { RequestError } from "../domain/errors.ts";
import { EventType, stageMessage } from "../domain/messages.ts";
import { CHUNKER_VERSION, PARSER_VERSION } from "../domain/versions.ts";
import {
  counters,
  createTenant,
  insertBatch,
  insertDocument,
  outboxFor,
  type ServiceEnv,
  serviceTest,
} from "./test-resources.ts";

/** Operations over a new batch of the tenant; `seed` puts a document of it in a state. */
const test = serviceTest.extend("ops", async ({ env, tenantId }) => {
  const services = env.services();
  const batch = await insertBatch(env.prisma, tenantId);
  const seed = (doc: Omit<Parameters<typeof insertDocument>[1], "tenantId" | "batchId">) =>
    insertDocument(env.prisma, { tenantId, batchId: batch.id, ...doc });
  return { services, operations: services.operations, batch, seed };
});

const read = (env: ServiceEnv, id: string) => env.prisma.document.findUniqueOrThrow({ where: { id } });

async function requestErrorCode(p: Promise<unknown>): Promise<string | null> {
  return p.then(
    () => null,
    (e: unknown) => (e instanceof RequestError ? e.code : `not a RequestError: ${String(e)}`),
  );
}

describe("OperationsService.retryDocuments", () => {
  test("answers each id in order: QUEUED, BAD_STAGE, IN_FLIGHT or NOT_FOUND", async ({
    env,
    tenantId,
    ops,
  }) => {
    const failed = await ops.seed({
      status: "FAILED",
      stage: "UNDERSTAND",
      errorCode: "MODEL_OUTPUT_INVALID",
      errorMessage: "nonsense",
      attempts: 3,
    });
    const completed = await ops.seed({ status: "COMPLETED", completedAt: new Date() });
    const queued = await ops.seed({ status: "QUEUED", stage: "PARSE" });
    const processing = await ops.seed({ status: "PROCESSING", stage: "EMBED" });
    const stranger = await createTenant(env.prisma);
    const theirBatch = await insertBatch(env.prisma, stranger);
    const theirs = await insertDocument(env.prisma, {
      tenantId: stranger,
      batchId: theirBatch.id,
      status: "FAILED",
      stage: "PARSE",
    });
    const unknown = randomUUID();

    const res = await ops.operations.retryDocuments(tenantId, [
      failed.id,
      completed.id,
      queued.id,
      processing.id,
      unknown,
      theirs.id,
      "not-an-id",
    ]);
    expect(res).toEqual([
      { documentId: failed.id, status: "QUEUED" },
      { documentId: completed.id, status: "BAD_STAGE", message: expect.stringMatching(/needs the stage/) },
      { documentId: queued.id, status: "IN_FLIGHT", message: "document is QUEUED" },
      { documentId: processing.id, status: "IN_FLIGHT", message: "document is PROCESSING" },
      { documentId: unknown, status: "NOT_FOUND" },
      { documentId: theirs.id, status: "NOT_FOUND" },
      { documentId: "not-an-id", status: "NOT_FOUND" },
    ]);

    // The failed one goes back to the stage it stopped at, its error cleared, with a message to send.
    expect(await read(env, failed.id)).toMatchObject({
      status: "QUEUED",
      stage: "UNDERSTAND",
      errorCode: null,
      errorMessage: null,
      attempts: 0,
    });
    const rows = await outboxFor(env.prisma, failed.id);
    expect(rows.map((r) => r.payload)).toEqual([stageMessage(failed, "UNDERSTAND")]);
    const retried = await env.prisma.event.findFirstOrThrow({
      where: { documentId: failed.id, type: EventType.DOCUMENT_RETRIED },
    });
    expect(retried.payload).toMatchObject({ fromStatus: "FAILED", stage: "UNDERSTAND" });
    // Nothing else moved.
    expect(await read(env, completed.id)).toMatchObject({ status: "COMPLETED" });
    expect(await read(env, theirs.id)).toMatchObject({ status: "FAILED" });
    expect(await outboxFor(env.prisma, theirs.id)).toHaveLength(0);
    expect(await counters(env.prisma, ops.batch.id)).toMatchObject({
      failed: 0,
      completed: 1,
      queued: 2,
      processing: 1,
      atParse: 1,
      atUnderstand: 1,
      atEmbed: 1,
    });
  });

  test("goes back to an earlier stage of a failed document, never forward; re-runs a completed one from the stage given", async ({
    env,
    ops,
  }) => {
    const failedAtUnderstand = await ops.seed({
      status: "FAILED",
      stage: "UNDERSTAND",
      errorCode: "TIMEOUT",
    });
    const failedAtEmbed = await ops.seed({ status: "FAILED", stage: "EMBED", errorCode: "TIMEOUT" });
    const completed = await ops.seed({ status: "COMPLETED", completedAt: new Date() });

    expect(
      await ops.operations.retryDocuments(ops.batch.tenantId, [failedAtUnderstand.id], { stage: "EMBED" }),
    ).toEqual([
      {
        documentId: failedAtUnderstand.id,
        status: "BAD_STAGE",
        message: "document failed at UNDERSTAND; it cannot skip to EMBED",
      },
    ]);
    expect(await read(env, failedAtUnderstand.id)).toMatchObject({ status: "FAILED", stage: "UNDERSTAND" });

    const res = await ops.operations.retryDocuments(ops.batch.tenantId, [failedAtEmbed.id], {
      stage: "PARSE",
    });
    expect(res).toEqual([{ documentId: failedAtEmbed.id, status: "QUEUED" }]);
    expect(await read(env, failedAtEmbed.id)).toMatchObject({ status: "QUEUED", stage: "PARSE" });

    const again = await ops.operations.retryDocuments(ops.batch.tenantId, [completed.id], {
      stage: "EMBED",
      options: { stageTimeoutMs: 300_000 },
    });
    expect(again).toEqual([{ documentId: completed.id, status: "QUEUED" }]);
    expect(await read(env, completed.id)).toMatchObject({
      status: "QUEUED",
      stage: "EMBED",
      completedAt: null,
      options: { stageTimeoutMs: 300_000 },
    });
    expect((await outboxFor(env.prisma, completed.id)).map((r) => r.topic)).toEqual(["docfleet.embed"]);
  });

  test("queues a document named twice in one request once", async ({ env, ops }) => {
    const failed = await ops.seed({ status: "FAILED", stage: "PARSE", errorCode: "CORRUPT" });
    const res = await ops.operations.retryDocuments(ops.batch.tenantId, [failed.id, failed.id]);
    expect(res.map((r) => r.status)).toEqual(["QUEUED", "QUEUED"]);
    expect(await read(env, failed.id)).toMatchObject({ status: "QUEUED", stage: "PARSE" });
    expect(await outboxFor(env.prisma, failed.id)).toHaveLength(1);
  });

  test("refuses a time budget out of range and more than 1000 ids (BAD_REQUEST)", async ({
    tenantId,
    ops,
  }) => {
    const failed = await ops.seed({ status: "FAILED", stage: "PARSE" });
    for (const stageTimeoutMs of [99, 3_600_001, 1.5])
      expect(
        await requestErrorCode(
          ops.operations.retryDocuments(tenantId, [failed.id], { options: { stageTimeoutMs } }),
        ),
      ).toBe("BAD_REQUEST");
    const ids = Array.from({ length: 1001 }, () => failed.id);
    expect(await requestErrorCode(ops.operations.retryDocuments(tenantId, ids))).toBe("BAD_REQUEST");
  });
});

describe("OperationsService.retryBatch", () => {
  test("queues the batch's failed documents, and with failedOnly false its completed ones from parse", async ({
    env,
    tenantId,
    ops,
  }) => {
    const f1 = await ops.seed({ status: "FAILED", stage: "PARSE", errorCode: "CORRUPT" });
    const f2 = await ops.seed({ status: "FAILED", stage: "INDEX", errorCode: "TIMEOUT" });
    const done = await ops.seed({ status: "COMPLETED" });
    const running = await ops.seed({ status: "PROCESSING", stage: "EMBED" });

    expect(await ops.operations.retryBatch(tenantId, ops.batch.id)).toBe(2);
    expect(await read(env, f1.id)).toMatchObject({ status: "QUEUED", stage: "PARSE" });
    expect(await read(env, f2.id)).toMatchObject({ status: "QUEUED", stage: "INDEX" });
    expect(await read(env, done.id)).toMatchObject({ status: "COMPLETED" });

    expect(await ops.operations.retryBatch(tenantId, ops.batch.id, false)).toBe(1);
    expect(await read(env, done.id)).toMatchObject({ status: "QUEUED", stage: "PARSE" });
    expect(await read(env, running.id)).toMatchObject({ status: "PROCESSING", stage: "EMBED" });
    expect(await counters(env.prisma, ops.batch.id)).toMatchObject({
      failed: 0,
      completed: 0,
      queued: 3,
      processing: 1,
    });

    const stranger = await createTenant(env.prisma);
    expect(await requestErrorCode(ops.operations.retryBatch(stranger, ops.batch.id))).toBe("NOT_FOUND");
    expect(await requestErrorCode(ops.operations.retryBatch(tenantId, "not-an-id"))).toBe("NOT_FOUND");
  });
});

describe("OperationsService.quarantine", () => {
  test("groups the tenant's failed documents by code, largest first, with a sample of ids", async ({
    env,
    tenantId,
    ops,
  }) => {
    const corrupt = [
      await ops.seed({ status: "FAILED", stage: "PARSE", errorCode: "CORRUPT" }),
      await ops.seed({ status: "FAILED", stage: "PARSE", errorCode: "CORRUPT" }),
    ];
    const timeout = await ops.seed({ status: "FAILED", stage: "EMBED", errorCode: "TIMEOUT" });
    const unknown = await ops.seed({ status: "FAILED", stage: "UNDERSTAND" });
    await ops.seed({ status: "COMPLETED", errorCode: "CORRUPT" }); // not failed: not quarantined
    const other = await insertBatch(env.prisma, tenantId, "other");
    const elsewhere = await insertDocument(env.prisma, {
      tenantId,
      batchId: other.id,
      status: "FAILED",
      stage: "PARSE",
      errorCode: "CORRUPT",
    });
    const stranger = await createTenant(env.prisma);
    const theirBatch = await insertBatch(env.prisma, stranger);
    for (let i = 0; i < 4; i++)
      await insertDocument(env.prisma, {
        tenantId: stranger,
        batchId: theirBatch.id,
        status: "FAILED",
        stage: "PARSE",
        errorCode: "EMPTY",
      });

    const groups = await ops.operations.quarantine(tenantId);
    expect(groups.map((g) => [g.code, g.count])).toEqual([
      ["CORRUPT", 3],
      ["TIMEOUT", 1],
      ["UNKNOWN", 1],
    ]);
    expect(groups[0]!.documentIds.sort()).toEqual([...corrupt.map((d) => d.id), elsewhere.id].sort());
    expect(groups[1]!.documentIds).toEqual([timeout.id]);
    expect(groups[2]!.documentIds).toEqual([unknown.id]);

    const sampled = await ops.operations.quarantine(tenantId, { sample: 1 });
    expect(sampled.map((g) => g.documentIds.length)).toEqual([1, 1, 1]);
    expect((await ops.operations.quarantine(tenantId, { sample: -3 }))[0]!.documentIds).toEqual([]);

    const inBatch = await ops.operations.quarantine(tenantId, { batchId: other.id });
    expect(inBatch).toEqual([{ code: "CORRUPT", count: 1, documentIds: [elsewhere.id] }]);
    expect(await ops.operations.quarantine(tenantId, { batchId: "not-an-id" })).toEqual([]);
    expect(await ops.operations.quarantine(tenantId, { batchId: theirBatch.id })).toEqual([]);
  });
});

describe("OperationsService.reprocess", () => {
  /** Provenance of a document every stage of which ran with what this deployment has now. */
  const current = (env: ServiceEnv, categoryVersion: number): Provenance => ({
    PARSE: { parser: PARSER_VERSION },
    UNDERSTAND: {
      model: env.deps.models.names.understand,
      promptVersion: env.deps.models.promptVersion,
      category: "invoice",
      categoryVersion,
    },
    EMBED: { model: env.deps.models.names.embed, chunker: CHUNKER_VERSION },
    INDEX: { category: "invoice" },
  });

  test("queues only the stages whose inputs changed, leaves up-to-date and in-flight documents alone", async ({
    env,
    tenantId,
    ops,
  }) => {
    const invoice = await ops.services.categories.get(tenantId, "invoice");
    const now = current(env, invoice!.version);
    const completed = (provenance: Provenance) =>
      ops.seed({
        status: "COMPLETED",
        category: "invoice",
        provenance: documentProvenance.write(provenance),
      });
    const upToDate = await completed(now);
    const staleEmbed = await completed({
      ...now,
      EMBED: { model: "old-embedder", chunker: CHUNKER_VERSION },
    });
    const staleUnderstand = await completed({
      ...now,
      UNDERSTAND: { ...now.UNDERSTAND, promptVersion: "rules-0" },
    });
    await ops.seed({ status: "QUEUED", stage: "INDEX", category: "invoice" });
    await ops.seed({ status: "FAILED", stage: "PARSE" }); // failed documents are retried, not reprocessed

    const req = { filter: { batchId: ops.batch.id }, stages: ["UNDERSTAND", "EMBED"] as const };
    const res = await ops.operations.reprocess(tenantId, { ...req, stages: [...req.stages] });
    expect(res).toMatchObject({ queued: 2, upToDate: 1, inFlight: 1 });
    expect(res.documentIds.sort()).toEqual([staleEmbed.id, staleUnderstand.id].sort());
    expect(await read(env, upToDate.id)).toMatchObject({ status: "COMPLETED" });
    expect(await read(env, staleEmbed.id)).toMatchObject({
      status: "QUEUED",
      stage: "EMBED",
      options: { stages: ["EMBED", "INDEX"] },
    });
    expect(await read(env, staleUnderstand.id)).toMatchObject({
      status: "QUEUED",
      stage: "UNDERSTAND",
      options: { stages: ["UNDERSTAND", "INDEX"] },
    });
    expect((await outboxFor(env.prisma, staleEmbed.id)).map((r) => r.topic)).toEqual(["docfleet.embed"]);

    // Again: what was queued is in flight now; nothing is queued twice.
    expect(await ops.operations.reprocess(tenantId, { ...req, stages: [...req.stages] })).toMatchObject({
      queued: 0,
      upToDate: 1,
      inFlight: 3,
    });
    expect(await outboxFor(env.prisma, staleEmbed.id)).toHaveLength(1);
  });

  test("a changed category definition, another model or force make an up-to-date document run again", async ({
    env,
    tenantId,
    ops,
  }) => {
    const invoice = await ops.services.categories.get(tenantId, "invoice");
    const doc = await ops.seed({
      status: "COMPLETED",
      category: "invoice",
      provenance: documentProvenance.write(current(env, invoice!.version)),
    });
    const filter = { documentIds: [doc.id] };
    expect(await ops.operations.reprocess(tenantId, { filter, stages: ["UNDERSTAND"] })).toMatchObject({
      upToDate: 1,
    });

    await ops.services.categories.update(tenantId, "invoice", { description: "A bill, changed." });
    expect(await ops.operations.reprocess(tenantId, { filter, stages: ["UNDERSTAND"] })).toMatchObject({
      queued: 1,
    });
    expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND" });

    const other = await ops.seed({
      status: "COMPLETED",
      category: "invoice",
      provenance: documentProvenance.write(current(env, invoice!.version + 1)),
    });
    const chosen = await ops.operations.reprocess(tenantId, {
      filter: { documentIds: [other.id] },
      stages: ["UNDERSTAND"],
      models: { understand: "some-other-model" },
    });
    expect(chosen).toMatchObject({ queued: 1, documentIds: [other.id] });
    expect(await read(env, other.id)).toMatchObject({
      stage: "UNDERSTAND",
      options: { stages: ["UNDERSTAND", "INDEX"], models: { understand: "some-other-model" } },
    });

    const forced = await ops.seed({
      status: "COMPLETED",
      category: "invoice",
      provenance: documentProvenance.write(current(env, invoice!.version + 1)),
    });
    expect(
      await ops.operations.reprocess(tenantId, {
        filter: { documentIds: [forced.id] },
        stages: ["INDEX"],
        force: true,
      }),
    ).toMatchObject({ queued: 1 });
    expect(await read(env, forced.id)).toMatchObject({
      status: "QUEUED",
      stage: "INDEX",
      options: { stages: ["INDEX"] },
    });
  });

  test("touches only the documents the filter selects", async ({ env, tenantId, ops }) => {
    const invoice = await ops.services.categories.get(tenantId, "invoice");
    const provenance = documentProvenance.write(current(env, invoice!.version));
    // Ids in order, so the unselected ones sort after the selected one (a page boundary must not widen the filter).
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()].sort();
    const selected = await ops.seed({ id: a, status: "COMPLETED", category: "invoice", provenance });
    const later = await ops.seed({ id: b, status: "COMPLETED", category: "invoice", provenance });
    const flagged = await ops.seed({
      id: c,
      status: "COMPLETED",
      category: "receipt",
      provenance,
      needsReview: true,
    });

    const res = await ops.operations.reprocess(tenantId, {
      filter: { documentIds: [selected.id] },
      stages: ["INDEX"],
      force: true,
    });
    expect(res).toMatchObject({ queued: 1, documentIds: [selected.id] });
    expect(await read(env, later.id)).toMatchObject({ status: "COMPLETED" });
    expect(await read(env, flagged.id)).toMatchObject({ status: "COMPLETED" });

    const byReview = await ops.operations.reprocess(tenantId, {
      filter: { needsReview: true },
      stages: ["INDEX"],
      force: true,
    });
    expect(byReview).toMatchObject({ queued: 1, documentIds: [flagged.id] });
    const byCategory = await ops.operations.reprocess(tenantId, {
      filter: { category: ["invoice"] },
      stages: ["INDEX"],
      force: true,
    });
    expect(byCategory).toMatchObject({ queued: 1, inFlight: 1, documentIds: [later.id] });
  });

  test("refuses no stages, another embedding model, and a batch id that is none (NOT_FOUND)", async ({
    tenantId,
    ops,
  }) => {
    expect(await requestErrorCode(ops.operations.reprocess(tenantId, { filter: {}, stages: [] }))).toBe(
      "BAD_REQUEST",
    );
    expect(
      await requestErrorCode(
        ops.operations.reprocess(tenantId, {
          filter: {},
          stages: ["EMBED"],
          models: { embed: "another-embedder" },
        }),
      ),
    ).toBe("BAD_REQUEST");
    expect(
      await requestErrorCode(
        ops.operations.reprocess(tenantId, { filter: { batchId: "x" }, stages: ["INDEX"] }),
      ),
    ).toBe("NOT_FOUND");
  });

  // Issue 15: 100,000 ids in one reprocess gave a masked error; a list is capped like retryDocuments'.
  test("refuses more than 1000 document ids (BAD_REQUEST), and takes 1000", async ({ tenantId, ops }) => {
    const ids = (n: number) => Array.from({ length: n }, () => randomUUID());
    expect(
      await requestErrorCode(
        ops.operations.reprocess(tenantId, { filter: { documentIds: ids(1001) }, stages: ["INDEX"] }),
      ),
    ).toBe("BAD_REQUEST");
    await expect(
      ops.operations.reprocess(tenantId, { filter: { documentIds: ids(1000) }, stages: ["INDEX"] }),
    ).resolves.toMatchObject({ queued: 0 });
  });
});
