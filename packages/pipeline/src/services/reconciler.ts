import { StaleStateError } from "../domain/lifecycle.ts";
import { EventType, type StageName, stageQueue } from "../domain/messages.ts";
import * as documents from "../repositories/documents.ts";
import { transition } from "../repositories/transition.ts";
import { type Resources, stageOutbox } from "./resources.ts";
import type { StageRunner } from "./stage-runner.ts";

/** Quiet periods a document may wait behind its stage queue's waiting messages before it counts as lost. */
const BACKLOG_FACTOR = 10;

/** pg advisory lock key of the progress reconciler ("docfleet reconcile"): one instance sweeps at a time. */
const LOCK_KEY = 0x646f_6366_7263n; // fits a bigint

export interface SweepResult {
  /** False when another instance held the lock (this one did nothing). */
  locked: boolean;
  /** QUEUED documents whose stage message was published again through the outbox. */
  republished: number;
  /** PROCESSING documents whose lease expired, handed out again (a crash each). */
  leases: number;
}

/**
 * Guarantees progress from the database's point of view: every document that is neither final nor
 * leased must have a message in flight. Every `reconcileEveryMs`, under a transaction-level advisory
 * lock (one instance at a time, whichever process runs it), it finds QUEUED documents unchanged for
 * `reconcileQuietMs` with no unsent outbox row (their message was lost: quarantined during an outage,
 * dropped with a broker's memory, never published) and writes their stage message to the outbox again,
 * touching the row so that it is not picked again before the next quiet period. While the stage queue
 * still holds waiting messages the document may simply be behind them: it is taken only after ten
 * quiet periods then. Expired leases are handed out too (`StageRunner.reconcileExpiredLeases`).
 *
 * Idempotent: a republished message that meets its document already claimed or moved on is acked and
 * dropped by the claim (guarded by status + stage); one that arrives while another worker runs the
 * stage takes the lease over and counts a crash, which the stage's completion resets.
 *
 * Recovery bound: a QUEUED document whose message was lost is published again within
 * `reconcileQuietMs + reconcileEveryMs` once its queue is empty (`10 * reconcileQuietMs +
 * reconcileEveryMs` otherwise); a PROCESSING one within `leaseMs + reconcileEveryMs`.
 */
export class ProgressReconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = true;

  constructor(
    private readonly r: Resources,
    private readonly stages: StageRunner,
    private readonly opts: { everyMs: number; quietMs: number; limit?: number },
  ) {}

  start(): void {
    if (this.opts.everyMs <= 0) return;
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule() {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweep()
        .then((res) => {
          if (res.republished > 0 || res.leases > 0)
            this.r.deps.log.warn(res, "reconciled documents with no message in flight");
        })
        .catch((err) =>
          this.r.deps.log.warn({ err }, "progress reconciler round failed (retried next round)"),
        )
        .finally(() => this.schedule());
    }, this.opts.everyMs);
    this.timer.unref();
  }

  /** One round; `now` for tests. */
  async sweep(now = new Date()): Promise<SweepResult> {
    const limit = this.opts.limit ?? 500;
    const quiet = new Date(now.getTime() - this.opts.quietMs);
    // Behind a backlog for this long, it is taken anyway: bounded, even under load that never lets up.
    const veryQuiet = new Date(now.getTime() - BACKLOG_FACTOR * this.opts.quietMs);
    const candidates = await documents.quietQueued(this.r.prisma, quiet, limit);
    const depths = new Map<StageName, number>();
    const due: typeof candidates = [];
    for (const d of candidates) {
      if (d.updatedAt > veryQuiet) {
        if (!depths.has(d.stage))
          depths.set(d.stage, await this.r.deps.queue.depth(stageQueue(d.stage)).catch(() => 1));
        if (depths.get(d.stage)! > 0) continue;
      }
      due.push(d);
    }
    const result = await this.r.tx(async (tx, events) => {
      const rows = await tx.$queryRaw<
        { locked: boolean }[]
      >`SELECT pg_try_advisory_xact_lock(${LOCK_KEY}) AS locked`;
      if (!rows[0]?.locked) return { locked: false, republished: 0 };
      let republished = 0;
      for (const d of due) {
        try {
          events.push(
            ...(await transition(tx, {
              tenantId: d.tenantId,
              batchId: d.batchId,
              documentIds: [d.id],
              from: { status: "QUEUED", stage: d.stage },
              to: { status: "QUEUED", stage: d.stage },
              // Still as read: unchanged since, and no message waiting in the outbox.
              where: { updatedAt: d.updatedAt },
              data: { updatedAt: now },
              eventType: EventType.STAGE_RETRY,
              eventPayload: () => ({ reason: "reconciled: no message in flight" }),
              outbox: () => stageOutbox(d, d.stage, this.r.traceparent()),
            })),
          );
          republished++;
        } catch (err) {
          if (!(err instanceof StaleStateError)) throw err;
        }
      }
      return { locked: true, republished };
    }, 1);
    const leases = result.locked ? await this.stages.reconcileExpiredLeases(now) : 0;
    return { ...result, leases };
  }
}
