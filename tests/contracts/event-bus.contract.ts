import type { EventBus, PipelineEvent } from "@docfleet/pipeline";
import { afterEach, describe, expect, it } from "vitest";
import { deferred } from "../helpers/wait.ts";

const event = (seq: number, batchId = "00000000-0000-4000-8000-0000000000b1"): PipelineEvent => ({
  tenantId: "00000000-0000-4000-8000-000000000001",
  batchId,
  seq,
  documentId: null,
  type: "test.event",
  payload: { seq },
  createdAt: new Date(0).toISOString(),
});

/**
 * The event bus port's contract. `make()` returns two buses that stand for two processes of one
 * deployment (the same bus object twice where everything lives in one process).
 */
export function eventBusContract(
  name: string,
  make: () => Promise<{ a: EventBus; b: EventBus; close(): Promise<void> }>,
) {
  describe(`event bus contract: ${name}`, () => {
    let fx: Awaited<ReturnType<typeof make>> | undefined;
    afterEach(async () => {
      await fx?.close();
      fx = undefined;
    });

    it("delivers every event, in order, to every subscriber of every bus", async () => {
      fx = await make();
      const got: Record<string, number[]> = { a1: [], a2: [], b: [] };
      const done = deferred();
      const sub = (key: string) => (e: PipelineEvent) => {
        got[key]!.push(e.seq);
        if (Object.values(got).every((l) => l.length === 20)) done.resolve();
      };
      fx.a.subscribe(sub("a1"));
      fx.a.subscribe(sub("a2"));
      fx.b.subscribe(sub("b"));
      await Promise.all([fx.a.ready(), fx.b.ready()]);
      await fx.a.publish(Array.from({ length: 20 }, (_, i) => event(i + 1)));
      await done.promise;
      const seqs = Array.from({ length: 20 }, (_, i) => i + 1);
      expect(got).toEqual({ a1: seqs, a2: seqs, b: seqs });
    });

    it("stops delivering after unsubscribe, and a throwing subscriber does not stop the others", async () => {
      fx = await make();
      const kept: number[] = [];
      const first = deferred();
      const second = deferred();
      const off = fx.b.subscribe(() => {
        throw new Error("broken subscriber");
      });
      const gone: number[] = [];
      const offGone = fx.b.subscribe((e) => gone.push(e.seq));
      fx.b.subscribe((e) => {
        kept.push(e.seq);
        if (e.seq === 1) first.resolve();
        if (e.seq === 2) second.resolve();
      });
      await fx.b.ready();
      await fx.a.publish([event(1)]);
      await first.promise;
      offGone();
      off();
      await fx.a.publish([event(2)]);
      await second.promise;
      expect(kept).toEqual([1, 2]);
      expect(gone).toEqual([1]);
    });

    it("follows again after every subscriber left and a new one came", async () => {
      fx = await make();
      const first = deferred();
      const off = fx.b.subscribe((e) => e.seq === 1 && first.resolve());
      await fx.b.ready();
      await fx.a.publish([event(1)]);
      await first.promise;
      off(); // none left: a bus may stop following (the distributed one drops its queue)
      const got: number[] = [];
      const again = deferred();
      fx.b.subscribe((e) => {
        got.push(e.seq);
        if (e.seq === 3) again.resolve();
      });
      await fx.b.ready();
      await fx.a.publish([event(2), event(3)]);
      await again.promise;
      expect(got).toEqual([2, 3]);
    });

    it("publishes without subscribers", async () => {
      fx = await make();
      await expect(fx.a.publish([event(1)])).resolves.toBeUndefined();
    });
  });
}
