import { describe, expect, onTestFinished, vi } from "vitest";
import { EventType, STAGES, type StageName, stageMessage } from "../domain/messages.ts";
import { WEBHOOK_TOPIC } from "../domain/webhooks.ts";
import type { StageHandler, StageInput } from "../stages/index.ts";
import { createServices } from "./index.ts";
import { StageChain } from "./stage-chain.ts";
import {
  counters,
  createTenant,
  insertBatch,
  insertDocument,
  outboxFor,
  type ServiceEnv,
  serviceTest,
} from "./test-resources.ts";

// Stage chaining (issue 17 goal 1): a run that finished its stage goes on with the next one, in a free
// slot of that stage, when the process serves it: claimed in the advance's own statement, with no queue
// message for the hop; the message that started the chain is acked and the chain goes on detached.
// Driven as the worker drives it: processStage with the stage's shares and the StageChain of every stage
// served, the consumer's run counted in its stage's slots. Nothing is timed: the fairness answers are
// not cached (cacheMs 0); a test waits for the detached runs (`drain`).

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/** Handlers that answer `{ data: {} }`, recording what each stage was given; `override` per stage. */
function recordingHandlers(override: Partial<Record<StageName, StageHandler>> = {}) {
  const calls: StageInput[] = [];
  const handlers = Object.fromEntries(
    STAGES.map((s) => [
      s,
      vi.fn<StageHandler>(async (input) => {
        calls.push(input);
        return override[s] ? override[s](input) : { data: {} };
      }),
    ]),
  ) as Record<StageName, ReturnType<typeof vi.fn<StageHandler>>>;
  return { handlers, calls };
}

/** A document of `batchId` QUEUED at `stage`, as the intake leaves it. */
function queuedAt(env: ServiceEnv, tenantId: string, batchId: string, stage: StageName = "PARSE") {
  return insertDocument(env.prisma, { tenantId, batchId, status: "QUEUED", stage });
}

function setup(
  env: ServiceEnv,
  tenantId: string,
  opts: {
    override?: Partial<Record<StageName, StageHandler>>;
    chaining?: boolean;
    serves?: StageName[];
    slots?: number;
  } = {},
) {
  const { handlers, calls } = recordingHandlers(opts.override);
  leaveNothingQueued(env, tenantId);
  // Chaining is off by default (DOCFLEET_STAGE_CHAINING): on here unless a test turns it off.
  const deps = { ...env.deps, settings: { ...env.deps.settings, stageChaining: opts.chaining !== false } };
  const runner = createServices(deps, { handlers }).stages;
  const served = opts.serves ?? STAGES;
  const slots = opts.slots ?? 2;
  const chain = new StageChain(
    Object.fromEntries(
      served.map((s) => [s, runner.tenantShares(s, slots, { cacheMs: 0, checkEveryMs: 20 })]),
    ),
    Object.fromEntries(served.map((s) => [s, slots])),
  );
  /** One stage message handled as the worker's consumer of its stage handles it (the chain left going). */
  const start = async (doc: { id: string; tenantId: string }, stage: StageName, attempt = 1) => {
    chain.enter(stage);
    try {
      return await runner.processStage(
        stageMessage(doc, stage),
        attempt,
        undefined,
        chain.shares[stage],
        chain,
      );
    } finally {
      chain.leave(stage);
    }
  };
  /** `start`, then waits for the chain it started to end. */
  const handle = async (doc: { id: string; tenantId: string }, stage: StageName, attempt = 1) => {
    const d = await start(doc, stage, attempt);
    await chain.drain();
    return d;
  };
  return { handlers, calls, runner, chain, handle, start };
}

/**
 * The test's tenant leaves no QUEUED document behind: the deployment is the file's, and another tenant's
 * waiting work would (rightly) stop a later test's chains.
 */
function leaveNothingQueued(env: ServiceEnv, tenantId: string) {
  onTestFinished(async () => {
    await env.prisma.document.updateMany({
      where: { tenantId, status: "QUEUED" },
      data: { status: "FAILED", errorCode: "TEST_OVER" },
    });
  });
}

const read = (env: ServiceEnv, id: string) => env.prisma.document.findUniqueOrThrow({ where: { id } });

/** A document's stored events: type and payload (the stage's run time left out), in sequence order. */
async function eventsOf(env: ServiceEnv, documentId: string) {
  const rows = await env.prisma.event.findMany({ where: { documentId }, orderBy: { seq: "asc" } });
  return rows.map((e) => {
    const { ms: _ms, ...payload } = e.payload as Record<string, unknown>;
    return { seq: e.seq, type: e.type, payload };
  });
}

const stageRows = async (env: ServiceEnv, id: string) =>
  (await outboxFor(env.prisma, id)).filter((r) => r.topic !== WEBHOOK_TOPIC);

async function subscribeWebhooks(env: ServiceEnv, tenantId: string) {
  await env.prisma.$executeRawUnsafe(
    `INSERT INTO webhook_endpoint (tenant_id, url, events, secret_ciphertext, secret_prefix)
     VALUES ($1::uuid, 'http://127.0.0.1:9/hook', ARRAY['stage.started', 'stage.completed', 'document.completed'], 'sealed', 'whsec_x')`,
    tenantId,
  );
}

describe("stage chaining", { timeout: 300_000 }, () => {
  serviceTest(
    "a chained document's events, counters and webhook rows are those of the same document through the queue",
    async ({ env, tenantId }) => {
      await subscribeWebhooks(env, tenantId);
      const viaQueue = await insertBatch(env.prisma, tenantId, "queued hops");
      const chained = await insertBatch(env.prisma, tenantId, "chained hops");
      const a = await queuedAt(env, tenantId, viaQueue.id);
      const b = await queuedAt(env, tenantId, chained.id);

      // Through the queue: each stage's message, as its outbox row says, with the switch off.
      const off = setup(env, tenantId, { chaining: false });
      let stage: StageName | null = "PARSE";
      while (stage) {
        expect(await off.handle(a, stage)).toEqual({ action: "ack" });
        const row = (await stageRows(env, a.id)).at(-1);
        const next = (await read(env, a.id)).stage;
        if (next) expect(row?.payload).toMatchObject({ stage: next });
        stage = next;
      }
      expect(await stageRows(env, a.id)).toHaveLength(3);

      // Chained: one message, every stage run in its slot, no stage message written.
      const on = setup(env, tenantId);
      const published: string[] = [];
      const unsubscribe = env.deps.events.subscribe((e) => e.documentId === b.id && published.push(e.type));
      try {
        expect(await on.handle(b, "PARSE")).toEqual({ action: "ack" });
      } finally {
        unsubscribe();
      }
      for (const s of STAGES) expect(on.handlers[s]).toHaveBeenCalledTimes(1);
      // Each chained stage saw its document claimed: PROCESSING at the stage, its first attempt, a lease.
      expect(on.calls.map((c) => [c.doc.stage, c.doc.status, c.doc.attempts])).toEqual(
        STAGES.map((s) => [s, "PROCESSING", 1]),
      );
      for (const c of on.calls) expect(c.doc.leaseExpiresAt).toBeInstanceOf(Date);
      // The understand stage got its inputs from the chained claim's statement, as from a queued claim.
      expect(on.calls[1]?.understandInputs).toBeTypeOf("function");
      expect(await stageRows(env, b.id)).toHaveLength(0);
      expect(await read(env, b.id)).toMatchObject({
        status: "COMPLETED",
        stage: null,
        attempts: 0,
        crashes: 0,
      });

      // The same events, in the same order and sequence, with the same payloads (counters included).
      const queuedEvents = await eventsOf(env, a.id);
      const chainedEvents = await eventsOf(env, b.id);
      expect(queuedEvents.map((e) => e.type)).toEqual([
        ...["PARSE", "UNDERSTAND", "EMBED"].flatMap(() => [
          EventType.STAGE_STARTED,
          EventType.STAGE_COMPLETED,
        ]),
        EventType.STAGE_STARTED,
        EventType.DOCUMENT_COMPLETED,
      ]);
      expect(chainedEvents).toEqual(queuedEvents);
      expect(published).toEqual(queuedEvents.map((e) => e.type));
      const batchState = async (batchId: string) => ({
        ...(await counters(env.prisma, batchId)),
        eventSeq: (await env.prisma.batch.findUniqueOrThrow({ where: { id: batchId } })).eventSeq,
      });
      expect(await batchState(chained.id)).toEqual(await batchState(viaQueue.id));
      // A webhook row for every event, as through the queue.
      const hooks = (batchId: string) =>
        env.prisma.outbox.count({ where: { topic: WEBHOOK_TOPIC, key: batchId } });
      expect(await hooks(chained.id)).toBe(8);
      expect(await hooks(viaQueue.id)).toBe(8);
    },
  );

  serviceTest(
    "a worker that dies mid-chain leaves the document to its lease: the reconciler requeues it, the chain's message is stale",
    async ({ env, tenantId }) => {
      const batch = await insertBatch(env.prisma, tenantId);
      const doc = await queuedAt(env, tenantId, batch.id);
      const entered = deferred();
      const hang = deferred();
      const dying = setup(env, tenantId, {
        override: {
          UNDERSTAND: async () => {
            entered.resolve();
            await hang.promise; // the worker "dies" here: this run never settles before the takeover
            return { data: {} };
          },
        },
      });
      // The PARSE message is acked once the chain has claimed UNDERSTAND; the chain goes on detached.
      expect(await dying.start(doc, "PARSE")).toEqual({ action: "ack" });
      await entered.promise;
      expect(dying.chain.detached).toBe(1);
      expect(dying.chain.inUse("UNDERSTAND")).toBe(1);
      expect(dying.chain.inUse("PARSE")).toBe(0);
      const held = await read(env, doc.id);
      expect(held).toMatchObject({ status: "PROCESSING", stage: "UNDERSTAND", attempts: 1, crashes: 0 });
      expect(held.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now());

      // A PARSE message that comes again (a duplicate) is stale: nothing runs.
      const other = setup(env, tenantId);
      expect(await other.handle(doc, "PARSE", 2)).toEqual({ action: "ack" });
      for (const s of STAGES) expect(other.handlers[s]).not.toHaveBeenCalled();
      // While the lease holds the reconciler leaves it; once it expired the document is QUEUED again.
      expect(await other.runner.reconcileExpiredLeases(new Date())).toBe(0);
      const later = new Date(held.leaseExpiresAt!.getTime() + 1);
      expect(await other.runner.reconcileExpiredLeases(later)).toBe(1);
      expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND", crashes: 1 });
      const rows = await stageRows(env, doc.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        topic: "docfleet.understand",
        payload: stageMessage(doc, "UNDERSTAND"),
      });

      // Its message runs the rest (chained) to completion.
      expect(await other.handle(doc, "UNDERSTAND")).toEqual({ action: "ack" });
      expect(other.handlers.PARSE).not.toHaveBeenCalled();
      for (const s of ["UNDERSTAND", "EMBED", "INDEX"] as const)
        expect(other.handlers[s]).toHaveBeenCalledTimes(1);
      expect(await read(env, doc.id)).toMatchObject({ status: "COMPLETED", crashes: 0 });
      // The dead run, if it ever went on, finds the document moved on: stale, nothing written.
      const seq = await env.prisma.event.count({ where: { documentId: doc.id } });
      hang.resolve();
      await dying.chain.drain();
      expect(dying.chain.inUse("UNDERSTAND")).toBe(0);
      expect(dying.handlers.EMBED).not.toHaveBeenCalled();
      expect(await env.prisma.event.count({ where: { documentId: doc.id } })).toBe(seq);
    },
  );

  serviceTest(
    "a chained stage that fails transiently goes back to QUEUED with its own message (no message of its stage to redeliver)",
    async ({ env, tenantId }) => {
      const batch = await insertBatch(env.prisma, tenantId);
      const doc = await queuedAt(env, tenantId, batch.id);
      let failing = true;
      const run = setup(env, tenantId, {
        override: {
          EMBED: async () => {
            if (failing) throw new Error("model server hiccup");
            return { data: {} };
          },
        },
      });
      // The PARSE message is acked: a retry of it would be stale, the EMBED stage has a message of its own.
      expect(await run.handle(doc, "PARSE")).toEqual({ action: "ack" });
      expect(await read(env, doc.id)).toMatchObject({ status: "QUEUED", stage: "EMBED", attempts: 1 });
      const rows = await stageRows(env, doc.id);
      expect(rows.map((r) => r.payload)).toEqual([stageMessage(doc, "EMBED")]);
      const retry = await env.prisma.event.findFirstOrThrow({
        where: { documentId: doc.id, type: EventType.STAGE_RETRY },
      });
      expect(retry.payload).toMatchObject({ attempt: 1, reason: "model server hiccup" });
      failing = false;
      expect(await run.handle(doc, "EMBED")).toEqual({ action: "ack" });
      expect(await read(env, doc.id)).toMatchObject({ status: "COMPLETED" });
    },
  );

  serviceTest(
    "no chain while another tenant's work waits at the next stage, nor into a stage with no free slot",
    async ({ env, tenantId }) => {
      const batch = await insertBatch(env.prisma, tenantId);
      const queued = (stage: StageName, t = tenantId, b = batch.id) => queuedAt(env, t, b, stage);
      const other = await createTenant(env.prisma, "other");
      const otherBatch = await insertBatch(env.prisma, other);
      const run = setup(env, tenantId);

      // Another tenant's document waits at UNDERSTAND: this PARSE run does not jump it.
      const waiting = await queued("UNDERSTAND", other, otherBatch.id);
      const first = await queued("PARSE");
      expect(await run.handle(first, "PARSE")).toEqual({ action: "ack" });
      expect(await read(env, first.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND" });
      expect((await stageRows(env, first.id)).map((r) => r.payload)).toEqual([
        stageMessage(first, "UNDERSTAND"),
      ]);
      expect(run.handlers.UNDERSTAND).not.toHaveBeenCalled();

      // Every UNDERSTAND slot of the process busy (its consumer's runs): no chain either.
      await env.prisma.document.update({
        where: { id: waiting.id },
        data: { status: "COMPLETED", stage: null },
      });
      run.chain.enter("UNDERSTAND");
      run.chain.enter("UNDERSTAND");
      const second = await queued("PARSE");
      expect(await run.handle(second, "PARSE")).toEqual({ action: "ack" });
      expect(await read(env, second.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND" });
      expect(run.handlers.UNDERSTAND).not.toHaveBeenCalled();
      expect(run.chain.inUse("UNDERSTAND")).toBe(2);

      // A slot free and only this tenant's own work waiting (the two above): the next run chains to the end.
      run.chain.leave("UNDERSTAND");
      const third = await queued("PARSE");
      expect(await run.handle(third, "PARSE")).toEqual({ action: "ack" });
      expect(await read(env, third.id)).toMatchObject({ status: "COMPLETED" });
      expect(await stageRows(env, third.id)).toHaveLength(0);
      expect(run.chain.inUse("UNDERSTAND")).toBe(1);
    },
  );

  serviceTest(
    "no chain into a stage the process does not serve, nor with the switch off (DOCFLEET_STAGE_CHAINING=false)",
    async ({ env, tenantId }) => {
      const batch = await insertBatch(env.prisma, tenantId);
      const queued = (stage: StageName) => queuedAt(env, tenantId, batch.id, stage);

      // A CPU pool (parse, index): PARSE's next stage is another pool's.
      const cpu = setup(env, tenantId, { serves: ["PARSE", "INDEX"] });
      const a = await queued("PARSE");
      expect(await cpu.handle(a, "PARSE")).toEqual({ action: "ack" });
      expect(await read(env, a.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND" });
      expect(cpu.handlers.UNDERSTAND).not.toHaveBeenCalled();
      // A GPU pool (understand, embed) chains its two stages, then hands INDEX to the queue.
      const gpu = setup(env, tenantId, { serves: ["UNDERSTAND", "EMBED"] });
      expect(await gpu.handle(a, "UNDERSTAND")).toEqual({ action: "ack" });
      expect(gpu.handlers.EMBED).toHaveBeenCalledTimes(1);
      expect(await read(env, a.id)).toMatchObject({ status: "QUEUED", stage: "INDEX" });
      expect((await stageRows(env, a.id)).map((r) => r.payload)).toEqual([
        stageMessage(a, "UNDERSTAND"),
        stageMessage(a, "INDEX"),
      ]);

      // Switched off: every hop through the queue, whatever the process serves.
      const off = setup(env, tenantId, { chaining: false });
      const b = await queued("PARSE");
      expect(await off.handle(b, "PARSE")).toEqual({ action: "ack" });
      expect(await read(env, b.id)).toMatchObject({ status: "QUEUED", stage: "UNDERSTAND" });
      expect(off.handlers.UNDERSTAND).not.toHaveBeenCalled();
    },
  );
});
