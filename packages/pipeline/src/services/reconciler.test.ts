import { describe, expect, vi } from "vitest";
import { EventType, STAGES, type StageName, stageMessage, stageQueue } from "../domain/messages.ts";
import type { StageHandler } from "../stages/index.ts";
import { ProgressReconciler } from "./reconciler.ts";
import { counters, insertBatch, insertDocument, outboxFor, serviceTest } from "./test-resources.ts";

// Issue 16: every document that is neither final nor leased has a message in flight. A QUEUED document
// whose message is gone (quarantined during a database outage, lost with the broker) gets it again
// through the outbox, once, within a bounded time; a duplicate delivery is harmless.

const QUIET = 60_000;

const test = serviceTest.extend("run", async ({ env, tenantId }) => {
  const handlers = Object.fromEntries(
    STAGES.map((s) => [s, vi.fn<StageHandler>(async () => ({ data: {} }))]),
  ) as unknown as Record<StageName, StageHandler>;
  const services = env.services({ handlers });
  const batch = await insertBatch(env.prisma, tenantId);
  const reconciler = new ProgressReconciler(services.resources, services.stages, {
    everyMs: 0,
    quietMs: QUIET,
  });
  return { services, batch, reconciler };
});

const later = (ms: number) => new Date(Date.now() + ms);

describe("progress reconciler", { timeout: 180_000 }, () => {
  test("a quiet QUEUED document with no message gets its stage message again through the outbox, once", async ({
    env,
    tenantId,
    run,
  }) => {
    // As after issue 16's run 2: QUEUED, its message quarantined, nothing left to bring it back.
    const lost = await insertDocument(env.prisma, {
      tenantId,
      batchId: run.batch.id,
      status: "QUEUED",
      stage: "UNDERSTAND",
    });
    const before = await counters(env.prisma, run.batch.id);
    expect(await run.reconciler.sweep(new Date())).toMatchObject({ locked: true, republished: 0 }); // not quiet yet

    const now = later(QUIET + 1000);
    const res = await run.reconciler.sweep(now);
    expect(res).toMatchObject({ locked: true });
    expect(res.republished).toBeGreaterThanOrEqual(1);
    const rows = await outboxFor(env.prisma, lost.id);
    expect(rows.map((r) => [r.topic, (r.payload as { stage: string }).stage])).toEqual([
      [stageQueue("UNDERSTAND"), "UNDERSTAND"],
    ]);
    expect(await env.prisma.document.findUniqueOrThrow({ where: { id: lost.id } })).toMatchObject({
      status: "QUEUED",
      stage: "UNDERSTAND",
    });
    const events = await env.prisma.event.findMany({ where: { documentId: lost.id } });
    expect(events.map((e) => [e.type, (e.payload as { reason?: string }).reason])).toEqual([
      [EventType.STAGE_RETRY, "reconciled: no message in flight"],
    ]);
    expect(await counters(env.prisma, run.batch.id)).toEqual(before);

    // The row is unsent: the next round leaves it to the relay; once sent, the touch keeps it quiet.
    await run.reconciler.sweep(now);
    expect(await outboxFor(env.prisma, lost.id)).toHaveLength(1);
    await env.prisma.outbox.updateMany({ where: { key: lost.id }, data: { sentAt: new Date() } });
    await run.reconciler.sweep(now);
    expect(await outboxFor(env.prisma, lost.id)).toHaveLength(1);
  });

  test("a document whose message waits in the outbox, or that is leased, final or failed, is left alone", async ({
    env,
    tenantId,
    run,
  }) => {
    const seed = (doc: Omit<Parameters<typeof insertDocument>[1], "tenantId" | "batchId">) =>
      insertDocument(env.prisma, { tenantId, batchId: run.batch.id, ...doc });
    const waiting = await seed({ status: "QUEUED", stage: "PARSE" });
    await env.prisma.outbox.create({
      data: { topic: stageQueue("PARSE"), key: waiting.id, payload: stageMessage(waiting, "PARSE") },
    });
    const leased = await seed({ status: "PROCESSING", stage: "PARSE", leaseExpiresAt: later(10 * QUIET) });
    const done = await seed({ status: "COMPLETED" });
    const failed = await seed({ status: "FAILED", stage: "PARSE" });
    await run.reconciler.sweep(later(QUIET + 1000));
    expect(await outboxFor(env.prisma, waiting.id)).toHaveLength(1);
    for (const d of [leased, done, failed]) expect(await outboxFor(env.prisma, d.id)).toEqual([]);
  });

  test("a PROCESSING document whose lease expired is handed out again (a crash)", async ({
    env,
    tenantId,
    run,
  }) => {
    const d = await insertDocument(env.prisma, {
      tenantId,
      batchId: run.batch.id,
      status: "PROCESSING",
      stage: "EMBED",
      leaseExpiresAt: new Date(Date.now() - 1000),
    });
    const res = await run.reconciler.sweep(new Date());
    expect(res.leases).toBeGreaterThanOrEqual(1);
    expect(await env.prisma.document.findUniqueOrThrow({ where: { id: d.id } })).toMatchObject({
      status: "QUEUED",
      stage: "EMBED",
      crashes: 1,
    });
    expect(await outboxFor(env.prisma, d.id)).toHaveLength(1);
  });

  test("a republished duplicate is harmless: the second delivery is acked and changes nothing", async ({
    env,
    tenantId,
    run,
  }) => {
    const d = await insertDocument(env.prisma, {
      tenantId,
      batchId: run.batch.id,
      status: "QUEUED",
      stage: "INDEX",
    });
    await run.reconciler.sweep(later(QUIET + 1000));
    const [row] = await outboxFor(env.prisma, d.id);
    // The original message and the republished one both arrive.
    expect(await run.services.stages.processStage(stageMessage(d, "INDEX"), 1)).toEqual({ action: "ack" });
    expect(await run.services.stages.processStage(row!.payload, 1)).toEqual({ action: "ack" });
    expect(await env.prisma.document.findUniqueOrThrow({ where: { id: d.id } })).toMatchObject({
      status: "COMPLETED",
      crashes: 0,
    });
    const completed = await env.prisma.event.count({
      where: { documentId: d.id, type: EventType.DOCUMENT_COMPLETED },
    });
    expect(completed).toBe(1);
  });

  test("while its stage queue still holds waiting messages a quiet document may just be behind them: taken after ten quiet periods", async ({
    env,
    tenantId,
    run,
  }) => {
    const d = await insertDocument(env.prisma, {
      tenantId,
      batchId: run.batch.id,
      status: "QUEUED",
      stage: "EMBED",
    });
    await env.deps.queue.publish(stageQueue("EMBED"), { someone: "else" });
    await run.reconciler.sweep(later(QUIET + 1000));
    expect(await outboxFor(env.prisma, d.id)).toEqual([]);
    await run.reconciler.sweep(later(4 * QUIET + 1000));
    expect(await outboxFor(env.prisma, d.id)).toEqual([]);
    await run.reconciler.sweep(later(10 * QUIET + 1000));
    expect(await outboxFor(env.prisma, d.id)).toHaveLength(1);
  });
});
