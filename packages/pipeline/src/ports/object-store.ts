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

export interface ObjectInfo {
  size: number;
}

/**
 * Object storage for uploads and artifacts. Keys are opaque strings chosen by docfleet
 * (`<tenant>/<document>/...`), never derived from file names.
 */
export interface ObjectStore {
  /** Prepares storage (bucket, folder). Idempotent. */
  setup(): Promise<void>;
  /**
   * A signed upload target for exactly `key`, accepting at most `maxSize` bytes, valid for `ttlSeconds`.
   * The store enforces key, size and expiry itself; the gateway never sees the bytes (distributed).
   */
  createUploadTarget(key: string, opts: { maxSize: number; ttlSeconds: number }): Promise<UploadTarget>;
  /** A signed URL that lets the holder GET `key` until it expires. */
  createDownloadUrl(key: string, opts: { ttlSeconds: number; fileName?: string }): Promise<string>;
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

  // Large uploads: optional, an adapter without them answers single-POST targets only.

  /**
   * Starts a multipart upload of `size` bytes to exactly `key`, cut into parts of `partSize` bytes (the
   * last one shorter), and answers one signed PUT URL per part, valid for `ttlSeconds`. The client PUTs
   * each part's bytes to its URL (in any order, in parallel, retrying a part as often as needed), keeps
   * the `ETag` response header of each, and hands them to `completeMultipartUpload`. The URLs do not
   * bind a part's size: the object's final size must be checked (`stat`) after completion.
   * Throws RangeError when `partSize` is below the store's minimum (5 MiB on S3, except for a single
   * part) or the upload needs more parts than the store allows (10,000 on S3).
   */
  createMultipartUpload?(
    key: string,
    opts: { size: number; partSize: number; ttlSeconds: number },
  ): Promise<MultipartUpload>;
  /**
   * Joins the uploaded parts, in `partNumber` order, into the object at `key` and ends the upload; the
   * object appears whole or not at all. Throws when a part is missing, its ETag does not match, or the
   * upload was completed or aborted already (not idempotent: check `stat` before retrying).
   */
  completeMultipartUpload?(
    key: string,
    uploadId: string,
    parts: { partNumber: number; etag: string }[],
  ): Promise<void>;
  /**
   * Abandons an unfinished upload and frees the parts stored so far; its URLs stop working. Idempotent:
   * no error when the upload is already gone (completed, aborted or unknown).
   */
  abortMultipartUpload?(key: string, uploadId: string): Promise<void>;
}

/** A started multipart upload: where each part goes. */
export interface MultipartUpload {
  /** The store's id of the upload, for completing or aborting it. */
  uploadId: string;
  /** One signed PUT URL per part, `partNumber` 1..n in order. */
  parts: { partNumber: number; url: string }[];
  /** When the part URLs stop being accepted. */
  expiresAt: Date;
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

/** Every adapter applies the same key rule, so a key valid for one is valid for all. */
export function assertObjectKey(key: string): void {
  if (!KEY_RE.test(key) || key.split("/").some((p) => p === "." || p === ".."))
    throw new InvalidObjectKeyError(key);
}
