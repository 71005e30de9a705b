import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  backoffMs,
  fetchLinked,
  isTransientStatus,
  Limiter,
  type RetryPolicy,
  retryAfterMs,
  TransientError,
  withRetry,
} from "./retry.ts";

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The rejection of `p`, or a failure when it resolves. */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${String(v)}`);
    },
    (err: unknown) => err,
  );
}

const POLICY: RetryPolicy = { retries: 3, baseMs: 100, maxMs: 1_000 };

describe("withRetry", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers the first success, retrying transient failures with growing waits", async () => {
    vi.useFakeTimers();
    const waits: number[] = [];
    let calls = 0;
    const p = withRetry(
      async (attempt) => {
        expect(attempt).toBe(calls);
        calls++;
        if (calls < 3) throw new TransientError(`try ${calls}`);
        return "ok";
      },
      POLICY,
      undefined,
      (_err, attempt, wait) => waits.push(attempt, wait),
    );
    await vi.runAllTimersAsync();
    expect(await p).toBe("ok");
    expect(calls).toBe(3);
    // retry 1 waits within [50, 100], retry 2 within [100, 200]
    expect(waits[0]).toBe(1);
    expect(waits[1]).toBeGreaterThanOrEqual(50);
    expect(waits[1]).toBeLessThanOrEqual(100);
    expect(waits[2]).toBe(2);
    expect(waits[3]).toBeGreaterThanOrEqual(100);
    expect(waits[3]).toBeLessThanOrEqual(200);
  });

  it("throws the last transient failure after `retries` retries", async () => {
    vi.useFakeTimers();
    let calls = 0;
    const p = withRetry(async (attempt) => {
      calls++;
      throw new TransientError(`try ${attempt}`);
    }, POLICY);
    const err = rejectionOf(p);
    await vi.runAllTimersAsync();
    expect(await err).toMatchObject({ name: "TransientError", message: "try 3" });
    expect(calls).toBe(4);
  });

  it("does not retry other errors", async () => {
    vi.useFakeTimers();
    let calls = 0;
    const boom = new Error("boom");
    const err = rejectionOf(
      withRetry(async () => {
        calls++;
        throw boom;
      }, POLICY),
    );
    await vi.runAllTimersAsync();
    expect(await err).toBe(boom);
    expect(calls).toBe(1);
  });

  it("waits as long as the server's Retry-After asks, up to maxMs", async () => {
    vi.useFakeTimers();
    let calls = 0;
    const waits: number[] = [];
    const p = withRetry(
      async () => {
        calls++;
        if (calls === 1) throw new TransientError("429", 700);
        if (calls === 2) throw new TransientError("503", 60_000);
        return calls;
      },
      { retries: 5, baseMs: 10, maxMs: 1_000 },
      undefined,
      (_err, _attempt, wait) => waits.push(wait),
    );
    await vi.advanceTimersByTimeAsync(699);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(await p).toBe(3);
    expect(waits).toEqual([700, 1_000]);
  });

  it("stops waiting when the signal aborts", async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const retrying = deferred();
    let calls = 0;
    const err = rejectionOf(
      withRetry(
        async () => {
          calls++;
          throw new TransientError("down");
        },
        POLICY,
        ac.signal,
        () => retrying.resolve(),
      ),
    );
    await retrying.promise;
    const reason = new Error("stop");
    ac.abort(reason);
    expect(await err).toBe(reason);
    expect(calls).toBe(1);
    // The wait's timer went with it.
    expect(vi.getTimerCount()).toBe(0);
  });

  it("does not start when the signal has aborted already", async () => {
    const ac = new AbortController();
    ac.abort(new Error("before"));
    const fn = vi.fn(async () => 1);
    expect(await rejectionOf(withRetry(fn, POLICY, ac.signal))).toMatchObject({ message: "before" });
    expect(fn).not.toHaveBeenCalled();
  });
});

describe("backoffMs", () => {
  const policy: RetryPolicy = { retries: 10, baseMs: 250, maxMs: 15_000 };

  it("stays between half the exponential ceiling and the ceiling", () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(15_000, 250 * 2 ** (attempt - 1));
      expect(backoffMs(policy, attempt, () => 0)).toBe(Math.round(ceiling / 2));
      expect(backoffMs(policy, attempt, () => 1)).toBe(ceiling);
      for (let i = 0; i < 200; i++) {
        const ms = backoffMs(policy, attempt);
        expect(ms).toBeGreaterThanOrEqual(ceiling / 2);
        expect(ms).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it("caps at maxMs however many attempts", () => {
    expect(backoffMs(policy, 7, () => 1)).toBe(15_000);
    expect(backoffMs(policy, 60, () => 1)).toBe(15_000);
    expect(backoffMs(policy, 2_000, () => 1)).toBe(15_000);
  });
});

describe("retryAfterMs", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reads seconds", () => {
    expect(retryAfterMs("120")).toBe(120_000);
    expect(retryAfterMs("0")).toBe(0);
    expect(retryAfterMs("1.5")).toBe(1_500);
  });

  it("reads an HTTP date as the time left until it", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2025-03-04T10:00:00.000Z"));
    expect(retryAfterMs("Tue, 04 Mar 2025 10:00:30 GMT")).toBe(30_000);
    expect(retryAfterMs("Tue, 04 Mar 2025 09:00:00 GMT")).toBe(0);
  });

  it("answers undefined for no header or one it cannot read", () => {
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs("")).toBeUndefined();
    expect(retryAfterMs("soon")).toBeUndefined();
  });
});

describe("isTransientStatus", () => {
  it("retries timeouts, throttling and server errors only", () => {
    expect([408, 429, 500, 502, 503, 504].every(isTransientStatus)).toBe(true);
    expect([400, 401, 403, 404, 409, 413].some(isTransientStatus)).toBe(false);
  });
});

describe("Limiter", () => {
  it("never runs more than n tasks at once, and starts waiting tasks in order", async () => {
    const limiter = new Limiter(2);
    const gates = Array.from({ length: 6 }, () => deferred<number>());
    const started: number[] = [];
    let active = 0;
    let most = 0;
    const results = gates.map((g, i) =>
      limiter.run(async () => {
        started.push(i);
        active++;
        most = Math.max(most, active);
        try {
          return await g.promise;
        } finally {
          active--;
        }
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    // Finish out of order: the next waiting task takes the freed slot each time.
    gates[1]!.resolve(1);
    await results[1];
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.reject(new Error("task 0 failed"));
    await expect(results[0]).rejects.toThrow("task 0 failed");
    expect(started).toEqual([0, 1, 2, 3]);
    for (const i of [3, 2, 5, 4]) {
      gates[i]!.resolve(i);
      await results[i];
    }
    expect(await Promise.all(results.slice(1))).toEqual([1, 2, 3, 4, 5]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });

  it("frees the slot of a task that throws synchronously", async () => {
    const limiter = new Limiter(1);
    await expect(
      limiter.run(() => {
        throw new Error("sync");
      }),
    ).rejects.toThrow("sync");
    expect(await limiter.run(async () => "next")).toBe("next");
  });
});

describe("fetchLinked", () => {
  let server: Server;
  let url: string;
  /** Requests to /hang wait here until the test answers them. */
  const hanging: { req: IncomingMessage; res: ServerResponse }[] = [];
  let arrived = deferred();

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/hang" || req.url === "/stall") {
        // /stall sends its headers and the start of a body, then nothing more
        if (req.url === "/stall") res.writeHead(200).write("partial");
        hanging.push({ req, res });
        arrived.resolve();
        return;
      }
      res.end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const { res } of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** A signal that counts the abort listeners on it. */
  function countedSignal() {
    const ac = new AbortController();
    const listeners = new Set<unknown>();
    let added = 0;
    const signal = ac.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((type: string, fn: EventListener, opts?: AddEventListenerOptions) => {
      if (type === "abort") {
        listeners.add(fn);
        added++;
      }
      add(type, fn, opts);
    }) as typeof signal.addEventListener;
    signal.removeEventListener = ((type: string, fn: EventListener, opts?: EventListenerOptions) => {
      if (type === "abort") listeners.delete(fn);
      remove(type, fn, opts);
    }) as typeof signal.removeEventListener;
    return { ac, signal, listeners, added: () => added };
  }

  it("leaves no listener on the parent signal after its requests", async () => {
    const { signal, listeners, added } = countedSignal();
    for (let i = 0; i < 200; i++) {
      expect(await fetchLinked(`${url}/ok`, { signal }, (res) => res.text())).toBe("ok");
    }
    expect(added()).toBe(200);
    expect(listeners.size).toBe(0);
  });

  it("removes its listener when the request fails", async () => {
    const { signal, listeners } = countedSignal();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await expect(fetchLinked(`http://127.0.0.1:${port}/`, { signal }, (r) => r.text())).rejects.toThrow();
    expect(listeners.size).toBe(0);
  });

  it("aborts the request when the parent signal aborts", async () => {
    arrived = deferred();
    const { ac, signal, listeners } = countedSignal();
    const err = rejectionOf(fetchLinked(`${url}/hang`, { signal }, (r) => r.text()));
    await arrived.promise;
    const { req } = hanging.at(-1)!;
    const serverSawClose = new Promise((r) => req.socket.once("close", r));
    const reason = new Error("user stopped");
    ac.abort(reason);
    expect(await err).toBe(reason);
    await serverSawClose;
    expect(listeners.size).toBe(0);
  });

  it("aborts a body still arriving: the link holds until the reader is done", async () => {
    arrived = deferred();
    const { ac, signal, listeners } = countedSignal();
    const err = rejectionOf(fetchLinked(`${url}/stall`, { signal }, (r) => r.text()));
    await arrived.promise;
    const reason = new Error("user stopped");
    ac.abort(reason);
    expect(await err).toBe(reason);
    expect(listeners.size).toBe(0);
  });

  it("refuses to start on an aborted signal", async () => {
    const ac = new AbortController();
    ac.abort(new Error("already"));
    expect(await rejectionOf(fetchLinked(`${url}/ok`, { signal: ac.signal }, (r) => r.text()))).toMatchObject(
      {
        message: "already",
      },
    );
  });
});
