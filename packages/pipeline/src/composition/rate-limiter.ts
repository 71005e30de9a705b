import type { Logger } from "pino";
import { MemoryRateLimiter } from "../adapters/rate-limiter/memory.ts";
import type { AdapterConfig } from "../config.ts";
import type { RateBudget, RateLimiter } from "../ports/rate-limiter.ts";

/** Where the counters live (validated config) and the one budget this limiter holds. */
export type RateLimiterConfig = AdapterConfig["rateLimiter"] & RateBudget;

/**
 * The rate limiter port's one factory, switching on the validated `kind` (zod has checked it, so the
 * default branch is reached only by a config built by hand). The caller owns the limiter and closes it.
 * The Redis adapter (and ioredis with it) is imported only when Redis is configured: an embedded
 * `serve` never loads it.
 */
export async function createRateLimiter(cfg: RateLimiterConfig, log: Logger): Promise<RateLimiter> {
  const budget: RateBudget = {
    keyPrefix: cfg.keyPrefix,
    points: cfg.points,
    windowSeconds: cfg.windowSeconds,
  };
  switch (cfg.kind) {
    case "memory":
      return new MemoryRateLimiter(budget);
    case "redis": {
      const { RedisRateLimiter } = await import("../adapters/rate-limiter/redis.ts");
      return new RedisRateLimiter(budget, { url: cfg.url, log });
    }
    default:
      throw new Error(`unknown rate limiter adapter ${JSON.stringify((cfg as { kind: unknown }).kind)}`);
  }
}
