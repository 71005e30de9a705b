import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { adapterConfig, baseEnvSchema, ConfigError, createRateLimiter, parseEnv } from "@docfleet/pipeline";
import { MemoryRateLimiter } from "@docfleet/pipeline/adapters/rate-limiter/memory";
import { RedisRateLimiter } from "@docfleet/pipeline/adapters/rate-limiter/redis";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { rateLimiterContract } from "./contracts/rate-limiter.contract.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const quiet = pino({ level: "silent" });

/** A port nothing listens on any more: every connection attempt is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}
const DOWN_URL = `redis://127.0.0.1:${await closedPort()}`;

rateLimiterContract("memory", async (budget) => new MemoryRateLimiter(budget));

// The machine's Redis, connected before the first call (else the first calls count in memory).
rateLimiterContract("redis", async (budget) => {
  const l = new RedisRateLimiter(budget, { url: REDIS_URL, log: quiet });
  await l.ready();
  return l;
});

// Redis unreachable: the same contract, answered by the in-memory insurance.
rateLimiterContract(
  "redis, unreachable (in-memory fallback)",
  async (budget) => new RedisRateLimiter(budget, { url: DOWN_URL, log: quiet }),
);

describe("redis rate limiter specifics", () => {
  const budget = () => ({ keyPrefix: `docfleet-test:rl:${randomUUID()}`, points: 4, windowSeconds: 60 });

  it("shares one budget between limiters on one Redis and prefix (two processes)", async () => {
    const b = budget();
    const [l1, l2] = [b, b].map((x) => new RedisRateLimiter(x, { url: REDIS_URL, log: quiet })) as [
      RedisRateLimiter,
      RedisRateLimiter,
    ];
    try {
      await Promise.all([l1.ready(), l2.ready()]);
      for (const l of [l1, l2, l1, l2]) expect(await l.consume("k", 1)).toEqual({ allowed: true });
      expect((await l1.consume("k", 1)).allowed).toBe(false);
      expect((await l2.consume("k", 1)).allowed).toBe(false);
      // Another prefix is another budget.
      const other = new RedisRateLimiter(budget(), { url: REDIS_URL, log: quiet });
      await other.ready();
      expect(await other.consume("k", 1)).toEqual({ allowed: true });
      await other.close();
    } finally {
      await Promise.all([l1.close(), l2.close()]);
    }
  });

  it("while Redis is unreachable, counts per process and warns, without the URL", async () => {
    const lines: string[] = [];
    let warned!: () => void;
    const bothWarned = new Promise<void>((r) => {
      warned = r;
    });
    const log = pino(
      { level: "info" },
      {
        write: (s: string) => {
          if (lines.push(s) === 2) warned();
        },
      },
    );
    const url = `redis://user:hunter2@127.0.0.1:${await closedPort()}`;
    const b = budget();
    const [l1, l2] = [b, b].map((x) => new RedisRateLimiter(x, { url, log })) as [
      RedisRateLimiter,
      RedisRateLimiter,
    ];
    try {
      // Same prefix, but no store to share: each process gets the whole budget.
      for (const l of [l1, l2])
        for (let i = 0; i < 4; i++) expect(await l.consume("k", 1)).toEqual({ allowed: true });
      expect((await l1.consume("k", 1)).allowed).toBe(false);
      expect((await l2.consume("k", 1)).allowed).toBe(false);
      await bothWarned;
      const warnings = lines.map((l) => JSON.parse(l) as { level: number; msg: string; keyPrefix: string });
      expect(warnings).toEqual([
        expect.objectContaining({ level: 40, msg: "Redis unreachable: rate limits count per process" }),
        expect.objectContaining({ level: 40, msg: "Redis unreachable: rate limits count per process" }),
      ]);
      expect(lines.join("")).not.toContain("hunter2");
    } finally {
      await Promise.all([l1.close(), l2.close()]);
    }
  });
});

describe("rate limiter factory", () => {
  const budget = { keyPrefix: "docfleet-test:rl:factory", points: 1, windowSeconds: 60 };

  it("builds the adapter the validated config names, and refuses an unknown one", async () => {
    const memory = await createRateLimiter({ kind: "memory", ...budget }, quiet);
    expect(memory).toBeInstanceOf(MemoryRateLimiter);
    expect(memory.budget).toEqual(budget);
    const redis = await createRateLimiter({ kind: "redis", url: DOWN_URL, ...budget }, quiet);
    expect(redis).toBeInstanceOf(RedisRateLimiter);
    expect(redis.budget).toEqual(budget);
    await Promise.all([memory.close(), redis.close()]);
    await expect(createRateLimiter({ kind: "etcd", ...budget } as never, quiet)).rejects.toThrow(
      /unknown rate limiter adapter "etcd"/,
    );
  });

  it("reads the adapter from the environment: REDIS_URL implies redis, an unknown kind is refused", () => {
    const cfg = (env: Record<string, string>) => adapterConfig(parseEnv(baseEnvSchema, env)).rateLimiter;
    expect(cfg({})).toEqual({ kind: "memory" });
    expect(cfg({ REDIS_URL: "redis://r:6379" })).toEqual({ kind: "redis", url: "redis://r:6379" });
    expect(cfg({ REDIS_URL: "redis://r:6379", DOCFLEET_RATE_LIMITER: "memory" })).toEqual({ kind: "memory" });
    expect(() => cfg({ DOCFLEET_RATE_LIMITER: "redis" })).toThrow(/REDIS_URL: required/);
    expect(() => cfg({ DOCFLEET_RATE_LIMITER: "etcd" })).toThrow(ConfigError);
  });
});
