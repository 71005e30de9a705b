import { describe, expect, vi } from "vitest";
import { EventType, STAGES, type StageName, stageMessage } from "../domain/messages.ts";
import type { StageHandler } from "../stages/index.ts";
import {
  counters,
  insertBatch,
  insertDocument,
  outboxFor,
  type ServiceEnv,
  serviceTest,
} from "./test-resources.ts";

// Issue 22: `retryBatch(failedOnly: false)` re-queued 981 COMPLETED documents and skipped the 19 stuck
// QUEUED ones, and `retryDocuments` refused QUEUED documents as IN_FLIGHT although no message existed.
// Operators resume stuck work (its stage message published again through the outbox), and completed
// work runs again only when they ask for it.

/** Operations and a stage runner (stub handlers) over a new batch of the tenant; `seed` puts a document in a state. */
const test = serviceTest.extend("ops", async ({ env, tenantId }) => {
  const handlers = Object.fromEntries(
    STAGES.map((s) => [s, vi.fn<StageHandler>(async () => ({ data: {} }))]),
  ) as Record<StageName, ReturnType<typeof vi.fn<StageHandler>>>;
  const services = env.services({ handlers });
  const batch = await insertBatch(env.prisma, tenantId);
  const seed = (doc: Omit<Parameters<typeof insertDocument>[1], "tenantId" | "batchId">) =>
    insertDocument(env.prisma, { tenantId, batchId: batch.id, ...doc });
  const leaseMs = env.deps.settings.leaseMs;
  /** A time `n` leases ago. */
  const leasesAgo = (n: number) => new Date(Date.now() - n * leaseMs);
  return { operations: services.operations, runner: services.stages, handlers, batch, seed, leasesAgo };
});

const read = (env: ServiceEnv, id: string) => env.prisma.document.findUniqueOrThrow({ where: { id } });

describe("OperationsService.retryDocuments resumes stuck documents", () => {
  test("a QUEUED or PROCESSING document that stopped moving is RESUMED: its stage message again, once", async ({
    env,
    tenantId,
    ops,
  }) => {
    // QUEUED for two leases with no message left (dead-lettered by the broker, lost with the memory queue).
    const stuckQueued = await ops.seed({
      status: "QUEUED",
      stage: "UNDERSTAND",
      updatedAt: ops.leasesAgo(2),
    });
    // PROCESSING with its lease expired and no reconciler running.
    const stuckProcessing = await ops.seed({
      status: "PROCESSING",
      stage: "EMBED",
      attempts: 1,
      leaseExpiresAt: ops.leasesAgo(1),
      updatedAt: ops.leasesAgo(2),
    });
    const before = await counters(env.prisma, ops.batch.id);

    const res = await ops.operations.retryDocuments(tenantId, [stuckQueued.id, stuckProcessing.id]);
    expect(res).toEqual([
      { documentId: stuckQueued.id, status: "RESUMED" },
      { documentId: stuckProcessing.id, status: "RESUMED" },
    ]);
    // Where they were, with a message each: a stage is idempotent, so one more is harmless.
    expect(await read(env, stuckQueued.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND" });
    expect(await read(env, stuckProcessing.id)).toMatchObject({ status: "PROCESSING", stage: "EMBED" });
    expect((await outboxFor(env.prisma, stuckQueued.id)).map((r) => r.payload)).toEqual([
      stageMessage(stuckQueued, "UNDERSTAND"),
    ]);
    expect((await outboxFor(env.prisma, stuckProcessing.id)).map((r) => r.topic)).toEqual(["docfleet.embed"]);
    const resumed = await env.prisma.event.findFirstOrThrow({
      where: { documentId: stuckQueued.id, type: EventType.DOCUMENT_RETRIED },
    });
    expect(resumed.payload).toMatchObject({ fromStatus: "QUEUED", stage: "UNDERSTAND", status: "QUEUED" });
    expect(await counters(env.prisma, ops.batch.id)).toEqual(before);

    // Asked again at once: they moved (the resume is their last change), so they are in flight now.
    const again = await ops.operations.retryDocuments(tenantId, [stuckQueued.id, stuckProcessing.id]);
    expect(again.map((r) => r.status)).toEqual(["IN_FLIGHT", "IN_FLIGHT"]);
    expect(await outboxFor(env.prisma, stuckQueued.id)).toHaveLength(1);
    expect(await outboxFor(env.prisma, stuckProcessing.id)).toHaveLength(1);

    // The messages run them: the PROCESSING one is taken over from its dead holder (a crash counted).
    const [queuedRow] = await outboxFor(env.prisma, stuckQueued.id);
    const [processingRow] = await outboxFor(env.prisma, stuckProcessing.id);
    expect(await ops.runner.processStage(queuedRow!.payload, 1)).toEqual({ action: "ack" });
    expect(await ops.runner.processStage(processingRow!.payload, 1)).toEqual({ action: "ack" });
    expect(await read(env, stuckQueued.id)).toMatchObject({ status: "QUEUED", stage: "EMBED" });
    expect(await read(env, stuckProcessing.id)).toMatchObject({
      status: "QUEUED",
      stage: "INDEX",
      crashes: 0,
    });
    expect(ops.handlers.EMBED).toHaveBeenCalledWith(
      expect.objectContaining({ doc: expect.objectContaining({ id: stuckProcessing.id, crashes: 1 }) }),
    );
  });

  test("a document genuinely in flight is still IN_FLIGHT, and nothing is published for it", async ({
    env,
    tenantId,
    ops,
  }) => {
    const waiting = await ops.seed({ status: "QUEUED", stage: "PARSE" }); // queued just now
    const running = await ops.seed({
      status: "PROCESSING",
      stage: "UNDERSTAND",
      leaseExpiresAt: new Date(Date.now() + 60_000),
      updatedAt: ops.leasesAgo(2), // a long stage: its lease is what says it is alive
    });
    const res = await ops.operations.retryDocuments(tenantId, [waiting.id, running.id]);
    expect(res).toEqual([
      { documentId: waiting.id, status: "IN_FLIGHT", message: "document is QUEUED" },
      { documentId: running.id, status: "IN_FLIGHT", message: "document is PROCESSING" },
    ]);
    expect(await outboxFor(env.prisma, waiting.id)).toHaveLength(0);
    expect(await outboxFor(env.prisma, running.id)).toHaveLength(0);
  });

  test("stuckAfterMs says how long a QUEUED document may wait; a stuck one resumes at its own stage only", async ({
    env,
    tenantId,
    ops,
  }) => {
    const minuteAgo = new Date(Date.now() - 60_000);
    const waiting = await ops.seed({ status: "QUEUED", stage: "INDEX", updatedAt: minuteAgo });
    expect((await ops.operations.retryDocuments(tenantId, [waiting.id]))[0]?.status).toBe("IN_FLIGHT");
    expect(
      await ops.operations.retryDocuments(tenantId, [waiting.id], { stuckAfterMs: 30_000, stage: "PARSE" }),
    ).toEqual([
      {
        documentId: waiting.id,
        status: "BAD_STAGE",
        message: "document is stuck at INDEX; it resumes there",
      },
    ]);
    expect(await ops.operations.retryDocuments(tenantId, [waiting.id], { stuckAfterMs: 30_000 })).toEqual([
      { documentId: waiting.id, status: "RESUMED" },
    ]);
    expect(await outboxFor(env.prisma, waiting.id)).toHaveLength(1);
  });
});

describe("OperationsService.retryBatch", () => {
  test("retries FAILED and resumes stuck documents; COMPLETED ones run again only with includeCompleted", async ({
    env,
    tenantId,
    ops,
  }) => {
    const failed = await ops.seed({ status: "FAILED", stage: "PARSE", errorCode: "RETRIES_EXHAUSTED" });
    const completed = await ops.seed({ status: "COMPLETED", completedAt: new Date() });
    const stuckQueued = await ops.seed({ status: "QUEUED", stage: "EMBED", updatedAt: ops.leasesAgo(3) });
    const stuckProcessing = await ops.seed({
      status: "PROCESSING",
      stage: "PARSE",
      leaseExpiresAt: ops.leasesAgo(1),
      updatedAt: ops.leasesAgo(2),
    });
    const waiting = await ops.seed({ status: "QUEUED", stage: "EMBED" });
    const running = await ops.seed({
      status: "PROCESSING",
      stage: "INDEX",
      leaseExpiresAt: new Date(Date.now() + 60_000),
    });

    expect(await ops.operations.retryBatch(tenantId, ops.batch.id)).toBe(3);
    expect(await read(env, failed.id)).toMatchObject({ status: "QUEUED", stage: "PARSE", errorCode: null });
    expect(await read(env, completed.id)).toMatchObject({ status: "COMPLETED" });
    for (const d of [failed, stuckQueued, stuckProcessing])
      expect(await outboxFor(env.prisma, d.id), d.id).toHaveLength(1);
    for (const d of [completed, waiting, running]) expect(await outboxFor(env.prisma, d.id)).toHaveLength(0);

    // Nothing stuck or failed is left; completed work runs again when asked explicitly.
    expect(await ops.operations.retryBatch(tenantId, ops.batch.id)).toBe(0);
    expect(await ops.operations.retryBatch(tenantId, ops.batch.id, { includeCompleted: true })).toBe(1);
    expect(await read(env, completed.id)).toMatchObject({ status: "QUEUED", stage: "PARSE" });
    expect(await counters(env.prisma, ops.batch.id)).toMatchObject({
      completed: 0,
      failed: 0,
      queued: 4,
      processing: 2,
    });
  });

  test("failedOnly: false still re-runs completed documents (the old spelling of includeCompleted)", async ({
    env,
    tenantId,
    ops,
  }) => {
    const completed = await ops.seed({ status: "COMPLETED", completedAt: new Date() });
    const stuck = await ops.seed({ status: "QUEUED", stage: "UNDERSTAND", updatedAt: ops.leasesAgo(2) });
    expect(await ops.operations.retryBatch(tenantId, ops.batch.id, false)).toBe(2);
    expect(await read(env, completed.id)).toMatchObject({ status: "QUEUED", stage: "PARSE" });
    expect(await outboxFor(env.prisma, stuck.id)).toHaveLength(1);
  });
});
