import type { Batch, Document } from "@docfleet/schema";
import { objectKeys } from "../domain/context.ts";
import { FailureCode, RequestError } from "../domain/errors.ts";
import { isUuid } from "../domain/ids.ts";
import { StaleStateError } from "../domain/lifecycle.ts";
import { EventType } from "../domain/messages.ts";
import { fileNameProblem } from "../file-names.ts";
import {
  type CompletedPart,
  MULTIPART_MAX_PARTS,
  MULTIPART_MIN_PART_SIZE,
  MultipartPartError,
  type MultipartUpload,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  planMultipartParts,
  type UploadTarget,
} from "../ports/object-store.ts";
import * as batches from "../repositories/batches.ts";
import { isUniqueViolation } from "../repositories/db.ts";
import * as documents from "../repositories/documents.ts";
import * as tenants from "../repositories/tenants.ts";
import { transition } from "../repositories/transition.ts";
import * as uploads from "../repositories/uploads.ts";
import { type Resources, stageOutbox } from "./resources.ts";

const SHA256_RE = /^[0-9a-f]{64}$/;
/** A media type with optional parameters, as a form field and an S3 POST policy can carry it. */
const CONTENT_TYPE_RE =
  /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;\s*[a-z0-9!#$&^_.+-]+=("[\x20-\x21\x23-\x7e]*"|[a-z0-9!#$&^_.+-]+))*$/i;

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

/**
 * Intake: batches, upload targets (single and multipart), and queueing uploaded documents. Every
 * document enters the pipeline here.
 */
export class IntakeService {
  constructor(private readonly r: Resources) {}

  /**
   * The tenant with this id, created with `name` when missing (an existing one is left as it is). Raw
   * SQL: `serve` runs it for the local tenant before it answers, without initialising Prisma's client.
   */
  ensureTenant(id: string, name: string): Promise<void> {
    return tenants.ensure(this.r.deps.db, id, name);
  }

  async createBatch(tenantId: string, input: { name: string; categories?: string[] | null }): Promise<Batch> {
    const name = input.name.trim();
    if (!name || name.length > 200)
      throw new RequestError("BAD_REQUEST", "a batch name must have 1 to 200 characters");
    const known = new Set((await this.r.categories.list(tenantId)).map((c) => c.name));
    const unknown = (input.categories ?? []).filter((c) => !known.has(c));
    if (unknown.length) throw new RequestError("BAD_REQUEST", `unknown categories: ${unknown.join(", ")}`);
    return batches.create(this.r.prisma, {
      tenantId,
      name,
      options: input.categories?.length ? { categories: input.categories } : {},
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
    const batch = await batches.findOwned(this.r.prisma, tenantId, batchId);
    if (!batch) throw new RequestError("NOT_FOUND", `batch ${batchId} not found`);
    if (files.length > 1000) throw new RequestError("BAD_REQUEST", "at most 1000 files per request");
    const { maxUploadBytes, uploadTtlSeconds } = this.r.deps.settings;

    const db = this.r.deps.db;
    const planned = await lostRaceRetried(async () => {
      const outcomes: (UploadOutcome | { status: "NEW" | "PENDING"; document: Document })[] = [];
      const valid = files.map((f) => validateFile(f, maxUploadBytes));
      const hashes = [...new Set(valid.flatMap((v) => ("sha256" in v ? [v.sha256] : [])))];
      const existing = new Map((await uploads.findBySha256(db, tenantId, hashes)).map((d) => [d.sha256, d]));
      const creates: uploads.NewDocument[] = [];
      const createdNow = new Set<string>();
      /** Pending documents of other batches that this request registers again: they join this batch. */
      const joining = new Map<string, string[]>();
      for (const v of valid) {
        if ("code" in v) {
          outcomes.push({ status: "REJECTED", ...v });
          continue;
        }
        const found = existing.get(v.sha256);
        if (found) {
          // Still pending from an earlier request: a fresh target. Twice in this request: the second is a duplicate.
          const pending = found.status === "PENDING_UPLOAD" && !createdNow.has(found.id);
          if (pending && found.batchId !== batchId) {
            // Its batch was abandoned before the bytes came (a rerun with a fresh state folder): the
            // document joins the batch this request reports, so that batch counts every file it names.
            joining.set(found.batchId, [...(joining.get(found.batchId) ?? []), found.id]);
            const moved = { ...found, batchId };
            existing.set(v.sha256, moved);
            createdNow.add(found.id);
            outcomes.push({ status: "PENDING", document: moved });
            continue;
          }
          outcomes.push({ status: pending ? "PENDING" : "DUPLICATE", document: found });
          continue;
        }
        const id = crypto.randomUUID();
        const doc: uploads.NewDocument = {
          id,
          name: v.name,
          sha256: v.sha256,
          size: v.size,
          contentType: v.contentType ?? null,
          objectKey: objectKeys.original(tenantId, id),
        };
        creates.push(doc);
        createdNow.add(id);
        const created = { ...doc, tenantId, batchId, status: "PENDING_UPLOAD" } as unknown as Document;
        existing.set(v.sha256, created);
        outcomes.push({ status: "NEW", document: created });
      }
      /** The documents this request created, as stored. */
      const stored = new Map<string, Document>();
      if (creates.length > 0) {
        // One statement: the rows, the counters and one documents.requested event (committed on its own;
        // a lost race on a content is a unique violation, and this plan is made again).
        const { documents: rows, event } = await uploads.registerDocuments(db, {
          tenantId,
          batchId,
          docs: creates,
        });
        for (const d of rows) stored.set(d.id, d);
        await this.r.committed([event]);
      }
      if (joining.size > 0) {
        await this.r.tx(async (tx, events) => {
          for (const [fromBatchId, ids] of joining) {
            const pending = { status: "PENDING_UPLOAD", stage: null } as const;
            events.push(
              ...(await transition(tx, {
                tenantId,
                batchId: fromBatchId,
                documentIds: ids,
                from: pending,
                to: null,
                data: { batchId },
                eventType: EventType.DOCUMENTS_MOVED,
                batchEvent: { count: ids.length, toBatchId: batchId },
              })),
              ...(await transition(tx, {
                tenantId,
                batchId,
                documentIds: ids,
                from: null,
                to: pending,
                eventType: EventType.DOCUMENTS_REQUESTED,
                batchEvent: { count: ids.length, fromBatchId },
              })),
            );
          }
        }, 1);
      }
      return outcomes.map((o) =>
        o.status === "NEW" ? { ...o, document: stored.get(o.document.id) ?? o.document } : o,
      );
    });
    const answered = await Promise.all(
      planned.map(async (o): Promise<UploadOutcome> => {
        if (o.status !== "NEW" && o.status !== "PENDING") return o as UploadOutcome;
        const { document } = o;
        // The exact size and the declared type, enforced by the store (S3: the POST policy); the key
        // is the upload key, never the original's (completeUploads moves it there).
        const target = await this.r.deps.store.createUploadTarget(uploadKey(document), {
          minSize: document.size,
          maxSize: document.size,
          ttlSeconds: uploadTtlSeconds,
          ...(document.contentType ? { contentType: document.contentType } : {}),
        });
        return { status: "UPLOAD", document, target };
      }),
    );
    this.r.deps.metrics?.uploadsRequested.inc(answered.filter((o) => o.status === "UPLOAD").length);
    return answered;
  }

  /**
   * Checks that each document's upload exists with the announced size (where the store does not hold
   * sizes itself: ObjectStore.uploadSizesHeld) and moves it to the document's original (`promoteUpload`:
   * from then on no upload target reaches the bytes the pipeline verifies and serves), then queues all good ones in one transaction (documents QUEUED + outbox rows). An
   * upload of another size is deleted (SIZE_MISMATCH: upload again). Bytes docfleet put at the original
   * itself count as uploaded. Idempotent.
   */
  async completeUploads(tenantId: string, documentIds: readonly string[]): Promise<CompleteOutcome[]> {
    if (documentIds.length > 1000)
      throw new RequestError("BAD_REQUEST", "at most 1000 documents per request");
    const docs = new Map(
      (await uploads.uploadStates(this.r.deps.db, tenantId, [...new Set(documentIds)].filter(isUuid))).map(
        (d) => [d.id, d],
      ),
    );
    const outcomes: CompleteOutcome[] = await Promise.all(
      documentIds.map(async (documentId): Promise<CompleteOutcome> => {
        const doc = docs.get(documentId);
        if (!doc) return { documentId, status: "NOT_FOUND" };
        if (doc.status !== "PENDING_UPLOAD") return { documentId, status: "ALREADY_QUEUED" };
        const { store } = this.r.deps;
        // Where the store holds upload sizes itself and a stat is a request (S3), promoted unread: an
        // absent upload still reads as ObjectNotFoundError below (ObjectStore.uploadSizesHeld).
        const upload = store.uploadSizesHeld ? { size: doc.size } : await store.stat(uploadKey(doc));
        if (upload && upload.size !== doc.size) {
          await store.delete(uploadKey(doc));
          return {
            documentId,
            status: "SIZE_MISMATCH",
            message: `uploaded ${upload.size} bytes, announced ${doc.size}: the upload was deleted, upload again`,
          };
        }
        // Moved: the original is the upload just checked (its size is the announced one), no stat needed.
        const moved =
          upload &&
          (await store.promoteUpload(uploadKey(doc), doc.objectKey).then(
            () => true,
            (err) => {
              // A concurrent completion may have moved it first: then the original is there.
              if (!(err instanceof ObjectNotFoundError)) throw err;
              return false;
            },
          ));
        if (moved) return { documentId, status: "QUEUED" };
        const info = await store.stat(doc.objectKey);
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
    const byBatch = new Map<string, string[]>();
    for (const o of outcomes) {
      if (o.status !== "QUEUED") continue;
      const d = docs.get(o.documentId)!;
      byBatch.set(d.batchId, [...(byBatch.get(d.batchId) ?? []), d.id]);
    }
    const traceparent = this.r.traceparent();
    for (const [batchId, ids] of byBatch) {
      // One statement per batch: only documents still PENDING_UPLOAD move (a concurrent call may have
      // queued some already), each with its event and its parse message in the outbox.
      const events = await uploads.moveUploaded(this.r.deps.db, {
        tenantId,
        batchId,
        ids,
        from: { status: "PENDING_UPLOAD", stage: null },
        to: { status: "QUEUED", stage: "PARSE" },
        eventType: EventType.DOCUMENT_QUEUED,
        outbox: (id) => stageOutbox({ id, tenantId }, "PARSE", traceparent),
      });
      await this.r.committed(events);
    }
    this.r.deps.metrics?.uploadsCompleted.inc(outcomes.filter((o) => o.status === "QUEUED").length);
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
    const { multipartPartBytes, uploadTtlSeconds } = this.r.deps.settings;
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
    const { store } = this.r.deps;
    if (opts.uploadId == null) {
      const type = doc.contentType ? { contentType: doc.contentType } : {};
      return { ...(await store.createMultipartUpload(uploadKey(doc), { ...cut, ...type })), partSize };
    }
    try {
      return { ...(await store.signMultipartParts(uploadKey(doc), opts.uploadId, cut)), partSize };
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
    const { store } = this.r.deps;
    try {
      await store.completeMultipartUpload(uploadKey(doc), uploadId, parts);
    } catch (err) {
      if (err instanceof MultipartUploadNotFoundError) {
        if ((await store.stat(uploadKey(doc)))?.size === doc.size) return;
        throw new RequestError(
          "NOT_FOUND",
          `multipart upload ${uploadId} of document ${documentId} not found (aborted or expired): start again with startMultipartUpload`,
        );
      }
      if (err instanceof MultipartPartError || err instanceof RangeError)
        throw new RequestError("BAD_REQUEST", err.message);
      throw err;
    }
    const info = await store.stat(uploadKey(doc));
    if (info?.size !== doc.size) {
      await store.delete(uploadKey(doc));
      throw new RequestError(
        "BAD_REQUEST",
        `the parts hold ${info?.size ?? 0} bytes, the document announced ${doc.size}: the object was deleted, upload it again`,
      );
    }
  }

  /** Abandons a multipart upload of the document and frees its parts. Idempotent; NOT_FOUND: no such document. */
  async abortMultipartUpload(tenantId: string, documentId: string, uploadId: string): Promise<void> {
    const doc = await this.document(tenantId, documentId);
    await this.r.deps.store.abortMultipartUpload(uploadKey(doc), uploadId);
  }

  /** The tenant's document (NOT_FOUND otherwise). */
  private async document(tenantId: string, documentId: string): Promise<Document> {
    const doc = await documents.findOwned(this.r.prisma, tenantId, documentId);
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
}

/** `fn` again (up to 3 times in all) when it lost a race: another request registered or moved a document first. */
async function lostRaceRetried<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= 3 || !(err instanceof StaleStateError || isUniqueViolation(err))) throw err;
    }
  }
}

/** Where a document's upload targets put its bytes (objectKeys.upload). */
function uploadKey(doc: Pick<Document, "tenantId" | "id">): string {
  return objectKeys.upload(doc.tenantId, doc.id);
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
  // The store binds the upload to this type (and serves it so): a browser's unknown type ("") is none.
  const contentType = f.contentType?.trim() || null;
  if (contentType !== null && (contentType.length > 255 || !CONTENT_TYPE_RE.test(contentType)))
    return { name, code: "BAD_REQUEST", message: "contentType must be a media type such as application/pdf" };
  return { ...f, name, sha256, contentType };
}
