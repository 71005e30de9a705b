import { type FSWatcher, watch } from "node:fs";

// Waiting in tests: on the event that says the thing happened, never for a fixed time. Every wait is
// bounded, so a missed event fails with what was awaited instead of at the test's timeout.

/** A promise with its resolve and reject, for waiting on an event instead of sleeping. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * `promise`, or a rejection after `ms` that names `what` (and `detail()`, e.g. the last state seen).
 * `onTimeout` runs first, to cancel what was waiting.
 */
export function within<T>(
  ms: number,
  what: string,
  promise: Promise<T>,
  opts: { detail?: () => unknown; onTimeout?: () => void } = {},
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      opts.onTimeout?.();
      const detail = opts.detail?.();
      reject(
        new Error(
          `timed out after ${ms / 1000} s waiting for ${what}` +
            (detail === undefined ? "" : `; last seen: ${JSON.stringify(detail)}`),
        ),
      );
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves with `check()`'s first truthy answer. Only for state that nothing announces (say why at the
 * call): anything that emits an event is awaited on that event instead.
 */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | null | undefined | false>,
  { timeoutMs = 30_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Resolves with `check()`'s first truthy answer, asking it once now and again after each change
 * under `dir` (inotify through fs.watch: files written by this process or another). Checks never
 * overlap; a change during one runs another after it. Stops, answering undefined, when `stop` aborts.
 */
export function whenFiles<T>(
  dir: string,
  what: string,
  check: () => Promise<T | null | undefined | false>,
  { timeoutMs = 60_000, stop }: { timeoutMs?: number; stop?: AbortSignal } = {},
): Promise<T | undefined> {
  const done = deferred<T | undefined>();
  let watcher: FSWatcher | undefined;
  let running = false;
  let again = false;
  let settled = false;
  const cleanup = () => {
    settled = true;
    watcher?.close();
    stop?.removeEventListener("abort", onStop);
  };
  const finish = (v: T | undefined, err?: unknown) => {
    if (settled) return;
    cleanup();
    if (err) done.reject(err);
    else done.resolve(v);
  };
  const onStop = () => finish(undefined);
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const v = await check();
        if (v) return finish(v);
      } while (again && !settled);
    } catch (err) {
      finish(undefined, err);
    } finally {
      running = false;
    }
  };
  // Watch first, then look: a change between the two is seen either way.
  watcher = watch(dir, () => void run());
  watcher.on("error", (err) => finish(undefined, err));
  if (stop?.aborted) finish(undefined);
  else stop?.addEventListener("abort", onStop, { once: true });
  void run();
  return within(timeoutMs, what, done.promise, { onTimeout: cleanup });
}
