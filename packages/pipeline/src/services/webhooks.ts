import { randomBytes, randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { WebhookDeliveryStatus } from "@docfleet/schema";
import type { Logger } from "pino";
import { RequestError } from "../domain/errors.ts";
import { isUuid } from "../domain/ids.ts";
import {
  DEFAULT_WEBHOOK_EVENTS,
  type WebhookEventType,
  type WebhookSettings,
  webhookBackoffMs,
  webhookEvents,
  webhookUrl,
} from "../domain/webhooks.ts";
import type { Database } from "../ports/database.ts";
import type { WebhookTransport } from "../ports/webhook-transport.ts";
import * as repo from "../repositories/webhooks.ts";
import { SecretBox } from "../secret-box.ts";
import { storable } from "../storable.ts";
import { signWebhook, WEBHOOK_SIGNATURE_HEADER } from "../webhook-signature.ts";

/** HKDF info of the webhook secrets' key: another purpose derives another key from the same material. */
const SECRET_PURPOSE = "docfleet webhook secret v1";
export const WEBHOOK_SECRET_PREFIX = "whsec_";
/** `whsec_` and 6 characters: enough to tell secrets apart, nothing to sign with. */
const SECRET_PREFIX_LENGTH = 12;

/** The box webhook secrets are sealed in, from the deployment's key material (undefined: none configured). */
export function webhookSecretBox(material: string | undefined): SecretBox | undefined {
  return material ? new SecretBox(material, SECRET_PURPOSE) : undefined;
}

/** What binds a sealed secret to its endpoint row. */
const aad = (tenantId: string, endpointId: string) => `webhook:${tenantId}:${endpointId}`;

/** An endpoint as listed: never its secret (only creation answers it). */
export interface WebhookInfo {
  id: string;
  url: string;
  description: string;
  events: WebhookEventType[];
  enabled: boolean;
  secretPrefix: string;
  createdAt: Date;
  updatedAt: Date;
}

export type WebhookDeliveryInfo = repo.WebhookDeliveryRow;

/**
 * A tenant's webhook endpoints and their delivery log. Every call takes the tenant's id and touches
 * only its rows; another tenant's id is NOT_FOUND, like an unknown one.
 */
export class WebhooksService {
  constructor(
    private readonly db: Database,
    private readonly box: SecretBox | undefined,
    /** Wakes this process's dispatcher (a redelivery is due now). */
    private readonly kick: () => void = () => {},
    /** Endpoints on loopback, private or link-local addresses allowed (WebhookSettings). */
    private readonly allowPrivate = false,
  ) {}

  /**
   * A new endpoint; answers its signing secret (shown this once: stored only encrypted) and its listing.
   * `secret` given: used as it is (16 to 200 characters), else `whsec_` + 32 random bytes. Throws
   * BAD_REQUEST for a URL that is not http(s), unknown event types, or when no key is configured.
   */
  async create(
    tenantId: string,
    input: {
      url: string;
      events?: readonly string[] | null;
      description?: string | null;
      secret?: string | null;
      enabled?: boolean | null;
    },
  ): Promise<{ secret: string; webhook: WebhookInfo }> {
    const box = this.requireBox();
    const url = webhookUrl(input.url, { allowPrivate: this.allowPrivate });
    const events = input.events?.length ? webhookEvents(input.events) : DEFAULT_WEBHOOK_EVENTS;
    const description = (input.description ?? "").trim();
    if (description.length > 500)
      throw new RequestError("BAD_REQUEST", "a description may have at most 500 characters");
    const secret = input.secret ?? WEBHOOK_SECRET_PREFIX + randomBytes(32).toString("base64url");
    if (secret.length < 16 || secret.length > 200 || /[\s\p{Cc}]/u.test(secret))
      throw new RequestError("BAD_REQUEST", "a webhook secret must have 16 to 200 characters, no spaces");
    const id = randomUUID();
    const row = await repo.insertEndpoint(this.db.prisma, {
      id,
      tenantId,
      url,
      description: storable(description),
      events,
      enabled: input.enabled ?? true,
      secretCiphertext: box.seal(secret, aad(tenantId, id)),
      secretPrefix: secret.slice(0, SECRET_PREFIX_LENGTH),
    });
    return { secret, webhook: info(row) };
  }

  async list(tenantId: string): Promise<WebhookInfo[]> {
    return (await repo.listEndpoints(this.db.prisma, tenantId)).map(info);
  }

  /** Enables, disables or changes an endpoint; deliveries of a disabled one wait (PENDING) until it is enabled. */
  async update(
    tenantId: string,
    id: string,
    change: {
      url?: string | null;
      events?: readonly string[] | null;
      description?: string | null;
      enabled?: boolean | null;
    },
  ): Promise<WebhookInfo> {
    const data: { url?: string; events?: string[]; description?: string; enabled?: boolean } = {};
    if (change.url != null) data.url = webhookUrl(change.url, { allowPrivate: this.allowPrivate });
    if (change.events != null) data.events = webhookEvents(change.events);
    if (change.description != null) data.description = storable(change.description.trim()).slice(0, 500);
    if (change.enabled != null) data.enabled = change.enabled;
    const row = isUuid(id)
      ? await repo.updateEndpoint(this.db.prisma, tenantId, id.toLowerCase(), data)
      : null;
    if (!row) throw notFound("webhook", id);
    if (data.enabled) this.kick();
    return info(row);
  }

  /** Deletes an endpoint and its delivery log; what is in flight is not recorded. */
  async delete(tenantId: string, id: string): Promise<void> {
    if (!isUuid(id) || !(await repo.deleteEndpoint(this.db.prisma, tenantId, id.toLowerCase())))
      throw notFound("webhook", id);
  }

  /** The delivery log, newest first (at most `first`, 1..200). */
  async deliveries(
    tenantId: string,
    q: { webhookId?: string | null; status?: WebhookDeliveryStatus | null; first?: number | null },
  ): Promise<WebhookDeliveryInfo[]> {
    const take = q.first ?? 50;
    if (!Number.isInteger(take) || take < 1 || take > 200)
      throw new RequestError("BAD_REQUEST", "first must be 1..200");
    if (q.webhookId && !isUuid(q.webhookId)) return [];
    return repo.listDeliveries(this.db.prisma, tenantId, {
      endpointId: q.webhookId?.toLowerCase() ?? undefined,
      status: q.status ?? undefined,
      take,
    });
  }

  /** Sends a delivery again now, under the same id, with a fresh attempt count (FAILED or not). */
  async redeliver(tenantId: string, deliveryId: string): Promise<WebhookDeliveryInfo> {
    const row = isUuid(deliveryId)
      ? await repo.redeliver(this.db.prisma, tenantId, deliveryId.toLowerCase())
      : null;
    if (!row) throw notFound("webhook delivery", deliveryId);
    this.kick();
    return row;
  }

  private requireBox(): SecretBox {
    if (!this.box)
      throw new RequestError(
        "BAD_REQUEST",
        "webhooks need a key to store their secrets encrypted: set DOCFLEET_WEBHOOK_KEY (or DOCFLEET_SIGNING_SECRET) on every gateway and relay",
      );
    return this.box;
  }
}

function notFound(what: string, id: string): RequestError {
  return new RequestError("NOT_FOUND", `no ${what} ${JSON.stringify(id)}`);
}

function info(r: repo.WebhookEndpointRow): WebhookInfo {
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    events: r.events as WebhookEventType[],
    enabled: r.enabled,
    secretPrefix: r.secretPrefix,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** What the dispatcher tells after each attempt (tests wait on it). */
export interface WebhookAttempt {
  deliveryId: string;
  endpointId: string;
  eventId: string;
  attempt: number;
  status: WebhookDeliveryStatus;
  statusCode: number | null;
  error: string | null;
}

/**
 * Sends due webhook deliveries (services/relay.ts fans events out into them): POSTs the stored body,
 * signed, with `Docfleet-Webhook-Id` (the delivery's id: the same on every attempt, the receiver's
 * idempotency key). A 2xx is DELIVERED; anything else (other status, redirect, error, timeout) is
 * retried after `webhookBackoffMs` (persisted in `next_attempt_at`, so restarts keep the schedule) until
 * `maxAttempts`, then FAILED. Runs where the relay runs; several processes share the work safely.
 * Bounded: `concurrency` requests in flight, `perEndpoint` per endpoint, each within `timeoutMs`.
 */
export class WebhookDispatcher {
  /** `attempt` (WebhookAttempt) after each attempt is recorded. */
  readonly events = new EventEmitter<{ attempt: [WebhookAttempt] }>();
  private readonly busy = new Map<string, number>();
  private inFlight = 0;
  private readonly requests = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = true;
  /** Deliveries the last round claimed: none while some are due means they wait for a slot (no spinning). */
  private lastClaimed = 0;

  constructor(
    private readonly db: Database,
    private readonly box: SecretBox | undefined,
    private readonly settings: WebhookSettings,
    private readonly log: Logger,
    /** Sends one request (adapters/http/webhook-transport.ts: the address checks, no redirects). */
    private readonly send: WebhookTransport,
  ) {}

  start(): void {
    this.stopped = false;
    this.kick();
  }

  /** Stops claiming and waits for the requests in flight (each ends within its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await Promise.allSettled([...this.requests]);
  }

  /** Claims and sends what is due now (coalesced with a round in progress). */
  kick = (): void => {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.round()
      .catch((err) => this.log.error({ err }, "webhook dispatch round failed"))
      .finally(() => {
        this.running = null;
        if (this.again && !this.stopped) {
          this.again = false;
          this.kick();
        } else this.schedule();
      });
  };

  private async round(): Promise<void> {
    const s = this.settings;
    this.lastClaimed = 0;
    const claimed = await repo.claimDue(this.db, {
      limit: s.concurrency - this.inFlight,
      perEndpoint: s.perEndpoint,
      busy: this.busy,
      leaseMs: s.timeoutMs + 30_000,
    });
    this.lastClaimed = claimed.length;
    for (const d of claimed) {
      this.inFlight++;
      this.busy.set(d.endpointId, (this.busy.get(d.endpointId) ?? 0) + 1);
      const p = this.attempt(d)
        .catch((err) => this.log.error({ err, deliveryId: d.id }, "webhook attempt not recorded"))
        .finally(() => {
          this.inFlight--;
          const n = (this.busy.get(d.endpointId) ?? 1) - 1;
          if (n > 0) this.busy.set(d.endpointId, n);
          else this.busy.delete(d.endpointId);
          this.requests.delete(p);
          this.kick(); // a slot is free
        });
      this.requests.add(p);
    }
  }

  /** Sleeps until the next delivery comes due, at most `pollMs` (other processes' fan-outs are not told here). */
  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const arm = (ms: number) => {
      clearTimeout(this.timer);
      if (this.stopped) return;
      this.timer = setTimeout(this.kick, Math.max(0, ms));
      this.timer.unref();
    };
    arm(this.settings.pollMs);
    if (this.inFlight >= this.settings.concurrency) return;
    repo
      .nextDueAt(this.db)
      .then((at) => {
        if (!at || this.running) return;
        const wait = at.getTime() - Date.now();
        // Due already though the last round took none: their endpoints' slots are full, and a finished
        // request kicks again (the poll is the safety net); else the round may not have taken all.
        if (wait > 0 || this.lastClaimed > 0) arm(Math.min(this.settings.pollMs, wait));
      })
      .catch((err) => this.log.warn({ err }, "could not read the next webhook due time"));
  }

  private async attempt(d: repo.ClaimedDelivery): Promise<void> {
    const s = this.settings;
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      if (!this.box) throw new Error("no key to open the endpoint's secret (DOCFLEET_WEBHOOK_KEY)");
      let secret: string;
      try {
        secret = this.box.open(d.secretCiphertext, aad(d.tenantId, d.endpointId));
      } catch {
        throw new Error("the endpoint's secret does not decrypt (was the webhook key changed?)");
      }
      const t = Math.floor(Date.now() / 1000);
      const res = await this.send(d.url, {
        body: d.body,
        timeoutMs: s.timeoutMs,
        headers: {
          "content-type": "application/json",
          "user-agent": "docfleet-webhooks/1",
          "docfleet-webhook-id": d.id,
          "docfleet-event-id": d.eventId,
          "docfleet-event-type": d.eventType,
          "docfleet-attempt": String(d.attempt),
          [WEBHOOK_SIGNATURE_HEADER.toLowerCase()]: signWebhook(secret, d.body, t),
        },
      });
      statusCode = res.status;
      if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      error =
        e.name === "TimeoutError"
          ? `timed out after ${s.timeoutMs} ms`
          : e.name === "WebhookTargetRefused"
            ? e.message
            : (e.cause?.code ??
              (e as { code?: string }).code ??
              e.cause?.message ??
              e.message ??
              String(err));
    }
    const delivered = error === null;
    const status: WebhookDeliveryStatus = delivered
      ? "DELIVERED"
      : d.attempt >= s.maxAttempts
        ? "FAILED"
        : "PENDING";
    const nextAttemptAt = status === "PENDING" ? new Date(Date.now() + webhookBackoffMs(d.attempt, s)) : null;
    const recorded = await repo.settle(this.db.prisma, d, {
      status,
      statusCode,
      error: error === null ? null : storable(error).slice(0, 500),
      nextAttemptAt,
    });
    if (!delivered)
      this.log[status === "FAILED" ? "warn" : "info"](
        { deliveryId: d.id, endpointId: d.endpointId, attempt: d.attempt, statusCode, error, status },
        status === "FAILED" ? "webhook delivery failed for good" : "webhook delivery will retry",
      );
    if (recorded)
      this.events.emit("attempt", {
        deliveryId: d.id,
        endpointId: d.endpointId,
        eventId: d.eventId,
        attempt: d.attempt,
        status,
        statusCode,
        error,
      });
  }
}
