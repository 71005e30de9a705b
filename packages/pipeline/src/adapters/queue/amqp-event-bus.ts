import { Connection, type Consumer, type Publisher } from "rabbitmq-client";
import type { EventBus, PipelineEvent } from "../../ports/event-bus.ts";

export interface AmqpEventBusOptions {
  url: string;
  /** Prepended to the exchange name, as for the queues. */
  prefix?: string;
  connectionName?: string;
  log?: { warn(obj: object, msg: string): void };
}

/**
 * Event fan-out across processes: a durable topic exchange `<prefix>docfleet.events`, routing key
 * `<tenantId>.<batchId>`. Each bus (one per process) binds one exclusive, auto-deleted, server-named
 * queue when its first subscriber arrives and hands every event to all local subscribers, so a
 * subscriber on any gateway sees events from work done anywhere. Best effort by design: events are
 * persisted first, and a subscriber that sees a gap in `seq` reads what it missed from the database.
 */
export class AmqpEventBus implements EventBus {
  private readonly conn: Connection;
  private readonly pub: Publisher;
  private readonly exchange: string;
  private readonly subscribers = new Set<(e: PipelineEvent) => void>();
  private consumer: Consumer | undefined;
  private readyPromise: Promise<void> | undefined;

  constructor(private readonly opts: AmqpEventBusOptions) {
    this.exchange = `${opts.prefix ?? ""}docfleet.events`;
    this.conn = new Connection({
      url: opts.url,
      connectionName: opts.connectionName ?? "docfleet-events",
      retryLow: 100,
      retryHigh: 3000,
    });
    this.conn.on("error", (err) =>
      opts.log?.warn({ err }, "RabbitMQ connection error (events; reconnecting)"),
    );
    this.pub = this.conn.createPublisher({
      confirm: true,
      maxAttempts: 5,
      exchanges: [{ exchange: this.exchange, type: "topic", durable: true }],
    });
  }

  async publish(events: readonly PipelineEvent[]): Promise<void> {
    await Promise.all(
      events.map((e) =>
        this.pub.send({ exchange: this.exchange, routingKey: `${e.tenantId}.${e.batchId}` }, e),
      ),
    );
  }

  subscribe(fn: (event: PipelineEvent) => void): () => void {
    this.subscribers.add(fn);
    void this.ready();
    return () => {
      this.subscribers.delete(fn);
    };
  }

  /** Resolves once this bus's queue is bound: events published from then on reach its subscribers. */
  ready(): Promise<void> {
    this.readyPromise ??= new Promise<void>((resolve) => {
      this.consumer = this.conn.createConsumer(
        {
          queue: "",
          queueOptions: { exclusive: true, autoDelete: true },
          exchanges: [{ exchange: this.exchange, type: "topic", durable: true }],
          // queue "" binds the queue just declared on this channel (server-named, new after a reconnect)
          queueBindings: [{ exchange: this.exchange, queue: "", routingKey: "#" }],
          qos: { prefetchCount: 500 },
          noAck: true,
        },
        (msg) => {
          let event: PipelineEvent;
          try {
            event = (Buffer.isBuffer(msg.body) ? JSON.parse(msg.body.toString()) : msg.body) as PipelineEvent;
          } catch {
            return;
          }
          for (const fn of this.subscribers) {
            try {
              fn(event);
            } catch {
              // a broken subscriber must not stop delivery to the others
            }
          }
        },
      );
      this.consumer.on("error", (err) => this.opts.log?.warn({ err }, "RabbitMQ events consumer error"));
      this.consumer.once("ready", () => resolve());
    });
    return this.readyPromise;
  }

  async close(): Promise<void> {
    this.subscribers.clear();
    await this.consumer?.close();
    await this.pub.close();
    await this.conn.close();
  }
}
