import type { StageName } from "../domain/messages.ts";

/** One stage run counted against its tenant's share; released once (at the end, or when it yields). */
export interface Holding {
  readonly tenantId: string;
  released: boolean;
}

export interface TenantSharesOptions {
  /** The stage's slots in this process (its consumer's concurrency). */
  slots: number;
  /**
   * Fraction of the slots one tenant may hold while another tenant's work of the stage waits
   * (`DOCFLEET_TENANT_FAIR_SHARE`): share = ceil(slots × fraction), at least 1. 0 turns fairness off.
   */
  fraction: number;
  /** Whether another tenant has work of this stage waiting (the database's QUEUED documents). */
  othersWaiting: (tenantId: string) => Promise<boolean>;
  /** How often a run beyond its tenant's share asks whether it should yield (default 2 s). */
  checkEveryMs?: number;
  /** How long an answer of `othersWaiting` is reused (default 250 ms; 0 in tests). */
  cacheMs?: number;
}

/**
 * Per-tenant fairness of one stage's slots in one process. While no other tenant waits, a tenant may
 * use every slot (nothing idles). While another tenant's work of the stage waits:
 * - `admit` refuses a run of a tenant already holding its share (the stage runner answers `defer`: not
 *   an attempt; the message goes behind the waiting ones in the queue, in both queue adapters);
 * - `shouldYield` tells a run beyond its tenant's share to give its slot back (checked every
 *   `checkEveryMs`): long multi-page documents taken while nobody waited cannot keep every slot for
 *   their whole (progress-extended) budget. The yielded document goes back to QUEUED, not counted.
 */
export class TenantShares {
  /** Most slots one tenant holds while another waits (Infinity: fairness off). */
  readonly share: number;
  readonly checkEveryMs: number;
  private readonly held = new Map<string, number>();
  private readonly cache = new Map<string, { at: number; waiting: boolean }>();

  constructor(
    readonly stage: StageName,
    private readonly opts: TenantSharesOptions,
  ) {
    if (!(opts.fraction >= 0 && opts.fraction <= 1))
      throw new RangeError("the tenant fair share is a fraction between 0 (off) and 1");
    this.share =
      opts.fraction > 0 ? Math.max(1, Math.ceil(Math.max(1, opts.slots) * opts.fraction)) : Infinity;
    this.checkEveryMs = opts.checkEveryMs ?? 2000;
  }

  /** Slots `tenantId` holds now. */
  holding(tenantId: string): number {
    return this.held.get(tenantId) ?? 0;
  }

  /** A holding for a run of `tenantId`, or null when it must wait (at its share while others wait). */
  async admit(tenantId: string): Promise<Holding | null> {
    if (this.holding(tenantId) >= this.share && (await this.othersWaiting(tenantId))) return null;
    this.held.set(tenantId, this.holding(tenantId) + 1);
    return { tenantId, released: false };
  }

  /** Ends a holding (idempotent). */
  release(h: Holding): void {
    if (h.released) return;
    h.released = true;
    const n = this.holding(h.tenantId) - 1;
    if (n > 0) this.held.set(h.tenantId, n);
    else this.held.delete(h.tenantId);
  }

  /**
   * True (and the holding released) when `h`'s tenant holds more than its share while another tenant
   * waits: the caller stops the run and gives the document back. One run yields per excess slot.
   */
  async shouldYield(h: Holding): Promise<boolean> {
    if (h.released || this.holding(h.tenantId) <= this.share) return false;
    if (!(await this.othersWaiting(h.tenantId))) return false;
    // Checked again after the wait: another run of the tenant may have yielded or ended meanwhile.
    if (h.released || this.holding(h.tenantId) <= this.share) return false;
    this.release(h);
    return true;
  }

  /**
   * Whether another tenant's work of this stage waits (the answer cached `cacheMs`), whatever the share:
   * the stage runner chains a document into this stage only while none does (`StageChain`).
   */
  othersWait(tenantId: string): Promise<boolean> {
    return this.othersWaiting(tenantId);
  }

  private async othersWaiting(tenantId: string): Promise<boolean> {
    const cacheMs = this.opts.cacheMs ?? 250;
    const hit = this.cache.get(tenantId);
    if (hit && Date.now() - hit.at < cacheMs) return hit.waiting;
    const waiting = await this.opts.othersWaiting(tenantId);
    if (cacheMs > 0) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(tenantId, { at: Date.now(), waiting });
    }
    return waiting;
  }
}
