import { randomBytes } from "node:crypto";
import { AmqpQueue } from "@docfleet/pipeline/adapters/queue/amqp";
import { MemoryQueue } from "@docfleet/pipeline/adapters/queue/memory";
import { Connection } from "rabbitmq-client";
import { describe, expect, it } from "vitest";
import { deferred, queueContract } from "./contracts/queue.contract.ts";

import { AMQP_URL } from "./helpers/amqp.ts";

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

describe("rabbitmq queue specifics", () => {
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
