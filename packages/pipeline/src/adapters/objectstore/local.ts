import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join, resolve, sep } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import {
  assertObjectKey,
  attachmentDisposition,
  type CompletedPart,
  checkStoredParts,
  checkUploadSizes,
  MULTIPART_MAX_PART_SIZE,
  MULTIPART_MIN_PART_SIZE,
  MultipartPartError,
  type MultipartUpload,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  type ObjectStore,
  planMultipartParts,
  sortCompletedParts,
  type UploadTarget,
  type UploadTargetOptions,
} from "../../ports/object-store.ts";

export interface LocalObjectStoreOptions {
  /** Folder holding the objects. */
  root: string;
  /** Base URL clients reach the gateway at, e.g. http://127.0.0.1:4000; signed URLs point there. */
  publicUrl: string;
  /** HMAC key for signed URLs. */
  secret: string;
}

export class SignatureError extends Error {
  override name = "SignatureError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Upload ids are 128 random bits in hex; anything else is no upload of this store. */
const UPLOAD_ID_RE = /^[0-9a-f]{32}$/;
const PART_ROUTE = /^\/objects\/multipart\/([^/]+)\/([^/]+)$/;

/** What a multipart upload's folder records about it (`meta.json`). */
interface UploadMeta {
  key: string;
  size: number;
  partSize: number;
  createdAt: string;
}

/**
 * Objects in a local folder. Upload and download URLs are HMAC-signed and served by the gateway
 * itself (`handleHttp`), which checks the exact key, the expiry and the maximum size, as S3's presigned
 * POST policy does. Multipart uploads keep their parts in `.multipart/<uploadId>/` (with `meta.json`
 * naming the key) until completed or aborted; `.tmp/` holds bytes being written, renamed into place
 * only when whole. Neither can clash with a key: key segments start with a letter or digit.
 */
export class LocalObjectStore implements ObjectStore {
  constructor(private readonly opts: LocalObjectStoreOptions) {}

  async setup(): Promise<void> {
    await mkdir(this.opts.root, { recursive: true });
    await mkdir(join(this.opts.root, ".tmp"), { recursive: true });
    await mkdir(join(this.opts.root, ".multipart"), { recursive: true });
  }

  async createUploadTarget(key: string, opts: UploadTargetOptions): Promise<UploadTarget> {
    this.path(key);
    const { minSize, maxSize } = checkUploadSizes(opts);
    const expires = Math.floor(Date.now() / 1000) + opts.ttlSeconds;
    const fields: Record<string, string> = { key, expires: String(expires), maxSize: String(maxSize) };
    if (minSize > 0) fields.minSize = String(minSize);
    if (opts.contentType !== undefined) fields["Content-Type"] = opts.contentType;
    fields.signature = this.sign(uploadPayload(fields));
    return { url: `${this.opts.publicUrl}/objects/upload`, fields, expiresAt: new Date(expires * 1000) };
  }

  async createDownloadUrl(key: string, opts: { ttlSeconds: number; fileName?: string }): Promise<string> {
    this.path(key);
    const expires = Math.floor(Date.now() / 1000) + opts.ttlSeconds;
    const q = new URLSearchParams({
      expires: String(expires),
      // The name is signed too: a holder of the URL cannot make the download pose as another file.
      signature: this.sign(`get\n${key}\n${expires}\n${opts.fileName ?? ""}`),
    });
    if (opts.fileName) q.set("name", opts.fileName);
    return `${this.opts.publicUrl}/objects/${key.split("/").map(encodeURIComponent).join("/")}?${q}`;
  }

  async stat(key: string) {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new ObjectNotFoundError(key);
      throw err;
    }
  }

  async getStream(key: string): Promise<Readable> {
    if (!(await this.stat(key))) throw new ObjectNotFoundError(key);
    return createReadStream(this.path(key));
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    const target = this.path(key);
    const tmp = this.tmpPath();
    await writeFile(tmp, body);
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async createMultipartUpload(
    key: string,
    opts: { size: number; partSize: number; ttlSeconds: number },
  ): Promise<MultipartUpload> {
    this.path(key);
    const count = planMultipartParts(opts.size, opts.partSize);
    const uploadId = randomBytes(16).toString("hex");
    // The folder appears with its meta.json or not at all.
    const tmp = this.tmpPath();
    await mkdir(tmp);
    const meta: UploadMeta = {
      key,
      size: opts.size,
      partSize: opts.partSize,
      createdAt: new Date().toISOString(),
    };
    await writeFile(join(tmp, "meta.json"), JSON.stringify(meta));
    await rename(tmp, this.uploadDir(uploadId));
    return this.signParts(key, uploadId, count, opts.ttlSeconds);
  }

  async signMultipartParts(
    key: string,
    uploadId: string,
    opts: { size: number; partSize: number; ttlSeconds: number },
  ): Promise<MultipartUpload> {
    this.path(key);
    const count = planMultipartParts(opts.size, opts.partSize);
    if (!(await this.uploadMeta(key, uploadId))) throw new MultipartUploadNotFoundError(key, uploadId);
    checkStoredParts(opts.size, opts.partSize, await this.storedParts(key, uploadId));
    return this.signParts(key, uploadId, count, opts.ttlSeconds);
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: readonly CompletedPart[],
  ): Promise<void> {
    const target = this.path(key);
    const sorted = sortCompletedParts(parts);
    if (!(await this.uploadMeta(key, uploadId))) throw new MultipartUploadNotFoundError(key, uploadId);
    // Every listed part present and, but the last, at least 5 MiB (as S3 requires) before reading any.
    const sizes = new Map((await this.storedParts(key, uploadId)).map((p) => [p.partNumber, p.size]));
    for (const [i, p] of sorted.entries()) {
      const size = sizes.get(p.partNumber);
      if (size === undefined)
        throw new MultipartPartError(`part ${p.partNumber} was not uploaded`, p.partNumber);
      if (i < sorted.length - 1 && size < MULTIPART_MIN_PART_SIZE) {
        throw new MultipartPartError(
          `part ${p.partNumber} has ${size} bytes: every part but the last needs at least ${MULTIPART_MIN_PART_SIZE}`,
          p.partNumber,
        );
      }
    }
    // One pass: each part is hashed while it is copied, the object renamed into place only when all match.
    const partPath = (n: number) => this.partPath(uploadId, n);
    const tmp = this.tmpPath();
    try {
      await pipeline(async function* () {
        for (const p of sorted) {
          const md5 = createHash("md5");
          for await (const chunk of createReadStream(partPath(p.partNumber))) {
            md5.update(chunk as Buffer);
            yield chunk as Buffer;
          }
          const etag = md5.digest("hex");
          if (etag !== p.etag.replace(/"/g, "").toLowerCase()) {
            throw new MultipartPartError(
              `part ${p.partNumber} has ETag "${etag}", not ${JSON.stringify(p.etag)}`,
              p.partNumber,
            );
          }
        }
      }, createWriteStream(tmp));
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      // A part vanished while being read: the upload was aborted or completed meanwhile.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && !(await this.uploadMeta(key, uploadId)))
        throw new MultipartUploadNotFoundError(key, uploadId);
      throw err;
    }
    await rm(this.uploadDir(uploadId), { recursive: true, force: true, maxRetries: 3 });
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    this.path(key);
    if (!(await this.uploadMeta(key, uploadId))) return;
    await rm(this.uploadDir(uploadId), { recursive: true, force: true, maxRetries: 3 });
  }

  /**
   * Serves `POST /objects/upload` (multipart form: key, expires, maxSize, signature, then file),
   * `PUT /objects/multipart/<uploadId>/<partNumber>?key&expires&signature` (one part's bytes; answers
   * its `ETag` as S3 does) and `GET /objects/<key>?expires&signature`. Returns false when the request
   * is not for it.
   */
  async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://local");
    if (!url.pathname.startsWith("/objects/")) return false;
    try {
      if (req.method === "POST" && url.pathname === "/objects/upload") {
        await this.receiveUpload(req);
        res.writeHead(204).end();
      } else if (req.method === "PUT") {
        const route = PART_ROUTE.exec(url.pathname);
        if (!route) throw new SignatureError("not found", 404);
        const etag = await this.receivePart(req, url.searchParams, route[1]!, route[2]!);
        res.writeHead(200, { etag: `"${etag}"`, "content-length": 0 }).end();
      } else if (req.method === "GET" || req.method === "HEAD") {
        const key = decodeKey(url.pathname.slice("/objects/".length));
        const name = url.searchParams.get("name");
        this.verify(`get\n${key}\n${url.searchParams.get("expires")}\n${name ?? ""}`, url.searchParams);
        const info = await this.stat(key);
        if (!info) throw new SignatureError("no such object", 404);
        res.writeHead(200, {
          "content-length": info.size,
          "content-type": "application/octet-stream",
          ...(name ? { "content-disposition": attachmentDisposition(name) } : {}),
        });
        if (req.method === "HEAD") res.end();
        else await pipeline(createReadStream(this.path(key)), res);
      } else {
        throw new SignatureError("method not allowed", 405);
      }
    } catch (err) {
      const status = err instanceof SignatureError ? err.status : 500;
      if (!res.headersSent) {
        res.writeHead(status, { "content-type": "application/json", connection: "close" });
        res.end(JSON.stringify({ error: status === 500 ? "internal error" : (err as Error).message }));
      } else {
        res.destroy();
      }
      if (status === 500) throw err;
    }
    return true;
  }

  private async receiveUpload(req: IncomingMessage): Promise<void> {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 10, fieldSize: 4096 } });
    } catch {
      throw new SignatureError("expected a multipart/form-data body", 400);
    }
    const fields = new Map<string, string>();
    const tmp = this.tmpPath();
    let file: Promise<string> | undefined;
    bb.on("field", (name, value) => fields.set(name, value));
    bb.on("file", (_name, stream) => {
      // The policy fields come before the file (as with S3's POST), so they are all known here.
      file = this.writeSignedFile(fields, stream, tmp);
      file.catch(() => stream.resume());
    });
    try {
      await pipeline(req, bb).catch((err) => {
        throw err instanceof SignatureError
          ? err
          : new SignatureError(`bad multipart body: ${err.message}`, 400);
      });
      if (!file) throw new SignatureError("the form has no file field", 400);
      const target = this.path(await file);
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (err) {
      await file?.catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }

  private async writeSignedFile(fields: Map<string, string>, stream: Readable, tmp: string): Promise<string> {
    const key = fields.get("key") ?? "";
    const maxSize = Number(fields.get("maxSize"));
    const minSize = Number(fields.get("minSize") ?? 0);
    // Every condition is in the signed payload: a form that drops or changes one fails the signature.
    this.verify(uploadPayload(Object.fromEntries(fields)), fields);
    this.path(key);
    let size = 0;
    // Past the maximum the rest is read and dropped, and the refusal comes at the end: failing mid-way
    // would destroy the form's file stream, stall busboy and the request with it, and the client would
    // wait for an answer for ever.
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        cb(null, size > maxSize ? undefined : chunk);
      },
      flush(cb) {
        cb(
          size > maxSize
            ? new SignatureError(`file exceeds the signed maximum of ${maxSize} bytes`, 413)
            : size < minSize
              ? new SignatureError(`file is under the signed minimum of ${minSize} bytes`, 400)
              : null,
        );
      },
    });
    await pipeline(stream, limit, createWriteStream(tmp));
    return key;
  }

  /** Streams one part to a temporary file, then renames it over any earlier PUT of the same part. */
  private async receivePart(
    req: IncomingMessage,
    q: URLSearchParams,
    uploadId: string,
    partNumber: string,
  ): Promise<string> {
    const key = q.get("key") ?? "";
    this.verify(`part\n${key}\n${uploadId}\n${partNumber}\n${q.get("expires")}`, q);
    if (!(await this.uploadMeta(key, uploadId))) throw new SignatureError("no such upload", 404);
    if (Number(req.headers["content-length"]) > MULTIPART_MAX_PART_SIZE) {
      throw new SignatureError(`a part holds at most ${MULTIPART_MAX_PART_SIZE} bytes`, 413);
    }
    const md5 = createHash("md5");
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        md5.update(chunk);
        if (size > MULTIPART_MAX_PART_SIZE)
          cb(new SignatureError(`a part holds at most ${MULTIPART_MAX_PART_SIZE} bytes`, 413));
        else cb(null, chunk);
      },
    });
    const tmp = this.tmpPath();
    try {
      await pipeline(req, count, createWriteStream(tmp));
      await rename(tmp, this.partPath(uploadId, Number(partNumber)));
    } catch (err) {
      await rm(tmp, { force: true });
      // The upload's folder went away while the part arrived: aborted or completed.
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new SignatureError("no such upload", 404);
      throw err;
    }
    return md5.digest("hex");
  }

  private signParts(key: string, uploadId: string, count: number, ttlSeconds: number): MultipartUpload {
    const expires = Math.floor(Date.now() / 1000) + ttlSeconds;
    const parts: MultipartUpload["parts"] = [];
    for (let partNumber = 1; partNumber <= count; partNumber++) {
      const q = new URLSearchParams({
        key,
        expires: String(expires),
        signature: this.sign(`part\n${key}\n${uploadId}\n${partNumber}\n${expires}`),
      });
      parts.push({
        partNumber,
        url: `${this.opts.publicUrl}/objects/multipart/${uploadId}/${partNumber}?${q}`,
      });
    }
    return { uploadId, parts, expiresAt: new Date(expires * 1000) };
  }

  /** The upload's record, or null when there is none for this key (any upload id is taken as input). */
  private async uploadMeta(key: string, uploadId: string): Promise<UploadMeta | null> {
    if (!UPLOAD_ID_RE.test(uploadId)) return null;
    try {
      const meta = JSON.parse(
        await readFile(join(this.uploadDir(uploadId), "meta.json"), "utf8"),
      ) as UploadMeta;
      return meta.key === key ? meta : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  /** The parts uploaded so far, with their sizes; MultipartUploadNotFoundError when the upload went away. */
  private async storedParts(key: string, uploadId: string): Promise<{ partNumber: number; size: number }[]> {
    const dir = this.uploadDir(uploadId);
    try {
      const names = (await readdir(dir)).filter((n) => /^[1-9][0-9]*$/.test(n));
      return await Promise.all(
        names.map(async (n) => ({ partNumber: Number(n), size: (await stat(join(dir, n))).size })),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        throw new MultipartUploadNotFoundError(key, uploadId);
      throw err;
    }
  }

  private uploadDir(uploadId: string): string {
    if (!UPLOAD_ID_RE.test(uploadId)) throw new SignatureError("invalid upload id", 400);
    return join(this.opts.root, ".multipart", uploadId);
  }

  private partPath(uploadId: string, partNumber: number): string {
    return join(this.uploadDir(uploadId), String(partNumber));
  }

  private verify(payload: string, params: { get(name: string): string | null | undefined }): void {
    const expires = Number(params.get("expires"));
    const signature = params.get("signature") ?? "";
    if (!Number.isFinite(expires) || !signature) throw new SignatureError("missing signature", 403);
    const expected = Buffer.from(this.sign(payload));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new SignatureError("invalid signature", 403);
    }
    if (expires * 1000 < Date.now()) throw new SignatureError("signature expired", 403);
  }

  private sign(payload: string): string {
    return createHmac("sha256", this.opts.secret).update(payload).digest("base64url");
  }

  /** The file path of a key; rejects anything that could leave the root. */
  private path(key: string): string {
    try {
      assertObjectKey(key);
    } catch (err) {
      throw new SignatureError((err as Error).message, 400);
    }
    const root = resolve(this.opts.root);
    const p = resolve(root, key);
    if (!p.startsWith(root + sep)) throw new SignatureError("invalid object key", 400);
    return p;
  }

  private tmpPath(): string {
    return join(this.opts.root, ".tmp", `${Date.now()}-${randomBytes(8).toString("hex")}`);
  }
}

/**
 * What an upload form's signature covers. The minimum and the content type are appended only when set,
 * so targets signed before they existed still verify; a form cannot drop one (the payload changes).
 */
function uploadPayload(f: Record<string, string | undefined>): string {
  let payload = `upload\n${f.key ?? ""}\n${f.expires ?? ""}\n${f.maxSize ?? ""}`;
  if (f.minSize !== undefined || f["Content-Type"] !== undefined)
    payload += `\n${f.minSize ?? "0"}\n${f["Content-Type"] ?? ""}`;
  return payload;
}

/** A key from a URL path; malformed percent-encoding is the client's error (400), not ours. */
function decodeKey(path: string): string {
  try {
    return path.split("/").map(decodeURIComponent).join("/");
  } catch {
    throw new SignatureError("malformed object key", 400);
  }
}
