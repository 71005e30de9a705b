import { randomBytes } from "node:crypto";
import type { PipelineEvent } from "@docfleet/pipeline";
import { AmqpEventBus } from "@docfleet/pipeline/adapters/queue/amqp-event-bus";
import { MemoryEventBus } from "@docfleet/pipeline/adapters/queue/memory-event-bus";
import { Connection } from "rabbitmq-client";
import { describe, expect, it } from "vitest";
import { eventBusContract } from "./contracts/event-bus.contract.ts";
import { AMQP_URL } from "./helpers/amqp.ts";
import { deferred } from "./helpers/wait.ts";

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

describe("AmqpEventBus", () => {
  it("reads both bodies: one flush's array of a batch's events and a single event (an earlier publisher)", async () => {
    const prefix = `t${randomBytes(4).toString("hex")}.`;
    const bus = new AmqpEventBus({ url: AMQP_URL, prefix });
    const raw = new Connection(AMQP_URL);
    const pub = raw.createPublisher({ confirm: true });
    try {
      const got: number[] = [];
      const done = deferred();
      bus.subscribe((e) => {
        got.push(e.seq);
        if (got.length === 3) done.resolve();
      });
      await bus.ready();
      const e = (seq: number): PipelineEvent => ({
        tenantId: "00000000-0000-4000-8000-000000000001",
        batchId: "00000000-0000-4000-8000-0000000000b1",
        seq,
        documentId: null,
        type: "test.event",
        payload: {},
        createdAt: new Date(0).toISOString(),
      });
      const exchange = `${prefix}docfleet.events`;
      await pub.send({ exchange, routingKey: "t.b" }, e(1));
      await pub.send({ exchange, routingKey: "t.b" }, [e(2), e(3)]);
      await done.promise;
      expect(got).toEqual([1, 2, 3]);
    } finally {
      await pub.close();
      await bus.close();
      await raw.exchangeDelete({ exchange: `${prefix}docfleet.events` }).catch(() => {});
      await raw.close();
    }
  });
});
