import { randomUUID } from "node:crypto";
import { describe, expect, vi } from "vitest";
import { documentOptions } from "../domain/codecs.ts";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import { EventType, STAGES, type StageName, stageMessage } from "../domain/messages.ts";
import { understandInputs } from "../repositories/understand-inputs.ts";
import type { StageHandler, StageInput, StageOutput } from "../stages/index.ts";
import {
  counters,
  insertBatch,
  insertDocument,
  outboxFor,
  type ServiceEnv,
  serviceTest,
} from "./test-resources.ts";

/** Handlers that answer `{ data: {} }` unless a test says otherwise. */
function stubHandlers() {
  const calls: StageInput[] = [];
  const handlers = Object.fromEntries(
    STAGES.map((s) => [
      s,
      vi.fn<StageHandler>(async (input) => {
        calls.push(input);
        return { data: {} };
      }),
    ]),
  ) as Record<StageName, ReturnType<typeof vi.fn<StageHandler>>>;
  return { handlers, calls };
}

/** A stage runner over stub handlers, and a document queued at `stage` in a new batch of the tenant. */
const test = serviceTest.extend("run", async ({ env, tenantId }) => {
  const { handlers, calls } = stubHandlers();
  const services = env.services({ handlers });
  const batch = await insertBatch(env.prisma, tenantId);
  const queuedAt = (stage: StageName, extra: Partial<Parameters<typeof insertDocument>[1]> = {}) =>
    insertDocument(env.prisma, { tenantId, batchId: batch.id, status: "QUEUED", stage, ...extra });
  return { handlers, calls, runner: services.stages, batch, queuedAt };
});

const read = (env: ServiceEnv, id: string) => env.prisma.document.findUniqueOrThrow({ where: { id } });

describe("StageRunner.processStage", () => {
  test("dead-letters a message that is not a stage message", async ({ run }) => {
    for (const body of [
      null,
      "text",
      { v: 2 },
      { v: 1, documentId: "x", tenantId: randomUUID(), stage: "PARSE" },
    ]) {
      const d = await run.runner.processStage(body, 1);
      expect(d).toMatchObject({
        action: "dead-letter",
        reason: expect.stringMatching(/^invalid stage message/),
      });
    }
    for (const h of Object.values(run.handlers)) expect(h).not.toHaveBeenCalled();
  });

  test("acks a stale message without running anything: other stage, finished, unknown or another tenant's", async ({
    env,
    tenantId,
    run,
  }) => {
    const atUnderstand = await run.queuedAt("UNDERSTAND");
    const done = await insertDocument(env.prisma, { tenantId, batchId: run.batch.id, status: "COMPLETED" });
    const failed = await insertDocument(env.prisma, {
      tenantId,
      batchId: run.batch.id,
      status: "FAILED",
      stage: "PARSE",
      errorCode: "CORRUPT",
    });
    const messages = [
      stageMessage(atUnderstand, "PARSE"),
      stageMessage(done, "INDEX"),
      stageMessage(failed, "PARSE"),
      stageMessage({ id: randomUUID(), tenantId }, "PARSE"),
      stageMessage({ id: atUnderstand.id, tenantId: randomUUID() }, "UNDERSTAND"),
    ];
    const before = await counters(env.prisma, run.batch.id);
    for (const m of messages) expect(await run.runner.processStage(m, 1)).toEqual({ action: "ack" });
    for (const h of Object.values(run.handlers)) expect(h).not.toHaveBeenCalled();
    expect(await read(env, atUnderstand.id)).toMatchObject({
      status: "QUEUED",
      stage: "UNDERSTAND",
      attempts: 0,
    });
    expect(await counters(env.prisma, run.batch.id)).toEqual(before);
  });

  test("runs the stage on the claimed document, then queues the next stage with its outbox row", async ({
    env,
    run,
  }) => {
    const doc = await run.queuedAt("PARSE");
    let storedWhileRunning: string | undefined;
    run.handlers.PARSE.mockImplementation(async (input) => {
      run.calls.push(input);
      storedWhileRunning = (await read(env, doc.id)).status;
      return {
        data: { pageCount: 3, detectedType: "text/plain" },
        needsReview: true,
        provenance: { parser: "test-parser" },
        payload: { pages: 3 },
      } satisfies StageOutput;
    });
    const events: string[] = [];
    const off = env.deps.events.subscribe((e) => e.documentId === doc.id && events.push(e.type));
    try {
      expect(await run.runner.processStage(stageMessage(doc, "PARSE"), 1)).toEqual({ action: "ack" });
    } finally {
      off();
    }
    expect(run.handlers.PARSE).toHaveBeenCalledTimes(1);
    // The handler saw the document claimed: PROCESSING, one attempt, a lease.
    expect(run.calls[0]?.doc).toMatchObject({ id: doc.id, status: "PROCESSING", attempts: 1 });
    expect(run.calls[0]?.doc.leaseExpiresAt).toBeInstanceOf(Date);
    expect(storedWhileRunning).toBe("PROCESSING");
    const after = await read(env, doc.id);
    expect(after).toMatchObject({
      status: "QUEUED",
      stage: "UNDERSTAND",
      pageCount: 3,
      detectedType: "text/plain",
      needsReview: true,
      attempts: 0,
      leaseExpiresAt: null,
      completedAt: null,
    });
    expect(after.timings).toEqual({ PARSE: expect.any(Number) });
    expect(after.provenance).toMatchObject({ PARSE: { parser: "test-parser", at: expect.any(String) } });
    const rows = await outboxFor(env.prisma, doc.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ topic: "docfleet.understand", payload: stageMessage(doc, "UNDERSTAND") });
    expect(events).toEqual([EventType.STAGE_STARTED, EventType.STAGE_COMPLETED]);
    const stored = await env.prisma.event.findFirstOrThrow({
      where: { documentId: doc.id, type: EventType.STAGE_COMPLETED },
    });
    expect(stored.payload).toMatchObject({
      completedStage: "PARSE",
      pages: 3,
      stage: "PARSE",
      nextStage: "UNDERSTAND",
    });
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({
      queued: 1,
      processing: 0,
      atParse: 0,
      atUnderstand: 1,
      needsReview: 1,
    });
  });

  test("completes the document after the last stage, with no further message", async ({ env, run }) => {
    const doc = await run.queuedAt("INDEX", {
      errorCode: "TIMEOUT",
      errorMessage: "from an earlier run",
      timings: { PARSE: 5 },
    });
    expect(await run.runner.processStage(stageMessage(doc, "INDEX"), 1)).toEqual({ action: "ack" });
    const after = await read(env, doc.id);
    expect(after).toMatchObject({ status: "COMPLETED", stage: null, errorCode: null, errorMessage: null });
    expect(after.completedAt).toBeInstanceOf(Date);
    expect(after.timings).toEqual({ PARSE: 5, INDEX: expect.any(Number) });
    expect(await outboxFor(env.prisma, doc.id)).toHaveLength(0);
    expect(
      await env.prisma.event.count({ where: { documentId: doc.id, type: EventType.DOCUMENT_COMPLETED } }),
    ).toBe(1);
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({
      completed: 1,
      queued: 0,
      processing: 0,
      atIndex: 0,
    });
  });

  test("the understand stage's claim reads its inputs in the same statement, as understandInputs does", async ({
    env,
    run,
    tenantId,
  }) => {
    await env.services().categories.define(tenantId, {
      name: "purchase_order",
      description: "An order to buy.",
      keywords: ["po"],
      fields: {
        type: "object" as const,
        properties: { po_number: { type: "string" as const, description: "its number" } },
      },
    });
    await env.prisma.batch.update({
      where: { id: run.batch.id },
      data: { options: { categories: ["invoice"] } },
    });
    const doc = await run.queuedAt("UNDERSTAND");
    await env.prisma.label.create({
      data: { tenantId, documentId: doc.id, category: "invoice", tokens: ["total"] },
    });
    const parse = await run.queuedAt("PARSE");
    await run.runner.processStage(stageMessage(doc, "UNDERSTAND"), 1);
    await run.runner.processStage(stageMessage(parse, "PARSE"), 1);
    const [understand, parsed] = run.calls;
    const expected = await understandInputs(env.deps.db, {
      tenantId,
      batchId: run.batch.id,
      documentId: doc.id,
    });
    expect(expected).toMatchObject({ options: { categories: ["invoice"] }, labelled: "invoice" });
    expect(expected.categories.map((c) => c.name)).toContain("purchase_order");
    expect(understand!.understandInputs?.()).toEqual(expected);
    expect(parsed!.understandInputs).toBeUndefined();
  });

  test("follows the document's plan (a reprocess) and clears it once the run is spent", async ({
    env,
    run,
  }) => {
    const doc = await run.queuedAt("UNDERSTAND", {
      options: documentOptions.write({ stages: ["UNDERSTAND", "INDEX"], stageTimeoutMs: 60_000 }),
    });
    await run.runner.processStage(stageMessage(doc, "UNDERSTAND"), 1);
    expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "INDEX" }); // EMBED skipped
    expect((await outboxFor(env.prisma, doc.id)).map((r) => r.topic)).toEqual(["docfleet.index"]);
    await run.runner.processStage(stageMessage(doc, "INDEX"), 1);
    const after = await read(env, doc.id);
    expect(after).toMatchObject({ status: "COMPLETED", options: { stageTimeoutMs: 60_000 } });
    expect(run.handlers.EMBED).not.toHaveBeenCalled();
  });

  test("fails the document at once on a DocumentError, with its code, and acks", async ({ env, run }) => {
    const doc = await run.queuedAt("UNDERSTAND");
    run.handlers.UNDERSTAND.mockRejectedValue(
      new DocumentError(FailureCode.CORRUPT, "cannot read\u0000 this"),
    );
    expect(await run.runner.processStage(stageMessage(doc, "UNDERSTAND"), 1)).toEqual({ action: "ack" });
    const after = await read(env, doc.id);
    expect(after).toMatchObject({
      status: "FAILED",
      stage: "UNDERSTAND",
      errorCode: "CORRUPT",
      leaseExpiresAt: null,
    });
    expect(after.errorMessage).toMatch(/^cannot read.* this$/);
    expect(after.errorMessage).not.toContain("\u0000");
    expect(await outboxFor(env.prisma, doc.id)).toHaveLength(0);
    const failed = await env.prisma.event.findFirstOrThrow({
      where: { documentId: doc.id, type: EventType.DOCUMENT_FAILED },
    });
    expect(failed.payload).toMatchObject({ code: "CORRUPT", status: "FAILED" });
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({
      failed: 1,
      processing: 0,
      queued: 0,
      atUnderstand: 0,
    });
  });

  test.for([
    ["rejects with the signal's reason once aborted", "reject"],
    ["answers what it has once aborted", "resolve"],
  ] as const)(
    "fails with TIMEOUT past the document's time budget, aborting a handler that %s",
    async ([, how], { env, run }) => {
      const doc = await run.queuedAt("EMBED", { options: documentOptions.write({ stageTimeoutMs: 20 }) });
      let aborted = false;
      // Settles in the abort listener itself: the same moment the budget runs out.
      run.handlers.EMBED.mockImplementation(
        ({ signal }) =>
          new Promise((resolve, reject) =>
            signal.addEventListener("abort", () => {
              aborted = true;
              if (how === "reject") reject(signal.reason);
              else resolve({ data: {} });
            }),
          ),
      );
      expect(await run.runner.processStage(stageMessage(doc, "EMBED"), 1)).toEqual({ action: "ack" });
      expect(aborted).toBe(true);
      const after = await read(env, doc.id);
      expect(after).toMatchObject({ status: "FAILED", stage: "EMBED", errorCode: "TIMEOUT" });
      expect(after.errorMessage).toBe("EMBED ran past its 20 ms budget");
    },
  );

  test("counts the budget from the stage's last progress: a slow stage that progresses completes, a stalled one times out", async ({
    env,
    run,
  }) => {
    // Progress on every turn of the event loop until three budgets have passed: past one budget in all,
    // never a budget without progress. No timer of its own: each step waits for the loop's next turn.
    const budgetMs = 500;
    const slow = await run.queuedAt("EMBED", {
      options: documentOptions.write({ stageTimeoutMs: budgetMs }),
    });
    const nextTurn = () => new Promise((r) => setImmediate(r));
    run.handlers.EMBED.mockImplementation(async ({ progress }) => {
      const from = Date.now();
      while (Date.now() - from <= 3 * budgetMs) {
        await nextTurn();
        progress();
      }
      return { data: {} };
    });
    const started = Date.now();
    expect(await run.runner.processStage(stageMessage(slow, "EMBED"), 1)).toEqual({ action: "ack" });
    expect(Date.now() - started).toBeGreaterThan(budgetMs);
    expect((await read(env, slow.id)).status).not.toBe("FAILED");

    // One step of progress, then nothing: it times out one budget after that step.
    const stalled = await run.queuedAt("EMBED", { options: documentOptions.write({ stageTimeoutMs: 50 }) });
    run.handlers.EMBED.mockImplementation(
      ({ progress, signal }) =>
        new Promise((_, reject) => {
          progress();
          signal.addEventListener("abort", () => reject(signal.reason));
        }),
    );
    await run.runner.processStage(stageMessage(stalled, "EMBED"), 1);
    const after = await read(env, stalled.id);
    expect(after).toMatchObject({ status: "FAILED", errorCode: "TIMEOUT" });
    expect(after.errorMessage).toBe("EMBED made no progress for 50 ms (its budget)");

    // Progress without end still stops at STAGE_PROGRESS_CAP budgets.
    const endless = await run.queuedAt("EMBED", { options: documentOptions.write({ stageTimeoutMs: 300 }) });
    let steps = 0;
    run.handlers.EMBED.mockImplementation(async ({ progress, signal }) => {
      while (!signal.aborted) {
        await nextTurn();
        steps++;
        progress();
      }
      throw signal.reason;
    });
    await run.runner.processStage(stageMessage(endless, "EMBED"), 1);
    expect(await read(env, endless.id)).toMatchObject({ status: "FAILED", errorCode: "TIMEOUT" });
    expect(steps).toBeGreaterThan(1);
  });

  test("retries a thrown error with a delay, the document back to QUEUED at its stage and no outbox row", async ({
    env,
    run,
  }) => {
    const doc = await run.queuedAt("EMBED");
    run.handlers.EMBED.mockRejectedValue(new Error("model server unreachable"));
    const d = await run.runner.processStage(stageMessage(doc, "EMBED"), 1);
    expect(d).toMatchObject({ action: "retry", reason: "model server unreachable" });
    const delay = d.action === "retry" ? d.delayMs : undefined;
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThanOrEqual(1000); // attempt 1: backoff up to a second
    expect(await read(env, doc.id)).toMatchObject({
      status: "QUEUED",
      stage: "EMBED",
      attempts: 1,
      leaseExpiresAt: null,
      errorCode: null,
    });
    // The queue redelivers the message itself after the delay.
    expect(await outboxFor(env.prisma, doc.id)).toHaveLength(0);
    const retry = await env.prisma.event.findFirstOrThrow({
      where: { documentId: doc.id, type: EventType.STAGE_RETRY },
    });
    expect(retry.payload).toMatchObject({ attempt: 1, reason: "model server unreachable" });
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({ queued: 1, processing: 0, atEmbed: 1 });

    // The redelivery runs it again and it succeeds.
    run.handlers.EMBED.mockResolvedValue({ data: {} });
    expect(await run.runner.processStage(stageMessage(doc, "EMBED"), 2)).toEqual({ action: "ack" });
    expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "INDEX", attempts: 0 });
  });

  test("at the delivery limit fails the document with RETRIES_EXHAUSTED and dead-letters the message", async ({
    env,
    run,
  }) => {
    const limit = env.deps.settings.deliveryLimit;
    // Failed limit - 1 times before: the limit counts the document's own failures, not deliveries.
    const doc = await run.queuedAt("PARSE", { attempts: limit - 1 });
    run.handlers.PARSE.mockRejectedValue(new Error("flaky"));
    const d = await run.runner.processStage(stageMessage(doc, "PARSE"), limit);
    expect(d).toEqual({ action: "dead-letter", reason: "flaky" });
    const after = await read(env, doc.id);
    expect(after).toMatchObject({
      status: "FAILED",
      stage: "PARSE",
      errorCode: FailureCode.RETRIES_EXHAUSTED,
    });
    expect(after.errorMessage).toBe(`gave up after ${limit} attempts: flaky`);
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({ failed: 1, queued: 0, processing: 0 });
  });

  test("takes over a PROCESSING document on redelivery (its holder died), counting one more attempt", async ({
    env,
    tenantId,
    run,
  }) => {
    const doc = await insertDocument(env.prisma, {
      tenantId,
      batchId: run.batch.id,
      status: "PROCESSING",
      stage: "UNDERSTAND",
      attempts: 1,
      leaseExpiresAt: new Date(Date.now() + 60_000),
    });
    expect(await run.runner.processStage(stageMessage(doc, "UNDERSTAND"), 2)).toEqual({ action: "ack" });
    expect(run.handlers.UNDERSTAND).toHaveBeenCalledTimes(1);
    expect(run.calls[0]?.doc.attempts).toBe(2);
    expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "EMBED", attempts: 0 });
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({
      processing: 0,
      queued: 1,
      atEmbed: 1,
      atUnderstand: 0,
    });
  });
});

describe("StageRunner.reconcileExpiredLeases", () => {
  test("requeues a document whose lease expired, once, with an outbox row; live leases stay", async ({
    env,
    tenantId,
    run,
  }) => {
    const past = new Date(Date.now() - 60_000);
    const expired = await insertDocument(env.prisma, {
      tenantId,
      batchId: run.batch.id,
      status: "PROCESSING",
      stage: "EMBED",
      leaseExpiresAt: past,
    });
    const live = await insertDocument(env.prisma, {
      tenantId,
      batchId: run.batch.id,
      status: "PROCESSING",
      stage: "PARSE",
      leaseExpiresAt: new Date(Date.now() + 600_000),
    });
    // Two reconcilers at once (two processes): the document moves once.
    const moved = await Promise.all([
      run.runner.reconcileExpiredLeases(),
      run.runner.reconcileExpiredLeases(),
    ]);
    expect(moved[0]! + moved[1]!).toBe(1);
    expect(await read(env, expired.id)).toMatchObject({
      status: "QUEUED",
      stage: "EMBED",
      leaseExpiresAt: null,
    });
    const rows = await outboxFor(env.prisma, expired.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ topic: "docfleet.embed", payload: stageMessage(expired, "EMBED") });
    expect(
      await env.prisma.event.count({ where: { documentId: expired.id, type: EventType.STAGE_RETRY } }),
    ).toBe(1);

    expect(await run.runner.reconcileExpiredLeases()).toBe(0);
    expect(await outboxFor(env.prisma, expired.id)).toHaveLength(1);
    expect(await read(env, live.id)).toMatchObject({ status: "PROCESSING", stage: "PARSE" });
    expect(await outboxFor(env.prisma, live.id)).toHaveLength(0);
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({
      processing: 1,
      queued: 1,
      atEmbed: 1,
      atParse: 1,
    });
  });
});
