import { describe, expect, vi } from "vitest";
import { queueDeliveryLimit } from "../domain/context.ts";
import { FailureCode } from "../domain/errors.ts";
import { EventType, STAGES, type StageName, stageMessage } from "../domain/messages.ts";
import type { StageHandler, StageOutput } from "../stages/index.ts";
import {
  counters,
  insertBatch,
  insertDocument,
  outboxFor,
  type ServiceEnv,
  serviceTest,
} from "./test-resources.ts";

// Issue 22: a document whose processing kills its worker must end FAILED (WORKER_CRASHED) after
// `maxCrashes` deaths, and the other messages the dead worker held must not pay for it: a redelivery
// after a crash is not a failed attempt, and RETRIES_EXHAUSTED is decided from the document's own count.

/**
 * A stage handler that never answers until `release` (a worker that died holding the document: nothing
 * comes back from it), and a wait for its n-th call.
 */
function hangingHandler() {
  let calls = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  const handler = vi.fn<StageHandler>(async (): Promise<StageOutput> => {
    calls++;
    for (const w of waiters.filter((x) => x.n <= calls)) w.resolve();
    await released;
    return { data: {} };
  });
  const called = (n: number) =>
    new Promise<void>((resolve) => {
      if (calls >= n) resolve();
      else waiters.push({ n, resolve });
    });
  return { handler, called, release };
}

const test = serviceTest.extend("run", async ({ env, tenantId }) => {
  const handlers = Object.fromEntries(
    STAGES.map((s) => [s, vi.fn<StageHandler>(async () => ({ data: {} }))]),
  ) as Record<StageName, ReturnType<typeof vi.fn<StageHandler>>>;
  const services = env.services({ handlers });
  const batch = await insertBatch(env.prisma, tenantId);
  const seed = (doc: Omit<Parameters<typeof insertDocument>[1], "tenantId" | "batchId">) =>
    insertDocument(env.prisma, { tenantId, batchId: batch.id, ...doc });
  return { handlers, runner: services.stages, batch, seed };
});

const read = (env: ServiceEnv, id: string) => env.prisma.document.findUniqueOrThrow({ where: { id } });

describe("crashes: workers that die holding a document", () => {
  test("a redelivery that finds the document PROCESSING counts a crash; at the limit it fails WORKER_CRASHED, not run again", async ({
    env,
    run,
  }) => {
    const max = env.deps.settings.maxCrashes;
    expect(max).toBe(3); // the default
    const doc = await run.seed({ status: "QUEUED", stage: "PARSE" });
    const hang = hangingHandler();
    run.handlers.PARSE.mockImplementation(hang.handler);
    const msg = stageMessage(doc, "PARSE");

    // Delivery 1 claims it and "kills the worker"; each redelivery finds it still PROCESSING.
    const dead: Promise<unknown>[] = [];
    for (let delivery = 1; delivery <= max; delivery++) {
      dead.push(run.runner.processStage(msg, delivery));
      await hang.called(delivery);
      expect(await read(env, doc.id)).toMatchObject({
        status: "PROCESSING",
        stage: "PARSE",
        attempts: delivery,
        crashes: delivery - 1,
      });
    }
    // The next redelivery is the max-th crash: the document fails and the stage is not run again.
    expect(await run.runner.processStage(msg, max + 1)).toEqual({ action: "ack" });
    expect(run.handlers.PARSE).toHaveBeenCalledTimes(max);
    const after = await read(env, doc.id);
    expect(after).toMatchObject({
      status: "FAILED",
      stage: "PARSE",
      errorCode: FailureCode.WORKER_CRASHED,
      crashes: max,
      leaseExpiresAt: null,
    });
    expect(after.errorMessage).toMatch(new RegExp(`worker.* died ${max} times`));
    const failed = await env.prisma.event.findFirstOrThrow({
      where: { documentId: doc.id, type: EventType.DOCUMENT_FAILED },
    });
    expect(failed.payload).toMatchObject({ code: FailureCode.WORKER_CRASHED, status: "FAILED" });
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({ failed: 1, processing: 0, atParse: 0 });

    // The "dead" runs wake up and find the document taken from them.
    hang.release();
    for (const d of await Promise.all(dead)) expect(d).toEqual({ action: "ack" });
    expect(await read(env, doc.id)).toMatchObject({
      status: "FAILED",
      errorCode: FailureCode.WORKER_CRASHED,
    });
  });

  test("the reconciler counts an expired lease as a crash, and at the limit fails the document instead of requeuing it", async ({
    env,
    run,
  }) => {
    const max = env.deps.settings.maxCrashes;
    const past = new Date(Date.now() - 60_000);
    const first = await run.seed({ status: "PROCESSING", stage: "EMBED", attempts: 1, leaseExpiresAt: past });
    const last = await run.seed({
      status: "PROCESSING",
      stage: "UNDERSTAND",
      attempts: max,
      crashes: max - 1,
      leaseExpiresAt: past,
    });

    expect(await run.runner.reconcileExpiredLeases()).toBe(2);

    expect(await read(env, first.id)).toMatchObject({ status: "QUEUED", stage: "EMBED", crashes: 1 });
    expect(await outboxFor(env.prisma, first.id)).toHaveLength(1);

    expect(await read(env, last.id)).toMatchObject({
      status: "FAILED",
      stage: "UNDERSTAND",
      errorCode: FailureCode.WORKER_CRASHED,
      crashes: max,
      leaseExpiresAt: null,
    });
    expect(await outboxFor(env.prisma, last.id)).toHaveLength(0);
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({
      queued: 1,
      processing: 0,
      failed: 1,
      atEmbed: 1,
      atUnderstand: 0,
    });
  });

  test("a completed stage and an operator's retry start the count again", async ({ env, run }) => {
    const doc = await run.seed({ status: "PROCESSING", stage: "PARSE", attempts: 2, crashes: 1 });
    // A redelivery: its holder died (crash 2 of 3), and this run completes the stage.
    expect(await run.runner.processStage(stageMessage(doc, "PARSE"), 2)).toEqual({ action: "ack" });
    expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND", crashes: 0 });

    const crashed = await run.seed({
      status: "FAILED",
      stage: "INDEX",
      attempts: 3,
      crashes: 3,
      errorCode: FailureCode.WORKER_CRASHED,
    });
    const ops = env.services().operations;
    expect(await ops.retryDocuments(crashed.tenantId, [crashed.id])).toEqual([
      { documentId: crashed.id, status: "QUEUED" },
    ]);
    expect(await read(env, crashed.id)).toMatchObject({ status: "QUEUED", attempts: 0, crashes: 0 });
  });
});

describe("retry accounting: the document's own failures, not the queue's delivery count", () => {
  test("a redelivery caused by a worker's death is not a failed attempt: an innocent message retries", async ({
    env,
    run,
  }) => {
    // An innocent document the dead worker held: the broker's count went up with every crash.
    const doc = await run.seed({ status: "PROCESSING", stage: "UNDERSTAND", attempts: 1 });
    run.handlers.UNDERSTAND.mockRejectedValue(new Error("model server unreachable"));
    const delivery = env.deps.settings.deliveryLimit + 2;
    const d = await run.runner.processStage(stageMessage(doc, "UNDERSTAND"), delivery);
    expect(d).toMatchObject({ action: "retry", reason: "model server unreachable" });
    // Its first failure: the first backoff, not the one of the queue's count.
    expect(d.action === "retry" && d.delayMs).toBeLessThanOrEqual(1000);
    expect(await read(env, doc.id)).toMatchObject({
      status: "QUEUED",
      stage: "UNDERSTAND",
      attempts: 2,
      crashes: 1,
      errorCode: null,
    });
  });

  test("gives up when the document's own failures reach the limit, whatever the queue's count says", async ({
    env,
    run,
  }) => {
    const limit = env.deps.settings.deliveryLimit;
    // Failed limit - 1 times before, and its worker died once: its message was published again
    // (the reconciler's outbox row), so the queue counts this delivery as the first.
    const doc = await run.seed({ status: "QUEUED", stage: "PARSE", attempts: limit, crashes: 1 });
    run.handlers.PARSE.mockRejectedValue(new Error("flaky"));
    const d = await run.runner.processStage(stageMessage(doc, "PARSE"), 1);
    expect(d).toEqual({ action: "dead-letter", reason: "flaky" });
    const after = await read(env, doc.id);
    expect(after).toMatchObject({
      status: "FAILED",
      stage: "PARSE",
      errorCode: FailureCode.RETRIES_EXHAUSTED,
      attempts: limit + 1,
      crashes: 1,
    });
    expect(after.errorMessage).toBe(`gave up after ${limit} attempts: flaky`);
  });

  test("at the queue's own (generous) delivery limit the document fails instead of being left QUEUED", async ({
    env,
    run,
  }) => {
    const queueLimit = queueDeliveryLimit(env.deps.settings);
    expect(queueLimit).toBeGreaterThanOrEqual(
      2 * (env.deps.settings.deliveryLimit + env.deps.settings.maxCrashes),
    );
    const doc = await run.seed({ status: "QUEUED", stage: "EMBED" });
    run.handlers.EMBED.mockRejectedValue(new Error("flaky"));
    const d = await run.runner.processStage(stageMessage(doc, "EMBED"), queueLimit);
    expect(d).toEqual({ action: "dead-letter", reason: "flaky" });
    const after = await read(env, doc.id);
    expect(after).toMatchObject({ status: "FAILED", errorCode: FailureCode.RETRIES_EXHAUSTED });
    expect(after.errorMessage).toBe(`the queue delivered it ${queueLimit} times: flaky`);
  });
});
