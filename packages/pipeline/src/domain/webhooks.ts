import { z } from "zod";
import type { PipelineEvent } from "../ports/event-bus.ts";
import { RequestError } from "./errors.ts";
import { EventType } from "./messages.ts";

/** Event types an endpoint may subscribe to: every type of the event log, by its name (`document.completed`). */
export const WEBHOOK_EVENT_TYPES = Object.values(EventType);
export type WebhookEventType = (typeof EventType)[keyof typeof EventType];
/** An endpoint created without a filter gets these. */
export const DEFAULT_WEBHOOK_EVENTS: WebhookEventType[] = [
  EventType.DOCUMENT_COMPLETED,
  EventType.DOCUMENT_FAILED,
];

/**
 * The outbox topic of webhook events: never a queue. The relay fans each such row out into one delivery
 * per subscribed endpoint, in the transaction that marks it sent (repositories/webhooks.ts `fanOut`).
 */
export const WEBHOOK_TOPIC = "docfleet.webhooks";

/** Delivery timings and limits (DOCFLEET_WEBHOOK_*). */
export interface WebhookSettings {
  /** Attempts of one delivery before it is FAILED (a redelivery starts again from none). */
  maxAttempts: number;
  /** Wait before the 2nd attempt; doubled per attempt, up to `maxDelayMs`, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** One request's limit (connect, send, response headers). */
  timeoutMs: number;
  /** Requests in flight per process, and per endpoint (a slow endpoint holds at most this many). */
  concurrency: number;
  perEndpoint: number;
  /** Poll interval when nothing kicks the dispatcher (other processes' fan-outs, retries coming due). */
  pollMs: number;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  maxAttempts: 12,
  baseDelayMs: 30_000,
  maxDelayMs: 6 * 3600_000,
  timeoutMs: 10_000,
  concurrency: 16,
  perEndpoint: 2,
  pollMs: 1000,
};

/**
 * Wait before the attempt after `attempt` (1-based) failed: base × 2^(attempt-1), capped, with "equal
 * jitter" (half fixed, half random) so endpoints that failed together do not retry together.
 */
export function webhookBackoffMs(attempt: number, s: WebhookSettings, random = Math.random): number {
  const exp = Math.min(s.maxDelayMs, s.baseDelayMs * 2 ** Math.min(attempt - 1, 40));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** One webhook event as queued in the outbox: its id, type and the exact JSON body to send. */
export const WebhookOutboxPayload = z.object({
  v: z.literal(1),
  tenantId: z.uuid(),
  events: z.array(z.object({ id: z.string(), type: z.string(), body: z.string() })),
});
export type WebhookOutboxPayload = z.infer<typeof WebhookOutboxPayload>;

/** An event's id for receivers (the same for every endpoint, and on every attempt): `<batchId>.<seq>`. */
export function webhookEventId(e: Pick<PipelineEvent, "batchId" | "seq">): string {
  return `${e.batchId}.${e.seq}`;
}

/** The JSON body of an event's deliveries. */
export function webhookBody(e: PipelineEvent): string {
  return JSON.stringify({
    id: webhookEventId(e),
    type: e.type,
    createdAt: e.createdAt,
    batchId: e.batchId,
    documentId: e.documentId,
    seq: e.seq,
    data: e.payload,
  });
}

/** A URL an endpoint may have: http(s), no credentials, at most 2,048 characters. Throws BAD_REQUEST. */
export function webhookUrl(input: string): string {
  const raw = input.trim();
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new RequestError("BAD_REQUEST", `not a URL: ${JSON.stringify(raw.slice(0, 100))}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new RequestError("BAD_REQUEST", `a webhook URL must be http:// or https://, not ${u.protocol}`);
  if (u.username || u.password)
    throw new RequestError("BAD_REQUEST", "a webhook URL must not carry credentials (user:password@)");
  if (raw.length > 2048)
    throw new RequestError("BAD_REQUEST", "a webhook URL may have at most 2,048 characters");
  return u.toString();
}

/** Event types as given (names such as `document.completed`); throws BAD_REQUEST on an unknown one or none. */
export function webhookEvents(list: readonly string[]): WebhookEventType[] {
  const names = [...new Set(list.map((s) => s.trim()).filter(Boolean))];
  const bad = names.filter((n) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(n));
  if (bad.length)
    throw new RequestError(
      "BAD_REQUEST",
      `unknown event types: ${bad.join(", ")} (known: ${WEBHOOK_EVENT_TYPES.join(", ")})`,
    );
  if (names.length === 0) throw new RequestError("BAD_REQUEST", "a webhook needs at least one event type");
  return WEBHOOK_EVENT_TYPES.filter((t) => names.includes(t));
}
