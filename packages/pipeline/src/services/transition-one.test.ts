import { Prisma } from "@docfleet/schema";
import { describe, expect } from "vitest";
import { type BatchCounters, StaleStateError, type TransitionSpec } from "../domain/lifecycle.ts";
import { EventType } from "../domain/messages.ts";
import { WEBHOOK_TOPIC } from "../domain/webhooks.ts";
import { transition, transitionOne } from "../repositories/transition.ts";
import { stageOutbox } from "./resources.ts";
import { counters, insertBatch, insertDocument, outboxFor, serviceTest as test } from "./test-resources.ts";

const delta = (a: BatchCounters, b: BatchCounters) =>
  Object.fromEntries(
    Object.keys(a).map((k) => [k, b[k as keyof BatchCounters] - a[k as keyof BatchCounters]]),
  );

/** The stage runner's advance from PARSE, with every kind of column it sets. */
function advance(tenantId: string, batchId: string, id: string): TransitionSpec {
  return {
    tenantId,
    batchId,
    documentIds: [id],
    from: { status: "PROCESSING", stage: "PARSE" },
    to: { status: "QUEUED", stage: "UNDERSTAND" },
    data: {
      detectedType: "txt",
      pageCount: 1,
      textKey: `t/${id}`,
      metadata: { title: "T" },
      needsReview: true,
      timings: { PARSE: 3 },
      options: Prisma.DbNull,
      attempts: 0,
      crashes: 0,
      leaseExpiresAt: null,
    },
    needsReviewDelta: 1,
    eventType: EventType.STAGE_COMPLETED,
    eventPayload: () => ({ stage: "PARSE", nextStage: "UNDERSTAND", completedStage: "PARSE", ms: 3 }),
    outbox: (doc) => stageOutbox({ id: doc, tenantId }, "UNDERSTAND"),
  };
}

// The file's PGlite deployment is made in the first test: minutes on a loaded 2-core machine.
describe("transitionOne (one statement) writes what transition (a transaction) writes", {
  timeout: 600_000,
}, () => {
  test("document, counters, event, stage outbox row and webhook row alike", async ({ env, tenantId }) => {
    const batch = await insertBatch(env.prisma, tenantId);
    await env.prisma.$executeRawUnsafe(
      `INSERT INTO webhook_endpoint (tenant_id, url, events, secret_ciphertext, secret_prefix)
       VALUES ($1::uuid, 'http://127.0.0.1:9/hook', ARRAY['stage.completed'], 'sealed', 'whsec_x')`,
      tenantId,
    );
    const processing = { tenantId, batchId: batch.id, status: "PROCESSING", stage: "PARSE" } as const;
    const a = await insertDocument(env.prisma, { ...processing, attempts: 1 });
    const b = await insertDocument(env.prisma, { ...processing, attempts: 1 });

    const c0 = await counters(env.prisma, batch.id);
    const viaTx = await env.prisma.$transaction((tx) => transition(tx, advance(tenantId, batch.id, a.id)));
    const c1 = await counters(env.prisma, batch.id);
    const { documentIds: _ids, ...spec } = advance(tenantId, batch.id, b.id);
    const one = await transitionOne(env.deps.db, { ...spec, documentId: b.id });
    const c2 = await counters(env.prisma, batch.id);

    expect(delta(c1, c2)).toEqual(delta(c0, c1));
    const [da, dbRow] = await Promise.all(
      [a.id, b.id].map((id) => env.prisma.document.findUniqueOrThrow({ where: { id } })),
    );
    const {
      id: _a,
      name: _n,
      sha256: _s,
      objectKey: _o,
      textKey: ta,
      updatedAt: _u,
      createdAt: _c,
      ...restA
    } = da!;
    const {
      id: _b,
      name: _m,
      sha256: _t,
      objectKey: _p,
      textKey: tb,
      updatedAt: _v,
      createdAt: _d,
      ...restB
    } = dbRow!;
    expect(restB).toEqual(restA);
    expect([ta, tb]).toEqual([`t/${a.id}`, `t/${b.id}`]);
    // The row it answers is the stored row.
    expect(one!.document).toEqual(dbRow);

    // Events: the same payload, with the counters as they were after each move; the answered event is the stored one.
    const stored = await env.prisma.event.findMany({ where: { batchId: batch.id }, orderBy: { seq: "asc" } });
    const [ea, eb] = stored.slice(-2);
    expect(eb!.seq).toBe(ea!.seq + 1);
    expect(ea!.payload).toEqual(viaTx[0]!.payload);
    expect(eb!.payload).toEqual(one!.events[0]!.payload);
    // `stage` says what finished (the payload's own key wins over the move's, as in `transition`).
    expect(eb!.payload).toMatchObject({
      status: "QUEUED",
      stage: "PARSE",
      nextStage: "UNDERSTAND",
      batch: c2,
    });
    const { batch: _ba, ...pa } = ea!.payload as Record<string, unknown>;
    const { batch: _bb, ...pb } = eb!.payload as Record<string, unknown>;
    expect(pb).toEqual(pa);
    expect(one!.events[0]).toMatchObject({ seq: eb!.seq, documentId: b.id, type: EventType.STAGE_COMPLETED });
    expect(one!.events[0]!.createdAt).toBe(eb!.createdAt.toISOString());

    // The next stage's outbox row.
    const [oa] = await outboxFor(env.prisma, a.id);
    const [ob] = await outboxFor(env.prisma, b.id);
    expect(ob!.topic).toBe(oa!.topic);
    expect(JSON.stringify(ob!.payload).replaceAll(b.id, "ID")).toBe(
      JSON.stringify(oa!.payload).replaceAll(a.id, "ID"),
    );

    // The webhook row (an endpoint subscribes to stage.completed): same shape, same body once parsed.
    const hooks = await env.prisma.outbox.findMany({
      where: { topic: WEBHOOK_TOPIC, key: batch.id },
      orderBy: { id: "asc" },
    });
    expect(hooks).toHaveLength(2);
    type Hook = { v: number; tenantId: string; events: { id: string; type: string; body: string }[] };
    const [ha, hb] = hooks.map((h) => h.payload as Hook);
    expect(hb!.events[0]!.id).toBe(`${batch.id}.${eb!.seq}`);
    const body = (h: Hook, e: { seq: number; createdAt: Date }, documentId: string) => {
      const parsed = JSON.parse(h.events[0]!.body) as Record<string, unknown> & {
        data: Record<string, unknown>;
      };
      expect(parsed).toMatchObject({
        id: `${batch.id}.${e.seq}`,
        seq: e.seq,
        documentId,
        createdAt: e.createdAt.toISOString(),
      });
      const { batch: _c, ...data } = parsed.data;
      return { ...parsed, id: null, seq: null, documentId: null, createdAt: null, data };
    };
    expect(body(hb!, eb!, b.id)).toEqual(body(ha!, ea!, a.id));
    expect({ ...hb!, events: [] }).toEqual({ ...ha!, events: [] });
  });

  test("a document no longer in `from`: StaleStateError, and nothing written", async ({ env, tenantId }) => {
    const batch = await insertBatch(env.prisma, tenantId);
    const d = await insertDocument(env.prisma, {
      tenantId,
      batchId: batch.id,
      status: "QUEUED",
      stage: "PARSE",
    });
    const before = await counters(env.prisma, batch.id);
    const { documentIds: _ids, ...spec } = advance(tenantId, batch.id, d.id);
    await expect(transitionOne(env.deps.db, { ...spec, documentId: d.id })).rejects.toThrow(StaleStateError);
    // Another tenant's document is never moved either.
    const other = {
      ...spec,
      tenantId: batch.id,
      documentId: d.id,
      from: { status: "QUEUED", stage: "PARSE" },
    } as const;
    await expect(transitionOne(env.deps.db, other)).rejects.toThrow(StaleStateError);
    expect(await counters(env.prisma, batch.id)).toEqual(before);
    expect(await outboxFor(env.prisma, d.id)).toEqual([]);
    expect(await env.prisma.document.findUniqueOrThrow({ where: { id: d.id } })).toMatchObject({
      status: "QUEUED",
    });
  });

  test("what only `transition` says (a where guard, a column it does not list) is answered null", async ({
    env,
    tenantId,
  }) => {
    const batch = await insertBatch(env.prisma, tenantId);
    const d = await insertDocument(env.prisma, {
      tenantId,
      batchId: batch.id,
      status: "PROCESSING",
      stage: "PARSE",
    });
    const { documentIds: _ids, ...spec } = advance(tenantId, batch.id, d.id);
    expect(
      await transitionOne(env.deps.db, { ...spec, documentId: d.id, where: { attempts: 0 } }),
    ).toBeNull();
    expect(
      await transitionOne(env.deps.db, { ...spec, documentId: d.id, data: { updatedAt: new Date() } }),
    ).toBeNull();
    expect(await env.prisma.document.findUniqueOrThrow({ where: { id: d.id } })).toMatchObject({
      status: "PROCESSING",
    });
  });
});
