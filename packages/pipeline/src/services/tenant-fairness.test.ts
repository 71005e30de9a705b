import { describe, expect } from "vitest";
import { STAGES, type StageName, stageMessage, stageQueue } from "../domain/messages.ts";
import type { Disposition } from "../ports/queue.ts";
import type { StageHandler } from "../stages/index.ts";
import { createTenant, insertBatch, insertDocument, type ServiceEnv, serviceTest } from "./test-resources.ts";

// Issue 15, hole 6: one tenant's heavy batch held every parse slot while another tenant's one-line text
// waited 244 s. The stage runner's per-tenant shares (TenantShares) bound what one tenant holds while
// another tenant's work waits. Driven as the worker drives it: the memory queue's consumer with two
// slots calling processStage with the stage's shares. Every wait is on an event; nothing is timed.

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/**
 * Test double of the parse stage: each document's run blocks until the test releases it (or the run is
 * aborted: it gave its slot back). Records the order runs started in and their aborts.
 */
function blockingParseDouble() {
  const started: string[] = [];
  const aborted: string[] = [];
  const release = new Map<string, () => void>();
  const waiters: { id: string; n: number; done: () => void }[] = [];
  const runs = (id: string) => started.filter((s) => s === id).length;
  let open = false;
  const handler: StageHandler = async ({ doc, signal }) => {
    started.push(doc.id);
    for (const w of waiters.splice(0)) {
      if (runs(w.id) >= w.n) w.done();
      else waiters.push(w);
    }
    if (open) return { data: {} };
    await new Promise<void>((resolve, reject) => {
      release.set(doc.id, resolve);
      signal.addEventListener("abort", () => {
        aborted.push(doc.id);
        reject(new Error("aborted"));
      });
    });
    return { data: {} };
  };
  return {
    handler,
    started,
    aborted,
    /** Resolves once `id`'s run has started `n` times. */
    started$(id: string, n = 1): Promise<void> {
      if (runs(id) >= n) return Promise.resolve();
      const d = deferred();
      waiters.push({ id, n, done: d.resolve });
      return d.promise;
    },
    release(id: string) {
      release.get(id)?.();
    },
    /** Releases every run, now and from now on. */
    openAll() {
      open = true;
      for (const r of release.values()) r();
    },
  };
}

/** The worker's consumer of the parse queue: two slots, the runner with `fraction`'s shares. */
function consumeParse(env: ServiceEnv, parse: StageHandler, fraction: number, docs: readonly string[]) {
  const handlers = Object.fromEntries(
    STAGES.map((s) => [s, s === "PARSE" ? parse : async () => ({ data: {} })]),
  ) as Record<StageName, StageHandler>;
  const services = env.services({ handlers });
  const shares = services.stages.tenantShares("PARSE", 2, { fraction, checkEveryMs: 20, cacheMs: 0 });
  const dispositions: { id: string; d: Disposition }[] = [];
  const acked = new Set<string>();
  const allAcked = deferred();
  const consumer = env.deps.queue.consume<{ documentId: string }>(
    stageQueue("PARSE"),
    async (m) => {
      const d = await services.stages.processStage(m.body, m.attempt, undefined, shares);
      dispositions.push({ id: m.body.documentId, d });
      if (d.action === "ack" && docs.includes(m.body.documentId)) acked.add(m.body.documentId);
      if (acked.size === docs.length) allAcked.resolve();
      return d;
    },
    { concurrency: 2 },
  );
  return { shares, dispositions, allAcked: allAcked.promise, consumer };
}

async function queueDocs(env: ServiceEnv, tenantId: string, n: number) {
  const batch = await insertBatch(env.prisma, tenantId);
  const docs = [];
  for (let i = 0; i < n; i++)
    docs.push(
      await insertDocument(env.prisma, { tenantId, batchId: batch.id, status: "QUEUED", stage: "PARSE" }),
    );
  return docs;
}

const publish = (env: ServiceEnv, docs: Awaited<ReturnType<typeof queueDocs>>) =>
  Promise.all(docs.map((d) => env.deps.queue.publish(stageQueue("PARSE"), stageMessage(d, "PARSE"))));

describe("per-tenant fairness of a stage's slots", { timeout: 180_000 }, () => {
  serviceTest.for([
    { fraction: 0.5, fair: true },
    { fraction: 0, fair: false },
  ])(
    "heavy tenant's 4 queued documents ahead of another tenant's one (fair share $fraction)",
    async ({ fraction, fair }, { env }) => {
      const heavy = await queueDocs(env, await createTenant(env.prisma, "heavy"), 4);
      const small = (await queueDocs(env, await createTenant(env.prisma, "small"), 1))[0]!;
      const ids = [...heavy, small].map((d) => d.id);
      const parse = blockingParseDouble();
      // Heavy's four first in the queue, then the small document.
      await publish(env, heavy);
      await publish(env, [small]);
      const run = consumeParse(env, parse.handler, fraction, ids);
      await parse.started$(heavy[0]!.id);
      if (fair) {
        // The small document takes the second slot: heavy's 2nd-4th are deferred while it waits.
        await parse.started$(small.id);
        expect(parse.started).toEqual([heavy[0]!.id, small.id]);
        expect(run.dispositions.filter((x) => x.d.action === "defer").map((x) => x.id)).toEqual(
          expect.arrayContaining([heavy[1]!.id]),
        );
      } else {
        // Without fairness heavy's second document takes the other slot; the small one waits for a release.
        await parse.started$(heavy[1]!.id);
        expect(parse.started).toEqual([heavy[0]!.id, heavy[1]!.id]);
        parse.release(heavy[0]!.id);
        await parse.started$(heavy[2]!.id);
        expect(parse.started).not.toContain(small.id);
      }
      // Then everything is let through and completes.
      parse.openAll();
      await run.allAcked;
      await run.consumer.close();
      const rows = await env.prisma.document.findMany({ where: { id: { in: ids } } });
      expect(rows.map((r) => r.status)).toEqual(ids.map(() => "QUEUED"));
      expect(rows.every((r) => r.stage === "UNDERSTAND" && r.attempts === 0)).toBe(true);
    },
  );

  serviceTest(
    "a run beyond its tenant's share gives its slot back when another tenant's work arrives",
    async ({ env }) => {
      const heavy = await queueDocs(env, await createTenant(env.prisma, "heavy"), 2);
      const smallTenant = await createTenant(env.prisma, "small");
      const parse = blockingParseDouble();
      await publish(env, heavy);
      const ids = heavy.map((d) => d.id);
      const run = consumeParse(env, parse.handler, 0.5, ids);
      // Nobody else waits: the heavy tenant may use both slots (nothing idles).
      await parse.started$(heavy[0]!.id);
      await parse.started$(heavy[1]!.id);
      expect(run.shares.holding(heavy[0]!.tenantId)).toBe(2);
      expect(parse.aborted).toEqual([]);
      // The small document arrives while heavy holds both slots (its long multi-page parses).
      const small = (await queueDocs(env, smallTenant, 1))[0]!;
      ids.push(small.id);
      await publish(env, [small]);
      await parse.started$(small.id);
      // Exactly one heavy run gave its slot back (aborted, not failed); the other still runs.
      expect(parse.aborted).toHaveLength(1);
      const yielded = parse.aborted[0]!;
      const kept = heavy.map((d) => d.id).find((id) => id !== yielded)!;
      expect(parse.started.slice(0, 3)).toEqual([...heavy.map((d) => d.id), small.id]);
      const back = await env.prisma.document.findUniqueOrThrow({ where: { id: yielded } });
      expect(back).toMatchObject({ status: "QUEUED", stage: "PARSE", attempts: 0, errorCode: null });
      expect(run.dispositions.find((x) => x.id === yielded)?.d).toMatchObject({
        action: "defer",
        reason: expect.stringContaining("gave its slot to another tenant"),
      });
      parse.release(small.id);
      parse.release(kept);
      // The yielded document runs again from the start and completes.
      await parse.started$(yielded, 2);
      parse.release(yielded);
      await run.allAcked;
      await run.consumer.close();
      const rows = await env.prisma.document.findMany({ where: { id: { in: ids } } });
      expect(rows.every((r) => r.stage === "UNDERSTAND" && r.status === "QUEUED" && r.attempts === 0)).toBe(
        true,
      );
    },
  );
});
