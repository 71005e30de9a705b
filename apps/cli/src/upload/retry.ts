import pLimit from "p-limit";
/** How hard to try again after a transient failure (network, 5xx, 429). */
export interface RetryPolicy {
  /** Attempts after the first. */
  retries: number;
  /** First wait; doubles each attempt, with full jitter. */
  baseMs: number;
  /** Longest single wait. */
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 6, baseMs: 250, maxMs: 15_000 };

/** A failure worth trying again; `afterMs` is the server's Retry-After when it sent one. */
export class TransientError extends Error {
  override name = "TransientError";
  constructor(
    message: string,
    readonly afterMs?: number,
  ) {
    super(message);
  }
}

/** Wait before attempt `attempt` (1-based retry number): full jitter over an exponential ceiling. */
export function backoffMs(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

/**
 * Runs `fn` until it succeeds, throws something other than a TransientError, or has failed
 * `policy.retries + 1` times (then the last TransientError is thrown). Stops waiting on abort.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
  onRetry?: (err: TransientError, attempt: number, waitMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof TransientError) || attempt >= policy.retries) throw err;
      const wait = Math.min(policy.maxMs, Math.max(err.afterMs ?? 0, backoffMs(policy, attempt + 1)));
      onRetry?.(err, attempt + 1, wait);
      await sleep(wait, signal);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Retry-After in ms (seconds or an HTTP date), or undefined. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(header);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/**
 * fetch with `init.signal` linked through a signal of its own: fetch leaves its abort listener on the
 * signal it is given until the request is garbage-collected, and a run's thousands of requests would
 * otherwise pile listeners up on the one signal they share.
 */
export async function fetchLinked<T>(
  url: string,
  init: RequestInit,
  /** Reads the response; the link holds until it is done, so an abort also stops a body mid-way. */
  read: (res: Response) => Promise<T>,
): Promise<T> {
  const parent = init.signal;
  if (!parent) return read(await fetch(url, init));
  parent.throwIfAborted();
  const own = new AbortController();
  const onAbort = () => own.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  try {
    return await read(await fetch(url, { ...init, signal: own.signal }));
  } finally {
    parent.removeEventListener("abort", onAbort);
  }
}

/** Statuses a retry can cure. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Runs at most `n` tasks at once, in the order they asked. */
export class Limiter {
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(n: number) {
    this.limit = pLimit(n);
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.limit(fn);
  }
}
