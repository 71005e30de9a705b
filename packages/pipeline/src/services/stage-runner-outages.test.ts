import { describe, expect, vi } from "vitest";
import { EventType, STAGES, type StageName, stageMessage } from "../domain/messages.ts";
import { DependencyUnavailableError } from "../domain/outages.ts";
import type { StageHandler } from "../stages/index.ts";
import { counters, insertBatch, insertDocument, type ServiceEnv, serviceTest } from "./test-resources.ts";

// Issue 16: an outage of the store (or the model server, the database, the broker) must never spend a
// document's attempts nor quarantine its message. The stage runner defers the message (not counted) and
// gives its claim back; a failure no probe confirms is still the document's own.

const refused = () =>
  Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9000"), { code: "ECONNREFUSED" });

const test = serviceTest.extend("run", async ({ env, tenantId }) => {
  const handlers = Object.fromEntries(
    STAGES.map((s) => [s, vi.fn<StageHandler>(async () => ({ data: {} }))]),
  ) as Record<StageName, ReturnType<typeof vi.fn<StageHandler>>>;
  const store = { up: true };
  const services = env.services({
    handlers,
    outages: {
      minProbeMs: 5,
      maxProbeMs: 10,
      probes: {
        store: async () => {
          if (!store.up) throw refused();
        },
      },
    },
  });
  const batch = await insertBatch(env.prisma, tenantId);
  const seed = (doc: Omit<Parameters<typeof insertDocument>[1], "tenantId" | "batchId">) =>
    insertDocument(env.prisma, { tenantId, batchId: batch.id, ...doc });
  return { handlers, services, store, batch, seed };
});

const read = (env: ServiceEnv, id: string) => env.prisma.document.findUniqueOrThrow({ where: { id } });

describe("outages: infrastructure failures are not the document's", { timeout: 180_000 }, () => {
  test("a store outage defers the message again and again without spending an attempt; the stage runs once the store is back", async ({
    env,
    run,
  }) => {
    const limit = env.deps.settings.deliveryLimit;
    const doc = await run.seed({ status: "QUEUED", stage: "PARSE" });
    run.store.up = false;
    run.handlers.PARSE.mockImplementation(async () => {
      if (!run.store.up) throw new DependencyUnavailableError("store", refused());
      return { data: {} };
    });
    const msg = stageMessage(doc, "PARSE");
    // Far past the document's limit and with the queue's delivery count unchanged (a defer is not a delivery).
    for (let i = 0; i < limit * 3; i++) {
      const d = await run.services.stages.processStage(msg, 1);
      expect(d).toMatchObject({ action: "defer", reason: expect.stringContaining("store unavailable") });
      expect(await read(env, doc.id)).toMatchObject({
        status: "QUEUED",
        stage: "PARSE",
        attempts: 0,
        crashes: 0,
        leaseExpiresAt: null,
      });
    }
    expect(run.services.outages.down()).toEqual(["store"]);
    run.store.up = true;
    expect(await run.services.outages.whenUp()).toBe(true);
    expect(await run.services.stages.processStage(msg, 1)).toEqual({ action: "ack" });
    expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND", attempts: 0 });
    const events = await env.prisma.event.findMany({
      where: { documentId: doc.id },
      orderBy: { seq: "asc" },
    });
    expect(events.filter((e) => e.type === EventType.DOCUMENT_FAILED)).toEqual([]);
    expect(await counters(env.prisma, run.batch.id)).toMatchObject({ failed: 0 });
    run.services.outages.close();
  }, 180_000);

  test("the same error while the store answers its probe is the document's failure: counted, and at the limit RETRIES_EXHAUSTED", async ({
    env,
    run,
  }) => {
    const limit = env.deps.settings.deliveryLimit;
    const doc = await run.seed({ status: "QUEUED", stage: "PARSE" });
    run.handlers.PARSE.mockRejectedValue(new DependencyUnavailableError("store", refused()));
    const msg = stageMessage(doc, "PARSE");
    for (let i = 1; i < limit; i++) {
      expect(await run.services.stages.processStage(msg, i)).toMatchObject({ action: "retry" });
      expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", attempts: i });
    }
    expect(await run.services.stages.processStage(msg, limit)).toMatchObject({ action: "dead-letter" });
    expect(await read(env, doc.id)).toMatchObject({ status: "FAILED", errorCode: "RETRIES_EXHAUSTED" });
    run.services.outages.close();
  }, 180_000);

  test("a document error during an outage of another dependency still fails the document", async ({
    env,
    run,
  }) => {
    const doc = await run.seed({ status: "QUEUED", stage: "PARSE" });
    run.store.up = false;
    const { DocumentError, FailureCode } = await import("../domain/errors.ts");
    run.handlers.PARSE.mockRejectedValue(new DocumentError(FailureCode.CORRUPT, "bad bytes"));
    expect(await run.services.stages.processStage(stageMessage(doc, "PARSE"), 1)).toEqual({ action: "ack" });
    expect(await read(env, doc.id)).toMatchObject({ status: "FAILED", errorCode: "CORRUPT" });
    run.services.outages.close();
  }, 180_000);
});
