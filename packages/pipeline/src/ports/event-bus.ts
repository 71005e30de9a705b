import type { EventPayload } from "../domain/events.ts";

/** One state change, as persisted in the `event` table and fanned out to subscribers. */
export interface PipelineEvent {
  tenantId: string;
  batchId: string;
  /** Per-batch sequence number: gap-free, so a subscriber can resume from a cursor. */
  seq: number;
  documentId: string | null;
  type: string;
  payload: EventPayload;
  createdAt: string;
}

/**
 * Best-effort live fan-out of events after they are committed. Events are persisted first, so a
 * subscriber that sees a gap in `seq` (or reconnects) reads what it missed from the database.
 */
export interface EventBus {
  /** Publishes committed events; never throws for lack of subscribers. */
  publish(events: readonly PipelineEvent[]): Promise<void>;
  /** Calls `fn` for every event published from now on; returns the unsubscribe function. */
  subscribe(fn: (event: PipelineEvent) => void): () => void;
  /** Resolves once events published from now on reach this bus's subscribers (broker binding made). */
  ready(): Promise<void>;
  close(): Promise<void>;
}
