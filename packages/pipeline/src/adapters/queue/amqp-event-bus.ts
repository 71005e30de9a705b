import { Connection, type Consumer, type Publisher } from "rabbitmq-client";
import type { EventBus, PipelineEvent } from "../../ports/event-bus.ts";
import { corkUntilNextTick } from "./cork.ts";

export interface AmqpEventBusOptions {
  url: string;
  /** Prepended to the exchange name, as for the queues. */
  prefix?: string;
  connectionName?: string;
  log?: { warn(obj: object, msg: string): void };
  /**
   * Events published within this many ms go out together: one message per batch (routing key) and
   * flush, not one per event. Default 20 ms; live subscriptions coalesce 250 ms anyway.
   */
  flushMs?: number;
}

/** Events one message carries at most (a flush sends several messages for more). */
const MAX_EVENTS_PER_MESSAGE = 500;

/**
 * Event fan-out across processes: a durable topic exchange `<prefix>docfleet.events`, routing key
 * `<tenantId>.<batchId>`. Best effort by design: events are persisted first, and a subscriber that
 * sees a gap in `seq` reads what it missed from the database.
 *
 * Publishing: `publish` queues the events and returns; every `flushMs` the queued events of each batch
 * go out as ONE message whose body is their array (with confirms, retried across a reconnect). A
 * worker's eight events per document were eight messages, eight confirms and eight deliveries to every
 * gateway. A failed flush is logged: the event table has the events.
 *
 * Consuming: while this bus has subscribers (a gateway's open subscriptions), one exclusive,
 * auto-deleted, server-named queue bound to the exchange hands every event to all of them, so a
 * subscriber on any gateway sees events from work done anywhere. Without subscribers there is no queue:
 * a gateway nobody follows receives nothing. A body that is one event (a publisher of an earlier
 * version) is read too.
 */
export class AmqpEventBus implements EventBus {
  private readonly conn: Connection;
  private readonly pub: Publisher;
  private readonly exchange: string;
  private readonly subscribers = new Set<(e: PipelineEvent) => void>();
  private consumer: Consumer | undefined;
  private readyPromise: Promise<void> | undefined;
  /** Settles `readyPromise` (also when the consumer is closed before it was ready). */
  private settleReady: (() => void) | undefined;
  /** Consumers being closed (the last subscriber left): awaited by close(). */
  private readonly closing = new Set<Promise<void>>();
  /** Events waiting for the next flush, per routing key, in publish order. */
  private pending = new Map<string, PipelineEvent[]>();
  private flushTimer: NodeJS.Timeout | undefined;
  /** Flushes whose confirms have not come yet: awaited by close(). */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly flushMs: number;

  constructor(private readonly opts: AmqpEventBusOptions) {
    this.exchange = `${opts.prefix ?? ""}docfleet.events`;
    this.flushMs = opts.flushMs ?? 20;
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

  /** Queues the events for the next flush (within `flushMs`); resolves at once. */
  async publish(events: readonly PipelineEvent[]): Promise<void> {
    for (const e of events) {
      const key = `${e.tenantId}.${e.batchId}`;
      const list = this.pending.get(key);
      if (list) list.push(e);
      else this.pending.set(key, [e]);
    }
    if (events.length > 0 && !this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), this.flushMs);
    }
  }

  /** Sends every queued event: one message per routing key (and per MAX_EVENTS_PER_MESSAGE). */
  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    const sends: Promise<void>[] = [];
    corkUntilNextTick(this.conn);
    for (const [routingKey, events] of pending) {
      for (let i = 0; i < events.length; i += MAX_EVENTS_PER_MESSAGE) {
        const body = Buffer.from(JSON.stringify(events.slice(i, i + MAX_EVENTS_PER_MESSAGE)));
        sends.push(
          this.pub.send({ exchange: this.exchange, routingKey, contentType: "application/json" }, body),
        );
      }
    }
    const done: Promise<void> = Promise.all(sends)
      .then(() => undefined)
      .catch((err) => this.opts.log?.warn({ err }, "could not publish events (subscribers read them back)"))
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  subscribe(fn: (event: PipelineEvent) => void): () => void {
    this.subscribers.add(fn);
    void this.ready();
    return () => {
      if (this.subscribers.delete(fn) && this.subscribers.size === 0) this.stopConsuming();
    };
  }

  /**
   * Resolves once this bus's queue is bound: events published from then on reach its subscribers. At
   * once while it has none (it binds no queue then).
   */
  ready(): Promise<void> {
    if (this.subscribers.size === 0) return Promise.resolve();
    this.readyPromise ??= new Promise<void>((resolve) => {
      this.settleReady = resolve;
      const consumer: Consumer = this.conn.createConsumer(
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
          // A consumer being closed may still hand over a message: its successor delivers it too.
          if (this.consumer !== consumer) return;
          let body: unknown;
          try {
            body = Buffer.isBuffer(msg.body) ? JSON.parse(msg.body.toString()) : msg.body;
          } catch {
            return;
          }
          for (const event of (Array.isArray(body) ? body : [body]) as PipelineEvent[]) {
            for (const fn of this.subscribers) {
              try {
                fn(event);
              } catch {
                // a broken subscriber must not stop delivery to the others
              }
            }
          }
        },
      );
      this.consumer = consumer;
      consumer.on("error", (err) => this.opts.log?.warn({ err }, "RabbitMQ events consumer error"));
      consumer.once("ready", () => resolve());
    });
    return this.readyPromise;
  }

  /** The last subscriber left: the queue goes (auto-deleted with its consumer). */
  private stopConsuming(): void {
    const consumer = this.consumer;
    this.consumer = undefined;
    this.readyPromise = undefined;
    this.settleReady?.();
    this.settleReady = undefined;
    if (!consumer) return;
    const closed: Promise<void> = consumer
      .close()
      .catch((err) => this.opts.log?.warn({ err }, "could not close the events consumer"))
      .finally(() => this.closing.delete(closed));
    this.closing.add(closed);
  }

  async close(): Promise<void> {
    this.subscribers.clear();
    this.stopConsuming();
    this.flush();
    await Promise.all([...this.closing, ...this.inFlight]);
    await this.pub.close();
    await this.conn.close();
  }
}
