import { randomUUID } from "node:crypto";
import { type AsyncMessage, Connection, ConsumerStatus, type Publisher } from "rabbitmq-client";
import type { Consumer, DeadLetter, Delivery, Disposition, Handler, Queue } from "../../ports/queue.ts";
import { backoffMs } from "../../retry.ts";
import { corkUntilNextTick } from "./cork.ts";

export interface AmqpQueueOptions {
  /** amqp:// or amqps:// URL of the broker. */
  url: string;
  /**
   * Deliveries of one message before it is quarantined; also the quorum queues' x-delivery-limit. The
   * pipeline passes a generous safety net (`queueDeliveryLimit`): it decides retries itself.
   */
  deliveryLimit: number;
  /** Prepended to every queue name, so several deployments (or tests) share a broker. */
  prefix?: string;
  /** Shown in the broker's connection list. */
  connectionName?: string;
  log?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Delete the queues this instance declared when it closes (tests). */
  deleteOnClose?: boolean;
}

const ATTEMPT = "x-docfleet-attempt";
const REASON = "x-docfleet-reason";
const QUARANTINED_AT = "x-docfleet-quarantined-at";
const MIN_DELAY_MS = 250;
const MAX_DELAY_MS = 2 ** 22; // ~70 minutes

/**
 * Work queues on RabbitMQ (rabbitmq-client). Per queue `q`:
 * - `q`: a durable quorum queue with an explicit `x-delivery-limit`; past it (a consumer that keeps
 *   dying mid-message) the broker dead-letters to `q.quarantine`;
 * - `q.quarantine`: quorum queue of messages given up on, each with its reason in a header;
 * - `q.delay.<ms>`: classic queues whose messages expire after <ms> back into `q` (retry with backoff;
 *   delays rounded up to a power of two, declared on use and deleted by the broker when unused).
 * Every publish waits for the broker's confirm. A consumer takes at most `concurrency` messages
 * (prefetch = concurrency) and decides each explicitly: ack, retry through a delay queue, or
 * quarantine; a thrown handler error is a retry. Only when this adapter cannot carry out the decision
 * (the broker went away mid-way) is the message returned to the queue, so nothing is lost.
 */
export class AmqpQueue implements Queue {
  private readonly conn: Connection;
  private readonly pub: Publisher;
  private readonly prefix: string;
  private readonly consumers = new Set<{ close(): Promise<void> }>();
  private readonly declared = new Set<string>();
  /** Stage queues an earlier deployment declared with another x-delivery-limit: used as they are. */
  private readonly keptLimit = new Set<string>();

  constructor(private readonly opts: AmqpQueueOptions) {
    if (!(Number.isInteger(opts.deliveryLimit) && opts.deliveryLimit >= 1))
      throw new RangeError("deliveryLimit must be >= 1");
    this.prefix = opts.prefix ?? "";
    this.conn = new Connection({
      url: opts.url,
      connectionName: opts.connectionName ?? "docfleet",
      retryLow: 100,
      retryHigh: 3000,
    });
    this.conn.on("error", (err) => opts.log?.warn({ err }, "RabbitMQ connection error (reconnecting)"));
    // Retries ride out a broker restart: the publisher waits for the connection to come back.
    this.pub = this.conn.createPublisher({ confirm: true, maxAttempts: 20 });
  }

  private name(queue: string): string {
    return `${this.prefix}${queue}`;
  }

  private queueArgs(queue: string) {
    if (this.keptLimit.has(this.name(queue))) return { queue: this.name(queue), passive: true };
    return {
      queue: this.name(queue),
      durable: true,
      arguments: {
        "x-queue-type": "quorum" as const,
        "x-delivery-limit": this.opts.deliveryLimit,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": `${this.name(queue)}.quarantine`,
      },
    };
  }

  async setup(queues: readonly string[]): Promise<void> {
    for (const q of queues) {
      await this.conn.queueDeclare({
        queue: `${this.name(q)}.quarantine`,
        durable: true,
        arguments: { "x-queue-type": "quorum" as const },
      });
      try {
        await this.conn.queueDeclare(this.queueArgs(q));
      } catch (err) {
        // A quorum queue's arguments never change: one declared with another limit (an earlier version,
        // another DOCFLEET_DELIVERY_LIMIT) would refuse every start. Use it as it is, and say so.
        if (!/inequivalent arg 'x-delivery-limit'/.test((err as Error)?.message ?? "")) throw err;
        await this.conn.queueDeclare({ queue: this.name(q), passive: true });
        this.keptLimit.add(this.name(q));
        this.opts.log?.warn(
          { queue: this.name(q), deliveryLimit: this.opts.deliveryLimit, reason: (err as Error).message },
          "queue keeps the x-delivery-limit it was declared with; delete it once drained to apply the new one",
        );
      }
      this.declared.add(this.name(q)).add(`${this.name(q)}.quarantine`);
    }
  }

  async publish(queue: string, body: unknown, opts?: { messageId?: string }): Promise<void> {
    // Publishes made in one synchronous run (a relay round) leave in one socket write.
    corkUntilNextTick(this.conn);
    await this.send(this.name(queue), body, { messageId: opts?.messageId ?? randomUUID(), attempt: 1 });
  }

  private send(
    routingKey: string,
    body: unknown,
    m: { messageId: string; attempt: number; headers?: Record<string, unknown> },
  ): Promise<void> {
    return this.pub.send(
      {
        routingKey,
        messageId: m.messageId,
        durable: true,
        contentType: "application/json",
        headers: { ...m.headers, [ATTEMPT]: m.attempt },
      },
      // A Buffer keeps our content type; the client parses it back to JSON on delivery.
      Buffer.from(JSON.stringify(body ?? null)),
    );
  }

  consume<T>(queue: string, handler: Handler<T>, opts: { concurrency: number }): Consumer {
    if (!(Number.isInteger(opts.concurrency) && opts.concurrency >= 1))
      throw new Error("concurrency must be at least 1");
    const consumer = this.conn.createConsumer(
      {
        queue: this.name(queue),
        queueOptions: this.queueArgs(queue),
        qos: { prefetchCount: opts.concurrency },
        concurrency: opts.concurrency,
        // Reached only when carrying out a decision failed (broker gone): keep the message.
        requeue: true,
      },
      (msg) => this.handle(queue, msg, handler as Handler),
    );
    consumer.on("error", (err) => this.opts.log?.warn({ err, queue }, "RabbitMQ consumer error"));
    const entry = { close: () => consumer.close() };
    this.consumers.add(entry);
    return {
      close: async () => {
        this.consumers.delete(entry);
        await consumer.close();
      },
    };
  }

  private async handle(queue: string, msg: AsyncMessage, handler: Handler): Promise<ConsumerStatus> {
    const headers = msg.headers ?? {};
    // Quorum queues count redeliveries (a consumer died holding the message) in x-delivery-count.
    const attempt = (Number(headers[ATTEMPT]) || 1) + (Number(headers["x-delivery-count"]) || 0);
    const messageId = msg.messageId ?? randomUUID();
    let body: unknown = msg.body;
    let decision: Disposition;
    // Still bytes: not JSON (the client parses application/json bodies that are).
    if (Buffer.isBuffer(body)) {
      try {
        body = JSON.parse(body.toString());
      } catch {
        decision = { action: "dead-letter", reason: "malformed message: body is not JSON" };
      }
    }
    decision ??= await handler({ body, attempt, messageId } as Delivery).catch(
      (err): Disposition => ({
        action: "retry",
        delayMs: backoffMs(attempt),
        reason: (err as Error)?.message ?? String(err),
      }),
    );
    if (decision.action === "retry" && attempt >= this.opts.deliveryLimit) {
      decision = { action: "dead-letter", reason: decision.reason };
    }
    if (decision.action === "retry" || decision.action === "defer") {
      const delayQueue = await this.delayQueue(queue, decision.delayMs);
      // A deferral (an outage) is not an attempt: the count the message came with goes back with it.
      await this.send(delayQueue, body, {
        messageId,
        attempt: decision.action === "retry" ? attempt + 1 : attempt,
        headers: { [REASON]: decision.reason },
      });
    } else if (decision.action === "dead-letter") {
      await this.send(`${this.name(queue)}.quarantine`, body, {
        messageId,
        attempt,
        headers: { [REASON]: decision.reason.slice(0, 1000), [QUARANTINED_AT]: Date.now() },
      });
    }
    return ConsumerStatus.ACK;
  }

  /** Declares (each time: that also keeps it from expiring) the delay queue for `delayMs`. */
  private async delayQueue(queue: string, delayMs: number): Promise<string> {
    const ms = Math.min(MAX_DELAY_MS, 2 ** Math.ceil(Math.log2(Math.max(MIN_DELAY_MS, delayMs))));
    const name = `${this.name(queue)}.delay.${ms}`;
    await this.conn.queueDeclare({
      queue: name,
      durable: true,
      arguments: {
        "x-message-ttl": ms,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": this.name(queue),
        // unused for twice its delay (plus a minute) means empty: let the broker drop it
        "x-expires": ms * 2 + 60_000,
      },
    });
    this.declared.add(name);
    return name;
  }

  async depth(queue: string): Promise<number> {
    return (await this.conn.queueDeclare({ queue: this.name(queue), passive: true })).messageCount;
  }

  async deadLetters(queue: string): Promise<DeadLetter[]> {
    // Read every quarantined message without acking, then close the channel: the broker keeps them.
    const ch = await this.conn.acquire();
    const out: DeadLetter[] = [];
    try {
      for (;;) {
        const m = await ch.basicGet({ queue: `${this.name(queue)}.quarantine` });
        if (!m) break;
        const h = m.headers ?? {};
        const deaths = h["x-death"] as { reason?: string; count?: number }[] | undefined;
        let body: unknown = m.body;
        if (Buffer.isBuffer(body)) {
          try {
            body = JSON.parse(body.toString());
          } catch {
            // keep the raw bytes
          }
        }
        // Quarantined by the broker (consumers kept dying): delivered deliveryLimit + 1 times.
        const byBroker = h[REASON] === undefined && deaths?.[0]?.reason === "delivery_limit";
        out.push({
          queue,
          body,
          reason:
            (h[REASON] as string | undefined) ??
            (byBroker ? "delivery limit reached" : (deaths?.[0]?.reason ?? "unknown")),
          attempts: (Number(h[ATTEMPT]) || 1) + (byBroker ? this.opts.deliveryLimit : 0),
          // AMQP timestamps (the broker's on dead-lettering) are in seconds
          at: new Date(Number(h[QUARANTINED_AT]) || (m.timestamp ?? 0) * 1000 || Date.now()),
        });
      }
    } finally {
      await ch.close();
    }
    return out.sort((a, b) => a.at.getTime() - b.at.getTime());
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.close()));
    await this.pub.close();
    if (this.opts.deleteOnClose) {
      for (const q of this.declared) await this.conn.queueDelete({ queue: q }).catch(() => {});
    }
    await this.conn.close();
  }
}
