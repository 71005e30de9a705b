import type { Delivery, Disposition, Queue } from "@docfleet/pipeline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deferred, within } from "../helpers/wait.ts";

/** A promise with its resolve function, for waiting on events instead of sleeping. */
/**
 * The queue port's contract. Every adapter runs it: `make(deliveryLimit)` returns a fresh queue whose
 * queue names do not collide with other tests.
 */
export function queueContract(name: string, make: (deliveryLimit: number) => Promise<Queue>) {
  describe(`queue contract: ${name}`, () => {
    let queue: Queue;
    beforeEach(async () => {
      queue = await make(3);
      await queue.setup(["q.a", "q.b"]);
    });
    afterEach(async () => {
      await queue.close();
    });

    it("delivers every published message once when acked", async () => {
      const got: unknown[] = [];
      const all = deferred();
      const consumer = queue.consume<{ n: number }>(
        "q.a",
        async (d) => {
          got.push(d.body.n);
          if (got.length === 20) all.resolve();
          return { action: "ack" };
        },
        { concurrency: 4 },
      );
      for (let n = 0; n < 20; n++) await queue.publish("q.a", { n });
      await all.promise;
      await consumer.close();
      expect([...got].sort((a, b) => (a as number) - (b as number))).toEqual([...Array(20).keys()]);
      expect(await queue.depth("q.a")).toBe(0);
    });

    it("never runs more handlers at once than the concurrency, and uses all of it", async () => {
      for (let n = 0; n < 12; n++) await queue.publish("q.a", { n });
      let active = 0;
      let peak = 0;
      let done = 0;
      const all = deferred();
      // Handlers hold until three run at once: a queue that serialised them would never get there.
      const three = deferred();
      const consumer = queue.consume(
        "q.a",
        async () => {
          active++;
          peak = Math.max(peak, active);
          if (active === 3) three.resolve();
          await three.promise;
          await new Promise((r) => setImmediate(r));
          active--;
          if (++done === 12) all.resolve();
          return { action: "ack" };
        },
        { concurrency: 3 },
      );
      await all.promise;
      await consumer.close();
      expect(peak).toBe(3);
    });

    it("retries with a delay and counts attempts", async () => {
      const attempts: number[] = [];
      const ok = deferred<Delivery>();
      const consumer = queue.consume(
        "q.a",
        async (d): Promise<Disposition> => {
          attempts.push(d.attempt);
          if (d.attempt < 2) return { action: "retry", delayMs: 20, reason: "not yet" };
          ok.resolve(d);
          return { action: "ack" };
        },
        { concurrency: 1 },
      );
      await queue.publish("q.a", { x: 1 });
      const d = await ok.promise;
      await consumer.close();
      expect(attempts).toEqual([1, 2]);
      expect(d.body).toEqual({ x: 1 });
    });

    it("defers (an outage) past the delivery limit without counting an attempt or quarantining", async () => {
      const attempts: number[] = [];
      const done = deferred();
      const consumer = queue.consume(
        "q.a",
        async (d): Promise<Disposition> => {
          attempts.push(d.attempt);
          // Twice the limit of 3: a retry would have been quarantined long before.
          if (attempts.length <= 6) return { action: "defer", delayMs: 20, reason: "database unavailable" };
          done.resolve();
          return { action: "ack" };
        },
        { concurrency: 1 },
      );
      await queue.publish("q.a", { deferred: true });
      await within(60_000, "the seventh delivery of q.a", done.promise);
      await consumer.close();
      expect(attempts).toEqual([1, 1, 1, 1, 1, 1, 1]);
      expect(await queue.deadLetters("q.a")).toEqual([]);
    });

    it("a deferred message goes behind the messages already waiting; its slot takes the next one (per-tenant fairness)", async () => {
      // What per-tenant fairness relies on: a tenant at its share of the slots is deferred, and another
      // tenant's message waiting behind it gets the slot at once, before the deferred one comes back.
      const order: string[] = [];
      const attempts: Record<string, number[]> = {};
      const done = deferred();
      const consumer = queue.consume<{ id: string }>(
        "q.a",
        async (d): Promise<Disposition> => {
          order.push(d.body.id);
          attempts[d.body.id] = [...(attempts[d.body.id] ?? []), d.attempt];
          if (d.body.id === "heavy-2" && attempts["heavy-2"]!.length === 1)
            return { action: "defer", delayMs: 1000, reason: "tenant holds its share" };
          if (order.length === 4) done.resolve();
          return { action: "ack" };
        },
        { concurrency: 1 },
      );
      for (const id of ["heavy-1", "heavy-2", "small-1"]) await queue.publish("q.a", { id });
      await within(60_000, "four deliveries of q.a", done.promise, { detail: () => order });
      await consumer.close();
      expect(order).toEqual(["heavy-1", "heavy-2", "small-1", "heavy-2"]);
      expect(attempts["heavy-2"]).toEqual([1, 1]);
      expect(await queue.deadLetters("q.a")).toEqual([]);
    });

    it("treats a thrown error as a retry and quarantines past the delivery limit, keeping the reason", async () => {
      const before = Date.now();
      let calls = 0;
      const third = deferred();
      const consumer = queue.consume(
        "q.b",
        async () => {
          if (++calls === 3) third.resolve();
          throw new Error("boom");
        },
        { concurrency: 1 },
      );
      await queue.publish("q.b", { poison: true });
      // The limit is 3 deliveries: the third throw is the last. Closing the consumer waits for that
      // delivery's handling, quarantine included, so the dead letter is there once close returns.
      await within(30_000, "the third delivery of q.b", third.promise);
      await consumer.close();
      const dead = await queue.deadLetters("q.b");
      expect(calls).toBe(3);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.body).toEqual({ poison: true });
      expect(dead[0]!.reason).toMatch(/boom/);
      expect(dead[0]!.queue).toBe("q.b");
      expect(dead[0]!.attempts).toBe(3);
      expect(dead[0]!.at.getTime()).toBeGreaterThanOrEqual(before);
      expect(dead[0]!.at.getTime()).toBeLessThanOrEqual(Date.now());
    });

    it("keeps the messageId across retries", async () => {
      const ids: string[] = [];
      const ok = deferred();
      const consumer = queue.consume(
        "q.a",
        async (d): Promise<Disposition> => {
          ids.push(d.messageId);
          if (d.attempt < 2) return { action: "retry", delayMs: 20, reason: "not yet" };
          ok.resolve();
          return { action: "ack" };
        },
        { concurrency: 1 },
      );
      await queue.publish("q.a", { x: 1 }, { messageId: "doc-1:parse" });
      await ok.promise;
      await consumer.close();
      expect(ids).toEqual(["doc-1:parse", "doc-1:parse"]);
    });

    it("lists dead letters oldest first, and reading them does not consume them", async () => {
      let n = 0;
      const three = deferred();
      const consumer = queue.consume<{ n: number }>(
        "q.a",
        async (d) => {
          if (++n === 3) three.resolve();
          return { action: "dead-letter", reason: `bad ${d.body.n}` };
        },
        { concurrency: 1 },
      );
      for (let i = 0; i < 3; i++) await queue.publish("q.a", { n: i });
      await three.promise;
      await consumer.close();
      const first = await queue.deadLetters("q.a");
      expect(first.map((d) => d.reason)).toEqual(["bad 0", "bad 1", "bad 2"]);
      expect(first.map((d) => d.body)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
      expect(first.map((d) => d.attempts)).toEqual([1, 1, 1]);
      expect(await queue.deadLetters("q.a")).toEqual(first);
      expect(await queue.deadLetters("q.b")).toEqual([]);
      expect(await queue.depth("q.a")).toBe(0);
    });

    it("dead-letters at once when the handler says so, and the queue keeps flowing", async () => {
      const later = deferred();
      const consumer = queue.consume<{ n: number }>(
        "q.a",
        async (d) => {
          if (d.body.n === 0) return { action: "dead-letter", reason: "bad input" };
          later.resolve();
          return { action: "ack" };
        },
        { concurrency: 1 },
      );
      await queue.publish("q.a", { n: 0 });
      await queue.publish("q.a", { n: 1 });
      await later.promise;
      await consumer.close();
      const dead = await queue.deadLetters("q.a");
      expect(dead.map((d) => d.reason)).toEqual(["bad input"]);
    });

    it("close() waits for in-flight handlers and stops taking messages", async () => {
      const started = deferred();
      const release = deferred();
      let finished = false;
      let calls = 0;
      const consumer = queue.consume(
        "q.a",
        async () => {
          calls++;
          started.resolve();
          await release.promise;
          finished = true;
          return { action: "ack" };
        },
        { concurrency: 1 },
      );
      await queue.publish("q.a", { n: 1 });
      await queue.publish("q.a", { n: 2 });
      await started.promise;
      const closing = consumer.close();
      release.resolve();
      await closing;
      expect(finished).toBe(true);
      expect(calls).toBe(1);
      expect(await queue.depth("q.a")).toBe(1);
    });
  });
}
