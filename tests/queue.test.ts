import { randomBytes } from "node:crypto";
import type { Delivery } from "@docfleet/pipeline";
import { AmqpQueue } from "@docfleet/pipeline/adapters/queue/amqp";
import { MemoryQueue } from "@docfleet/pipeline/adapters/queue/memory";
import { Connection } from "rabbitmq-client";
import { describe, expect, it } from "vitest";
import { queueContract } from "./contracts/queue.contract.ts";
import { AMQP_URL } from "./helpers/amqp.ts";
import { deferred, pollUntil } from "./helpers/wait.ts";

queueContract("memory", async (deliveryLimit) => new MemoryQueue({ deliveryLimit }));

// The machine's RabbitMQ; each test gets its own queue names, deleted when it closes.
queueContract(
  "rabbitmq",
  async (deliveryLimit) =>
    new AmqpQueue({
      url: AMQP_URL,
      deliveryLimit,
      prefix: `t${randomBytes(4).toString("hex")}.`,
      deleteOnClose: true,
    }),
);

/** What a consumer that dies holding a message does to it: takes it, then its channel goes away unacked. */
async function crashHolding(raw: Connection, queue: string) {
  const ch = await raw.acquire();
  try {
    const m = await ch.basicGet({ queue });
    expect(m).toBeDefined();
  } finally {
    await ch.close();
  }
}

describe("rabbitmq queue specifics", () => {
  it("counts a redelivery after a consumer crash as an attempt", async () => {
    const prefix = `t${randomBytes(4).toString("hex")}.`;
    const queue = new AmqpQueue({ url: AMQP_URL, deliveryLimit: 3, prefix, deleteOnClose: true });
    const raw = new Connection(AMQP_URL);
    try {
      await queue.setup(["q"]);
      await queue.publish("q", { n: 1 }, { messageId: "m1" });
      await crashHolding(raw, `${prefix}q`);
      const got = deferred<Delivery>();
      const consumer = queue.consume(
        "q",
        async (d) => {
          got.resolve(d);
          return { action: "ack" };
        },
        { concurrency: 1 },
      );
      const d = await got.promise;
      await consumer.close();
      expect(d).toEqual({ body: { n: 1 }, attempt: 2, messageId: "m1" });
    } finally {
      await raw.close();
      await queue.close();
    }
  });

  it("lets the broker quarantine a message whose consumers keep dying (x-delivery-limit)", async () => {
    const prefix = `t${randomBytes(4).toString("hex")}.`;
    const queue = new AmqpQueue({ url: AMQP_URL, deliveryLimit: 2, prefix, deleteOnClose: true });
    const raw = new Connection(AMQP_URL);
    try {
      await queue.setup(["q"]);
      await queue.publish("q", { n: 1 });
      // deliveries 1..3: the third return exceeds the limit of 2 redeliveries
      for (let i = 0; i < 3; i++) await crashHolding(raw, `${prefix}q`);
      // dead-lettering happens inside the broker after the return, which announces nothing: poll it
      const dead = await pollUntil("the dead letter of q", async () => {
        const d = await queue.deadLetters("q");
        return d.length > 0 && d;
      });
      expect(await queue.depth("q")).toBe(0);
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ queue: "q", body: { n: 1 }, reason: "delivery limit reached" });
    } finally {
      await raw.close();
      await queue.close();
    }
  });

  it("quarantines a message whose body is not JSON without calling the handler, and keeps flowing", async () => {
    const prefix = `t${randomBytes(4).toString("hex")}.`;
    const queue = new AmqpQueue({ url: AMQP_URL, deliveryLimit: 3, prefix, deleteOnClose: true });
    const raw = new Connection(AMQP_URL);
    try {
      await queue.setup(["q"]);
      const pub = raw.createPublisher({ confirm: true });
      await pub.send({ routingKey: `${prefix}q`, contentType: "application/json" }, Buffer.from("{not json"));
      await pub.close();
      await queue.publish("q", { ok: true });
      const seen: unknown[] = [];
      const ok = deferred();
      const consumer = queue.consume(
        "q",
        async (d) => {
          seen.push(d.body);
          ok.resolve();
          return { action: "ack" };
        },
        { concurrency: 1 },
      );
      await ok.promise;
      await consumer.close();
      expect(seen).toEqual([{ ok: true }]);
      const dead = await queue.deadLetters("q");
      expect(dead).toHaveLength(1);
      expect(dead[0]!.reason).toMatch(/not JSON/);
      expect(await queue.deadLetters("q")).toHaveLength(1); // reading does not consume
    } finally {
      await raw.close();
      await queue.close();
    }
  });
});
