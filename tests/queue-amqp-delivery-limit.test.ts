import { randomBytes } from "node:crypto";
import type { Delivery } from "@docfleet/pipeline";
import { AmqpQueue } from "@docfleet/pipeline/adapters/queue/amqp";
import { expect, it } from "vitest";
import { AMQP_URL } from "./helpers/amqp.ts";
import { deferred } from "./helpers/wait.ts";

// Issue 22 raised the stage queues' x-delivery-limit (a safety net above the runner's own counts). A
// quorum queue's arguments never change, and RabbitMQ refuses a declare with another value: queues an
// earlier deployment declared must still work, as they are, with a warning.
it("uses a stage queue declared earlier with another x-delivery-limit as it is, and warns", async () => {
  const prefix = `t${randomBytes(4).toString("hex")}.`;
  const before = new AmqpQueue({ url: AMQP_URL, deliveryLimit: 5, prefix });
  await before.setup(["q"]);
  await before.close(); // the queues stay: an earlier deployment's

  const warnings: { obj: object; msg: string }[] = [];
  const log = { warn: (obj: object, msg: string) => warnings.push({ obj, msg }), error: () => {} };
  const after = new AmqpQueue({ url: AMQP_URL, deliveryLimit: 32, prefix, deleteOnClose: true, log });
  try {
    await after.setup(["q"]);
    expect(warnings).toEqual([
      {
        obj: expect.objectContaining({ queue: `${prefix}q`, deliveryLimit: 32 }),
        msg: expect.stringMatching(/keeps the x-delivery-limit/),
      },
    ]);
    const got = deferred<Delivery>();
    const consumer = after.consume(
      "q",
      async (d) => {
        got.resolve(d);
        return { action: "ack" };
      },
      { concurrency: 1 },
    );
    await after.publish("q", { n: 1 }, { messageId: "m1" });
    expect(await got.promise).toEqual({ body: { n: 1 }, attempt: 1, messageId: "m1" });
    await consumer.close();
    await after.setup(["q"]); // again (every start declares): no error
  } finally {
    await after.close();
  }
});
