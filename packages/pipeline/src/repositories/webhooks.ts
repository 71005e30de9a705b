import type { WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint } from "@docfleet/schema";
import { WEBHOOK_TOPIC, type WebhookOutboxPayload } from "../domain/webhooks.ts";
import type { Database, SqlTransaction } from "../ports/database.ts";
import type { PipelineEvent } from "../ports/event-bus.ts";
import type { Db, Tx } from "./db.ts";

export type WebhookEndpointRow = WebhookEndpoint;
export type WebhookDeliveryRow = WebhookDelivery;

/**
 * Queues `events` (one transition's, all of one type) for the tenant's webhooks: one outbox row, only
 * when an enabled endpoint of the tenant subscribes to that type (one indexed statement either way),
 * in the transition's transaction, so an event is delivered if and only if it was committed.
 */
export async function enqueueEvents(
  tx: Tx,
  tenantId: string,
  type: string,
  events: { id: string; type: string; body: string }[],
  batchId: string,
): Promise<void> {
  if (events.length === 0) return;
  const payload: WebhookOutboxPayload = { v: 1, tenantId, events };
  await tx.$executeRawUnsafe(
    `INSERT INTO outbox (topic, key, payload)
     SELECT $1, $2, $3::jsonb
     WHERE EXISTS (SELECT 1 FROM webhook_endpoint WHERE tenant_id = $4::uuid AND enabled AND $5 = ANY(events))`,
    WEBHOOK_TOPIC,
    batchId,
    JSON.stringify(payload),
    tenantId,
    type,
  );
}

/** The webhook rows of one transition's events, as `enqueueEvents` takes them. */
export function outboxEvents(
  events: readonly PipelineEvent[],
  id: (e: PipelineEvent) => string,
  body: (e: PipelineEvent) => string,
) {
  return events.map((e) => ({ id: id(e), type: e.type, body: body(e) }));
}

/**
 * One delivery per (enabled endpoint of the tenant subscribed to the event's type, event), due now; a
 * pair already there is left alone (a fan-out run twice adds nothing). Answers how many were added.
 */
export async function fanOut(tx: SqlTransaction, p: WebhookOutboxPayload): Promise<number> {
  if (p.events.length === 0) return 0;
  const added = await tx.query(
    `INSERT INTO webhook_delivery
       (tenant_id, endpoint_id, event_id, event_type, body, batch_id, document_id, next_attempt_at)
     SELECT w.tenant_id, w.id, e.id, e.type, e.body, (e.body::jsonb ->> 'batchId')::uuid,
       (e.body::jsonb ->> 'documentId')::uuid, now()
     FROM webhook_endpoint w
     JOIN unnest($2::text[], $3::text[], $4::text[]) AS e(id, type, body) ON e.type = ANY(w.events)
     WHERE w.tenant_id = $1::uuid AND w.enabled
       -- a batch deleted since the event was queued: nothing of it is sent (or kept)
       AND EXISTS (SELECT 1 FROM batch b WHERE b.id = (e.body::jsonb ->> 'batchId')::uuid)
       AND (e.body::jsonb ->> 'documentId' IS NULL
            OR EXISTS (SELECT 1 FROM document d WHERE d.id = (e.body::jsonb ->> 'documentId')::uuid))
     ON CONFLICT (endpoint_id, event_id) DO NOTHING
     RETURNING 1`,
    [p.tenantId, p.events.map((e) => e.id), p.events.map((e) => e.type), p.events.map((e) => e.body)],
  );
  return added.length;
}

/** A delivery claimed for one attempt, with what the request needs from its endpoint. */
export interface ClaimedDelivery {
  id: string;
  tenantId: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  body: string;
  /** This attempt's number (1-based). */
  attempt: number;
  url: string;
  secretCiphertext: string;
}

/**
 * Claims up to `limit` due deliveries of enabled endpoints for one attempt each, oldest due first, at
 * most `perEndpoint - busy[endpoint]` per endpoint (requests this process already has in flight there),
 * so one slow endpoint never takes every slot. A claim counts the attempt and moves `next_attempt_at`
 * `leaseMs` ahead: the lease, after which another dispatcher retries a delivery whose attempt never
 * ended (its process died). Safe between processes: the update re-checks that the row is still due.
 */
export async function claimDue(
  db: Pick<Database, "query">,
  q: { limit: number; perEndpoint: number; busy: ReadonlyMap<string, number>; leaseMs: number },
): Promise<ClaimedDelivery[]> {
  if (q.limit <= 0) return [];
  const busyIds = [...q.busy.keys()];
  // Raw and prepared, not through Prisma: the relay's dispatcher asks every poll, idle or not.
  const candidates = await db.query<{ id: string }>(
    `WITH due AS (
       SELECT d.id, d.endpoint_id, d.next_attempt_at,
              row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn
       FROM webhook_delivery d JOIN webhook_endpoint w ON w.id = d.endpoint_id AND w.enabled
       WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
     )
     SELECT due.id::text AS id FROM due
     LEFT JOIN unnest($2::uuid[], $3::int[]) AS b(endpoint_id, n) ON b.endpoint_id = due.endpoint_id
     WHERE due.rn <= $4 - coalesce(b.n, 0)
     ORDER BY due.next_attempt_at, due.id
     LIMIT $1`,
    [q.limit, busyIds, busyIds.map((k) => q.busy.get(k) ?? 0), q.perEndpoint],
    { prepared: true },
  );
  if (candidates.length === 0) return [];
  return db.query<ClaimedDelivery>(
    `UPDATE webhook_delivery d
     SET attempts = d.attempts + 1, next_attempt_at = now() + $2::float8 * interval '1 millisecond',
         last_attempt_at = now(), updated_at = now()
     FROM webhook_endpoint w
     WHERE d.id = ANY($1::uuid[]) AND w.id = d.endpoint_id AND w.enabled
       AND d.status = 'PENDING' AND d.next_attempt_at <= now()
     RETURNING d.id::text AS id, d.tenant_id::text AS "tenantId", d.endpoint_id::text AS "endpointId",
       d.event_id AS "eventId", d.event_type AS "eventType", d.body, d.attempts AS attempt, w.url,
       w.secret_ciphertext AS "secretCiphertext"`,
    [candidates.map((c) => c.id), q.leaseMs],
    { prepared: true },
  );
}

/**
 * Records an attempt's outcome, unless the delivery moved on since it was claimed (a redelivery, or
 * another dispatcher's attempt after the lease ran out): guarded by the attempt number.
 */
export async function settle(
  db: Db,
  d: { id: string; attempt: number },
  outcome: {
    status: WebhookDeliveryStatus;
    statusCode: number | null;
    error: string | null;
    nextAttemptAt: Date | null;
  },
): Promise<boolean> {
  const n = await db.$executeRawUnsafe(
    `UPDATE webhook_delivery SET status = $3::"WebhookDeliveryStatus", last_status_code = $4, last_error = $5,
       next_attempt_at = $6, delivered_at = CASE WHEN $7 THEN now() ELSE delivered_at END,
       updated_at = now()
     WHERE id = $1::uuid AND attempts = $2 AND status = 'PENDING'`,
    d.id,
    d.attempt,
    outcome.status,
    outcome.statusCode,
    outcome.error,
    outcome.nextAttemptAt,
    outcome.status === "DELIVERED",
  );
  return n === 1;
}

/** When the next PENDING delivery of an enabled endpoint comes due (null: none waits). */
export async function nextDueAt(db: Pick<Database, "query">): Promise<Date | null> {
  const [row] = await db.query<{ at: Date | string | null }>(
    `SELECT min(d.next_attempt_at) AS at FROM webhook_delivery d
     JOIN webhook_endpoint w ON w.id = d.endpoint_id AND w.enabled
     WHERE d.status = 'PENDING'`,
    [],
    { prepared: true },
  );
  return row?.at ? new Date(row.at) : null;
}

export function insertEndpoint(
  db: Db,
  data: {
    id: string;
    tenantId: string;
    url: string;
    description: string;
    events: string[];
    enabled: boolean;
    secretCiphertext: string;
    secretPrefix: string;
  },
): Promise<WebhookEndpoint> {
  return db.webhookEndpoint.create({ data });
}

/** The tenant's endpoints, oldest first. */
export function listEndpoints(db: Db, tenantId: string): Promise<WebhookEndpoint[]> {
  return db.webhookEndpoint.findMany({ where: { tenantId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

export function findEndpoint(db: Db, tenantId: string, id: string): Promise<WebhookEndpoint | null> {
  return db.webhookEndpoint.findFirst({ where: { id, tenantId } });
}

/** Changes the tenant's endpoint; null when it has none of that id. */
export async function updateEndpoint(
  db: Db,
  tenantId: string,
  id: string,
  data: { url?: string; description?: string; events?: string[]; enabled?: boolean },
): Promise<WebhookEndpoint | null> {
  const { count } = await db.webhookEndpoint.updateMany({ where: { id, tenantId }, data });
  return count === 1 ? findEndpoint(db, tenantId, id) : null;
}

/** Deletes the tenant's endpoint with its deliveries (cascade); false when it has none of that id. */
export async function deleteEndpoint(db: Db, tenantId: string, id: string): Promise<boolean> {
  const { count } = await db.webhookEndpoint.deleteMany({ where: { id, tenantId } });
  return count === 1;
}

/** The tenant's deliveries, newest first, optionally of one endpoint or status. */
export function listDeliveries(
  db: Db,
  tenantId: string,
  q: { endpointId?: string; status?: WebhookDeliveryStatus; take: number },
): Promise<WebhookDelivery[]> {
  return db.webhookDelivery.findMany({
    where: {
      tenantId,
      ...(q.endpointId ? { endpointId: q.endpointId } : {}),
      ...(q.status ? { status: q.status } : {}),
    },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: q.take,
  });
}

/**
 * Makes the tenant's delivery due now with a fresh attempt count (whatever its status: a delivered one
 * is sent again, under the same id); null when it has none of that id.
 */
export async function redeliver(db: Db, tenantId: string, id: string): Promise<WebhookDelivery | null> {
  const { count } = await db.webhookDelivery.updateMany({
    where: { id, tenantId },
    data: { status: "PENDING", attempts: 0, nextAttemptAt: new Date(), deliveredAt: null },
  });
  return count === 1 ? db.webhookDelivery.findFirst({ where: { id, tenantId } }) : null;
}

/** Deletes the deliveries of these documents' events, sent or not (a deleted document leaves nothing). */
export async function deleteForDocuments(tx: Tx, documentIds: readonly string[]): Promise<number> {
  if (documentIds.length === 0) return 0;
  return tx.$executeRawUnsafe("DELETE FROM webhook_delivery WHERE document_id = ANY($1::uuid[])", [
    ...documentIds,
  ]);
}

/** Deletes the deliveries of a batch's events and its webhook rows still in the outbox. */
export async function deleteForBatch(tx: Tx, tenantId: string, batchId: string): Promise<void> {
  await tx.$executeRawUnsafe(
    "DELETE FROM webhook_delivery WHERE tenant_id = $1::uuid AND batch_id = $2::uuid",
    tenantId,
    batchId,
  );
  await tx.$executeRawUnsafe(
    `DELETE FROM outbox WHERE topic = $1 AND key = $2
       AND EXISTS (SELECT 1 FROM batch WHERE id = $2::uuid AND tenant_id = $3::uuid)`,
    WEBHOOK_TOPIC,
    batchId,
    tenantId,
  );
}
