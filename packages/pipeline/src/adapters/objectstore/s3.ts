import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { Client, type ClientOptions } from "minio";
import {
  assertObjectKey,
  assertObjectPrefix,
  type CompletedPart,
  checkCeiling,
  checkStoredParts,
  checkUploadSizes,
  type DownloadUrlOptions,
  downloadDisposition,
  isInlineSafe,
  MultipartPartError,
  type MultipartUpload,
  MultipartUploadNotFoundError,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
  planMultipartParts,
  sortCompletedParts,
  type UploadTarget,
  type UploadTargetOptions,
} from "../../ports/object-store.ts";
import { S3CredentialChain, type S3CredentialChainOptions } from "./s3-credentials.ts";

export interface S3ObjectStoreOptions {
  /** The S3 endpoint this process talks to, e.g. http://127.0.0.1:9000 (no path). */
  endPoint: string;
  /**
   * Static keys (S3_ACCESS_KEY / S3_SECRET_KEY): both or neither. Without them the credentials come from
   * `credentials`: the environment, a shared credentials file or the instance role (s3-credentials.ts).
   */
  accessKey?: string;
  secretKey?: string;
  /** Where to look for credentials when no static keys are given. */
  credentials?: S3CredentialChainOptions;
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
  /**
   * Browser origins allowed to upload to and download from the bucket directly (S3_CORS_ORIGINS):
   * `setup()` puts them in the bucket's CORS configuration (PutBucketCors). Empty or absent: `setup()`
   * leaves the bucket's CORS configuration alone (on AWS, Terraform owns it).
   */
  corsOrigins?: readonly string[];
  /** No target or multipart upload is signed for more (DOCFLEET_MAX_UPLOAD_BYTES): RangeError. */
  maxUploadBytes?: number;
}

/** S3's DeleteObjects takes at most 1,000 keys. */
const DELETE_BATCH = 1000;
/** How long a promoted upload key waits for others to share its DeleteObjects. */
const DELETE_WAIT_MS = 5;

/** S3 refuses presigned URLs valid for longer than 7 days. */
const MAX_TTL_SECONDS = 7 * 24 * 3600;

/** minio's client with its ListParts request (protected in minio: it uses it to resume `putObject`). */
class S3Client extends Client {
  uploadedParts(bucket: string, key: string, uploadId: string) {
    return this.listParts(bucket, key, uploadId);
  }
}

/**
 * Objects in an S3-compatible bucket (AWS S3, Ceph radosgw, MinIO). Clients upload with a presigned POST
 * policy that binds the exact key, a content-length range, optionally the content type, and an expiry;
 * the store itself enforces them.
 */
export class S3ObjectStore implements ObjectStore {
  /** Talks to the store. */
  private readonly client: S3Client;
  /** Signs URLs for the public endpoint; never sends an S3 request (its region is fixed). */
  private readonly signer: Client;
  private readonly bucket: string;
  private readonly region: string;
  private readonly corsOrigins: readonly string[];
  private readonly maxUploadBytes: number | undefined;
  /** The POST policy holds each upload's size (ObjectStore.uploadSizesHeld): no HEAD before a promotion. */
  readonly uploadSizesHeld = true;

  constructor(opts: S3ObjectStoreOptions) {
    this.bucket = opts.bucket;
    this.maxUploadBytes = opts.maxUploadBytes;
    this.region = opts.region ?? "us-east-1";
    this.corsOrigins = opts.corsOrigins ?? [];
    if (Boolean(opts.accessKey) !== Boolean(opts.secretKey)) {
      throw new Error("S3 credentials: give both the access key and the secret key, or neither");
    }
    const common = {
      ...(opts.accessKey && opts.secretKey
        ? { accessKey: opts.accessKey, secretKey: opts.secretKey }
        : {
            // One chain for both clients: they share what it resolved and when it renews. The cast
            // bridges minio's two type declarations (dist/main for "minio", dist/esm for the class).
            credentialsProvider: new S3CredentialChain(
              opts.credentials,
            ) as unknown as ClientOptions["credentialsProvider"],
          }),
      region: this.region,
      pathStyle: opts.pathStyle ?? true,
    };
    this.client = new S3Client({ ...endpointOptions(opts.endPoint), ...common });
    this.signer = opts.publicUrl
      ? new Client({ ...endpointOptions(opts.publicUrl), ...common })
      : this.client;
  }

  async setup(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (err) {
        // Another process may have created it between the check and the create.
        const code = errorCode(err);
        if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") throw err;
        if (!(await this.client.bucketExists(this.bucket))) throw err;
      }
    }
    if (this.corsOrigins.length > 0) await this.putCors();
  }

  /**
   * The bucket's CORS rule for browsers uploading straight to it (presigned POST, part PUTs, whose ETag
   * the page must read) and downloading from it; the same rule as Terraform's storage module. minio-js
   * has no PutBucketCors, so it is sent through the client's signed request (S3 wants Content-MD5).
   */
  private async putCors(): Promise<void> {
    const xml = corsConfiguration(this.corsOrigins);
    try {
      const res = await this.client.makeRequestAsync(
        {
          method: "PUT",
          bucketName: this.bucket,
          query: "cors",
          headers: { "Content-MD5": createHash("md5").update(xml).digest("base64") },
        },
        xml,
        [200],
      );
      res.resume();
    } catch (err) {
      if (errorCode(err) === "NotImplemented") {
        throw new Error(
          `the S3 server does not implement bucket CORS (PutBucketCors), so S3_CORS_ORIGINS cannot be applied to ${this.bucket}: ` +
            "configure CORS on the server instead (MinIO: MINIO_API_CORS_ALLOW_ORIGIN) and unset S3_CORS_ORIGINS",
          { cause: err },
        );
      }
      throw err;
    }
  }

  async createUploadTarget(key: string, opts: UploadTargetOptions): Promise<UploadTarget> {
    assertObjectKey(key);
    checkTtl(opts.ttlSeconds);
    const { minSize, maxSize } = checkUploadSizes(opts, this.maxUploadBytes);
    const expiresAt = new Date(Date.now() + opts.ttlSeconds * 1000);
    const policy = this.signer.newPostPolicy();
    policy.setBucket(this.bucket);
    policy.setKey(key); // exact key: ["eq", "$key", key], never a prefix
    policy.setContentLengthRange(minSize, maxSize);
    // ["eq", "$Content-Type", type] and the form field; S3 stores the object with it
    if (opts.contentType !== undefined) policy.setContentType(opts.contentType);
    policy.setExpires(expiresAt);
    const { postURL, formData } = await this.signer.presignedPostPolicy(policy);
    // Insertion order is the order S3 wants: the policy fields, all before the file.
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(formData)) fields[name] = String(value);
    return { url: postURL, fields, expiresAt };
  }

  async createDownloadUrl(key: string, opts: DownloadUrlOptions): Promise<string> {
    assertObjectKey(key);
    checkTtl(opts.ttlSeconds);
    const headers: Record<string, string> = {};
    // S3 cannot add X-Content-Type-Options: the disposition and, for a preview, the type are fixed in
    // the signed URL (response-* overrides) from the type docfleet knows, whatever the object carries.
    const inline = !!opts.inline && isInlineSafe(opts.contentType);
    if (opts.fileName || opts.inline) headers["response-content-disposition"] = downloadDisposition(opts);
    if (inline && opts.contentType) headers["response-content-type"] = opts.contentType;
    return this.signer.presignedGetObject(this.bucket, key, opts.ttlSeconds, headers);
  }

  async promoteUpload(from: string, to: string): Promise<void> {
    assertObjectKey(from);
    assertObjectKey(to);
    // One CopyObject (S3 copies up to 5 GiB so; DOCFLEET_MAX_UPLOAD_BYTES is under 2 GiB), then the
    // upload key is removed. S3 cannot close a presigned POST: a later one lands at `from`, never read.
    try {
      await this.client.copyObject(this.bucket, to, `/${this.bucket}/${from}`);
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(from);
      throw err;
    }
    await this.deleteSoon(from);
  }

  /** Upload keys waiting for the next DeleteObjects, each with the promise of its promoteUpload. */
  private doomed: { key: string; done: (err?: Error) => void }[] = [];
  private doomedFlush: NodeJS.Timeout | undefined;

  /**
   * Deletes `key` in one DeleteObjects with the other keys promoted in the same few milliseconds
   * (completeUploads promotes up to 1,000 at once): one request for many instead of one each.
   * Resolves when its key is deleted (absent counts as deleted), rejects with S3's error for it.
   */
  private deleteSoon(key: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.doomed.push({ key, done: (err) => (err ? reject(err) : resolve()) });
      if (this.doomed.length >= DELETE_BATCH) this.flushDoomed();
      else this.doomedFlush ??= setTimeout(() => this.flushDoomed(), DELETE_WAIT_MS);
    });
  }

  private flushDoomed(): void {
    clearTimeout(this.doomedFlush);
    this.doomedFlush = undefined;
    const batch = this.doomed.splice(0, DELETE_BATCH);
    if (this.doomed.length > 0) this.doomedFlush = setTimeout(() => this.flushDoomed(), 0);
    if (batch.length === 0) return;
    this.client.removeObjects(this.bucket, [...new Set(batch.map((b) => b.key))]).then(
      (results) => {
        const failed = new Map<string, string>();
        for (const r of results ?? [])
          if (r?.Error?.Key && r.Error.Code !== "NoSuchKey")
            failed.set(r.Error.Key, `${r.Error.Code ?? "Error"}: ${r.Error.Message ?? ""}`);
        for (const b of batch) {
          const why = failed.get(b.key);
          b.done(why === undefined ? undefined : new Error(`deleting ${b.key}: ${why}`));
        }
      },
      (err: Error) => {
        for (const b of batch) b.done(err);
      },
    );
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

  async list(prefix: string): Promise<string[]> {
    assertObjectPrefix(prefix);
    const keys: string[] = [];
    for await (const item of this.client.listObjectsV2(this.bucket, prefix, true))
      if (item.name) keys.push(item.name);
    for await (const upload of this.client.listIncompleteUploads(this.bucket, prefix, true))
      if (upload.key) keys.push(upload.key);
    return keys.sort();
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertObjectPrefix(prefix);
    const uploads: string[] = [];
    for await (const upload of this.client.listIncompleteUploads(this.bucket, prefix, true))
      if (upload.key) uploads.push(upload.key);
    for (const key of new Set(uploads)) await this.client.removeIncompleteUpload(this.bucket, key);
    const keys: string[] = [];
    for await (const item of this.client.listObjectsV2(this.bucket, prefix, true))
      if (item.name) keys.push(item.name);
    // removeObjects batches by 1,000 (S3's DeleteObjects limit).
    if (keys.length > 0) await this.client.removeObjects(this.bucket, keys);
  }

  async createMultipartUpload(
    key: string,
    opts: { size: number; partSize: number; ttlSeconds: number; contentType?: string },
  ): Promise<MultipartUpload> {
    assertObjectKey(key);
    checkTtl(opts.ttlSeconds);
    const count = planMultipartParts(opts.size, opts.partSize);
    checkCeiling(opts.size, this.maxUploadBytes);
    const uploadId = await this.client.initiateNewMultipartUpload(
      this.bucket,
      key,
      opts.contentType ? { "Content-Type": opts.contentType } : {},
    );
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
    const stored = await this.storedParts(key, uploadId);
    if (!stored) throw new MultipartUploadNotFoundError(key, uploadId);
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
      // radosgw (Ceph 16) answers a completion of an upload it does not know with 500 InternalError
      // ("This multipart completion is already in progress"), which minio retries once and reports
      // without a code: ask whether the upload exists before calling it a failure.
      if ((await this.storedParts(key, uploadId).catch(() => undefined)) === null)
        throw new MultipartUploadNotFoundError(key, uploadId);
      throw err;
    }
  }

  /**
   * The parts S3 holds for the upload (ListParts), or null when it does not know the upload for this
   * key: S3 answers NoSuchUpload, radosgw NoSuchKey (the upload's record is missing), for an upload
   * completed, aborted, unknown or started for another key.
   */
  private async storedParts(key: string, uploadId: string): Promise<{ part: number; size: number }[] | null> {
    try {
      return await this.client.uploadedParts(this.bucket, key, uploadId);
    } catch (err) {
      const code = errorCode(err);
      if (code === "NoSuchUpload" || code === "NoSuchKey") return null;
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

/** The CORS configuration document for `origins` (validated by the config: no markup in them). */
export function corsConfiguration(origins: readonly string[]): string {
  const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return (
    '<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule>' +
    origins.map((o) => `<AllowedOrigin>${esc(o)}</AllowedOrigin>`).join("") +
    ["GET", "HEAD", "PUT", "POST"].map((m) => `<AllowedMethod>${m}</AllowedMethod>`).join("") +
    "<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3600</MaxAgeSeconds>" +
    "</CORSRule></CORSConfiguration>"
  );
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
