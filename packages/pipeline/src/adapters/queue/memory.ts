import { randomUUID } from "node:crypto";
import type { Consumer, DeadLetter, Delivery, Disposition, Handler, Queue } from "../../ports/queue.ts";
import { backoffMs } from "../../retry.ts";

interface Message {
  body: unknown;
  attempt: number;
  messageId: string;
}

interface QueueState {
  ready: Message[];
  deadLetters: DeadLetter[];
  wake: Set<() => void>;
}

export interface MemoryQueueOptions {
  /** Deliveries of one message before it is quarantined (RabbitMQ's x-delivery-limit). */
  deliveryLimit: number;
}

/**
 * In-process queues with the distributed adapter's semantics: at-least-once, explicit ack / retry with
 * delay / dead-letter, a delivery limit, bounded concurrency. Nothing survives the process: after a
 * crash the reconciler re-enqueues unfinished documents from the database.
 */
export class MemoryQueue implements Queue {
  private readonly queues = new Map<string, QueueState>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly opts: MemoryQueueOptions) {}

  async setup(queues: readonly string[]): Promise<void> {
    for (const q of queues) this.state(q);
  }

  async publish(queue: string, body: unknown, opts?: { messageId?: string }): Promise<void> {
    if (this.closed) throw new Error("queue is closed");
    this.enqueue(queue, {
      body: structuredClone(body),
      attempt: 1,
      messageId: opts?.messageId ?? randomUUID(),
    });
  }

  consume<T>(queue: string, handler: Handler<T>, opts: { concurrency: number }): Consumer {
    if (!(opts.concurrency >= 1)) throw new Error("concurrency must be at least 1");
    const state = this.state(queue);
    let stopping = false;
    const inflight = new Set<Promise<void>>();
    const pump = () => {
      while (!stopping && inflight.size < opts.concurrency && state.ready.length > 0) {
        const msg = state.ready.shift()!;
        const p = this.deliver(queue, msg, handler as Handler).finally(() => {
          inflight.delete(p);
          pump();
        });
        inflight.add(p);
      }
    };
    state.wake.add(pump);
    queueMicrotask(pump);
    return {
      close: async () => {
        stopping = true;
        state.wake.delete(pump);
        await Promise.all(inflight);
      },
    };
  }

  async depth(queue: string): Promise<number> {
    return this.state(queue).ready.length;
  }

  async deadLetters(queue: string): Promise<DeadLetter[]> {
    return [...this.state(queue).deadLetters];
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async deliver(queue: string, msg: Message, handler: Handler): Promise<void> {
    const delivery: Delivery = { body: msg.body, attempt: msg.attempt, messageId: msg.messageId };
    let d: Disposition;
    try {
      d = await handler(delivery);
    } catch (err) {
      d = {
        action: "retry",
        delayMs: backoffMs(msg.attempt),
        reason: (err as Error)?.message ?? String(err),
      };
    }
    if (d.action === "retry" && msg.attempt >= this.opts.deliveryLimit) {
      d = {
        action: "dead-letter",
        reason: `delivery limit (${this.opts.deliveryLimit}) reached: ${d.reason}`,
      };
    }
    if (d.action === "retry" || d.action === "defer") {
      // A deferral (an outage) is not an attempt: the same delivery count comes back.
      const next = { ...msg, attempt: d.action === "retry" ? msg.attempt + 1 : msg.attempt };
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.closed) this.enqueue(queue, next);
      }, d.delayMs);
      this.timers.add(t);
    } else if (d.action === "dead-letter") {
      this.state(queue).deadLetters.push({
        queue,
        body: msg.body,
        reason: d.reason,
        attempts: msg.attempt,
        at: new Date(),
      });
    }
  }

  private enqueue(queue: string, msg: Message) {
    const state = this.state(queue);
    state.ready.push(msg);
    for (const wake of state.wake) wake();
  }

  private state(queue: string): QueueState {
    let s = this.queues.get(queue);
    if (!s) {
      s = { ready: [], deadLetters: [], wake: new Set() };
      this.queues.set(queue, s);
    }
    return s;
  }
}
