import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";

/** Where and how a client sends one file's bytes: an HTML-form style POST. */
export interface UploadTarget {
  /** URL to POST a multipart/form-data body to. */
  url: string;
  /** Form fields to send before the `file` field, in order. */
  fields: Record<string, string>;
  /** When the target stops being accepted. */
  expiresAt: Date;
}

/** What a signed upload target allows. */
export interface UploadTargetOptions {
  /** The most bytes the store accepts. */
  maxSize: number;
  /** The fewest bytes the store accepts; default 0. */
  minSize?: number;
  /** Seconds the target is accepted for (S3: at most 7 days). */
  ttlSeconds: number;
  /** The only `Content-Type` form field the store accepts (S3 then serves the object with it). */
  contentType?: string;
}

/**
 * Checks the sizes of an upload target, the same for every adapter. Throws RangeError unless
 * 0 <= minSize <= maxSize, both safe integers, and maxSize is within the store's `ceiling` (its
 * `maxUploadBytes`, DOCFLEET_MAX_UPLOAD_BYTES) when it has one.
 */
export function checkUploadSizes(
  opts: UploadTargetOptions,
  ceiling?: number,
): { minSize: number; maxSize: number } {
  const minSize = opts.minSize ?? 0;
  for (const [name, v] of [
    ["maxSize", opts.maxSize],
    ["minSize", minSize],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  }
  if (minSize > opts.maxSize) throw new RangeError(`minSize ${minSize} exceeds maxSize ${opts.maxSize}`);
  checkCeiling(opts.maxSize, ceiling);
  if (opts.contentType !== undefined && !/^[\x21-\x7e][\x20-\x7e]{0,254}$/.test(opts.contentType))
    throw new RangeError(`contentType must be printable ASCII, got ${JSON.stringify(opts.contentType)}`);
  return { minSize, maxSize: opts.maxSize };
}

/** Throws RangeError when `size` is over the store's `ceiling` (its maxUploadBytes), when it has one. */
export function checkCeiling(size: number, ceiling: number | undefined): void {
  if (ceiling !== undefined && size > ceiling)
    throw new RangeError(`${size} bytes is over this store's upload limit of ${ceiling}`);
}

export interface ObjectInfo {
  size: number;
}

/** How a signed download URL asks the browser to treat the bytes. */
export interface DownloadUrlOptions {
  ttlSeconds: number;
  /** The name a download is saved under (a label: only its last segment is used). */
  fileName?: string;
  /**
   * Ask for `Content-Disposition: inline` (a preview in the page). Honoured only for a content type
   * `isInlineSafe` accepts; anything else stays an attachment (with `X-Content-Type-Options: nosniff`
   * where the store can send it: local yes, S3 no).
   */
  inline?: boolean;
  /**
   * The bytes' type as docfleet knows it (detected by parse, else declared at upload). S3 decides inline
   * from it at signing time and answers the download with it; the local store uses the type it stored.
   */
  contentType?: string;
}

/**
 * Types a browser may render inline from a signed URL without running anything: PDF, raster images and
 * plain text. Never HTML, SVG, XML or anything else a browser would execute or parse as markup.
 */
const INLINE_SAFE = new Set([
  "application/pdf",
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "text/plain",
]);

/** Whether a `Content-Type` (parameters ignored) may be served inline. */
export function isInlineSafe(contentType: string | null | undefined): boolean {
  const essence = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  return INLINE_SAFE.has(essence);
}

/**
 * The Content-Disposition of a download: `inline` when asked for and the type is safe
 * (`isInlineSafe`), otherwise an attachment (named by `fileName` when given).
 */
export function downloadDisposition(opts: {
  fileName?: string | null;
  inline?: boolean;
  contentType?: string | null;
}): string {
  if (opts.inline && isInlineSafe(opts.contentType)) {
    return opts.fileName ? attachmentDisposition(opts.fileName).replace(/^attachment/, "inline") : "inline";
  }
  return opts.fileName ? attachmentDisposition(opts.fileName) : "attachment";
}

/**
 * Object storage for uploads and artifacts. Keys are opaque strings chosen by docfleet
 * (`<tenant>/<document>/...`), never derived from file names.
 */
export interface ObjectStore {
  /** Prepares storage (bucket, folder). Idempotent. */
  setup(): Promise<void>;
  /**
   * The store's own outage probe, where answering a read is not enough to say it can take writes (the
   * local store: its folder full or not writable): resolves when it can store, rejects when not. Absent:
   * a stat of an absent key is the probe (services/index.ts).
   */
  probe?(): Promise<void>;
  /**
   * Only for a store whose signed URLs point at the gateway itself (the local store): answers such a
   * request (upload, part, download) and resolves true, or resolves false for any other path. Absent
   * where the URLs point at the store's own server (S3).
   */
  handleHttp?(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /**
   * A signed upload target for exactly `key`, accepting from `minSize` (default 0) to `maxSize` bytes,
   * valid for `ttlSeconds`. With `contentType`, the target's fields carry a `Content-Type` field and the
   * store refuses a form whose `Content-Type` field differs or is missing. The store enforces key,
   * sizes, content type and expiry itself (a refused upload stores nothing); the gateway never sees the
   * bytes (distributed). Throws RangeError for a size or ttl out of range.
   */
  createUploadTarget(key: string, opts: UploadTargetOptions): Promise<UploadTarget>;
  /**
   * A signed URL that lets the holder GET `key` until it expires, answered with the object's content
   * type and the disposition of `downloadDisposition` (inline only for safe types).
   */
  createDownloadUrl(key: string, opts: DownloadUrlOptions): Promise<string>;
  /**
   * Moves an uploaded object from its upload key `from` to `to` (replacing any object there) and closes
   * `from` to uploads: whatever is at `to` afterwards was uploaded before the move. The local store
   * refuses every later POST or part PUT to `from` (409 UploadCompleted); S3 cannot refuse a POST its
   * policy allows, so a later upload lands at `from`, which docfleet never reads again. Throws
   * ObjectNotFoundError when nothing is at `from`.
   */
  promoteUpload(from: string, to: string): Promise<void>;
  /**
   * True where reading an upload's size costs a request to the store (S3: a HEAD per object) and the
   * store holds every upload to its announced size itself: a single upload through the target's policy
   * (`content-length-range` of exactly that size: S3 and radosgw refuse any other), a multipart one
   * through `completeMultipartUpload`'s check of the joined size. completeUploads then promotes without
   * reading the size first (one request per file less). Bytes of another size that got there all the
   * same (a store that ignores POST policies, such as the s3rver test double) fail the document in
   * parse: its sha256 check (CHECKSUM_MISMATCH, "upload the file again"). Absent (the local store,
   * where a stat is one system call): completeUploads reads the size and answers SIZE_MISMATCH.
   */
  readonly uploadSizesHeld?: boolean;
  /** Size of the object, or null when it does not exist. */
  stat(key: string): Promise<ObjectInfo | null>;
  /** The whole object. Throws ObjectNotFoundError when absent. */
  get(key: string): Promise<Buffer>;
  /** The object as a stream, for large files. Throws ObjectNotFoundError when absent. */
  getStream(key: string): Promise<Readable>;
  /** Writes (or overwrites) an object. Atomic: readers see the old or the new bytes, never a mix. */
  put(key: string, body: Buffer | string, contentType?: string): Promise<void>;
  /** Deletes an object; no error when absent. */
  delete(key: string): Promise<void>;
  /**
   * Every object key under `prefix` (which must end with "/"), and the keys of unfinished multipart
   * uploads to keys under it, sorted. For checks and purges; reads the whole listing.
   */
  list(prefix: string): Promise<string[]>;
  /**
   * Deletes every object under `prefix` (which must end with "/") and aborts every unfinished multipart
   * upload to a key under it (its parts go too). Idempotent. Throws RangeError for a prefix that does not
   * end with "/" or is empty (so a slip can never empty a tenant's neighbours).
   */
  deletePrefix(prefix: string): Promise<void>;

  // Multipart (large-file) uploads: the client PUTs the parts straight to the store, as with `createUploadTarget`.

  /**
   * Starts a multipart upload of `size` bytes to exactly `key`, cut into parts of `partSize` bytes (the
   * last one shorter), and answers one signed PUT URL per part, valid for `ttlSeconds`. The client PUTs
   * each part's bytes to its URL (in any order, in parallel, retrying a part as often as needed: the
   * last PUT of a part wins), keeps the `ETag` response header of each, and hands them to
   * `completeMultipartUpload`. The local store refuses a part of another size than its place in the cut
   * (streaming: 413 EntityTooLarge as soon as it passes); S3's presigned UploadPart URLs do not bind a
   * part's size (only S3's 5 GiB), so the object's final size must be checked (`stat`) after completion
   * on every store. Nothing is visible at `key` before completion. An upload nobody completes or aborts
   * keeps its parts (S3: until a lifecycle rule aborts it; local: until removed). `contentType` is the
   * object's type once complete. Throws RangeError when the cut breaks the rules of `planMultipartParts`
   * (identical on every store) or `size` is over the store's maxUploadBytes.
   */
  createMultipartUpload(
    key: string,
    opts: { size: number; partSize: number; ttlSeconds: number; contentType?: string },
  ): Promise<MultipartUpload>;
  /**
   * Fresh part URLs for an upload `createMultipartUpload` started at `key` and nobody completed or
   * aborted yet: resuming after the URLs expired or the client crashed. Parts uploaded so far stay.
   * `size` and `partSize` must be those the upload was started with; the store checks the parts it
   * already holds against them and throws MultipartPartError when one does not fit that cut (they were
   * cut differently). Throws MultipartUploadNotFoundError when the store does not know `uploadId` for
   * `key` (completed, aborted, unknown, or another key's), RangeError as `createMultipartUpload` does.
   */
  signMultipartParts(
    key: string,
    uploadId: string,
    opts: { size: number; partSize: number; ttlSeconds: number },
  ): Promise<MultipartUpload>;
  /**
   * Joins the listed parts, in `partNumber` order, into the object at `key` and ends the upload; the
   * object appears whole or not at all, replacing any object at `key`. ETags match with or without
   * their double quotes. Throws MultipartUploadNotFoundError when the upload is unknown (aborted, never
   * started, another key's, or completed already). A completion repeated with the same parts after it
   * succeeded either throws MultipartUploadNotFoundError (local) or answers as the first did (radosgw,
   * and S3 for a while): check `stat` rather than relying on either. MultipartPartError when a listed part
   * was not uploaded, its ETag differs from the stored part's, a part number appears twice, or a part
   * other than the last is under 5 MiB (the upload stays open: fix and complete again), RangeError when
   * `parts` is empty or a part number is outside 1..10,000.
   */
  completeMultipartUpload(key: string, uploadId: string, parts: readonly CompletedPart[]): Promise<void>;
  /**
   * Abandons an unfinished upload and frees the parts stored so far; its URLs stop working. Idempotent:
   * no error when the upload is already gone (completed, aborted or unknown).
   */
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
}

/** A started multipart upload: where each part goes. */
export interface MultipartUpload {
  /** The store's id of the upload, for re-signing, completing or aborting it. */
  uploadId: string;
  /** One signed PUT URL per part, `partNumber` 1..n in order. */
  parts: { partNumber: number; url: string }[];
  /** When the part URLs stop being accepted. */
  expiresAt: Date;
}

/** One uploaded part as the client reports it: the `ETag` header its PUT answered. */
export interface CompletedPart {
  partNumber: number;
  etag: string;
}

/** The store does not know this upload for this key: completed, aborted, never started, or another key's. */
export class MultipartUploadNotFoundError extends Error {
  override name = "MultipartUploadNotFoundError";
  constructor(
    readonly key: string,
    readonly uploadId: string,
  ) {
    super(`multipart upload ${uploadId} not found for ${key}`);
  }
}

/** A part does not do: missing, another ETag, listed twice, too small, or cut differently. */
export class MultipartPartError extends Error {
  override name = "MultipartPartError";
  constructor(
    message: string,
    /** The offending part, when the store says which. */
    readonly partNumber?: number,
  ) {
    super(message);
  }
}

/** S3's limits, applied by every adapter so that a cut valid on one store is valid on all. */
export const MULTIPART_MIN_PART_SIZE = 5 * 1024 * 1024;
export const MULTIPART_MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
export const MULTIPART_MAX_PARTS = 10_000;

/**
 * The number of parts of `size` bytes cut into `partSize` (at least one, even for an empty object).
 * Throws RangeError when `size` or `partSize` is not a valid integer, `partSize` is over 5 GiB or under
 * 5 MiB with more than one part, or the cut needs more than 10,000 parts.
 */
export function planMultipartParts(size: number, partSize: number): number {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`size must be a non-negative integer, got ${size}`);
  }
  if (!Number.isSafeInteger(partSize) || partSize < 1 || partSize > MULTIPART_MAX_PART_SIZE) {
    throw new RangeError(`partSize must be an integer from 1 to ${MULTIPART_MAX_PART_SIZE}, got ${partSize}`);
  }
  const count = Math.max(1, Math.ceil(size / partSize));
  if (count > 1 && partSize < MULTIPART_MIN_PART_SIZE) {
    throw new RangeError(
      `partSize must be at least ${MULTIPART_MIN_PART_SIZE} bytes when there are several parts, got ${partSize}`,
    );
  }
  if (count > MULTIPART_MAX_PARTS) {
    throw new RangeError(`${count} parts exceed the maximum of ${MULTIPART_MAX_PARTS}: use larger parts`);
  }
  return count;
}

/**
 * Throws MultipartPartError when a part a store already holds does not fit the cut of `size` into
 * `count` parts of `partSize`: resuming with another cut would join misaligned bytes.
 */
export function checkStoredParts(
  size: number,
  partSize: number,
  stored: readonly { partNumber: number; size: number }[],
): void {
  const count = Math.max(1, Math.ceil(size / partSize));
  for (const p of stored) {
    const expected =
      p.partNumber < count ? partSize : p.partNumber === count ? size - (count - 1) * partSize : null;
    if (expected === null || p.size !== expected) {
      throw new MultipartPartError(
        `part ${p.partNumber} holds ${p.size} bytes, but ${size} bytes cut into ${partSize}-byte parts ` +
          `${expected === null ? `have only ${count} parts` : `make it ${expected}`}: resume with the size and partSize the upload was started with, or abort it`,
        p.partNumber,
      );
    }
  }
}

/**
 * `parts` sorted by part number, as a completion sends them. Throws RangeError when the list is empty or a
 * number is outside 1..10,000, MultipartPartError when a number appears twice.
 */
export function sortCompletedParts(parts: readonly CompletedPart[]): CompletedPart[] {
  if (parts.length === 0) throw new RangeError("a multipart upload needs at least one part");
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  for (const [i, p] of sorted.entries()) {
    if (!Number.isInteger(p.partNumber) || p.partNumber < 1 || p.partNumber > MULTIPART_MAX_PARTS) {
      throw new RangeError(`part numbers go from 1 to ${MULTIPART_MAX_PARTS}, got ${p.partNumber}`);
    }
    if (i > 0 && sorted[i - 1]!.partNumber === p.partNumber) {
      throw new MultipartPartError(`part ${p.partNumber} is listed twice`, p.partNumber);
    }
  }
  return sorted;
}

export class ObjectNotFoundError extends Error {
  override name = "ObjectNotFoundError";
  constructor(readonly key: string) {
    super(`object not found: ${key}`);
  }
}

/** A key docfleet may use: path segments of letters, digits, `.`, `_` and `-`, none of them `.` or `..`. */
const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

export class InvalidObjectKeyError extends Error {
  override name = "InvalidObjectKeyError";
  constructor(readonly key: string) {
    super(`invalid object key: ${JSON.stringify(key)}`);
  }
}

/**
 * The Content-Disposition of a download named `fileName`, the same for every adapter: an attachment
 * named by the name's last segment (a name is a label, never a path), percent-encoded as RFC 8187
 * wants, so no quote, semicolon or line break of a name can reach the header.
 */
export function attachmentDisposition(fileName: string): string {
  const base = fileName.split(/[/\\]/).findLast((s) => s !== "") ?? "download";
  const encoded = encodeURIComponent(base.replace(/\p{Cs}/gu, "\ufffd")).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename*=UTF-8''${encoded}`;
}

/** Every adapter applies the same key rule, so a key valid for one is valid for all. */
export function assertObjectKey(key: string): void {
  if (!KEY_RE.test(key) || key.split("/").some((p) => p === "." || p === ".."))
    throw new InvalidObjectKeyError(key);
}

/** Checks a prefix for `list`/`deletePrefix`: a valid key followed by "/" (RangeError otherwise). */
export function assertObjectPrefix(prefix: string): void {
  if (!prefix.endsWith("/") || prefix.length < 2)
    throw new RangeError(`invalid object prefix: ${JSON.stringify(prefix)}`);
  try {
    assertObjectKey(prefix.slice(0, -1));
  } catch {
    throw new RangeError(`invalid object prefix: ${JSON.stringify(prefix)}`);
  }
}
