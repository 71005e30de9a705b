import { BlockList, isIP } from "node:net";
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
  /**
   * Whether endpoints may be on loopback, private, link-local (the cloud metadata service) or other
   * non-public addresses. Off, an endpoint's URL naming such an address is refused and a name that
   * resolves only to such addresses is never connected to (checked on the address connected to, so a
   * name that changes its answer cannot slip through). DOCFLEET_WEBHOOK_ALLOW_PRIVATE; default on for
   * the embedded `serve` (one machine, one user), off for a distributed deployment.
   */
  allowPrivateTargets: boolean;
}

export const DEFAULT_WEBHOOK_SETTINGS: WebhookSettings = {
  maxAttempts: 12,
  baseDelayMs: 30_000,
  maxDelayMs: 6 * 3600_000,
  timeoutMs: 10_000,
  concurrency: 16,
  perEndpoint: 2,
  pollMs: 1000,
  allowPrivateTargets: false,
};

/** Networks no webhook may reach unless private targets are allowed (IANA special-purpose registries). */
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local: cloud metadata services
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const)
  NON_PUBLIC.addSubnet(net, prefix, "ipv4");
for (const [net, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["64:ff9b:1::", 48],
  ["100::", 64],
  ["2001:db8::", 32],
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
] as const)
  NON_PUBLIC.addSubnet(net, prefix, "ipv6");

/**
 * Whether an IP address is loopback, private, link-local, reserved or otherwise not on the public
 * internet; IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms are judged by their IPv4.
 * Not an IP address: false.
 */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return NON_PUBLIC.check(address, "ipv4");
  if (family !== 6) return false;
  const embedded = /^(?:::ffff:(?:0:)?|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (embedded) return NON_PUBLIC.check(embedded, "ipv4");
  const hex = /^(?:::ffff:(?:0:)?|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hex) {
    const n = (Number.parseInt(hex[1]!, 16) << 16) | Number.parseInt(hex[2]!, 16);
    return NON_PUBLIC.check([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join("."), "ipv4");
  }
  return NON_PUBLIC.check(address, "ipv6");
}

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

/**
 * A URL an endpoint may have: http(s), no credentials, at most 2,048 characters; unless `allowPrivate`,
 * not naming a non-public address (an IP literal, or localhost). Throws BAD_REQUEST. A name that resolves
 * to such an address is refused when connecting (adapters/http/webhook-transport.ts).
 */
export function webhookUrl(input: string, opts: { allowPrivate?: boolean } = {}): string {
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
  if (!opts.allowPrivate) {
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
    if (isNonPublicAddress(host) || host === "localhost" || host.endsWith(".localhost"))
      throw new RequestError(
        "BAD_REQUEST",
        `a webhook URL must reach a public address, not ${u.hostname} (loopback, private or link-local); ` +
          "DOCFLEET_WEBHOOK_ALLOW_PRIVATE=true allows it",
      );
  }
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
