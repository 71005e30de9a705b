import type { EventBus, PipelineEvent } from "../../ports/event-bus.ts";

/** In-process event fan-out (embedded mode: one process holds every gateway and worker). */
export class MemoryEventBus implements EventBus {
  private readonly subscribers = new Set<(e: PipelineEvent) => void>();

  async publish(events: readonly PipelineEvent[]): Promise<void> {
    for (const e of events) {
      for (const fn of this.subscribers) {
        try {
          fn(e);
        } catch {
          // a broken subscriber must not stop delivery to the others
        }
      }
    }
  }

  subscribe(fn: (event: PipelineEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  async ready(): Promise<void> {}

  async close(): Promise<void> {
    this.subscribers.clear();
  }
}
