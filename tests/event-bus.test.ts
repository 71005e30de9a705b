import { randomBytes } from "node:crypto";
import { AmqpEventBus } from "@docfleet/pipeline/adapters/queue/amqp-event-bus";
import { MemoryEventBus } from "@docfleet/pipeline/adapters/queue/memory-event-bus";
import { Connection } from "rabbitmq-client";
import { eventBusContract } from "./contracts/event-bus.contract.ts";
import { AMQP_URL } from "./helpers/amqp.ts";

eventBusContract("memory", async () => {
  const bus = new MemoryEventBus();
  return { a: bus, b: bus, close: () => bus.close() };
});

// Two buses on one prefix stand for two processes: each must see what the other publishes.
eventBusContract("rabbitmq", async () => {
  const prefix = `t${randomBytes(4).toString("hex")}.`;
  const a = new AmqpEventBus({ url: AMQP_URL, prefix });
  const b = new AmqpEventBus({ url: AMQP_URL, prefix });
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      // the buses' queues are auto-deleted; the durable exchange is not
      const raw = new Connection(AMQP_URL);
      try {
        await raw.exchangeDelete({ exchange: `${prefix}docfleet.events` });
      } finally {
        await raw.close();
      }
    },
  };
});
