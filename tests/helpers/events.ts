import type { EventBus, PipelineEvent } from "@docfleet/pipeline";

/** Every event of a bus, kept in order, and a wait for a batch to have nothing left in flight. */
export function recordEvents(bus: EventBus) {
  const events: PipelineEvent[] = [];
  const waiters = new Set<() => void>();
  bus.subscribe((e) => {
    events.push(e);
    for (const w of waiters) w();
  });
  return {
    events,
    /** Resolves once the batch has no document pending, queued or processing after event `after`. */
    settled(batchId: string, after = 0): Promise<void> {
      return new Promise((resolve) => {
        const check = () => {
          const last = events.filter((e) => e.batchId === batchId && e.seq > after).at(-1);
          const c = last?.payload.batch as
            | { queued: number; processing: number; pendingUpload: number }
            | undefined;
          if (c && c.queued === 0 && c.processing === 0 && c.pendingUpload === 0) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      });
    },
    /** The last sequence number seen for a batch (0: none). */
    lastSeq: (batchId: string) => events.filter((e) => e.batchId === batchId).at(-1)?.seq ?? 0,
  };
}
