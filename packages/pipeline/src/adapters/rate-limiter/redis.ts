import { Redis } from "ioredis";
import type { Logger } from "pino";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import type { RateBudget, RateDecision, RateLimiter } from "../../ports/rate-limiter.ts";
import { checkBudget, consumeFrom, flexibleOptions } from "./memory.ts";

/**
 * One budget shared by every process on one Redis: RateLimiterRedis (one atomic Lua increment per
 * call) with a RateLimiterMemory as its insurance, so that while Redis is down each process counts
 * alone rather than refusing or waiting.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly budget: RateBudget;
  private readonly redis: Redis;
  private readonly limiter: RateLimiterRedis;

  constructor(budget: RateBudget, opts: { url: string; log: Logger }) {
    this.budget = checkBudget(budget);
    const { log } = opts;
    // No offline queue: while disconnected a call fails at once and the insurance limiter answers.
    this.redis = new Redis(opts.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    let up: boolean | undefined;
    const { keyPrefix } = this.budget;
    this.redis.on("ready", () => {
      if (up === false) log.info({ keyPrefix }, "Redis is back: rate limits are shared again");
      up = true;
    });
    // Once per outage, and never the URL (it may hold a password).
    this.redis.on("error", (err: Error) => {
      if (up !== false)
        log.warn({ keyPrefix, err: err.message }, "Redis unreachable: rate limits count per process");
      up = false;
    });
    const options = flexibleOptions(this.budget);
    this.limiter = new RateLimiterRedis({
      ...options,
      storeClient: this.redis,
      insuranceLimiter: new RateLimiterMemory(options),
      rejectIfRedisNotReady: true,
    });
  }

  consume(key: string, points: number): Promise<RateDecision> {
    return consumeFrom(this.limiter, key, points);
  }

  /**
   * Resolves once Redis answers. Nothing needs it to count (the insurance counts meanwhile); a caller
   * that must share the budget from the first call (a test of sharing) waits for it.
   */
  ready(): Promise<void> {
    if (this.redis.status === "ready") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.redis.once("ready", () => resolve());
      this.redis.once("end", () => reject(new Error("the Redis connection ended")));
    });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
