/** What a consumer decides for one message. */
export type Disposition =
  | { action: "ack" }
  /** Try again after `delayMs`; counts as an attempt. */
  | { action: "retry"; delayMs: number; reason: string }
  /** Give up: the message goes to the queue's quarantine (dead letters) with `reason`. */
  | { action: "dead-letter"; reason: string }
  /**
   * Try again after `delayMs` because infrastructure was away (database, broker, store, model server):
   * not an attempt. The delivery count stays where it was and the message is never quarantined for it.
   */
  | { action: "defer"; delayMs: number; reason: string };

export interface Delivery<T = unknown> {
  body: T;
  /** 1 on first delivery, incremented on each retry or redelivery. */
  attempt: number;
  /** Opaque id, stable across redeliveries of the same publish. */
  messageId: string;
}

export type Handler<T = unknown> = (delivery: Delivery<T>) => Promise<Disposition>;

export interface ConsumeOptions {
  /** Messages handled at once by this consumer (prefetch equals it). Required on purpose. */
  concurrency: number;
}

export interface Consumer {
  /** Stops taking new messages, waits for in-flight handlers to finish, then returns. */
  close(): Promise<void>;
}

export interface DeadLetter {
  queue: string;
  body: unknown;
  reason: string;
  attempts: number;
  at: Date;
}

/**
 * Work queues (one per stage) with at-least-once delivery. A handler's thrown error is treated as a
 * retry with backoff, never silently requeued at once.
 */
export interface Queue {
  /** Declares queues (and their retry and quarantine companions). Idempotent. */
  setup(queues: readonly string[]): Promise<void>;
  /** Publishes and resolves once the broker has the message (confirm). */
  publish(queue: string, body: unknown, opts?: { messageId?: string }): Promise<void>;
  /** Starts consuming `queue` with bounded concurrency. */
  consume<T>(queue: string, handler: Handler<T>, opts: ConsumeOptions): Consumer;
  /** Messages waiting (not in flight) in `queue`. */
  depth(queue: string): Promise<number>;
  /** Quarantined messages of `queue`, oldest first. */
  deadLetters(queue: string): Promise<DeadLetter[]>;
  /** Closes connections after consumers are closed. */
  close(): Promise<void>;
}
