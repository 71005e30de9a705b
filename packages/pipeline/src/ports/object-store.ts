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
}

export class ObjectNotFoundError extends Error {
  override name = "ObjectNotFoundError";
  constructor(readonly key: string) {
    super(`object not found: ${key}`);
  }
}
