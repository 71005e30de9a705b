import { randomUUID } from "node:crypto";
import type { RateBudget, RateLimiter } from "@docfleet/pipeline";
import { afterEach, describe, expect, it } from "vitest";

/**
 * The rate limiter port's contract. Every adapter runs it: `make(budget)` returns a fresh limiter of
 * that budget (each test gets its own key prefix, so runs never share counters).
 */
export function rateLimiterContract(name: string, make: (budget: RateBudget) => Promise<RateLimiter>) {
  describe(`rate limiter contract: ${name}`, () => {
    const open: RateLimiter[] = [];
    const limiter = async (points: number, windowSeconds = 60) => {
      const l = await make({ keyPrefix: `docfleet-test:rl:${randomUUID()}`, points, windowSeconds });
      open.push(l);
      return l;
    };
    afterEach(async () => {
      for (const l of open.splice(0)) await l.close();
    });

    it("allows the budget, then refuses with the wait until the window ends", async () => {
      const l = await limiter(3);
      expect(l.budget).toMatchObject({ points: 3, windowSeconds: 60 });
      for (let i = 0; i < 3; i++) expect(await l.consume("k", 1)).toEqual({ allowed: true });
      const refused = await l.consume("k", 1);
      expect(refused.allowed).toBe(false);
      const { retryAfterMs } = refused as { retryAfterMs: number };
      expect(retryAfterMs).toBeGreaterThan(0);
      expect(retryAfterMs).toBeLessThanOrEqual(60_000);
      // Still refused: a refusal does not reopen the window.
      expect((await l.consume("k", 1)).allowed).toBe(false);
    });

    it("counts points: one call may take several, and never more than the budget", async () => {
      const l = await limiter(5);
      expect(await l.consume("k", 3)).toEqual({ allowed: true });
      expect((await l.consume("k", 3)).allowed).toBe(false);
      expect((await l.consume("big", 6)).allowed).toBe(false);
      expect(await l.consume("exact", 5)).toEqual({ allowed: true });
    });

    it("takes nothing for zero points", async () => {
      const l = await limiter(1);
      for (let i = 0; i < 5; i++) expect(await l.consume("k", 0)).toEqual({ allowed: true });
      expect(await l.consume("k", 1)).toEqual({ allowed: true });
      expect((await l.consume("k", 1)).allowed).toBe(false);
    });

    it("keeps keys independent", async () => {
      const l = await limiter(2);
      expect(await l.consume("a", 2)).toEqual({ allowed: true });
      expect((await l.consume("a", 1)).allowed).toBe(false);
      expect(await l.consume("b", 1)).toEqual({ allowed: true });
      expect(await l.consume("b", 1)).toEqual({ allowed: true });
      expect((await l.consume("b", 1)).allowed).toBe(false);
    });

    it("gives the whole budget again once the window has ended", async () => {
      const l = await limiter(2, 1);
      expect(await l.consume("k", 2)).toEqual({ allowed: true });
      const refused = await l.consume("k", 1);
      expect(refused.allowed).toBe(false);
      const { retryAfterMs } = refused as { retryAfterMs: number };
      expect(retryAfterMs).toBeLessThanOrEqual(1000);
      // The event waited for is the end of the window the limiter announced (a few ms over it, for the
      // store's and the timer's clock granularity).
      await new Promise((r) => setTimeout(r, retryAfterMs + 20));
      expect(await l.consume("k", 2)).toEqual({ allowed: true });
      expect((await l.consume("k", 1)).allowed).toBe(false);
    });

    it("refuses a budget it cannot count, and closes twice without harm", async () => {
      await expect(make({ keyPrefix: "x", points: 0, windowSeconds: 60 })).rejects.toThrow(/points/);
      await expect(make({ keyPrefix: "x", points: 1, windowSeconds: 0.5 })).rejects.toThrow(/seconds/);
      const l = await limiter(1);
      await l.close();
      await l.close();
    });
  });
}
