/** One budget: `points` per key per fixed window, the window opened by the key's first call in it. */
export interface RateBudget {
  /**
   * Names this budget's counters in a shared store: several budgets, deployments or tests on one Redis
   * keep apart by prefix. Limiters with the same prefix and store count together.
   */
  keyPrefix: string;
  /** What one key may take per window; at least 1. */
  points: number;
  /** Window length in whole seconds (Redis expires counters in seconds). */
  windowSeconds: number;
}

/** A limiter's answer: the points were taken, or the key has to wait `retryAfterMs`. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

/**
 * Per-key budgets (uploads per API key and minute, searches...), counted by this process alone or
 * shared by every process on one store. One limiter holds one budget.
 */
export interface RateLimiter {
  /** The budget, fixed at construction: a caller refuses outright a request asking more than `points`. */
  readonly budget: RateBudget;
  /**
   * Takes `points` from `key`'s budget in its current window. Allowed when they fit (they are then
   * taken); otherwise refused with `retryAfterMs` > 0, the wait until the key's window ends, and the
   * refused points may still count in this window. `points` <= 0 is allowed and takes nothing; more
   * than `budget.points` is always refused. Keys are independent. Never rejects because a shared store
   * is down: the limiter then counts in this process's memory (each process allowing the whole budget)
   * until the store is back.
   */
  consume(key: string, points: number): Promise<RateDecision>;
  /** Releases the store's connection, if any; idempotent. Called by the owner, after its last consume. */
  close(): Promise<void>;
}
