import type { StageName } from "../domain/messages.ts";
import type { TenantShares } from "./tenant-shares.ts";

/**
 * Stage chaining (issue 17 goal 1): the stages one process serves, their slots and per-tenant shares.
 * When a run finishes its stage and this process also serves the document's next stage, the stage
 * runner advances the document and claims the next stage in one statement (no queue message for that
 * hop) and runs it at once, in a free slot of that stage taken here: the message that started the
 * chain is acked, its consumer's slot freed, and the chained run goes on detached (tracked here: the
 * worker counts it in flight and waits for it at stop). A stage's slots bound its consumer's runs and
 * its chained runs alike; a chain only takes a slot left free (a stage's consumer may still take its
 * own messages beside chained runs: at most twice its slots in all, only while both kinds come).
 */
export class StageChain {
  private readonly busy = new Map<StageName, number>();
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    /** The per-tenant shares of each stage this process serves; a stage absent here is never chained into. */
    readonly shares: Partial<Record<StageName, TenantShares>>,
    /** Each served stage's slots (its consumer's concurrency). */
    private readonly slots: Partial<Record<StageName, number>>,
  ) {}

  /** Whether `stage` is served here. */
  serves(stage: StageName): boolean {
    return this.shares[stage] !== undefined && (this.slots[stage] ?? 0) > 0;
  }

  /** A run of `stage` takes a slot (a consumer's message: always; see `take` for a chained run). */
  enter(stage: StageName): void {
    this.busy.set(stage, (this.busy.get(stage) ?? 0) + 1);
  }

  /** A run of `stage` ends: its slot is free again. */
  leave(stage: StageName): void {
    this.busy.set(stage, Math.max(0, (this.busy.get(stage) ?? 0) - 1));
  }

  /** Takes a free slot of `stage` for a chained run (true), or none is free (false). */
  take(stage: StageName): boolean {
    if (!this.serves(stage) || (this.busy.get(stage) ?? 0) >= this.slots[stage]!) return false;
    this.enter(stage);
    return true;
  }

  /** Runs of `stage` in this process now (consumers' and chained). */
  inUse(stage: StageName): number {
    return this.busy.get(stage) ?? 0;
  }

  /** Tracks a chained run that goes on after its message was acked. */
  detach(run: Promise<unknown>): void {
    const tracked = run.catch(() => {}).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  /** Chained runs going on now. */
  get detached(): number {
    return this.running.size;
  }

  /** Resolves once every chained run has ended (the worker's stop, tests). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
