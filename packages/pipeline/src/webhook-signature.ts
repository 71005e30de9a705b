import { createHmac, timingSafeEqual } from "node:crypto";

// Webhook signatures, Stripe style: `Docfleet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
// No imports beyond node:crypto, so a receiver can copy this file as it is (README "Webhooks").

/** The header carrying the signature. */
export const WEBHOOK_SIGNATURE_HEADER = "Docfleet-Signature";
/** How far a signature's timestamp may be from the receiver's clock by default (replays older than it fail). */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The signature header's value for `body` (the exact bytes sent) at `timestamp` (unix seconds). */
export function signWebhook(secret: string, body: string, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, body)}`;
}

export type WebhookVerification =
  | { ok: true; timestamp: number }
  | { ok: false; reason: "malformed" | "mismatch" | "expired" };

/**
 * Checks a `Docfleet-Signature` header against the raw request body (as received, before any JSON
 * parsing) and the endpoint's secret: one `v1` of the header must match (several are accepted, for a
 * secret being rotated), in constant time, and `t` must be within `toleranceSeconds` of `now`.
 */
export function verifyWebhookSignature(opts: {
  secret: string;
  body: string | Buffer;
  header: string | null | undefined;
  toleranceSeconds?: number;
  /** Unix seconds; default the clock. */
  now?: number;
}): WebhookVerification {
  const parts = (opts.header ?? "").split(",").map((p) => p.trim().split("="));
  const t = parts.find(([k]) => k === "t")?.[1];
  const sigs = parts.filter(([k, v]) => k === "v1" && v && /^[0-9a-f]{64}$/.test(v)).map(([, v]) => v!);
  if (!t || !/^\d{1,12}$/.test(t) || sigs.length === 0) return { ok: false, reason: "malformed" };
  const timestamp = Number(t);
  const expected = Buffer.from(hmac(opts.secret, timestamp, opts.body), "hex");
  if (!sigs.some((s) => timingSafeEqual(Buffer.from(s, "hex"), expected)))
    return { ok: false, reason: "mismatch" };
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (opts.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS))
    return { ok: false, reason: "expired" };
  return { ok: true, timestamp };
}

function hmac(secret: string, timestamp: number, body: string | Buffer): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
}
