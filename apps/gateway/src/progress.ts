import { type BatchCounters, type EventBus, type PipelineEvent, readEventsAfter } from "@docfleet/pipeline";
import type { PrismaClient } from "@docfleet/schema";
import { GraphQLError } from "graphql";

/** Replayed events per database read. */
const REPLAY_PAGE = 500;
/** A subscription sends at most one message per this many ms (events in between are coalesced). */
export const COALESCE_MS = 250;
/** Window of the throughput estimate. */
const RATE_WINDOW_MS = 60_000;
/**
 * Live events one subscription may hold for a consumer that does not read them (a slow or stalled
 * client): past it the subscriber is dropped with SUBSCRIBER_TOO_SLOW and a cursor to resume from,
 * instead of the gateway's memory growing with the batch (issue 15). The event table keeps every
 * event, so resuming loses nothing.
 */
export const MAX_BUFFERED_EVENTS = 10_000;

/**
 * The error that ends a subscription whose buffer overflowed: `extensions.cursor` is the last seq it
 * delivered; subscribing again with `after: cursor` replays the rest from the event table.
 */
export class SubscriberTooSlow extends GraphQLError {
  constructor(cursor: number, limit: number) {
    super(
      `this subscription fell more than ${limit} events behind (the client reads too slowly) and was dropped; ` +
        `subscribe again with after: ${cursor} to resume`,
      { extensions: { code: "SUBSCRIBER_TOO_SLOW", cursor, limit } },
    );
  }
}

type Listener = (e: PipelineEvent) => void;

/**
 * This gateway's one subscription to the event bus, fanned out to its GraphQL subscriptions by tenant
 * and batch: an event reaches only listeners of its own tenant, whatever batch id they name. The hub
 * follows the bus only while a subscription listens (the distributed bus then binds no queue: a gateway
 * nobody follows receives no events); `ready()` says when live events reach it.
 * It also keeps, per batch, a few recent (time, finished documents) samples: throughput and ETA cost
 * O(1) per event, never a count over the batch's documents (seen while someone follows).
 */
export class ProgressHub {
  private readonly byBatch = new Map<string, Set<Listener>>();
  private readonly rates = new Map<string, { at: number; done: number }[]>();
  /** The bus subscription, held while any listener is (undefined otherwise). */
  private unsubscribe: (() => void) | undefined;
  private idle: (() => void)[] = [];
  /** Live events a subscription may buffer for its consumer (eventStream's default). */
  readonly maxBuffered: number;

  constructor(
    private readonly bus: EventBus,
    opts: { maxBuffered?: number } = {},
  ) {
    this.maxBuffered = opts.maxBuffered ?? MAX_BUFFERED_EVENTS;
  }

  private readonly onEvent = (e: PipelineEvent): void => {
    this.sample(e);
    for (const fn of this.byBatch.get(batchKey(e.tenantId, e.batchId)) ?? []) fn(e);
  };

  /**
   * Calls `fn` for every live event of the tenant's batch; returns the unsubscribe function. Events
   * reach it once `ready()` resolves.
   */
  listen(tenantId: string, batchId: string, fn: Listener): () => void {
    const key = batchKey(tenantId, batchId);
    let set = this.byBatch.get(key);
    if (!set) {
      set = new Set();
      this.byBatch.set(key, set);
    }
    set.add(fn);
    this.unsubscribe ??= this.bus.subscribe(this.onEvent);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.byBatch.get(key) === set) this.byBatch.delete(key);
      if (this.byBatch.size === 0) {
        this.unsubscribe?.();
        this.unsubscribe = undefined;
        for (const resolve of this.idle.splice(0)) resolve();
      }
    };
  }

  /** Resolves once events published from now on reach the listeners registered so far. */
  ready(): Promise<void> {
    return this.bus.ready();
  }

  /** Live listeners (subscriptions following a batch) on this gateway. */
  listeners(): number {
    let n = 0;
    for (const set of this.byBatch.values()) n += set.size;
    return n;
  }

  /** Resolves once no subscription listens any more (at once when none does). */
  whenIdle(): Promise<void> {
    if (this.byBatch.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Documents finished per minute over the last minute this gateway saw, and the seconds left at that pace. */
  rate(
    tenantId: string,
    batchId: string,
    counts: BatchCounters,
  ): { perMinute: number; etaSeconds: number | null } {
    const s = this.rates.get(batchKey(tenantId, batchId));
    const left = counts.total - counts.completed - counts.failed;
    if (!s || s.length < 2) return { perMinute: 0, etaSeconds: left === 0 ? 0 : null };
    const first = s[0]!;
    const last = s.at(-1)!;
    const minutes = (last.at - first.at) / 60_000;
    const perMinute = minutes > 0 ? (last.done - first.done) / minutes : 0;
    return {
      perMinute: Math.round(perMinute * 10) / 10,
      etaSeconds: left === 0 ? 0 : perMinute > 0 ? Math.ceil((left / perMinute) * 60) : null,
    };
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.byBatch.clear();
  }

  private sample(e: PipelineEvent): void {
    const c = e.payload.batch;
    if (!c) return;
    const now = Date.parse(e.createdAt) || Date.now();
    const key = batchKey(e.tenantId, e.batchId);
    let s = this.rates.get(key);
    if (!s) {
      if (this.rates.size > 10_000) this.rates.clear(); // bounded memory on a long-lived gateway
      s = [];
      this.rates.set(key, s);
    }
    const done = c.completed + c.failed;
    if (s.length > 0 && s.at(-1)!.done === done) return;
    s.push({ at: now, done });
    while (s.length > 2 && s[0]!.at < now - RATE_WINDOW_MS) s.shift();
    if (s.length > 256) s.splice(1, s.length - 255); // keep the oldest in the window and the newest
  }
}

function batchKey(tenantId: string, batchId: string): string {
  return `${tenantId}/${batchId}`;
}

/**
 * The events of a tenant's batch after `after`, in sequence order, with no gap and no duplicate: registers for
 * live events first, replays what the event table holds, then follows the live stream. A live event
 * that arrives ahead of its predecessors (the bus is best-effort) makes it read the gap from the table.
 * `match` narrows to one document's events. Ends when `signal` aborts.
 */
export async function* eventStream(opts: {
  hub: ProgressHub;
  /** The tenant-scoped client the replay reads through. */
  db: PrismaClient;
  /** Both the live events and the replayed rows are the tenant's only. */
  tenantId: string;
  batchId: string;
  after: number;
  documentId?: string;
  /** Live events are sent at most once per this many ms (coalesced in between). */
  coalesceMs?: number;
  /** Live events held for the consumer before it is dropped (SubscriberTooSlow); default the hub's. */
  maxBuffered?: number;
  signal: AbortSignal;
}): AsyncGenerator<PipelineEvent[]> {
  const { hub, db, tenantId, batchId, documentId, signal } = opts;
  const coalesceMs = opts.coalesceMs ?? 0;
  const maxBuffered = opts.maxBuffered ?? hub.maxBuffered;
  let lastYield = 0;
  let cursor = opts.after;
  /** The last seq the consumer took: where a dropped subscriber resumes. */
  let delivered = opts.after;
  let pending: PipelineEvent[] = [];
  let dropped = false;
  let wake: (() => void) | null = null;
  let listening = true;
  const stopListening = hub.listen(tenantId, batchId, (e) => {
    pending.push(e);
    if (pending.length > maxBuffered) {
      // The consumer is not keeping up: free the buffer now, tell it on its next read.
      dropped = true;
      pending = [];
      off();
    }
    wake?.();
  });
  function off() {
    if (listening) stopListening();
    listening = false;
  }
  const tooSlow = () => new SubscriberTooSlow(delivered, maxBuffered);
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort);
  const read = (from: number, to?: number): Promise<PipelineEvent[]> =>
    readEventsAfter(db, { tenantId, batchId, afterSeq: from, upToSeq: to, documentId, limit: REPLAY_PAGE });
  try {
    // Live events must reach the listener before the replay reads, else one committed in between
    // would be in neither (a quiet batch sends no later event to reveal the gap).
    await new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const onStop = () => resolve();
      signal.addEventListener("abort", onStop, { once: true });
      hub.ready().then(
        () => {
          signal.removeEventListener("abort", onStop);
          resolve();
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onStop);
          reject(err);
        },
      );
    });
    if (signal.aborted) return;
    // Replay: page through the table until it has nothing newer.
    for (;;) {
      const page = await read(cursor);
      if (page.length === 0) break;
      cursor = page.at(-1)!.seq;
      delivered = cursor;
      yield page;
      if (dropped) throw tooSlow();
    }
    // `seen` is the last batch seq accounted for (events of other documents count when filtering).
    let seen = cursor;
    while (!signal.aborted) {
      if (dropped) throw tooSlow();
      if (pending.length === 0) {
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = null;
        continue;
      }
      const wait = lastYield + coalesceMs - Date.now();
      if (wait > 0) {
        // Let more events gather: one message carries them all.
        await new Promise<void>((r) => {
          const t = setTimeout(r, wait);
          wake = () => {
            if (signal.aborted) {
              clearTimeout(t);
              r();
            }
          };
        });
        wake = null;
        if (signal.aborted) break;
        if (dropped) throw tooSlow();
      }
      const live = pending.filter((e) => e.seq > seen).sort((a, b) => a.seq - b.seq);
      pending = [];
      const out: PipelineEvent[] = [];
      for (const e of live) {
        if (e.seq <= seen) continue;
        if (e.seq > seen + 1) {
          // Missed events (published before we listened, or reordered): the table has them.
          for (;;) {
            const gap = await read(seen, e.seq - 1);
            if (gap.length === 0) break;
            out.push(...gap);
            seen = Math.max(seen, gap.at(-1)!.seq);
            if (gap.length < REPLAY_PAGE) break;
          }
        }
        seen = e.seq;
        if (!documentId || e.documentId === documentId) out.push(e);
      }
      if (out.length > 0) {
        lastYield = Date.now();
        delivered = seen;
        yield out;
      }
    }
  } finally {
    off();
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * A subscription's source: `make`'s stream of messages, ended at once (its listener released) when the
 * consumer lets go (`return()`: the client completed or its socket closed), when `lost` aborts (the key
 * was revoked, SSE), or when it ends. An async generator would queue `return()` behind a pending
 * `next()` that waits for a live event, which on a quiet batch never comes: every closed subscription
 * kept its listener (5,000 subscriptions on one socket, closed: 430 MB never freed; issue 15).
 * A dropped slow subscriber's SubscriberTooSlow comes as the last value: graphql-js answers an Error a
 * subscription field resolves to as that field's error, so every transport sends it as a result with
 * its code and cursor, then completes.
 */
export function liveSubscription<T>(
  ctx: { authLost?: AbortSignal },
  make: (signal: AbortSignal) => AsyncGenerator<T>,
): AsyncIterableIterator<T> {
  const controller = new AbortController();
  const lost = ctx.authLost;
  const onLost = () => controller.abort();
  if (lost?.aborted) controller.abort();
  else lost?.addEventListener("abort", onLost, { once: true });
  const inner = make(controller.signal);
  let ended = false;
  const end = () => {
    ended = true;
    lost?.removeEventListener("abort", onLost);
    controller.abort();
  };
  const done = (): IteratorResult<T> => ({ done: true, value: undefined });
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (ended) return done();
      try {
        const r = await inner.next();
        if (r.done) end();
        return r;
      } catch (err) {
        end();
        if (err instanceof SubscriberTooSlow) return { done: false, value: err as T };
        throw err;
      }
    },
    async return() {
      // Abort first: it wakes the source's pending wait, so the queued return() below can run.
      end();
      await inner.return(undefined);
      return done();
    },
  };
}
