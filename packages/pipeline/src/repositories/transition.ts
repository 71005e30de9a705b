import { type Document, Prisma } from "@docfleet/schema";
import type { EventPayload } from "../domain/events.ts";
import {
  COUNTER_FIELDS,
  counterDelta,
  type DocState,
  type OutboxRow,
  StaleStateError,
  type TransitionSpec,
} from "../domain/lifecycle.ts";
import { WEBHOOK_TOPIC, webhookBody, webhookEventId } from "../domain/webhooks.ts";
import type { PipelineEvent } from "../ports/event-bus.ts";
import type { Tx } from "./db.ts";
import { eventPayloadJson } from "./events.ts";
import { enqueueEvents, outboxEvents } from "./webhooks.ts";

/**
 * Moves documents between states inside the caller's transaction: a guarded update (fails with
 * StaleStateError when another process moved a document first), the batch counters, the events with
 * their per-batch sequence numbers, and the outbox rows. Returns the events to publish after commit.
 */
export async function transition(tx: Tx, spec: TransitionSpec): Promise<PipelineEvent[]> {
  const ids = [...spec.documentIds];
  if (ids.length === 0) return [];
  if (spec.from !== null) {
    const res = await tx.document.updateMany({
      where: {
        ...spec.where,
        id: { in: ids },
        tenantId: spec.tenantId,
        batchId: spec.batchId,
        status: spec.from.status,
        stage: spec.from.stage,
      },
      data: { ...spec.data, ...(spec.to ? { status: spec.to.status, stage: spec.to.stage } : {}) },
    });
    if (res.count !== ids.length) {
      throw new StaleStateError(
        `${ids.length - res.count} of ${ids.length} documents changed state concurrently`,
      );
    }
  }
  const delta = counterDelta(spec.from, spec.to, ids.length);
  if (spec.needsReviewDelta) delta.needsReview = (delta.needsReview ?? 0) + spec.needsReviewDelta;
  const eventCount = spec.batchEvent ? 1 : ids.length;
  const data: Prisma.BatchUpdateInput = { eventSeq: { increment: eventCount } };
  for (const [k, v] of Object.entries(delta)) (data as Record<string, unknown>)[k] = { increment: v };
  const batch = await tx.batch.update({
    where: { id: spec.batchId, tenantId: spec.tenantId },
    data,
    select: { eventSeq: true, ...COUNTER_FIELDS },
  });
  const { eventSeq, ...counters } = batch;
  const firstSeq = eventSeq - eventCount + 1;
  const createdAt = new Date();
  const base = spec.to
    ? { status: spec.to.status, stage: spec.to.stage, batch: counters }
    : { batch: counters };
  const events: PipelineEvent[] = spec.batchEvent
    ? [event(spec, firstSeq, null, { ...base, ...spec.batchEvent }, createdAt)]
    : ids.map((id, i) => event(spec, firstSeq + i, id, { ...base, ...spec.eventPayload?.(id) }, createdAt));
  await tx.event.createMany({
    data: events.map((e) => ({
      tenantId: e.tenantId,
      batchId: e.batchId,
      seq: e.seq,
      documentId: e.documentId,
      type: e.type,
      payload: eventPayloadJson(e.payload),
      createdAt,
    })),
  });
  // The tenant's webhooks, through the outbox: queued only when an endpoint subscribes to this type.
  await enqueueEvents(
    tx,
    spec.tenantId,
    spec.eventType,
    outboxEvents(events, webhookEventId, webhookBody),
    spec.batchId,
  );
  if (spec.outbox) {
    const rows = ids.map(spec.outbox).filter((r): r is OutboxRow => r !== null);
    if (rows.length > 0) await tx.outbox.createMany({ data: rows });
  }
  return events;
}

function event(
  spec: TransitionSpec,
  seq: number,
  documentId: string | null,
  payload: EventPayload,
  createdAt: Date,
): PipelineEvent {
  return {
    tenantId: spec.tenantId,
    batchId: spec.batchId,
    seq,
    documentId,
    type: spec.eventType,
    payload,
    createdAt: createdAt.toISOString(),
  };
}

/** One document's transition (`transitionOne`): its batch may be left to the document's row. */
export type OneTransition = Omit<TransitionSpec, "documentIds" | "batchId" | "batchEvent"> & {
  documentId: string;
  /** The batch the document must be in; the document's own when absent. */
  batchId?: string;
  /**
   * False: the caller does not need the document back (a stage's advance, a failure, a requeue): the
   * statement returns its ids only, not the row's 31 columns (node-postgres parses each returned column
   * of each row, a visible share of a worker's CPU). Default true.
   */
  readRow?: boolean;
  /**
   * More columns of the statement's answer, saving a stage the statement that would read them: SQL
   * expressions over `d` (the document as updated, columns by field name: `d."tenantId"`) and `b` (its
   * batch row), each aliased `"x_<name>"`; `read` gets the answer's row (never part of the document
   * read back). Not called when the transition takes `transition`'s path (the caller reads them itself).
   */
  also?: { select: string; read(row: Record<string, unknown>): void };
  /**
   * A state the document passes through on its way from `from` to `to` in this same statement (stage
   * chaining: PROCESSING at a stage -> QUEUED at the next -> PROCESSING at the next): its event
   * (`eventType`, `eventPayload`) is written first, with the batch counters as they stood between the
   * two moves, then `to`'s; both get their webhook rows as any event does. The batch counters move by
   * the net of the two moves. Answers both events, in that order.
   */
  via?: { state: DocState; eventType: string; eventPayload?: EventPayload };
};

/** The raw-SQL side of the database (`Database.query`): one statement, its own transaction. */
export interface SqlQuery {
  query<T = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    opts?: { prepared?: boolean },
  ): Promise<T[]>;
}

/** Document fields a single-statement transition may set: column and SQL type. */
const DOCUMENT_SET: Record<string, readonly [string, string]> = {
  name: ["name", "text"],
  contentType: ["content_type", "text"],
  detectedType: ["detected_type", "text"],
  category: ["category", "text"],
  confidence: ["confidence", "float8"],
  metadata: ["metadata", "jsonb"],
  pageCount: ["page_count", "int4"],
  textKey: ["text_key", "text"],
  errorCode: ["error_code", "text"],
  errorMessage: ["error_message", "text"],
  needsReview: ["needs_review", "bool"],
  attempts: ["attempts", "int4"],
  crashes: ["crashes", "int4"],
  timings: ["timings", "jsonb"],
  leaseExpiresAt: ["lease_expires_at", "timestamptz"],
  options: ["options", "jsonb"],
  categoryVersion: ["category_version", "int4"],
  provenance: ["provenance", "jsonb"],
  thumbnailKey: ["thumbnail_key", "text"],
  correctedAt: ["corrected_at", "timestamptz"],
  completedAt: ["completed_at", "timestamptz"],
};

/** Every column of a document row, as Prisma's `Document` names it: a raw statement answers `Document`s. */
export const DOCUMENT_ROW = [
  ...Object.entries({
    id: "id",
    tenantId: "tenant_id",
    batchId: "batch_id",
    name: "name",
    sha256: "sha256",
    objectKey: "object_key",
    size: "size",
    status: "status",
    stage: "stage",
    createdAt: "created_at",
    updatedAt: "updated_at",
  }),
  ...Object.entries(DOCUMENT_SET).map(([k, [col]]) => [k, col] as const),
]
  .filter(([k], i, all) => all.findIndex(([o]) => o === k) === i)
  .map(([k, col]) => `${col} AS "${k}"`)
  .join(", ");

/** What the statement returns of the document when the caller does not read it back (`readRow: false`). */
const DOCUMENT_IDS = `id AS "id", tenant_id AS "tenantId", batch_id AS "batchId", status AS "status", stage AS "stage"`;

/**
 * The statements `transitionOne` built, by shape (the SET and guard fragments, the counter deltas, an
 * outbox row or not, the row read or not): the same string object for every document of a shape, so
 * neither the ~4 KB text nor its prepared statement's name is built or hashed again per document.
 * Bounded: the shapes are a handful per stage; past the bound a statement is built as before.
 */
const ONE_SQL = new Map<string, string>();
const ONE_SQL_MAX = 512;

/** A counter field's column (`completedCount` -> `completed_count`). */
export const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const COUNTERS = Object.keys(COUNTER_FIELDS);
/**
 * The batch's counters as one JSON object, read from the batch row aliased `b`, less `delta` where
 * given (the counters before a move of that delta: `transitionOne`'s `via` event).
 */
function countersJson(delta: Record<string, unknown> = {}, build = "jsonb_build_object"): string {
  return `${build}(${COUNTERS.map((k) => `'${k}', b.${snake(k)}${delta[k] ? ` - ${Number(delta[k])}` : ""}`).join(", ")})`;
}
/** The batch's counters as one JSON object, read from the batch row aliased `b`. */
export const COUNTERS_JSON = countersJson();

/**
 * The batch's counters as one json column of `transitionOne`'s answer: node-postgres describes and
 * parses each column of each answer, and eleven int columns cost more than one JSON.parse (issue 17
 * goal 1: `addFields` and `parseRow` were 3.7 % of the worker's profile, eight statements a document).
 */
const COUNTERS_ONE_JSON = countersJson({}, "json_build_object");

/**
 * `transition` for one document in ONE statement (its own transaction): the guarded update, the batch's
 * counters and sequence number, the event and the outbox row, where `transition` takes five statements
 * and a transaction's round trips. Answers the events to publish after commit and the document as it
 * is now; null when the spec needs what only `transition` says (a `where` guard, a column or an update
 * operation not listed here): the caller then uses `transition`. Throws StaleStateError when the
 * document is not in `from` (another process moved it first).
 */
export async function transitionOne(
  db: SqlQuery,
  spec: OneTransition,
): Promise<{ events: PipelineEvent[]; document: Document | undefined } | null> {
  if (spec.where !== undefined || spec.from === null || spec.to === null) return null;
  const now = new Date();
  const params: unknown[] = [];
  const p = (v: unknown, cast: string) => {
    params.push(v);
    return `$${params.length}::${cast}`;
  };
  const sets = [
    `status = ${p(spec.to.status, '"DocumentStatus"')}`,
    `stage = ${p(spec.to.stage, '"Stage"')}`,
    `updated_at = ${p(now, "timestamptz")}`,
  ];
  for (const [k, v] of Object.entries(spec.data ?? {})) {
    if (v === undefined) continue;
    const column = DOCUMENT_SET[k];
    if (!column) return null;
    const [col, type] = column;
    if (v === null || v === Prisma.DbNull) {
      if (type === "jsonb" && v === null) return null; // Prisma refuses a bare null for JSON
      sets.push(`${col} = NULL`);
    } else if (v === Prisma.JsonNull || v === Prisma.AnyNull) return null;
    else if (type === "jsonb") sets.push(`${col} = ${p(JSON.stringify(v), "jsonb")}`);
    else if (v instanceof Date || typeof v !== "object") sets.push(`${col} = ${p(v, type)}`);
    else {
      const op = Object.entries(v as Record<string, unknown>);
      if (op.length !== 1 || typeof op[0]![1] !== "number" || type !== "int4") return null;
      const [name, n] = op[0]! as [string, number];
      if (name === "increment") sets.push(`${col} = ${col} + ${p(n, "int4")}`);
      else if (name === "decrement") sets.push(`${col} = ${col} - ${p(n, "int4")}`);
      else if (name === "set") sets.push(`${col} = ${p(n, "int4")}`);
      else return null;
    }
  }
  const guard = [
    `id = ${p(spec.documentId, "uuid")}`,
    `tenant_id = ${p(spec.tenantId, "uuid")}`,
    `status = ${p(spec.from.status, '"DocumentStatus"')}`,
    spec.from.stage === null ? "stage IS NULL" : `stage = ${p(spec.from.stage, '"Stage"')}`,
    ...(spec.batchId ? [`batch_id = ${p(spec.batchId, "uuid")}`] : []),
  ];
  const delta = counterDelta(spec.from, spec.to, 1);
  if (spec.needsReviewDelta) delta.needsReview = (delta.needsReview ?? 0) + spec.needsReviewDelta;
  const counterSets = Object.entries(delta).map(([k, v]) => `${snake(k)} = ${snake(k)} + ${Number(v)}`);
  const payload: EventPayload = spec.eventPayload?.(spec.documentId) ?? {};
  const outbox = spec.outbox?.(spec.documentId) ?? null;
  const readRow = spec.readRow !== false;
  // The parameters after the guard's, always in this order: the statement text depends on the shape only.
  const type = p(spec.eventType, "text");
  const payloadParam = p(JSON.stringify(payload), "jsonb");
  const topicParam = p(WEBHOOK_TOPIC, "text");
  const createdParam = p(now.toISOString(), "text");
  const outboxParams = outbox
    ? [p(outbox.topic, "text"), p(outbox.key, "text"), p(JSON.stringify(outbox.payload), "jsonb")]
    : null;
  const also = spec.also?.select;
  // A state passed through: its event's counters are the final ones less the second move's delta.
  const via = spec.via;
  const viaDelta = via ? counterDelta(via.state, spec.to, 1) : undefined;
  const viaPayload: EventPayload | undefined = via ? (via.eventPayload ?? {}) : undefined;
  const viaParams = via
    ? {
        type: p(via.eventType, "text"),
        payload: p(JSON.stringify(viaPayload), "jsonb"),
        status: p(via.state.status, "text"),
        stage: via.state.stage === null ? "NULL::text" : p(via.state.stage, "text"),
        less: viaDelta!,
      }
    : undefined;
  const shape = `${sets.join(",")}|${guard.join(",")}|${counterSets.join(",")}|${outbox ? 1 : 0}|${readRow ? 1 : 0}|${also ?? ""}|${viaParams ? `${viaParams.stage}:${JSON.stringify(viaDelta)}` : ""}`;
  let sql = ONE_SQL.get(shape);
  if (sql === undefined) {
    sql = oneSql(
      sets,
      guard,
      counterSets,
      readRow,
      type,
      payloadParam,
      topicParam,
      createdParam,
      outboxParams,
      also,
      viaParams,
    );
    if (ONE_SQL.size < ONE_SQL_MAX) ONE_SQL.set(shape, sql);
  }
  // Prepared: a handful of shapes (claim and advance per stage) run for every document.
  const [row] = await db.query<Record<string, unknown>>(sql, params, { prepared: true });
  if (!row) throw new StaleStateError("1 of 1 documents changed state concurrently");
  const counters = row.counters as Record<string, number>;
  let document: Document | undefined;
  if (readRow) {
    const d: Record<string, unknown> = {};
    for (const k in row) if (k !== "eventSeq" && k !== "counters" && !k.startsWith("x_")) d[k] = row[k];
    document = d as unknown as Document;
  }
  spec.also?.read(row);
  const event: PipelineEvent = {
    tenantId: row.tenantId as string,
    batchId: row.batchId as string,
    seq: Number(row.eventSeq),
    documentId: row.id as string,
    type: spec.eventType,
    payload: { status: spec.to.status, stage: spec.to.stage, batch: counters, ...payload } as EventPayload,
    createdAt: now.toISOString(),
  };
  if (!via) return { events: [event], document };
  const before: Record<string, number> = { ...counters };
  for (const [k, v] of Object.entries(viaDelta!)) before[k] = (before[k] ?? 0) - Number(v);
  const passed: PipelineEvent = {
    ...event,
    seq: event.seq - 1,
    type: via.eventType,
    payload: {
      status: via.state.status,
      stage: via.state.stage,
      batch: before,
      ...viaPayload,
    } as EventPayload,
  };
  return { events: [passed, event], document };
}

/** `transitionOne`'s statement for one shape; the parameters are named by their placeholders. */
function oneSql(
  sets: readonly string[],
  guard: readonly string[],
  counterSets: readonly string[],
  readRow: boolean,
  type: string,
  payload: string,
  topic: string,
  createdAt: string,
  outbox: readonly string[] | null,
  also: string | undefined,
  via?: { type: string; payload: string; status: string; stage: string; less: Record<string, unknown> },
): string {
  // The batch is the document's own (a foreign key): it is updated exactly when the document was.
  // The webhook row is `enqueueEvents`' (repositories/webhooks.ts), said in SQL: only when an enabled
  // endpoint of the tenant subscribes to the type; its body as `webhookBody` writes it.
  return `WITH d AS (
  UPDATE document SET ${sets.join(", ")} WHERE ${guard.join(" AND ")} RETURNING ${readRow ? DOCUMENT_ROW : DOCUMENT_IDS}
), b AS (
  UPDATE batch SET event_seq = event_seq + ${via ? 2 : 1}, ${[...counterSets, `updated_at = $3::timestamptz`].join(", ")}
  WHERE id = (SELECT "batchId" FROM d) RETURNING *
), x AS (${
    via
      ? `
  SELECT b.tenant_id, b.id AS batch_id, b.event_seq - 1 AS event_seq, d.id AS document_id, ${via.type} AS type,
    jsonb_build_object('status', ${via.status}, 'stage', ${via.stage}, 'batch', ${countersJson(via.less)})
      || ${via.payload} AS payload
  FROM b, d
  UNION ALL`
      : ""
  }
  SELECT b.tenant_id, b.id AS batch_id, b.event_seq, d.id AS document_id, ${type} AS type,
    jsonb_build_object('status', d.status::text, 'stage', d.stage::text, 'batch', ${COUNTERS_JSON})
      || ${payload} AS payload
  FROM b, d
), e AS (
  INSERT INTO event (tenant_id, batch_id, seq, document_id, type, payload, created_at)
  SELECT tenant_id, batch_id, event_seq, document_id, x.type, payload, $3::timestamptz FROM x
), w AS (
  INSERT INTO outbox (topic, key, payload)
  SELECT ${topic}, x.batch_id::text, jsonb_build_object('v', 1, 'tenantId', x.tenant_id, 'events',
    jsonb_build_array(jsonb_build_object('id', x.batch_id || '.' || x.event_seq, 'type', x.type, 'body',
      json_build_object('id', x.batch_id || '.' || x.event_seq, 'type', x.type,
        'createdAt', ${createdAt}, 'batchId', x.batch_id, 'documentId', x.document_id,
        'seq', x.event_seq, 'data', x.payload)::text)))
  FROM x
  WHERE EXISTS (SELECT 1 FROM webhook_endpoint WHERE tenant_id = x.tenant_id AND enabled AND x.type = ANY(events))
)${
    outbox
      ? `, o AS (
  INSERT INTO outbox (topic, key, payload)
  SELECT ${outbox[0]}, ${outbox[1]}, ${outbox[2]} FROM b
)`
      : ""
  }
SELECT d.*, b.event_seq AS "eventSeq", ${COUNTERS_ONE_JSON} AS "counters"${also ? `, ${also}` : ""} FROM d, b`;
}
