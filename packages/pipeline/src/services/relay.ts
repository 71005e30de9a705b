import type { Logger } from "pino";
import { WEBHOOK_TOPIC, WebhookOutboxPayload } from "../domain/webhooks.ts";
import type { Database } from "../ports/database.ts";
import type { Queue } from "../ports/queue.ts";
import { anyUnsent, claimUnsent, markSent, readOutboxLag } from "../repositories/outbox.ts";
import { fanOut } from "../repositories/webhooks.ts";

export interface RelayOptions {
  /** Rows claimed per round. */
  batchSize: number;
  /** Poll interval when nothing kicks the relay. */
  pollMs: number;
}

/** A round whose confirms have not all come by then rolls back (its rows' locks go back). */
const PUBLISH_DEADLINE_MS = 60_000;
/**
 * A round (its transaction) past this is given up and its connection closed (the server rolls back):
 * a statement that never answers cannot hold the relay (Prisma's transaction timeout did this before).
 */
const ROUND_DEADLINE_MS = 90_000;

/** `p`, or a rejection once `ms` passed. */
async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`outbox publish unconfirmed after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Publishes outbox rows with confirms, then marks them sent. A crash between publish and mark
 * republishes the row later: consumers are idempotent, so that is harmless. Rows are claimed with
 * FOR UPDATE SKIP LOCKED so several relays (one per gateway or worker) share the work.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | null = null;
  private again = false;
  private stopped = false;
  /** Called after a round that fanned webhook events out into deliveries (the dispatcher's `kick`). */
  onWebhookDeliveries: (() => void) | undefined;

  constructor(
    private readonly db: Database,
    private readonly queue: Queue,
    private readonly log: Logger,
    private readonly opts: RelayOptions = { batchSize: 200, pollMs: 1000 },
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Runs a round now (coalesced with one in progress). */
  kick = (): void => {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err) => this.log.error({ err }, "outbox relay round failed"))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        }
      });
  };

  /** Rows not yet published and the age of the oldest, in ms. */
  async lag(): Promise<{ pending: number; oldestMs: number }> {
    const { pending, oldestAgeSeconds } = await readOutboxLag(this.db);
    return { pending, oldestMs: Math.round(oldestAgeSeconds * 1000) };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private lastLagReport = 0;
  /** The last round claimed rows: the next one skips the `anyUnsent` probe. */
  private skipProbe = false;

  private schedule() {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.kick();
      this.reportLag();
      this.schedule();
    }, this.opts.pollMs);
    this.timer.unref();
  }

  /** Every 30 s while rows wait: their count and the oldest's age (a warning past 10 s). */
  private reportLag() {
    if (Date.now() - this.lastLagReport < 30_000) return;
    this.lastLagReport = Date.now();
    this.lag()
      .then((lag) => {
        if (lag.pending === 0) return;
        if (lag.oldestMs > 10_000) this.log.warn(lag, "outbox relay is behind");
        else this.log.info(lag, "outbox relay lag");
      })
      .catch((err) => this.log.warn({ err }, "could not read the outbox lag"));
  }

  /** Publishes until the outbox is empty. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.round();
      total += n;
      if (n < this.opts.batchSize || this.stopped) return total;
    }
  }

  /**
   * One round in one raw transaction on one connection (BEGIN, claim, fan-out, publish, mark, COMMIT;
   * no Prisma interactive transaction): every claimed row is published at once and the confirms awaited
   * together. A publish that fails rolls the round back: its rows stay unsent for the next round.
   */
  private async round(): Promise<number> {
    if (!this.skipProbe && !(await anyUnsent(this.db))) return 0;
    let deliveries = 0;
    const n = await this.db.transaction(
      async (tx) => {
        const rows = await claimUnsent(tx, this.opts.batchSize);
        if (rows.length === 0) return 0;
        // Webhook events are no queue's: they become deliveries in this transaction (services/webhooks.ts
        // sends them), so a row is fanned out exactly once.
        const queued = rows.filter((r) => r.topic !== WEBHOOK_TOPIC);
        for (const r of rows.filter((r) => r.topic === WEBHOOK_TOPIC)) {
          const p = WebhookOutboxPayload.safeParse(r.payload);
          // A row of another shape would fail every round: logged and marked sent instead.
          if (p.success) deliveries += await fanOut(tx, p.data);
          else this.log.error({ outboxId: r.id.toString(), err: p.error }, "unreadable webhook outbox row");
        }
        await withDeadline(
          Promise.all(
            queued.map((r) => this.queue.publish(r.topic, r.payload, { messageId: `outbox-${r.id}` })),
          ),
          PUBLISH_DEADLINE_MS,
        );
        await markSent(
          tx,
          rows.map((r) => r.id),
        );
        return rows.length;
      },
      { timeoutMs: ROUND_DEADLINE_MS },
    );
    // Rows came: more are likely waiting (the relay is busy), the next round claims without asking
    // first; an empty round goes back to the one-statement probe.
    this.skipProbe = n > 0;
    if (deliveries > 0) this.onWebhookDeliveries?.();
    return n;
  }
}
