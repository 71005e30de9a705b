import { describe, expect } from "vitest";
import { stageMessage } from "../domain/messages.ts";
import type { Delivery } from "../ports/queue.ts";
import { OutboxRelay } from "./relay.ts";
import { insertBatch, sha256, serviceTest as test } from "./test-resources.ts";

/** Resolves once `n` messages of `queue` arrived (acking each). */
function receive(queue: { consume: import("../ports/queue.ts").Queue["consume"] }, name: string, n: number) {
  const got: Delivery[] = [];
  let done!: (d: Delivery[]) => void;
  const all = new Promise<Delivery[]>((resolve) => {
    done = resolve;
  });
  const consumer = queue.consume(
    name,
    async (d) => {
      got.push(d);
      if (got.length === n) done(got);
      return { action: "ack" };
    },
    { concurrency: 1 },
  );
  return { all, close: () => consumer.close() };
}

describe("OutboxRelay", () => {
  test("publishes every unsent row once, in rounds, with the row's id as message id, then marks it sent", async ({
    env,
    tenantId,
  }) => {
    const batch = await insertBatch(env.prisma, tenantId);
    const ids = Array.from({ length: 5 }, () => crypto.randomUUID());
    const topic = `test.relay.${batch.id}`;
    await env.prisma.outbox.createMany({
      data: ids.map((id) => ({ topic, key: id, payload: stageMessage({ id, tenantId }, "PARSE") })),
    });
    const relay = new OutboxRelay(env.deps.db, env.deps.queue, env.deps.log, {
      batchSize: 2,
      pollMs: 60_000,
    });
    expect((await relay.lag()).pending).toBeGreaterThanOrEqual(5);

    expect(await relay.drain()).toBeGreaterThanOrEqual(5);
    expect(await env.deps.queue.depth(topic)).toBe(5);
    const rows = await env.prisma.outbox.findMany({ where: { topic }, orderBy: { id: "asc" } });
    expect(rows.every((r) => r.sentAt !== null && r.attempts === 1)).toBe(true);
    expect(await relay.lag()).toEqual({ pending: 0, oldestMs: 0 });

    // Nothing left: a second drain publishes nothing.
    expect(await relay.drain()).toBe(0);
    const received = receive(env.deps.queue, topic, 5);
    const messages = await received.all;
    await received.close();
    expect(messages.map((m) => m.messageId)).toEqual(rows.map((r) => `outbox-${r.id}`));
    expect(messages.map((m) => (m.body as { documentId: string }).documentId)).toEqual(ids);
    await relay.stop();
  });

  test("as the services' after-commit hook, publishes the stage message of an upload once it is queued", async ({
    env,
    tenantId,
  }) => {
    const relay = new OutboxRelay(env.deps.db, env.deps.queue, env.deps.log, {
      batchSize: 200,
      pollMs: 60_000,
    });
    const { intake } = env.services({ afterCommit: relay.kick });
    const batch = await intake.createBatch(tenantId, { name: "b" });
    const content = `relay ${batch.id}`;
    const [out] = await intake.requestUploads(tenantId, batch.id, [
      { name: "r.txt", size: content.length, sha256: sha256(content) },
    ]);
    const doc = out?.status === "UPLOAD" ? out.document : null;
    await env.deps.store.put(doc!.objectKey, content);
    // Only this document's message can reach docfleet.parse in this file.
    const received = receive(env.deps.queue, "docfleet.parse", 1);
    await intake.completeUploads(tenantId, [doc!.id]);
    const [message] = await received.all;
    await received.close();
    expect(message?.body).toEqual(stageMessage(doc!, "PARSE"));
    await relay.stop();
    expect((await env.prisma.outbox.findFirstOrThrow({ where: { key: doc!.id } })).sentAt).not.toBeNull();
  });
});
