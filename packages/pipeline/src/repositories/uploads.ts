import type { Document } from "@docfleet/schema";
import type { EventPayload } from "../domain/events.ts";
import { counterDelta, type DocState, type OutboxRow } from "../domain/lifecycle.ts";
import { EventType } from "../domain/messages.ts";
import { WEBHOOK_TOPIC } from "../domain/webhooks.ts";
import type { PipelineEvent } from "../ports/event-bus.ts";
import { COUNTERS_JSON, DOCUMENT_ROW, snake } from "./transition.ts";

// The intake's writes (requestUploads, completeUploads), each ONE raw statement over arrays (unnest):
// what `transition` does with Prisma in five statements and a transaction, where Prisma's createMany of
// 500 rows alone cost ~0.8 ms a row on PGlite (tests/bench/upload.ts, issue 17). Same rows, counters,
// sequence numbers, events, webhook and stage outbox rows as `transition` writes.

/** The raw-SQL side of the database (`Database.query`): one statement, its own transaction. */
export interface SqlQuery {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** `SET` items adding `n` times the per-document counter delta of `from -> to` (`n`: an SQL expression). */
function counterSets(from: DocState | null, to: DocState | null, n: string): string[] {
  return Object.entries(counterDelta(from, to, 1)).map(
    ([k, v]) => `${snake(k)} = ${snake(k)} + ${Number(v)} * ${n}`,
  );
}

/**
 * The webhook outbox row of the events in `x` (columns seq, document_id, payload), as `enqueueEvents`
 * writes it: only when an enabled endpoint of the tenant subscribes to the type, one row for them all.
 * Parameters: $1 tenant, $2 batch, $3 created at (ISO text), $4 event type, $5 the webhook topic.
 */
const WEBHOOK_ROW = `INSERT INTO outbox (topic, key, payload)
  SELECT $5::text, $2::text, jsonb_build_object('v', 1, 'tenantId', $1::uuid, 'events', jsonb_agg(
    jsonb_build_object('id', $2::text || '.' || x.seq, 'type', $4::text, 'body',
      json_build_object('id', $2::text || '.' || x.seq, 'type', $4::text, 'createdAt', $3::text,
        'batchId', $2::uuid, 'documentId', x.document_id, 'seq', x.seq, 'data', x.payload)::text)
    ORDER BY x.seq))
  FROM x
  HAVING count(*) > 0
    AND EXISTS (SELECT 1 FROM webhook_endpoint WHERE tenant_id = $1::uuid AND enabled AND $4::text = ANY(events))`;

/** The tenant's documents holding any of these contents. */
export function findBySha256(db: SqlQuery, tenantId: string, hashes: readonly string[]): Promise<Document[]> {
  if (hashes.length === 0) return Promise.resolve([]);
  return db.query<Document>(
    `SELECT ${DOCUMENT_ROW} FROM document WHERE tenant_id = $1::uuid AND sha256 = ANY($2::text[])`,
    [tenantId, [...hashes]],
  );
}

/** What completeUploads reads of each document (ids that are not UUIDs are the caller's to drop). */
export interface UploadState {
  id: string;
  tenantId: string;
  batchId: string;
  status: Document["status"];
  size: number;
  objectKey: string;
}

/** The tenant's documents among `ids` (UUIDs), with what completing their upload needs. */
export function uploadStates(db: SqlQuery, tenantId: string, ids: readonly string[]): Promise<UploadState[]> {
  if (ids.length === 0) return Promise.resolve([]);
  return db.query<UploadState>(
    `SELECT id, tenant_id AS "tenantId", batch_id AS "batchId", status, size, object_key AS "objectKey"
     FROM document WHERE id = ANY($2::uuid[]) AND tenant_id = $1::uuid`,
    [tenantId, [...ids]],
  );
}

export interface NewDocument {
  id: string;
  name: string;
  sha256: string;
  size: number;
  contentType: string | null;
  objectKey: string;
}

/**
 * Registers new documents of a batch, PENDING_UPLOAD, in one statement: the rows, the batch's counters
 * and sequence number, ONE `documents.requested` batch event (payload `{status, stage, batch, count}` and
 * `extra`), its webhook row. Answers the documents as stored and the event. Rejects with the database's
 * unique violation (23505) when another request registered one of these contents first.
 */
export async function registerDocuments(
  db: SqlQuery,
  q: { tenantId: string; batchId: string; docs: readonly NewDocument[]; extra?: Record<string, unknown> },
): Promise<{ documents: Document[]; event: PipelineEvent }> {
  const now = new Date();
  const to: DocState = { status: "PENDING_UPLOAD", stage: null };
  const type = EventType.DOCUMENTS_REQUESTED;
  const rows = await db.query<Record<string, unknown>>(
    `WITH d AS (
  INSERT INTO document (id, tenant_id, batch_id, name, sha256, size, content_type, object_key, status, created_at, updated_at)
  SELECT i.id, $1::uuid, $2::uuid, i.name, i.sha256, i.size, i.content_type, i.object_key, 'PENDING_UPLOAD', $6::timestamptz, $6::timestamptz
  FROM unnest($7::uuid[], $8::text[], $9::text[], $10::int4[], $11::text[], $12::text[])
    AS i(id, name, sha256, size, content_type, object_key)
  RETURNING ${DOCUMENT_ROW}
), b AS (
  UPDATE batch SET event_seq = event_seq + 1, ${counterSets(null, to, "$13::int").join(", ")}, updated_at = $6::timestamptz
  WHERE id = $2::uuid AND tenant_id = $1::uuid
  RETURNING *
), x AS (
  SELECT b.event_seq AS seq, NULL::uuid AS document_id,
    jsonb_build_object('status', 'PENDING_UPLOAD', 'stage', NULL, 'batch', ${COUNTERS_JSON}, 'count', $13::int) || $14::jsonb AS payload
  FROM b
), e AS (
  INSERT INTO event (tenant_id, batch_id, seq, document_id, type, payload, created_at)
  SELECT $1::uuid, $2::uuid, seq, NULL, $4::text, payload, $6::timestamptz FROM x
), w AS (
  ${WEBHOOK_ROW}
)
SELECT d.*, x.seq AS "eventSeq", x.payload AS "eventPayload" FROM d, x`,
    [
      q.tenantId,
      q.batchId,
      now.toISOString(),
      type,
      WEBHOOK_TOPIC,
      now,
      q.docs.map((d) => d.id),
      q.docs.map((d) => d.name),
      q.docs.map((d) => d.sha256),
      q.docs.map((d) => d.size),
      q.docs.map((d) => d.contentType),
      q.docs.map((d) => d.objectKey),
      q.docs.length,
      JSON.stringify(q.extra ?? {}),
    ],
  );
  const first = rows[0];
  if (!first || rows.length !== q.docs.length)
    throw new Error(`registering ${q.docs.length} documents of batch ${q.batchId} wrote ${rows.length}`);
  const event: PipelineEvent = {
    tenantId: q.tenantId,
    batchId: q.batchId,
    seq: Number(first.eventSeq),
    documentId: null,
    type,
    payload: first.eventPayload as EventPayload,
    createdAt: now.toISOString(),
  };
  const documents = rows.map(({ eventSeq: _s, eventPayload: _p, ...doc }) => doc as unknown as Document);
  return { documents, event };
}

/**
 * Moves those of `ids` that are still in `from` (PENDING_UPLOAD: documents another call moved first are
 * skipped, never moved twice) to `to` in one statement: the guarded update, the batch's counters and
 * sequence numbers, one event of `eventType` per moved document (payload `{status, stage, batch}`, in the
 * order of `ids`), their webhook row and each one's `outbox` row. Answers the events, in order.
 */
export async function moveUploaded(
  db: SqlQuery,
  q: {
    tenantId: string;
    batchId: string;
    ids: readonly string[];
    from: DocState & { stage: null };
    to: DocState;
    eventType: string;
    outbox: (id: string) => OutboxRow;
  },
): Promise<PipelineEvent[]> {
  const ids = [...new Set(q.ids)];
  if (ids.length === 0) return [];
  const now = new Date();
  const out = ids.map(q.outbox);
  const rows = await db.query<{ documentId: string; seq: number; payload: EventPayload }>(
    `WITH d AS (
  UPDATE document SET status = $9::"DocumentStatus", stage = $10::"Stage", updated_at = $6::timestamptz
  WHERE id = ANY($7::uuid[]) AND tenant_id = $1::uuid AND batch_id = $2::uuid
    AND status = $8::"DocumentStatus" AND stage IS NULL
  RETURNING id
), n AS (
  SELECT count(*)::int AS n FROM d
), b AS (
  UPDATE batch SET event_seq = event_seq + n.n, ${counterSets(q.from, q.to, "n.n").join(", ")}, updated_at = $6::timestamptz
  FROM n WHERE batch.id = $2::uuid AND batch.tenant_id = $1::uuid AND n.n > 0
  RETURNING batch.*
), x AS (
  SELECT d.id AS document_id, (b.event_seq - n.n + row_number() OVER (ORDER BY o.ord))::int AS seq,
    jsonb_build_object('status', $9::text, 'stage', $10::text, 'batch', ${COUNTERS_JSON}) AS payload,
    o.topic, o.key, o.message
  FROM d
  JOIN unnest($7::uuid[], $11::text[], $12::text[], $13::jsonb[]) WITH ORDINALITY AS o(id, topic, key, message, ord)
    ON o.id = d.id
  CROSS JOIN b CROSS JOIN n
), e AS (
  INSERT INTO event (tenant_id, batch_id, seq, document_id, type, payload, created_at)
  SELECT $1::uuid, $2::uuid, seq, document_id, $4::text, payload, $6::timestamptz FROM x
), w AS (
  ${WEBHOOK_ROW}
), s AS (
  INSERT INTO outbox (topic, key, payload)
  SELECT x.topic, x.key, x.message FROM x ORDER BY x.seq
)
SELECT document_id AS "documentId", seq, payload FROM x ORDER BY seq`,
    [
      q.tenantId,
      q.batchId,
      now.toISOString(),
      q.eventType,
      WEBHOOK_TOPIC,
      now,
      ids,
      q.from.status,
      q.to.status,
      q.to.stage,
      out.map((o) => o.topic),
      out.map((o) => o.key),
      out.map((o) => JSON.stringify(o.payload)),
    ],
  );
  return rows.map((r) => ({
    tenantId: q.tenantId,
    batchId: q.batchId,
    seq: Number(r.seq),
    documentId: r.documentId,
    type: q.eventType,
    payload: r.payload,
    createdAt: now.toISOString(),
  }));
}
