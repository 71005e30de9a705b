import type { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { Client } from "minio";
import {
  assertObjectKey,
  attachmentDisposition,
  type CompletedPart,
  checkStoredParts,
  MultipartPartError,
  type MultipartUpload,
  MultipartUploadNotFoundError,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  planMultipartParts,
  sortCompletedParts,
  type UploadTarget,
} from "../../ports/object-store.ts";

export interface S3ObjectStoreOptions {
  /** The S3 endpoint this process talks to, e.g. http://127.0.0.1:9000 (no path). */
  endPoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Default "us-east-1". Set explicitly, so that signing never asks the server for the bucket's region. */
  region?: string;
  /**
   * The endpoint clients reach, when it differs from `endPoint` (a container-internal name, a proxy).
   * Signed URLs are signed for this host: a V4 signature covers the Host header.
   */
  publicUrl?: string;
  /** Path-style URLs (`<endpoint>/<bucket>/<key>`) rather than virtual hosts. Default true. */
  pathStyle?: boolean;
}

/** S3 refuses presigned URLs valid for longer than 7 days. */
const MAX_TTL_SECONDS = 7 * 24 * 3600;

/** minio's client with its ListParts request (protected in minio: it uses it to resume `putObject`). */
class S3Client extends Client {
  uploadedParts(bucket: string, key: string, uploadId: string) {
    return this.listParts(bucket, key, uploadId);
  }
}

/**
 * Objects in an S3-compatible bucket (MinIO, AWS S3). Clients upload with a presigned POST policy that
 * binds the exact key, a content-length range and an expiry; the store itself enforces them.
 */
export class S3ObjectStore implements ObjectStore {
  /** Talks to the store. */
  private readonly client: S3Client;
  /** Signs URLs for the public endpoint; never sends a request (its region is fixed). */
  private readonly signer: Client;
  private readonly bucket: string;
  private readonly region: string;

  constructor(opts: S3ObjectStoreOptions) {
    this.bucket = opts.bucket;
    this.region = opts.region ?? "us-east-1";
    const common = {
      accessKey: opts.accessKey,
      secretKey: opts.secretKey,
      region: this.region,
      pathStyle: opts.pathStyle ?? true,
    };
    this.client = new S3Client({ ...endpointOptions(opts.endPoint), ...common });
    this.signer = opts.publicUrl
      ? new Client({ ...endpointOptions(opts.publicUrl), ...common })
      : this.client;
  }

  async setup(): Promise<void> {
    if (await this.client.bucketExists(this.bucket)) return;
    try {
      await this.client.makeBucket(this.bucket, this.region);
    } catch (err) {
      // Another process may have created it between the check and the create.
      const code = errorCode(err);
      if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") throw err;
      if (!(await this.client.bucketExists(this.bucket))) throw err;
    }
  }

  async createUploadTarget(
    key: string,
    opts: { maxSize: number; ttlSeconds: number },
  ): Promise<UploadTarget> {
    assertObjectKey(key);
    checkTtl(opts.ttlSeconds);
    if (!Number.isSafeInteger(opts.maxSize) || opts.maxSize < 0) {
      throw new RangeError(`maxSize must be a non-negative integer, got ${opts.maxSize}`);
    }
    const expiresAt = new Date(Date.now() + opts.ttlSeconds * 1000);
    const policy = this.signer.newPostPolicy();
    policy.setBucket(this.bucket);
    policy.setKey(key); // exact key: ["eq", "$key", key], never a prefix
    policy.setContentLengthRange(0, opts.maxSize);
    policy.setExpires(expiresAt);
    const { postURL, formData } = await this.signer.presignedPostPolicy(policy);
    // Insertion order is the order S3 wants: the policy fields, all before the file.
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(formData)) fields[name] = String(value);
    return { url: postURL, fields, expiresAt };
  }

  async createDownloadUrl(key: string, opts: { ttlSeconds: number; fileName?: string }): Promise<string> {
    assertObjectKey(key);
    checkTtl(opts.ttlSeconds);
    const headers: Record<string, string> = {};
    if (opts.fileName) {
      headers["response-content-disposition"] = attachmentDisposition(opts.fileName);
    }
    return this.signer.presignedGetObject(this.bucket, key, opts.ttlSeconds, headers);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    assertObjectKey(key);
    try {
      const s = await this.client.statObject(this.bucket, key);
      return { size: s.size };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async get(key: string): Promise<Buffer> {
    return buffer(await this.getStream(key));
  }

  async getStream(key: string): Promise<Readable> {
    assertObjectKey(key);
    try {
      // The HTTP response body itself: nothing is buffered.
      return await this.client.getObject(this.bucket, key);
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key);
      throw err;
    }
  }

  async put(key: string, body: Buffer | string, contentType?: string): Promise<void> {
    assertObjectKey(key);
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    // Atomic on S3: a single PUT, or for large bodies minio's multipart upload, shows up only when whole.
    await this.client.putObject(
      this.bucket,
      key,
      bytes,
      bytes.length,
      contentType ? { "Content-Type": contentType } : {},
    );
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    try {
      await this.client.removeObject(this.bucket, key);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async createMultipartUpload(
    key: string,
    opts: { size: number; partSize: number; ttlSeconds: number },
  ): Promise<MultipartUpload> {
    assertObjectKey(key);
    checkTtl(opts.ttlSeconds);
    const count = planMultipartParts(opts.size, opts.partSize);
    const uploadId = await this.client.initiateNewMultipartUpload(this.bucket, key, {});
    return this.signParts(key, uploadId, count, opts.ttlSeconds);
  }

  async signMultipartParts(
    key: string,
    uploadId: string,
    opts: { size: number; partSize: number; ttlSeconds: number },
  ): Promise<MultipartUpload> {
    assertObjectKey(key);
    checkTtl(opts.ttlSeconds);
    const count = planMultipartParts(opts.size, opts.partSize);
    if (!uploadId) throw new MultipartUploadNotFoundError(key, uploadId);
    let stored: { part: number; size: number }[];
    try {
      // S3 answers NoSuchUpload for an upload completed, aborted, unknown or started for another key.
      stored = await this.client.uploadedParts(this.bucket, key, uploadId);
    } catch (err) {
      if (errorCode(err) === "NoSuchUpload") throw new MultipartUploadNotFoundError(key, uploadId);
      throw err;
    }
    checkStoredParts(
      opts.size,
      opts.partSize,
      stored.map((p) => ({ partNumber: p.part, size: p.size })),
    );
    return this.signParts(key, uploadId, count, opts.ttlSeconds);
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: readonly CompletedPart[],
  ): Promise<void> {
    assertObjectKey(key);
    const sorted = sortCompletedParts(parts);
    if (!uploadId) throw new MultipartUploadNotFoundError(key, uploadId);
    try {
      await this.client.completeMultipartUpload(
        this.bucket,
        key,
        uploadId,
        sorted.map((p) => ({ part: p.partNumber, etag: p.etag })),
      );
    } catch (err) {
      const code = errorCode(err);
      if (code === "NoSuchUpload") throw new MultipartUploadNotFoundError(key, uploadId);
      if (code === "InvalidPart" || code === "InvalidPartOrder" || code === "EntityTooSmall") {
        const n = Number((err as { partnumber?: unknown }).partnumber);
        throw new MultipartPartError(
          `${code}: ${(err as Error).message}`,
          Number.isInteger(n) ? n : undefined,
        );
      }
      throw err;
    }
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    assertObjectKey(key);
    if (!uploadId) return;
    try {
      await this.client.abortMultipartUpload(this.bucket, key, uploadId);
    } catch (err) {
      if (errorCode(err) !== "NoSuchUpload") throw err;
    }
  }

  /** Presigned UploadPart URLs; signing sends no request. */
  private async signParts(
    key: string,
    uploadId: string,
    count: number,
    ttlSeconds: number,
  ): Promise<MultipartUpload> {
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    const parts: MultipartUpload["parts"] = [];
    for (let partNumber = 1; partNumber <= count; partNumber++) {
      const url = await this.signer.presignedUrl("PUT", this.bucket, key, ttlSeconds, {
        partNumber: String(partNumber),
        uploadId,
      });
      parts.push({ partNumber, url });
    }
    return { uploadId, parts, expiresAt };
  }
}

/** minio's connection options from a URL; minio takes host, port and TLS apart. */
function endpointOptions(url: string): { endPoint: string; port: number; useSSL: boolean } {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new Error(`S3 endpoint must be an http(s) URL, got ${JSON.stringify(url)}`);
  }
  if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.username) {
    throw new Error(`S3 endpoint must have no path, query or credentials: ${JSON.stringify(url)}`);
  }
  const useSSL = u.protocol === "https:";
  return {
    endPoint: u.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: u.port ? Number(u.port) : useSSL ? 443 : 80,
    useSSL,
  };
}

function checkTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new RangeError(`ttlSeconds must be an integer from 1 to ${MAX_TTL_SECONDS}, got ${ttlSeconds}`);
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * The object is absent: NoSuchKey from requests with an error body, NotFound from HEAD (no body, so S3
 * cannot say which of key or bucket is missing). NoSuchBucket and everything else propagate.
 */
function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === "NoSuchKey" || code === "NotFound";
}
