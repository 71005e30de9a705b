import { type Batch, type Document, Prisma } from "@docfleet/schema";
import { Categories, fieldKind, type StoredCategory } from "./categories.ts";
import { objectKeys, type PipelineDeps } from "./context.ts";
import { DocumentError, FailureCode } from "./errors.ts";
import { fileNameProblem } from "./file-names.ts";
import { labelTokens, relabel } from "./labels.ts";
import { StaleStateError, type TransitionSpec, type Tx, transition } from "./lifecycle.ts";
import {
  EventType,
  NEXT_STAGE,
  STAGES,
  StageMessage,
  type StageName,
  stageMessage,
  stageQueue,
} from "./messages.ts";
import { readBacklog, type StageBacklog } from "./observability/metrics.ts";
import type { PipelineEvent } from "./ports/event-bus.ts";
import type { LearnedLabels } from "./ports/models.ts";
import {
  type CompletedPart,
  MULTIPART_MAX_PARTS,
  MULTIPART_MIN_PART_SIZE,
  MultipartPartError,
  type MultipartUpload,
  MultipartUploadNotFoundError,
  planMultipartParts,
  type UploadTarget,
} from "./ports/object-store.ts";
import type { Disposition } from "./ports/queue.ts";
import { backoffMs } from "./retry.ts";
import { CHUNKER_VERSION } from "./stages/embed.ts";
import { STAGE_HANDLERS } from "./stages/index.ts";
import { PARSER_VERSION } from "./stages/parse.ts";
import type { StoredField } from "./stages/understand.ts";
import { storable } from "./storable.ts";

export interface FileRequest {
  name: string;
  size: number;
  sha256: string;
  contentType?: string | null;
}

export type UploadOutcome =
  | { status: "UPLOAD"; document: Document; target: UploadTarget }
  | { status: "DUPLICATE"; document: Document }
  | { status: "REJECTED"; name: string; code: string; message: string };

export type CompleteOutcome = {
  documentId: string;
  status: "QUEUED" | "ALREADY_QUEUED" | "NOT_UPLOADED" | "SIZE_MISMATCH" | "NOT_FOUND";
  message?: string;
};

/** A multipart upload's part URLs, with the cut the client must use (resume with the same `partSize`). */
export interface MultipartTarget extends MultipartUpload {
  partSize: number;
}

/** Per-document options a retry or reprocess may set; kept on the document until the next one. */
export interface DocumentOptions {
  /** Time budget of each stage run, instead of the deployment's DOCFLEET_STAGE_TIMEOUT_MS. */
  stageTimeoutMs?: number;
  /** The stages this run goes through (a reprocess); absent: every stage after the current one. */
  stages?: StageName[];
  /** Models for this run instead of the deployment's (a reprocess with another model). */
  models?: { understand?: string };
}

/** The stage after `stage` in this run: the plan's next one while the plan covers `stage`, else the pipeline's. */
export function nextStage(stage: StageName, options: DocumentOptions | null | undefined): StageName | null {
  const plan = options?.stages;
  if (plan?.includes(stage)) {
    const at = STAGES.indexOf(stage);
    return STAGES.find((s, i) => i > at && plan.includes(s)) ?? null;
  }
  return NEXT_STAGE[stage];
}

export interface RetryRequest {
  /** Stage to start again from; default: the stage a failed document stopped at. Required for completed documents. */
  stage?: StageName;
  options?: DocumentOptions;
}

export type RetryOutcome = {
  documentId: string;
  status: "QUEUED" | "NOT_FOUND" | "IN_FLIGHT" | "BAD_STAGE";
  message?: string;
};

export interface QuarantineGroup {
  code: string;
  count: number;
  /** Up to `sample` of the group's documents, most recent first. */
  documentIds: string[];
}

/** An error the caller made (bad input to an API call), with a code for GraphQL and the CLI. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    readonly code: "BAD_REQUEST" | "NOT_FOUND" | "CONFLICT",
    message: string,
  ) {
    super(message);
  }
}

const SHA256_RE = /^[0-9a-f]{64}$/;

/** Outbox topic of stage messages: the stage's queue. */
function stageOutbox(doc: { id: string; tenantId: string }, stage: StageName, traceparent?: string) {
  return { topic: stageQueue(stage), key: doc.id, payload: stageMessage(doc, stage, traceparent) };
}

/**
 * The application core shared by the gateway, the worker and the CLI: every operation that changes a
 * document goes through here, so counters, events and outbox rows are always written together.
 */
export class Pipeline {
  /** Called after a transaction wrote outbox rows (the relay publishes them now instead of at its next poll). */
  onOutbox: () => void = () => {};

  /** The tenants' categories (seeded from `deps.categories`). */
  readonly categories: Categories;

  constructor(readonly deps: PipelineDeps) {
    this.categories = new Categories(deps.db.prisma, deps.categories);
  }

  private get prisma() {
    return this.deps.db.prisma;
  }

  /** The current span as a W3C traceparent, carried by the outbox rows written now. */
  private traceparent(): string | undefined {
    return this.deps.tracing?.traceparent();
  }

  /** Runs `fn` in a transaction, then publishes its events; retries once when it lost a race. */
  private async tx<T>(fn: (tx: Tx, events: PipelineEvent[]) => Promise<T>, attempts = 3): Promise<T> {
    for (let i = 1; ; i++) {
      const events: PipelineEvent[] = [];
      try {
        const result = await this.prisma.$transaction((tx) => fn(tx, events), {
          timeout: 30_000,
          maxWait: 30_000,
        });
        if (events.length > 0) await this.deps.events.publish(events);
        this.onOutbox();
        return result;
      } catch (err) {
        const unique = (err as { code?: string })?.code === "P2002";
        if (i >= attempts || !(err instanceof StaleStateError || unique)) throw err;
      }
    }
  }

  /** One transition in its own transaction (retried on a lost race up to `attempts` times). */
  private move(spec: TransitionSpec, attempts = 3): Promise<void> {
    return this.tx(async (tx, events) => {
      events.push(...(await transition(tx, spec)));
    }, attempts);
  }

  async ensureTenant(id: string, name: string) {
    return this.prisma.tenant.upsert({ where: { id }, create: { id, name }, update: {} });
  }

  async createBatch(tenantId: string, input: { name: string; categories?: string[] | null }): Promise<Batch> {
    const name = input.name.trim();
    if (!name || name.length > 200)
      throw new RequestError("BAD_REQUEST", "a batch name must have 1 to 200 characters");
    const known = new Set((await this.categories.list(tenantId)).map((c) => c.name));
    const unknown = (input.categories ?? []).filter((c) => !known.has(c));
    if (unknown.length) throw new RequestError("BAD_REQUEST", `unknown categories: ${unknown.join(", ")}`);
    return this.prisma.batch.create({
      data: { tenantId, name, options: input.categories?.length ? { categories: input.categories } : {} },
    });
  }

  /**
   * Registers files and answers an upload target for each new one; a file whose sha256 the tenant
   * already holds is a DUPLICATE (or gets a fresh target when it was never uploaded).
   */
  async requestUploads(
    tenantId: string,
    batchId: string,
    files: readonly FileRequest[],
  ): Promise<UploadOutcome[]> {
    const batch = isUuid(batchId)
      ? await this.prisma.batch.findFirst({ where: { id: batchId, tenantId } })
      : null;
    if (!batch) throw new RequestError("NOT_FOUND", `batch ${batchId} not found`);
    if (files.length > 1000) throw new RequestError("BAD_REQUEST", "at most 1000 files per request");
    const { maxUploadBytes, uploadTtlSeconds } = this.deps.settings;

    const planned = await this.tx(async (tx, events) => {
      const outcomes: (UploadOutcome | { status: "NEW" | "PENDING"; document: Document })[] = [];
      const valid = files.map((f) => validateFile(f, maxUploadBytes));
      const hashes = [...new Set(valid.flatMap((v) => ("sha256" in v ? [v.sha256] : [])))];
      const existing = new Map(
        (await tx.document.findMany({ where: { tenantId, sha256: { in: hashes } } })).map((d) => [
          d.sha256,
          d,
        ]),
      );
      const creates: Prisma.DocumentCreateManyInput[] = [];
      const createdNow = new Set<string>();
      for (const v of valid) {
        if ("code" in v) {
          outcomes.push({ status: "REJECTED", ...v });
          continue;
        }
        const found = existing.get(v.sha256);
        if (found) {
          // Still pending from an earlier request: a fresh target. Twice in this request: the second is a duplicate.
          const pending = found.status === "PENDING_UPLOAD" && !createdNow.has(found.id);
          outcomes.push({ status: pending ? "PENDING" : "DUPLICATE", document: found });
          continue;
        }
        const id = crypto.randomUUID();
        const doc: Prisma.DocumentCreateManyInput = {
          id,
          tenantId,
          batchId,
          name: v.name,
          sha256: v.sha256,
          size: v.size,
          contentType: v.contentType ?? null,
          objectKey: objectKeys.original(tenantId, id),
        };
        creates.push(doc);
        createdNow.add(id);
        const created = { ...doc, status: "PENDING_UPLOAD" } as unknown as Document;
        existing.set(v.sha256, created);
        outcomes.push({ status: "NEW", document: created });
      }
      if (creates.length > 0) {
        await tx.document.createMany({ data: creates });
        events.push(
          ...(await transition(tx, {
            tenantId,
            batchId,
            documentIds: creates.map((c) => c.id!),
            from: null,
            to: { status: "PENDING_UPLOAD", stage: null },
            eventType: EventType.DOCUMENTS_REQUESTED,
            batchEvent: { count: creates.length },
          })),
        );
      }
      return outcomes;
    });
    const fresh = planned.some((o) => o.status === "NEW")
      ? new Map(
          (
            await this.prisma.document.findMany({
              where: {
                id: { in: planned.flatMap((o) => (o.status === "NEW" ? [o.document.id] : [])) },
                tenantId,
              },
            })
          ).map((d) => [d.id, d]),
        )
      : new Map<string, Document>();
    const answered = await Promise.all(
      planned.map(async (o): Promise<UploadOutcome> => {
        if (o.status !== "NEW" && o.status !== "PENDING") return o as UploadOutcome;
        const document = fresh.get(o.document.id) ?? o.document;
        const target = await this.deps.store.createUploadTarget(document.objectKey, {
          maxSize: document.size,
          ttlSeconds: uploadTtlSeconds,
        });
        return { status: "UPLOAD", document, target };
      }),
    );
    this.deps.metrics?.uploadsRequested.inc(answered.filter((o) => o.status === "UPLOAD").length);
    return answered;
  }

  /**
   * Checks that each document's object exists with the announced size, then queues all good ones
   * in one transaction (documents QUEUED + outbox rows). Idempotent.
   */
  async completeUploads(tenantId: string, documentIds: readonly string[]): Promise<CompleteOutcome[]> {
    if (documentIds.length > 1000)
      throw new RequestError("BAD_REQUEST", "at most 1000 documents per request");
    const ids = [...new Set(documentIds)].filter(isUuid);
    const docs = new Map(
      (await this.prisma.document.findMany({ where: { id: { in: ids }, tenantId } })).map((d) => [d.id, d]),
    );
    const outcomes: CompleteOutcome[] = await Promise.all(
      documentIds.map(async (documentId): Promise<CompleteOutcome> => {
        const doc = docs.get(documentId);
        if (!doc) return { documentId, status: "NOT_FOUND" };
        if (doc.status !== "PENDING_UPLOAD") return { documentId, status: "ALREADY_QUEUED" };
        const info = await this.deps.store.stat(doc.objectKey);
        if (!info)
          return { documentId, status: "NOT_UPLOADED", message: "no object was uploaded for this document" };
        if (info.size !== doc.size) {
          return {
            documentId,
            status: "SIZE_MISMATCH",
            message: `uploaded ${info.size} bytes, announced ${doc.size}`,
          };
        }
        return { documentId, status: "QUEUED" };
      }),
    );
    const ready = outcomes.filter((o) => o.status === "QUEUED").map((o) => docs.get(o.documentId)!);
    const byBatch = new Map<string, Document[]>();
    for (const d of ready) byBatch.set(d.batchId, [...(byBatch.get(d.batchId) ?? []), d]);
    for (const [batchId, group] of byBatch) {
      await this.tx(async (tx, events) => {
        // Re-read inside the transaction: a concurrent call may have queued some already.
        const pending = await tx.document.findMany({
          where: { id: { in: group.map((d) => d.id) }, tenantId, status: "PENDING_UPLOAD" },
          select: { id: true, tenantId: true },
        });
        events.push(
          ...(await transition(tx, {
            tenantId,
            batchId,
            documentIds: pending.map((d) => d.id),
            from: { status: "PENDING_UPLOAD", stage: null },
            to: { status: "QUEUED", stage: "PARSE" },
            eventType: EventType.DOCUMENT_QUEUED,
            outbox: (id) => stageOutbox({ id, tenantId }, "PARSE", this.traceparent()),
          })),
        );
      });
    }
    this.deps.metrics?.uploadsCompleted.inc(outcomes.filter((o) => o.status === "QUEUED").length);
    return outcomes;
  }

  /**
   * Starts a multipart upload of a PENDING_UPLOAD document's bytes, or with `uploadId` answers fresh
   * part URLs for one started earlier (resume: pass the `partSize` it was started with). The key and
   * size are the document's. `partSize` defaults to the `multipartPartBytes` setting, grown so that
   * 10,000 parts hold the file. NOT_FOUND: no such document in the tenant, or the store does not know
   * `uploadId` (completed, aborted, expired); CONFLICT: the document is uploaded already; BAD_REQUEST:
   * a cut S3 refuses, or one that does not fit the parts uploaded so far.
   */
  async startMultipartUpload(
    tenantId: string,
    documentId: string,
    opts: { partSize?: number | null; uploadId?: string | null } = {},
  ): Promise<MultipartTarget> {
    const doc = await this.pendingUpload(tenantId, documentId);
    const { multipartPartBytes, uploadTtlSeconds } = this.deps.settings;
    let partSize: number;
    if (opts.partSize != null) {
      partSize = opts.partSize;
      try {
        planMultipartParts(doc.size, partSize);
      } catch (err) {
        if (err instanceof RangeError) throw new RequestError("BAD_REQUEST", err.message);
        throw err;
      }
    } else {
      partSize = Math.max(
        multipartPartBytes,
        MULTIPART_MIN_PART_SIZE,
        Math.ceil(doc.size / MULTIPART_MAX_PARTS),
      );
    }
    const cut = { size: doc.size, partSize, ttlSeconds: uploadTtlSeconds };
    const { store } = this.deps;
    if (opts.uploadId == null)
      return { ...(await store.createMultipartUpload(doc.objectKey, cut)), partSize };
    try {
      return { ...(await store.signMultipartParts(doc.objectKey, opts.uploadId, cut)), partSize };
    } catch (err) {
      if (err instanceof MultipartUploadNotFoundError) {
        throw new RequestError(
          "NOT_FOUND",
          `multipart upload ${opts.uploadId} of document ${documentId} not found (completed, aborted or expired): start again without uploadId`,
        );
      }
      if (err instanceof MultipartPartError) throw new RequestError("BAD_REQUEST", err.message);
      throw err;
    }
  }

  /**
   * Joins the uploaded parts into the document's object, then checks its size: a size other than the
   * announced one deletes the object (BAD_REQUEST; upload again). The document stays PENDING_UPLOAD:
   * `completeUploads` queues it as after a single upload. Retrying after a lost answer is safe: when the
   * upload is gone but the object is whole, it answers as the first call did. NOT_FOUND: no such document
   * or upload; CONFLICT: uploaded already; BAD_REQUEST: a part missing, with another ETag, or too small.
   */
  async completeMultipartUpload(
    tenantId: string,
    documentId: string,
    uploadId: string,
    parts: readonly CompletedPart[],
  ): Promise<void> {
    const doc = await this.pendingUpload(tenantId, documentId);
    const { store } = this.deps;
    try {
      await store.completeMultipartUpload(doc.objectKey, uploadId, parts);
    } catch (err) {
      if (err instanceof MultipartUploadNotFoundError) {
        if ((await store.stat(doc.objectKey))?.size === doc.size) return;
        throw new RequestError(
          "NOT_FOUND",
          `multipart upload ${uploadId} of document ${documentId} not found (aborted or expired): start again with startMultipartUpload`,
        );
      }
      if (err instanceof MultipartPartError || err instanceof RangeError)
        throw new RequestError("BAD_REQUEST", err.message);
      throw err;
    }
    const info = await store.stat(doc.objectKey);
    if (info?.size !== doc.size) {
      await store.delete(doc.objectKey);
      throw new RequestError(
        "BAD_REQUEST",
        `the parts hold ${info?.size ?? 0} bytes, the document announced ${doc.size}: the object was deleted, upload it again`,
      );
    }
  }

  /** Abandons a multipart upload of the document and frees its parts. Idempotent; NOT_FOUND: no such document. */
  async abortMultipartUpload(tenantId: string, documentId: string, uploadId: string): Promise<void> {
    const doc = await this.document(tenantId, documentId);
    await this.deps.store.abortMultipartUpload(doc.objectKey, uploadId);
  }

  /** The tenant's document (NOT_FOUND otherwise). */
  private async document(tenantId: string, documentId: string): Promise<Document> {
    const doc = isUuid(documentId)
      ? await this.prisma.document.findFirst({ where: { id: documentId, tenantId } })
      : null;
    if (!doc) throw new RequestError("NOT_FOUND", `document ${documentId} not found`);
    return doc;
  }

  /** The tenant's document, still waiting for its bytes (NOT_FOUND, CONFLICT otherwise). */
  private async pendingUpload(tenantId: string, documentId: string): Promise<Document> {
    const doc = await this.document(tenantId, documentId);
    if (doc.status !== "PENDING_UPLOAD")
      throw new RequestError("CONFLICT", `document ${documentId} is already uploaded (${doc.status})`);
    return doc;
  }

  /**
   * Handles one stage message: claims the document, runs the stage within its time budget, then in one
   * transaction saves the result and queues the next stage. Decides ack / retry / dead-letter.
   */
  async processStage(body: unknown, attempt: number): Promise<Disposition> {
    const parsed = StageMessage.safeParse(body);
    if (!parsed.success)
      return { action: "dead-letter", reason: `invalid stage message: ${parsed.error.message}` };
    const msg = parsed.data;
    const { tracing } = this.deps;
    const run = () => this.runStage(msg, attempt);
    // The stage continues the trace of the operation that queued the document (a span per stage run).
    return tracing
      ? tracing.span(
          `docfleet.stage.${msg.stage.toLowerCase()}`,
          {
            "docfleet.document_id": msg.documentId,
            "docfleet.tenant_id": msg.tenantId,
            "docfleet.attempt": attempt,
          },
          run,
          tracing.extract(msg.traceparent),
        )
      : run();
  }

  private async runStage(msg: StageMessage, attempt: number): Promise<Disposition> {
    const { settings, metrics, tracing } = this.deps;
    const doc = await this.claim(msg);
    if (!doc) return { action: "ack" };
    // Every log line of this run carries the correlation ids; handlers log through `deps.log` too.
    const log = this.deps.log.child({
      documentId: doc.id,
      batchId: doc.batchId,
      tenantId: doc.tenantId,
      stage: msg.stage,
      traceId: tracing?.traceId(),
    });
    const deps = { ...this.deps, log };
    const endTimer = metrics?.stageDuration.startTimer({ stage: msg.stage });
    let outcome = "ok";

    const started = performance.now();
    const controller = new AbortController();
    const budgetMs = (doc.options as DocumentOptions | null)?.stageTimeoutMs ?? settings.stageTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      log.debug({ attempt }, "stage started");
      const budget = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(new DocumentError(FailureCode.TIMEOUT, `${msg.stage} ran past its ${budgetMs} ms budget`));
        }, budgetMs);
      });
      const out = await Promise.race([
        STAGE_HANDLERS[msg.stage]({ doc, deps, signal: controller.signal }),
        budget,
      ]);
      const ms = Math.round(performance.now() - started);
      const finished = await this.advance(doc, msg.stage, out, ms);
      if (finished) metrics?.documentsCompleted.inc();
      // debug: four lines a document would flood `serve`'s terminal; failures are warnings.
      log.debug({ ms }, finished ? "document completed" : "stage completed");
      return { action: "ack" };
    } catch (err) {
      if (err instanceof StaleStateError) {
        outcome = "stale";
        return { action: "ack" }; // another delivery finished it first
      }
      if (err instanceof DocumentError) {
        outcome = "failed";
        if (await this.fail(doc, msg.stage, err.code, err.message))
          metrics?.documentsFailed.inc({ stage: msg.stage, code: err.code });
        log.warn({ code: err.code, reason: err.message }, "document failed");
        return { action: "ack" };
      }
      const reason = (err as Error)?.message ?? String(err);
      log.warn({ err, attempt }, "stage failed; will retry");
      if (attempt >= settings.deliveryLimit) {
        outcome = "failed";
        const failed = await this.fail(
          doc,
          msg.stage,
          FailureCode.RETRIES_EXHAUSTED,
          `gave up after ${attempt} attempts: ${reason}`,
        );
        if (failed) metrics?.documentsFailed.inc({ stage: msg.stage, code: FailureCode.RETRIES_EXHAUSTED });
        return { action: "dead-letter", reason };
      }
      outcome = "retry";
      metrics?.stageRetries.inc({ stage: msg.stage });
      // The queue redelivers after the backoff: no outbox row.
      await this.requeueAtStage(doc, msg.stage, { attempt, reason }, false);
      return { action: "retry", delayMs: backoffMs(attempt), reason };
    } finally {
      clearTimeout(timer);
      endTimer?.({ outcome });
    }
  }

  /** Takes the document for this stage, or null when the message is stale (already done, failed, gone). */
  private async claim(msg: StageMessage): Promise<Document | null> {
    const doc = await this.prisma.document.findFirst({
      where: { id: msg.documentId, tenantId: msg.tenantId },
    });
    if (!doc || doc.stage !== msg.stage || (doc.status !== "QUEUED" && doc.status !== "PROCESSING"))
      return null;
    const leaseExpiresAt = new Date(Date.now() + this.deps.settings.leaseMs);
    if (doc.status === "PROCESSING") {
      // A redelivery after the previous holder died (or a duplicate): take the lease over.
      const res = await this.prisma.document.updateMany({
        where: { id: doc.id, tenantId: doc.tenantId, status: "PROCESSING", stage: msg.stage },
        data: { leaseExpiresAt, attempts: { increment: 1 } },
      });
      return res.count === 1 ? { ...doc, leaseExpiresAt, attempts: doc.attempts + 1 } : null;
    }
    try {
      await this.move(
        {
          tenantId: doc.tenantId,
          batchId: doc.batchId,
          documentIds: [doc.id],
          from: { status: "QUEUED", stage: msg.stage },
          to: { status: "PROCESSING", stage: msg.stage },
          data: { leaseExpiresAt, attempts: { increment: 1 } },
          eventType: EventType.STAGE_STARTED,
        },
        1,
      );
    } catch (err) {
      if (err instanceof StaleStateError) return null;
      throw err;
    }
    return { ...doc, status: "PROCESSING", leaseExpiresAt, attempts: doc.attempts + 1 };
  }

  private async advance(
    doc: Document,
    stage: StageName,
    out: import("./stages/types.ts").StageOutput,
    ms: number,
  ): Promise<boolean> {
    const options = doc.options as DocumentOptions | null;
    const next = nextStage(stage, options);
    const timings = { ...(doc.timings as Record<string, number>), [stage]: ms };
    const provenance = out.provenance
      ? {
          ...(doc.provenance as Record<string, unknown>),
          [stage]: { ...out.provenance, at: new Date().toISOString() },
        }
      : undefined;
    // A finished run's plan and model choice are spent; a later retry starts from the full pipeline.
    const { stages: _s, models: _m, ...rest } = options ?? {};
    const spent = !next && options && (options.stages || options.models);
    const flag = out.needsReview;
    const needsReviewDelta = flag === undefined || flag === doc.needsReview ? 0 : flag ? 1 : -1;
    await this.move(
      {
        tenantId: doc.tenantId,
        batchId: doc.batchId,
        documentIds: [doc.id],
        from: { status: "PROCESSING", stage },
        to: next ? { status: "QUEUED", stage: next } : { status: "COMPLETED", stage: null },
        data: {
          ...out.data,
          ...(flag === undefined ? {} : { needsReview: flag }),
          timings,
          ...(provenance ? { provenance: provenance as Prisma.InputJsonValue } : {}),
          ...(spent ? { options: Object.keys(rest).length ? rest : Prisma.DbNull } : {}),
          attempts: 0,
          leaseExpiresAt: null,
          ...(next ? {} : { completedAt: new Date(), errorCode: null, errorMessage: null }),
        },
        needsReviewDelta,
        eventType: next ? EventType.STAGE_COMPLETED : EventType.DOCUMENT_COMPLETED,
        eventPayload: () => ({ completedStage: stage, ms, ...out.payload }),
        outbox: next ? () => stageOutbox(doc, next, this.traceparent()) : undefined,
      },
      1,
    );
    return next === null;
  }

  /** Fails the document; false when another delivery moved it first. */
  private async fail(doc: Document, stage: StageName, code: string, message: string): Promise<boolean> {
    return this.move(
      {
        tenantId: doc.tenantId,
        batchId: doc.batchId,
        documentIds: [doc.id],
        from: { status: "PROCESSING", stage },
        to: { status: "FAILED", stage },
        // Messages quote the file (zip entry names, parser errors): NUL or a cut surrogate pair in them
        // would fail this write, and the document would stay PROCESSING for ever.
        data: { errorCode: code, errorMessage: storable(message.slice(0, 2000)), leaseExpiresAt: null },
        eventType: EventType.DOCUMENT_FAILED,
        eventPayload: () => ({ code, message: storable(message.slice(0, 500)) }),
      },
      1,
    ).then(
      () => true,
      (e) => {
        if (!(e instanceof StaleStateError)) throw e;
        return false;
      },
    );
  }

  /** Per stage: the tenant's waiting, running and failed documents and the oldest wait (operators). */
  queues(tenantId: string): Promise<StageBacklog[]> {
    return readBacklog(this.deps.db, tenantId);
  }

  /** Worker processes whose heartbeat is younger than `staleMs` (deployment-wide: no tenant data). */
  async workers(staleMs = 60_000) {
    return this.prisma.worker.findMany({
      where: { heartbeatAt: { gte: new Date(Date.now() - staleMs) } },
      orderBy: { startedAt: "asc" },
    });
  }

  /**
   * Queues finished documents again (operators' retry and release from quarantine): FAILED ones from
   * the stage they stopped at (or an earlier one), COMPLETED ones from the given stage (e.g. to
   * understand again with other options). Clears the error, resets attempts and stores `options` on
   * the document. Documents still in flight are left alone (IN_FLIGHT). Tenant-scoped.
   */
  async retryDocuments(
    tenantId: string,
    documentIds: readonly string[],
    req: RetryRequest = {},
  ): Promise<RetryOutcome[]> {
    if (documentIds.length > 1000)
      throw new RequestError("BAD_REQUEST", "at most 1000 documents per request");
    const timeout = req.options?.stageTimeoutMs;
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 100 && timeout <= 3_600_000)) {
      throw new RequestError(
        "BAD_REQUEST",
        "stageTimeoutMs must be a whole number of ms between 100 and 3600000",
      );
    }
    const ids = [...new Set(documentIds)].filter(isUuid);
    const docs = new Map(
      (
        await this.prisma.document.findMany({
          where: { id: { in: ids }, tenantId },
          select: { id: true, tenantId: true, batchId: true, status: true, stage: true },
        })
      ).map((d) => [d.id, d]),
    );
    const outcomes = new Map<string, RetryOutcome>();
    const groups = new Map<
      string,
      {
        batchId: string;
        from: { status: "FAILED" | "COMPLETED"; stage: StageName | null };
        to: StageName;
        ids: string[];
      }
    >();
    for (const id of documentIds) {
      const d = docs.get(id);
      if (!d) {
        outcomes.set(id, { documentId: id, status: "NOT_FOUND" });
        continue;
      }
      if (d.status !== "FAILED" && d.status !== "COMPLETED") {
        outcomes.set(id, { documentId: id, status: "IN_FLIGHT", message: `document is ${d.status}` });
        continue;
      }
      const to = req.stage ?? (d.status === "FAILED" ? (d.stage ?? "PARSE") : undefined);
      if (!to) {
        outcomes.set(id, {
          documentId: id,
          status: "BAD_STAGE",
          message: "a completed document needs the stage to run again from",
        });
        continue;
      }
      // A stage needs the artifacts of the stages before it: a failed document can only go back.
      if (d.status === "FAILED" && STAGES.indexOf(to) > STAGES.indexOf(d.stage ?? "PARSE")) {
        outcomes.set(id, {
          documentId: id,
          status: "BAD_STAGE",
          message: `document failed at ${d.stage}; it cannot skip to ${to}`,
        });
        continue;
      }
      const key = `${d.batchId}|${d.status}|${d.stage}|${to}`;
      const g = groups.get(key) ?? {
        batchId: d.batchId,
        from: { status: d.status, stage: d.stage },
        to,
        ids: [],
      };
      g.ids.push(id);
      groups.set(key, g);
    }
    for (const g of groups.values()) {
      try {
        await this.move({
          tenantId,
          batchId: g.batchId,
          documentIds: g.ids,
          from: g.from,
          to: { status: "QUEUED", stage: g.to },
          data: {
            errorCode: null,
            errorMessage: null,
            attempts: 0,
            completedAt: null,
            leaseExpiresAt: null,
            ...(req.options ? { options: req.options as Prisma.InputJsonValue } : {}),
          },
          eventType: EventType.DOCUMENT_RETRIED,
          eventPayload: () => ({ fromStatus: g.from.status, stage: g.to, options: req.options ?? null }),
          outbox: (id) => stageOutbox({ id, tenantId }, g.to, this.traceparent()),
        });
        for (const id of g.ids) outcomes.set(id, { documentId: id, status: "QUEUED" });
      } catch (err) {
        if (!(err instanceof StaleStateError)) throw err;
        for (const id of g.ids)
          outcomes.set(id, {
            documentId: id,
            status: "IN_FLIGHT",
            message: "document changed state concurrently; try again",
          });
      }
    }
    return documentIds.map((id) => outcomes.get(id)!);
  }

  /** Queues a batch's FAILED documents again (and, unless `failedOnly`, its COMPLETED ones from parse). */
  async retryBatch(
    tenantId: string,
    batchId: string,
    failedOnly = true,
    options?: DocumentOptions,
  ): Promise<number> {
    const batch = isUuid(batchId)
      ? await this.prisma.batch.findFirst({ where: { id: batchId, tenantId } })
      : null;
    if (!batch) throw new RequestError("NOT_FOUND", `batch ${batchId} not found`);
    let queued = 0;
    for (const status of failedOnly ? (["FAILED"] as const) : (["FAILED", "COMPLETED"] as const)) {
      for (;;) {
        const page = await this.prisma.document.findMany({
          where: { batchId, tenantId, status },
          select: { id: true },
          take: 500,
          orderBy: { id: "asc" },
        });
        if (page.length === 0) break;
        const res = await this.retryDocuments(
          tenantId,
          page.map((d) => d.id),
          { stage: status === "COMPLETED" ? "PARSE" : undefined, options },
        );
        const n = res.filter((r) => r.status === "QUEUED").length;
        queued += n;
        if (n === 0) break; // nothing movable left (raced with another retry)
      }
    }
    return queued;
  }

  /**
   * Records a person's fix of a completed document's category and/or fields: the document takes them
   * (confidence 1, no longer needing review), the confirmed category becomes a training label for the
   * tenant's classifier, and a changed category re-runs understand (the new category's fields) and
   * index; changed fields re-run index (search filters and facets on them). Field values are checked against the category's declared types.
   */
  async correctDocument(
    tenantId: string,
    documentId: string,
    input: {
      category?: string | null;
      fields?: readonly { name: string; value: string; currency?: string | null }[] | null;
    },
  ): Promise<Document> {
    const doc = isUuid(documentId)
      ? await this.prisma.document.findFirst({ where: { id: documentId, tenantId } })
      : null;
    if (!doc) throw new RequestError("NOT_FOUND", `document ${documentId} not found`);
    if (doc.status !== "COMPLETED") {
      throw new RequestError(
        "BAD_REQUEST",
        `only completed documents can be corrected; this one is ${doc.status}`,
      );
    }
    const name = input.category ?? doc.category;
    const category = name ? await this.categories.get(tenantId, name) : null;
    if (!category) throw new RequestError("BAD_REQUEST", `unknown category: ${name ?? "(none)"}`);
    const changed = category.name !== doc.category;
    const corrected = (input.fields ?? []).map((f) => humanField(category, f));
    const old = ((doc.metadata as { fields?: StoredField[] } | null)?.fields ?? []).filter((f) =>
      !changed || f.source === "human" ? declared(category, f.name) : true,
    );
    const fields = [...old.filter((f) => !corrected.some((c) => c.name === f.name)), ...corrected];
    const tokens = doc.textKey ? labelTokens((await this.deps.store.get(doc.textKey)).toString("utf8")) : [];
    // A new category needs its own fields extracted; corrected fields need only the index refreshed.
    const requeue: StageName[] | null = changed
      ? ["UNDERSTAND", "INDEX"]
      : corrected.length > 0
        ? ["INDEX"]
        : null;
    await this.tx(async (tx, events) => {
      const before = await tx.label.findUnique({ where: { documentId: doc.id, tenantId } });
      await tx.label.upsert({
        where: { documentId: doc.id },
        create: { documentId: doc.id, tenantId, category: category.name, tokens },
        update: { category: category.name, tokens, createdAt: new Date() },
      });
      await tx.$executeRaw`INSERT INTO tenant_model (tenant_id) VALUES (${tenantId}::uuid) ON CONFLICT DO NOTHING`;
      const [row] = await tx.$queryRaw<{ learned: LearnedLabels; labels: number }[]>`
        SELECT learned, labels FROM tenant_model WHERE tenant_id = ${tenantId}::uuid FOR UPDATE`;
      const learned = relabel(row!.learned, before, { category: category.name, tokens });
      await tx.tenantModel.update({
        where: { tenantId },
        data: {
          learned: learned as unknown as Prisma.InputJsonValue,
          labels: row!.labels + (before ? 0 : 1),
        },
      });
      const { fields: _f, lowConfidence: _l, ...kept } = (doc.metadata ?? {}) as Record<string, unknown>;
      events.push(
        ...(await transition(tx, {
          tenantId,
          batchId: doc.batchId,
          documentIds: [doc.id],
          from: { status: "COMPLETED", stage: null },
          to: requeue ? { status: "QUEUED", stage: requeue[0]! } : { status: "COMPLETED", stage: null },
          data: {
            category: category.name,
            confidence: 1,
            categoryVersion: category.version,
            needsReview: false,
            correctedAt: new Date(),
            metadata: { ...kept, fields, lowConfidence: [] } as unknown as Prisma.InputJsonValue,
            ...(requeue ? { options: { stages: requeue }, completedAt: null, attempts: 0 } : {}),
          },
          needsReviewDelta: doc.needsReview ? -1 : 0,
          eventType: EventType.DOCUMENT_CORRECTED,
          eventPayload: () => ({
            category: category.name,
            previousCategory: doc.category,
            fields: corrected.map((f) => f.name),
          }),
          outbox: requeue ? () => stageOutbox(doc, requeue[0]!, this.traceparent()) : undefined,
        })),
      );
    });
    return this.prisma.document.findUniqueOrThrow({ where: { id: doc.id, tenantId } });
  }

  /**
   * Runs chosen stages again for the documents a filter selects, and only where it changes something:
   * understand where the model, its prompt version or the category's definition differ from what the
   * document was understood with (or `models.understand` names another model); embed where the
   * embedding model or chunking changed; parse where the parser changed (then every later stage too).
   * Index follows whichever of them runs. `force` re-runs the chosen stages regardless. Only COMPLETED
   * documents are reprocessed (failed ones are retried); documents in flight are left alone.
   */
  async reprocess(
    tenantId: string,
    req: {
      filter: ReprocessFilter;
      stages: readonly StageName[];
      models?: { understand?: string | null; embed?: string | null } | null;
      force?: boolean | null;
    },
  ): Promise<{ queued: number; upToDate: number; inFlight: number; documentIds: string[] }> {
    if (req.stages.length === 0)
      throw new RequestError("BAD_REQUEST", "name at least one stage to run again");
    const { models } = this.deps;
    if (req.models?.embed && req.models.embed !== models.names.embed) {
      throw new RequestError(
        "BAD_REQUEST",
        `the embedding model is fixed per index (${models.names.embed}); another one needs a reindex`,
      );
    }
    const understandModel = req.models?.understand ?? undefined;
    const current = new Map((await this.categories.list(tenantId)).map((c) => [c.name, c.version]));
    const where = reprocessWhere(tenantId, req.filter);
    const out = { queued: 0, upToDate: 0, inFlight: 0, documentIds: [] as string[] };
    let cursor: string | undefined;
    for (;;) {
      const page = await this.prisma.document.findMany({
        where: { ...where, ...(cursor ? { id: { gt: cursor } } : {}) },
        select: { id: true, status: true, category: true, provenance: true },
        orderBy: { id: "asc" },
        take: 500,
      });
      if (page.length === 0) break;
      cursor = page.at(-1)!.id;
      const plans = new Map<string, string[]>();
      for (const d of page) {
        // The filter selects COMPLETED documents and those in flight (counted, left alone).
        if (d.status !== "COMPLETED") {
          out.inFlight++;
          continue;
        }
        const plan = planFor(d, req.stages, {
          force: req.force ?? false,
          understandModels: understandModel
            ? [models.qualify(understandModel)]
            : [models.names.understand, ...(models.names.vision ? [models.names.vision] : [])],
          promptVersion: understandModel ? undefined : models.promptVersion,
          embedModel: models.names.embed,
          categoryVersion: d.category ? current.get(d.category) : undefined,
        });
        if (plan.length === 0) {
          out.upToDate++;
          continue;
        }
        const key = plan.join(",");
        plans.set(key, [...(plans.get(key) ?? []), d.id]);
      }
      for (const [key, ids] of plans) {
        const stages = key.split(",") as StageName[];
        const res = await this.retryDocuments(tenantId, ids, {
          stage: stages[0],
          options: { stages, ...(understandModel ? { models: { understand: understandModel } } : {}) },
        });
        for (const r of res) {
          if (r.status === "QUEUED") {
            out.queued++;
            if (out.documentIds.length < 1000) out.documentIds.push(r.documentId);
          } else out.inFlight++;
        }
      }
    }
    return out;
  }

  /** The tenant's failed documents grouped by reason code, largest group first. */
  async quarantine(
    tenantId: string,
    opts: { batchId?: string; sample?: number } = {},
  ): Promise<QuarantineGroup[]> {
    if (opts.batchId !== undefined && !isUuid(opts.batchId)) return [];
    const where = { tenantId, status: "FAILED" as const, ...(opts.batchId ? { batchId: opts.batchId } : {}) };
    const groups = await this.prisma.document.groupBy({ by: ["errorCode"], where, _count: { _all: true } });
    const sample = Math.min(Math.max(opts.sample ?? 10, 0), 100);
    const out = await Promise.all(
      groups.map(async (g) => ({
        code: g.errorCode ?? "UNKNOWN",
        count: g._count._all,
        documentIds: (
          await this.prisma.document.findMany({
            where: { ...where, errorCode: g.errorCode },
            select: { id: true },
            orderBy: { updatedAt: "desc" },
            take: sample,
          })
        ).map((d) => d.id),
      })),
    );
    return out.sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
  }

  /**
   * Re-enqueues documents whose stage lease expired (their worker died without a trace): they go back
   * to QUEUED with a fresh outbox row. Safe to run from several processes: each move is guarded.
   */
  async reconcileExpiredLeases(now = new Date(), limit = 500): Promise<number> {
    const expired = await this.prisma.document.findMany({
      where: { status: "PROCESSING", leaseExpiresAt: { lt: now } },
      select: { id: true, tenantId: true, batchId: true, stage: true },
      take: limit,
    });
    let moved = 0;
    for (const d of expired) {
      if (await this.requeueAtStage(d, d.stage!, { reason: "lease expired" }, true)) moved++;
    }
    return moved;
  }

  /**
   * Moves a PROCESSING document back to QUEUED at the same stage (a retry, or an expired lease), with
   * an outbox row when no queue message will come back by itself. False when the document moved on
   * meanwhile (another delivery or reconciler got there first).
   */
  private async requeueAtStage(
    d: { id: string; tenantId: string; batchId: string },
    stage: StageName,
    payload: Record<string, unknown>,
    outbox: boolean,
  ): Promise<boolean> {
    try {
      await this.move(
        {
          tenantId: d.tenantId,
          batchId: d.batchId,
          documentIds: [d.id],
          from: { status: "PROCESSING", stage },
          to: { status: "QUEUED", stage },
          data: { leaseExpiresAt: null },
          eventType: EventType.STAGE_RETRY,
          eventPayload: () => payload,
          outbox: outbox ? () => stageOutbox(d, stage, this.traceparent()) : undefined,
        },
        1,
      );
      return true;
    } catch (err) {
      if (err instanceof StaleStateError) return false;
      throw err;
    }
  }

  /**
   * After a restart of the embedded (in-memory) queue every queued message is gone: publish one for
   * each unfinished document again. Duplicates with messages still in the outbox are harmless.
   */
  async requeueUnfinished(): Promise<number> {
    let count = 0;
    let cursor: string | undefined;
    for (;;) {
      const page = await this.prisma.document.findMany({
        where: { status: { in: ["QUEUED", "PROCESSING"] } },
        select: { id: true, tenantId: true, stage: true },
        orderBy: { id: "asc" },
        take: 1000,
        ...(cursor ? { cursor: { id: cursor }, skip: 1 } : {}),
      });
      if (page.length === 0) return count;
      for (const d of page) {
        if (d.stage)
          await this.deps.queue.publish(stageQueue(d.stage), stageMessage(d, d.stage, this.traceparent()));
      }
      count += page.length;
      cursor = page.at(-1)!.id;
    }
  }
}

function validateFile(
  f: FileRequest,
  maxBytes: number,
): (FileRequest & { sha256: string }) | { name: string; code: string; message: string } {
  const name = (f.name ?? "").trim();
  const sha256 = (f.sha256 ?? "").toLowerCase();
  const nameProblem = fileNameProblem(name);
  if (nameProblem) return { name, code: FailureCode.INVALID_NAME, message: nameProblem };
  if (!SHA256_RE.test(sha256))
    return { name, code: "BAD_REQUEST", message: "sha256 must be 64 hexadecimal characters" };
  if (!Number.isSafeInteger(f.size) || f.size < 0)
    return { name, code: "BAD_REQUEST", message: "size must be a whole number of bytes" };
  if (f.size > maxBytes)
    return { name, code: FailureCode.TOO_LARGE, message: `${f.size} bytes is over the limit of ${maxBytes}` };
  return { ...f, name, sha256 };
}

/** True for a UUID in its canonical text form (the only ids the database holds). */
export interface ReprocessFilter {
  batchId?: string | null;
  documentIds?: readonly string[] | null;
  category?: readonly string[] | null;
  needsReview?: boolean | null;
}

function reprocessWhere(tenantId: string, f: ReprocessFilter): Prisma.DocumentWhereInput {
  if (f.batchId && !isUuid(f.batchId)) throw new RequestError("NOT_FOUND", `batch ${f.batchId} not found`);
  return {
    tenantId,
    status: { in: ["COMPLETED", "QUEUED", "PROCESSING"] },
    ...(f.batchId ? { batchId: f.batchId } : {}),
    ...(f.documentIds?.length ? { id: { in: f.documentIds.filter(isUuid) } } : {}),
    ...(f.category?.length ? { category: { in: [...f.category] } } : {}),
    ...(typeof f.needsReview === "boolean" ? { needsReview: f.needsReview } : {}),
  };
}

/** The stages a document needs to run again out of `requested` (empty: it is up to date). */
export function planFor(
  d: { category: string | null; provenance: unknown },
  requested: readonly StageName[],
  now: {
    force: boolean;
    /** Models whose results count as current (the text and the vision model, or the one chosen). */
    understandModels: readonly string[];
    /** undefined when another model was chosen: its prompt version is unknown until it runs. */
    promptVersion?: string;
    embedModel: string;
    categoryVersion?: number;
  },
): StageName[] {
  const p = (d.provenance ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const want = (s: StageName) => requested.includes(s);
  if (want("PARSE") && (now.force || p.PARSE?.parser !== PARSER_VERSION)) return [...STAGES];
  const u = p.UNDERSTAND;
  const understand =
    want("UNDERSTAND") &&
    (now.force ||
      !u ||
      !now.understandModels.includes(String(u.model)) ||
      (now.promptVersion !== undefined && u.promptVersion !== now.promptVersion) ||
      (now.categoryVersion !== undefined && u.categoryVersion !== now.categoryVersion));
  const e = p.EMBED;
  const embed =
    want("EMBED") && (now.force || !e || e.model !== now.embedModel || e.chunker !== CHUNKER_VERSION);
  const index =
    understand || embed || (want("INDEX") && (now.force || !p.INDEX || p.INDEX.category !== d.category));
  return [
    ...(understand ? (["UNDERSTAND"] as const) : []),
    ...(embed ? (["EMBED"] as const) : []),
    ...(index ? (["INDEX"] as const) : []),
  ];
}

/** A person's value for a declared field, checked and normalised for the field's type. */
function humanField(
  category: StoredCategory,
  f: { name: string; value: string; currency?: string | null },
): StoredField {
  const schema = category.fields?.properties[f.name];
  if (!schema) {
    throw new RequestError("BAD_REQUEST", `category ${category.name} declares no field ${f.name}`);
  }
  const kind = fieldKind(schema);
  const raw = f.value.trim();
  const bad = (why: string) => new RequestError("BAD_REQUEST", `field ${f.name}: ${why}`);
  let value = raw;
  if (raw === "") throw bad("a value is required");
  if (kind === "date") {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(raw) || Number.isNaN(Date.parse(`${raw}T00:00:00Z`)))
      throw bad("a date is written YYYY-MM-DD");
  } else if (kind === "money" || kind === "number") {
    if (!/^-?\d+(\.\d+)?$/.test(raw)) throw bad("a number is written like 1234.50 (no grouping)");
    value = kind === "money" ? Number(raw).toFixed(2) : String(Number(raw));
  } else if (kind === "enum") {
    const s = schema.type === "array" ? schema.items : schema;
    const members = "enum" in s ? (s.enum ?? []) : [];
    if (!members.includes(raw)) throw bad(`one of ${members.join(", ")}`);
  }
  const currency = kind === "money" && f.currency ? f.currency.trim().toUpperCase() : undefined;
  if (currency !== undefined && !/^[A-Z]{3}$/.test(currency)) throw bad("a currency is an ISO 4217 code");
  return {
    name: f.name,
    kind,
    raw,
    value,
    ...(currency ? { currency } : {}),
    confidence: 1,
    source: "human",
  };
}

function declared(category: StoredCategory, field: string): boolean {
  return field in (category.fields?.properties ?? {});
}

export function isUuid(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id);
}
