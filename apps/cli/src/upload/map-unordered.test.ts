import { describe, expect, it } from "vitest";
import { mapUnordered } from "./bulk.ts";

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

async function* items(n: number, seen?: { returned: boolean; taken: number }) {
  try {
    for (let i = 0; i < n; i++) {
      if (seen) seen.taken++;
      yield i;
    }
  } finally {
    if (seen) seen.returned = true;
  }
}

describe("mapUnordered", () => {
  it("runs at most n at once and answers in completion order", async () => {
    const gates = Array.from({ length: 6 }, () => deferred<void>());
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const out = mapUnordered(items(6), 2, async (i) => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await gates[i]!.promise;
      running--;
      return i * 10;
    });
    const first = out.next();
    // 0 and 1 started; 1 finishes first
    gates[1]!.resolve();
    expect(await first).toEqual({ done: false, value: 10 });
    const second = out.next();
    gates[0]!.resolve();
    expect(await second).toEqual({ done: false, value: 0 });
    for (const g of gates.slice(2)) g.resolve();
    const rest: number[] = [];
    for await (const v of out) rest.push(v);
    expect(rest.sort((a, b) => a - b)).toEqual([20, 30, 40, 50]);
    expect(most).toBe(2);
    expect(started.sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("throws a task's failure, leaves none unhandled, and closes the source when stopped early", async () => {
    const seen = { returned: false, taken: 0 };
    const late = deferred<number>();
    const out = mapUnordered(items(100, seen), 3, async (i) => {
      if (i === 0) throw new Error("bad file");
      if (i === 1) return late.promise;
      return i;
    });
    await expect(
      (async () => {
        for await (const _ of out) {
          // consume
        }
      })(),
    ).rejects.toThrow("bad file");
    expect(seen.returned).toBe(true);
    expect(seen.taken).toBeLessThan(100);
    late.reject(new Error("after the stop")); // caught inside: no unhandled rejection
    await Promise.resolve();
  });

  it("answers nothing for an empty source", async () => {
    const out: number[] = [];
    for await (const v of mapUnordered(items(0), 4, async (i) => i)) out.push(v);
    expect(out).toEqual([]);
  });
});
