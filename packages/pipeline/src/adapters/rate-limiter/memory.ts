import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { RateBudget, RateDecision, RateLimiter } from "../../ports/rate-limiter.ts";

/** Each process counts alone, in its memory: n gateways allow n times the budget between them. */
export class MemoryRateLimiter implements RateLimiter {
  readonly budget: RateBudget;
  private readonly limiter: RateLimiterMemory;

  constructor(budget: RateBudget) {
    this.budget = checkBudget(budget);
    this.limiter = new RateLimiterMemory(flexibleOptions(this.budget));
  }

  consume(key: string, points: number): Promise<RateDecision> {
    return consumeFrom(this.limiter, key, points);
  }

  async close(): Promise<void> {
    // Nothing to release: the counters' timers are unref'd and go with the limiter.
  }
}

/** The budget alone (a factory may hand over its whole config), refused when it cannot be counted. */
export function checkBudget({ keyPrefix, points, windowSeconds }: RateBudget): RateBudget {
  if (!Number.isInteger(points) || points < 1)
    throw new Error(`a rate budget needs points >= 1, not ${points}`);
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1)
    throw new Error(`a rate window is whole seconds >= 1, not ${windowSeconds}`);
  return { keyPrefix, points, windowSeconds };
}

/** rate-limiter-flexible's fixed window: the first consume of a key opens it for `duration` seconds. */
export function flexibleOptions(b: RateBudget) {
  return { keyPrefix: b.keyPrefix, points: b.points, duration: b.windowSeconds };
}

/** rate-limiter-flexible rejects with a RateLimiterRes when over the budget, with an Error on failure. */
export async function consumeFrom(
  limiter: RateLimiterAbstract,
  key: string,
  points: number,
): Promise<RateDecision> {
  if (points <= 0) return { allowed: true };
  try {
    await limiter.consume(key, points);
    return { allowed: true };
  } catch (res) {
    if (res instanceof RateLimiterRes) return { allowed: false, retryAfterMs: Math.max(1, res.msBeforeNext) };
    throw res;
  }
}
