import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { basename, dirname, join, resolve, sep } from "node:path";
import type { Readable, Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import busboy from "busboy";
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
  /**
   * Origins whose pages may upload to and download from `/objects/*` (CORS): DOCFLEET_CORS_ORIGINS and
   * the public URL's origin. A page of the server's own origin needs none. Others get no CORS headers,
   * and their preflights 403.
   */
  corsOrigins?: readonly string[];
  /** No target or multipart upload is signed for more (DOCFLEET_MAX_UPLOAD_BYTES): RangeError. */
  maxUploadBytes?: number;
}

/** A refused request, answered as S3 does: the status and an XML `<Error>` with this code. */
export class SignatureError extends Error {
  override name = "SignatureError";
  constructor(
    message: string,
    readonly status: number,
    /** S3's error code for it (EntityTooLarge, AccessDenied, NoSuchUpload, ...). */
    readonly code = defaultCode(status),
  ) {
    super(message);
  }
}

function defaultCode(status: number): string {
  switch (status) {
    case 403:
      return "AccessDenied";
    case 404:
      return "NoSuchKey";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "UploadCompleted";
    case 413:
      return "EntityTooLarge";
    default:
      return status >= 500 ? "InternalError" : "InvalidArgument";
  }
}

/**
 * After refusing a request whose body is still coming, the bytes read and dropped (and the time
 * spent) before the connection closes: enough for the client to be reading the answer rather than
 * meeting a reset, far less than what it meant to send.
 */
const LINGER_BYTES = 1024 * 1024;
const LINGER_MS = 2000;
/** Upload targets for at most this many bytes are received in memory, then written with one call. */
const SMALL_UPLOAD_BYTES = 256 * 1024;
/** Form fields and boundaries around the file of an upload form: at most 10 fields of 4 KiB. */
const FORM_OVERHEAD_BYTES = 64 * 1024;

/** Upload ids are 128 random bits in hex; anything else is no upload of this store. */
const UPLOAD_ID_RE = /^[0-9a-f]{32}$/;
const PART_ROUTE = /^\/objects\/multipart\/([^/]+)\/([^/]+)$/;

/** What a multipart upload's folder records about it (`meta.json`). */
interface UploadMeta {
  key: string;
  size: number;
  partSize: number;
  contentType?: string;
  createdAt: string;
}

/**
 * Objects in a local folder. Upload and download URLs are HMAC-signed and served by the gateway
 * itself (`handleHttp`), which checks the exact key, the expiry and the maximum size, as S3's presigned
 * POST policy does. Multipart uploads keep their parts in `.multipart/<uploadId>/` (with `meta.json`
 * naming the key and the cut: each part must have its exact size) until completed or aborted; `.tmp/`
 * holds bytes being written, renamed into place only when whole; `.types/<key>` the content type an
 * object was stored with; `.<name>.sealed` beside an upload key's place marks the key `promoteUpload`
 * closed (in the document's own folder, which exists then: no folder made per seal; data folders of
 * earlier versions also have `.sealed/<key>`, still honoured). None can clash
 * with a key: key segments start with a letter or digit.
 */
export class LocalObjectStore implements ObjectStore {
  private readonly corsOrigins: ReadonlySet<string>;
  /** Whether `.sealed/` (earlier versions' seals) holds anything; read once, when first needed. */
  private legacySeals: boolean | undefined;

  constructor(private readonly opts: LocalObjectStoreOptions) {
    this.corsOrigins = new Set(
      (opts.corsOrigins ?? []).flatMap((o) => {
        try {
          return [new URL(o).origin];
        } catch {
          return [];
        }
      }),
    );
  }

  async setup(): Promise<void> {
    await mkdir(this.opts.root, { recursive: true });
    for (const dir of [".tmp", ".multipart", ".types"])
      await mkdir(join(this.opts.root, dir), { recursive: true });
  }

  /**
   * Whether the folder takes writes now (the outage probe): a small file written where every write
   * starts (.tmp/), then removed. Rejects with the file system's error (ENOSPC, EACCES, EROFS...) while
   * the folder is full or not writable, which a stat of an absent key would not notice.
   */
  async probe(): Promise<void> {
    const tmp = this.tmpPath();
    try {
      await writeFile(tmp, "docfleet store probe\n");
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async createUploadTarget(key: string, opts: UploadTargetOptions): Promise<UploadTarget> {
    this.path(key);
    const { minSize, maxSize } = checkUploadSizes(opts, this.opts.maxUploadBytes);
    const expires = Math.floor(Date.now() / 1000) + opts.ttlSeconds;
    const fields: Record<string, string> = { key, expires: String(expires), maxSize: String(maxSize) };
    if (minSize > 0) fields.minSize = String(minSize);
    if (opts.contentType !== undefined) fields["Content-Type"] = opts.contentType;
    fields.signature = this.sign(uploadPayload(fields));
    return { url: `${this.opts.publicUrl}/objects/upload`, fields, expiresAt: new Date(expires * 1000) };
  }

  async createDownloadUrl(key: string, opts: DownloadUrlOptions): Promise<string> {
    this.path(key);
    const expires = Math.floor(Date.now() / 1000) + opts.ttlSeconds;
    const q = new URLSearchParams({
      expires: String(expires),
      // The name and the disposition are signed too: a holder of the URL cannot make the download pose
      // as another file, nor turn an attachment into a preview.
      // A preview is served with the type docfleet knows (detected by parse), as S3 does with
      // response-content-type; signed too, so the holder cannot pick another one.
      signature: this.sign(
        downloadPayload(key, String(expires), opts.fileName ?? "", !!opts.inline, previewType(opts)),
      ),
    });
    if (opts.fileName) q.set("name", opts.fileName);
    if (opts.inline) q.set("disposition", "inline");
    const type = previewType(opts);
    if (type) q.set("type", type);
    return `${this.opts.publicUrl}/objects/${key.split("/").map(encodeURIComponent).join("/")}?${q}`;
  }

  async stat(key: string) {
    // Synchronous, as every small metadata call of this store: one system call on a local folder, where
    // the promise version costs a thread-pool round trip that a bulk upload pays thousands of times.
    const s = statSync(this.path(key), { throwIfNoEntry: false });
    return s?.isFile() ? { size: s.size } : null;
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

  async put(key: string, body: Buffer | string, contentType?: string): Promise<void> {
    const target = this.path(key);
    const tmp = this.tmpPath();
    await writeFile(tmp, body);
    await this.setType(key, contentType);
    await mkdir(dirname(target), { recursive: true });
    await rename(tmp, target);
  }

  async delete(key: string): Promise<void> {
    forget(this.path(key));
    forget(this.typePath(key));
  }

  async list(prefix: string): Promise<string[]> {
    assertObjectPrefix(prefix);
    const keys = (await walk(this.path(prefix.slice(0, -1)))).map((rel) => `${prefix}${rel}`);
    for (const { key } of await this.uploadsUnder(prefix)) keys.push(key);
    return keys.sort();
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertObjectPrefix(prefix);
    const key = prefix.slice(0, -1);
    for (const { uploadId } of await this.uploadsUnder(prefix))
      await rm(this.uploadDir(uploadId), { recursive: true, force: true });
    await rm(this.path(key), { recursive: true, force: true });
    await rm(this.typePath(key), { recursive: true, force: true });
    await rm(this.legacySealPath(key), { recursive: true, force: true });
  }

  /** Unfinished multipart uploads to keys under `prefix` (read from each upload's `meta.json`). */
  private async uploadsUnder(prefix: string): Promise<{ uploadId: string; key: string }[]> {
    let ids: string[];
    try {
      ids = (await readdir(join(this.opts.root, ".multipart"))).filter((n) => UPLOAD_ID_RE.test(n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const found: { uploadId: string; key: string }[] = [];
    for (const uploadId of ids) {
      try {
        const meta = JSON.parse(
          await readFile(join(this.uploadDir(uploadId), "meta.json"), "utf8"),
        ) as UploadMeta;
        if (meta.key.startsWith(prefix)) found.push({ uploadId, key: meta.key });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return found;
  }

  async promoteUpload(from: string, to: string): Promise<void> {
    const source = this.path(from);
    const target = this.path(to);
    const type = await this.storedType(from);
    await this.setType(to, type);
    try {
      renameInto(source, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new ObjectNotFoundError(from);
      throw err;
    }
    forget(this.typePath(from));
    // Sealed after the move: an upload that lands at `from` in between is never read (docfleet reads `to`).
    // The seal lies in `from`'s folder (it held the upload just moved): one file, no folder to make.
    this.seal(this.sealPath(from));
  }

  /** The seal file this store created last: the next seals are other names (hard links) for it. */
  private lastSeal: string | undefined;
  /** False once the folder refused a hard link other than for the link count: every seal is its own file. */
  private linkSeals = true;

  /**
   * Writes the empty seal file at `path`. Seals are all alike (only their presence counts), so each one
   * is a hard link to the seal file this store created last: link(2) adds a name where creating a file
   * allocates an inode, 20-30 times the system time on this machine's ext4 (7 against 150-230 µs), paid
   * once per upload (issue 17 goal 4). Deleting a document's folder deletes its seal's name only; a new
   * file starts when that one is gone, holds the file system's most links (ext4: 65,000), or where the
   * file system has no hard links.
   */
  private seal(path: string): void {
    const last = this.lastSeal;
    if (last !== undefined && this.linkSeals) {
      try {
        linkSync(last, path);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Sealed already (a promotion of a key sealed before): nothing to do.
        if (code === "EEXIST") return;
        // A file system without hard links: every seal its own file from now on. Any other failure (the
        // last seal deleted, `path`'s folder missing, too many links, the folder full): a new file,
        // whose write says what is wrong if anything still is.
        if (NO_LINKS.has(code ?? "")) this.linkSeals = false;
      }
    }
    writeInto(path, "");
    this.lastSeal = path;
  }

  async createMultipartUpload(
    key: string,
    opts: { size: number; partSize: number; ttlSeconds: number; contentType?: string },
  ): Promise<MultipartUpload> {
    this.path(key);
    const count = planMultipartParts(opts.size, opts.partSize);
    checkCeiling(opts.size, this.opts.maxUploadBytes);
    const uploadId = randomBytes(16).toString("hex");
    // The folder appears with its meta.json or not at all.
    const tmp = this.tmpPath();
    await mkdir(tmp);
    const meta: UploadMeta = {
      key,
      size: opts.size,
      partSize: opts.partSize,
      ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}),
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
    const meta = await this.uploadMeta(key, uploadId);
    if (!meta) throw new MultipartUploadNotFoundError(key, uploadId);
    // Every listed part present and, but the last, at least 5 MiB (as S3 requires) before reading any.
    const sizes = new Map((await this.storedParts(key, uploadId)).map((p) => [p.partNumber, p.size]));
    const total = sorted.reduce((sum, p) => sum + (sizes.get(p.partNumber) ?? 0), 0);
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
    // Each part was held to its size in the cut; the parts listed must also make the whole upload.
    if (total !== meta.size) {
      throw new MultipartPartError(
        `the listed parts hold ${total} bytes, the upload was started for ${meta.size}: list every part`,
      );
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
      await this.setType(key, meta.contentType);
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
   * its `ETag` as S3 does), `GET /objects/<key>?expires&signature[&name][&disposition=inline]` and the
   * CORS preflight (`OPTIONS`) of each for `corsOrigins`. Refusals are S3's: a status and an XML
   * `<Error><Code>`; one over a size is answered as soon as the limit is passed, without reading the
   * rest. Returns false when the request is not for it.
   */
  async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://local");
    if (!url.pathname.startsWith("/objects/")) return false;
    const cors = this.corsHeaders(req);
    try {
      if (req.method === "OPTIONS") {
        this.preflight(req, res, url.pathname);
      } else if (req.method === "POST" && url.pathname === "/objects/upload") {
        await this.receiveUpload(req);
        res.writeHead(204, cors).end();
      } else if (req.method === "PUT") {
        const route = PART_ROUTE.exec(url.pathname);
        if (!route) throw new SignatureError("not found", 404);
        const etag = await this.receivePart(req, url.searchParams, route[1]!, route[2]!);
        res.writeHead(200, { ...cors, etag: `"${etag}"`, "content-length": 0 }).end();
      } else if (req.method === "GET" || req.method === "HEAD") {
        const key = decodeKey(url.pathname.slice("/objects/".length));
        const name = url.searchParams.get("name");
        const inline = url.searchParams.get("disposition") === "inline";
        const signedType = url.searchParams.get("type") ?? undefined;
        this.verify(
          downloadPayload(key, url.searchParams.get("expires") ?? "", name ?? "", inline, signedType),
          url.searchParams,
        );
        const info = await this.stat(key);
        if (!info) throw new SignatureError("no such object", 404, "NoSuchKey");
        const type = signedType ?? (await this.storedType(key)) ?? "application/octet-stream";
        const disposition = downloadDisposition({ fileName: name, inline, contentType: type });
        res.writeHead(200, {
          ...cors,
          "content-length": info.size,
          "content-type": type,
          "content-disposition": disposition,
          // Never sniffed into something else; what is not shown inline cannot run from this origin.
          "x-content-type-options": "nosniff",
          ...(disposition.startsWith("inline") && isInlineSafe(type)
            ? {}
            : { "content-security-policy": "default-src 'none'; sandbox" }),
        });
        if (req.method === "HEAD") res.end();
        else {
          await pipeline(createReadStream(this.path(key)), res).catch((err) => {
            // The client went away before the end: its loss, not an error of the store.
            if ((err as NodeJS.ErrnoException).code !== "ERR_STREAM_PREMATURE_CLOSE") throw err;
          });
        }
      } else {
        throw new SignatureError("method not allowed", 405);
      }
    } catch (err) {
      const refused = err instanceof SignatureError ? err : new SignatureError("internal error", 500);
      if (!res.headersSent) refuse(req, res, refused, cors);
      else res.destroy();
      if (refused.status === 500) throw err;
    }
    return true;
  }

  /** CORS headers for an actual request from an allowed origin; none for any other. */
  private corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (!origin || !this.corsOrigins.has(origin)) return origin ? { vary: "Origin" } : {};
    return {
      "access-control-allow-origin": origin,
      // The page reads each part's ETag to complete a multipart upload.
      "access-control-expose-headers": "ETag, Content-Disposition, Content-Length, Content-Type",
      vary: "Origin",
    };
  }

  /** Answers a preflight: 204 with the route's method for an allowed origin, 403 otherwise (as S3). */
  private preflight(req: IncomingMessage, res: ServerResponse, path: string): void {
    const origin = req.headers.origin;
    const asked = String(req.headers["access-control-request-method"] ?? "").toUpperCase();
    const methods = path === "/objects/upload" ? ["POST"] : PART_ROUTE.test(path) ? ["PUT"] : ["GET", "HEAD"];
    if (!origin || !this.corsOrigins.has(origin) || !methods.includes(asked)) {
      throw new SignatureError(
        `CORS preflight refused: ${origin ? `origin ${origin}` : "no origin"} may not ${asked || "?"} ${path.startsWith("/objects/multipart/") ? "a part" : path === "/objects/upload" ? "an upload" : "a download"}`,
        403,
        "AccessForbidden",
      );
    }
    const headers = String(req.headers["access-control-request-headers"] ?? "");
    res
      .writeHead(204, {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": methods.join(", "),
        ...(/^[\w-]+(\s*,\s*[\w-]+)*$/.test(headers) ? { "access-control-allow-headers": headers } : {}),
        "access-control-expose-headers": "ETag, Content-Disposition, Content-Length, Content-Type",
        "access-control-max-age": "3600",
        vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
      })
      .end();
  }

  private async receiveUpload(req: IncomingMessage): Promise<void> {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fields: 10, fieldSize: 4096 } });
    } catch {
      throw new SignatureError("expected a multipart/form-data body", 400, "MalformedPOSTRequest");
    }
    const fields = new Map<string, string>();
    const tmp = this.tmpPath();
    const declared = Number(req.headers["content-length"]);
    let file: Promise<string> | undefined;
    const parsed = new Promise<void>((resolve, reject) => {
      bb.on("field", (name, value) => fields.set(name, value));
      bb.on("file", (_name, stream) => {
        // The policy fields come before the file (as with S3's POST), so they are all known here.
        file = this.writeSignedFile(fields, stream, tmp, declared);
        // A refusal answers at once: the rest of the form is not read.
        file.catch(reject);
      });
      bb.once("error", (err: Error) =>
        reject(new SignatureError(`bad multipart body: ${err.message}`, 400, "MalformedPOSTRequest")),
      );
      bb.once("close", resolve);
      req.once("error", reject);
    });
    req.pipe(bb);
    try {
      await parsed;
      if (!file) throw new SignatureError("the form has no file field", 400, "MalformedPOSTRequest");
      const key = await file;
      const target = this.path(key);
      await this.setType(key, fields.get("Content-Type"));
      // A new document's folder is new: made first rather than after a failed rename.
      mkdirSync(dirname(target), { recursive: true });
      renameSync(tmp, target);
    } catch (err) {
      req.unpipe(bb);
      req.pause();
      await file?.catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }

  private async writeSignedFile(
    fields: Map<string, string>,
    stream: Readable,
    tmp: string,
    declared: number,
  ): Promise<string> {
    const key = fields.get("key") ?? "";
    const maxSize = Number(fields.get("maxSize"));
    const minSize = Number(fields.get("minSize") ?? 0);
    // Every condition is in the signed payload: a form that drops or changes one fails the signature.
    this.verify(uploadPayload(Object.fromEntries(fields)), fields);
    this.path(key);
    if (await this.isSealed(key)) {
      throw new SignatureError(`the upload to ${key} is complete: its targets are closed`, 409);
    }
    const tooLarge = () =>
      new SignatureError(`file exceeds the signed maximum of ${maxSize} bytes`, 413, "EntityTooLarge");
    // A form announcing far more than the file may hold is refused before its file is read.
    if (Number.isFinite(declared) && declared > maxSize + FORM_OVERHEAD_BYTES) throw tooLarge();
    let size: number;
    if (maxSize <= SMALL_UPLOAD_BYTES) {
      // A small file is gathered and written with one call rather than through a write stream's
      // open, writes and close (a bulk upload's files are mostly small).
      const body = await gatherWithin(stream, maxSize, tooLarge);
      writeFileSync(tmp, body);
      size = body.length;
    } else {
      size = await streamWithin(stream, createWriteStream(tmp), maxSize, tooLarge);
    }
    if (size < minSize) {
      throw new SignatureError(`file is under the signed minimum of ${minSize} bytes`, 400, "EntityTooSmall");
    }
    return key;
  }

  /**
   * Streams one part to a temporary file, then renames it over any earlier PUT of the same part. A part
   * must have exactly its size in the upload's cut: more is refused as soon as it passes (or at once,
   * from Content-Length), less at the end.
   */
  private async receivePart(
    req: IncomingMessage,
    q: URLSearchParams,
    uploadId: string,
    partNumber: string,
  ): Promise<string> {
    const key = q.get("key") ?? "";
    this.verify(`part\n${key}\n${uploadId}\n${partNumber}\n${q.get("expires")}`, q);
    const meta = await this.uploadMeta(key, uploadId);
    if (!meta) throw new SignatureError("no such upload", 404, "NoSuchUpload");
    const expected = partSizeInCut(meta, Number(partNumber));
    if (expected === null) {
      throw new SignatureError(`part ${partNumber} is not in this upload's cut`, 400, "InvalidArgument");
    }
    const tooLarge = () =>
      new SignatureError(
        `part ${partNumber} holds ${expected} bytes in this upload (${meta.size} bytes in parts of ${meta.partSize}): more was sent`,
        413,
        "EntityTooLarge",
      );
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > expected) throw tooLarge();
    const md5 = createHash("md5");
    const tmp = this.tmpPath();
    try {
      const size = await streamWithin(req, createWriteStream(tmp), expected, tooLarge, (c) => md5.update(c));
      if (size < expected) {
        throw new SignatureError(
          `part ${partNumber} has ${size} bytes, its place in this upload holds ${expected}`,
          400,
          "EntityTooSmall",
        );
      }
      await rename(tmp, this.partPath(uploadId, Number(partNumber)));
    } catch (err) {
      await rm(tmp, { force: true });
      // The upload's folder went away while the part arrived: aborted or completed.
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        throw new SignatureError("no such upload", 404, "NoSuchUpload");
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

  /** Records (or, with none, forgets) the content type `key` is served with. */
  private async setType(key: string, contentType: string | undefined): Promise<void> {
    const p = this.typePath(key);
    if (contentType === undefined) forget(p);
    else writeInto(p, contentType);
  }

  /** The content type `key` was stored with, if any. */
  private async storedType(key: string): Promise<string | undefined> {
    const p = this.typePath(key);
    if (!existsSync(p)) return undefined;
    try {
      return readFileSync(p, "utf8") || undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  private typePath(key: string): string {
    this.path(key);
    return join(this.opts.root, ".types", key);
  }

  /** `.<name>.sealed` beside the key's file: a dot name, which no key segment can be. */
  private sealPath(key: string): string {
    const p = this.path(key);
    return join(dirname(p), `.${basename(p)}.sealed`);
  }

  /** Where earlier versions sealed a key: `.sealed/<key>`. */
  private legacySealPath(key: string): string {
    this.path(key);
    return join(this.opts.root, ".sealed", key);
  }

  private async isSealed(key: string): Promise<boolean> {
    // existsSync: one system call and no exception thrown for the usual answer (not sealed).
    if (existsSync(this.sealPath(key))) return true;
    // Seals of an earlier version's data folder: looked for only when its `.sealed` folder holds any.
    this.legacySeals ??= hasEntries(join(this.opts.root, ".sealed"));
    return this.legacySeals && existsSync(this.legacySealPath(key));
  }

  private tmpPath(): string {
    return join(this.opts.root, ".tmp", `${Date.now()}-${randomBytes(8).toString("hex")}`);
  }
}

/** link(2)'s answers for a file system (or a mount) that has no hard links. */
const NO_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EXDEV"]);

/**
 * Removes a file if it is there. A bulk upload does this thousands of times for files that are not
 * there: existsSync answers that with one system call and no exception built and thrown.
 */
function forget(path: string): void {
  if (!existsSync(path)) return;
  try {
    unlinkSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
  }
}

/**
 * rename(2), making the target's folder only when the first try finds it missing (one call where the
 * folder exists, as it mostly does). ENOENT still means the source is gone.
 */
function renameInto(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(dirname(to), { recursive: true });
    renameSync(from, to);
  }
}

/** writeFile, making the file's folder only when the first try finds it missing. */
function writeInto(path: string, data: string): void {
  try {
    writeFileSync(path, data);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, data);
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

/**
 * What a download URL's signature covers; `inline` (and the preview's type) are appended only when
 * asked, so older URLs verify.
 */
function downloadPayload(key: string, expires: string, name: string, inline: boolean, type?: string): string {
  return `get\n${key}\n${expires}\n${name}${inline ? "\ninline" : ""}${type ? `\n${type}` : ""}`;
}

/** The type a preview is served with: the one given at signing, when a preview is asked and it is safe. */
function previewType(opts: DownloadUrlOptions): string | undefined {
  return opts.inline && isInlineSafe(opts.contentType) ? opts.contentType : undefined;
}

/** The exact size of part `n` in the upload's cut, or null when the cut has no such part. */
function partSizeInCut(meta: UploadMeta, n: number): number | null {
  const count = Math.max(1, Math.ceil(meta.size / meta.partSize));
  if (!Number.isInteger(n) || n < 1 || n > count) return null;
  return Math.min(
    n < count ? meta.partSize : meta.size - (count - 1) * meta.partSize,
    MULTIPART_MAX_PART_SIZE,
  );
}

/**
 * Reads `source` to its end through `take`, then settles with `finish(size)`; rejects with `tooLarge()`
 * as soon as more than `limit` bytes arrived, leaving `source` paused rather than destroyed (its
 * connection still carries the refusal) and `sink`, when given, destroyed. A client that closes before
 * the end, or a failing `sink`, rejects too.
 */
function readWithin<T>(
  source: Readable,
  limit: number,
  tooLarge: () => Error,
  take: (chunk: Buffer, done: () => boolean) => void,
  finish: (size: number) => T | Promise<T>,
  sink?: Writable,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let size = 0;
    let done = false;
    const stop = () => {
      done = true;
      source.off("data", onData);
      source.off("end", onEnd);
      source.off("error", fail);
      source.off("close", onClose);
    };
    const fail = (err: Error) => {
      if (done) return;
      stop();
      source.pause();
      sink?.destroy();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(tooLarge());
      take(chunk, () => done);
    };
    const onEnd = () => {
      if (done) return;
      stop();
      Promise.resolve(size).then(finish).then(resolve, reject);
    };
    const onClose = () =>
      fail(new SignatureError("the client closed the request before its end", 400, "IncompleteBody"));
    source.on("data", onData);
    source.once("end", onEnd);
    source.once("error", fail);
    source.once("close", onClose);
    sink?.once("error", fail);
  });
}

/** The whole of `source` in memory (at most `limit` bytes), as `readWithin` reads it. */
function gatherWithin(source: Readable, limit: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return readWithin(
    source,
    limit,
    tooLarge,
    (chunk) => chunks.push(chunk),
    (size) => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)),
  );
}

/**
 * Streams `source` into `sink` and resolves with the byte count once `sink` is flushed, as `readWithin`
 * reads it; `onChunk` sees every chunk before it is written.
 */
function streamWithin(
  source: Readable,
  sink: Writable,
  limit: number,
  tooLarge: () => Error,
  onChunk?: (chunk: Buffer) => void,
): Promise<number> {
  return readWithin(
    source,
    limit,
    tooLarge,
    (chunk, done) => {
      onChunk?.(chunk);
      if (!sink.write(chunk)) {
        source.pause();
        sink.once("drain", () => {
          if (!done()) source.resume();
        });
      }
    },
    async (size) => {
      sink.end();
      await finished(sink);
      return size;
    },
    sink,
  );
}

/**
 * Answers a refusal as S3 does (status, XML `<Error>`). When the request's body is still coming, the
 * connection closes after the answer: what follows is read and dropped for at most LINGER_BYTES or
 * LINGER_MS (so that the client reads the answer instead of a reset), never stored.
 */
function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  err: SignatureError,
  cors: Record<string, string>,
) {
  const message = err.status === 500 ? "internal error" : err.message;
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${xml(err.code)}</Code><Message>${xml(message)}</Message></Error>`;
  const pending = !req.complete;
  res.writeHead(err.status, {
    ...cors,
    "content-type": "application/xml",
    "content-length": Buffer.byteLength(body),
    ...(pending ? { connection: "close" } : {}),
  });
  if (!pending) {
    res.end(body);
    return;
  }
  const socket = req.socket;
  let dropped = 0;
  const close = () => socket.destroy();
  const timer = setTimeout(close, LINGER_MS);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
  req.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) close();
  });
  req.resume();
  // Node destroys a `connection: close` socket as soon as the answer is written, with the body's rest
  // unread: the client would meet a reset before it read the answer. Only half-close here; the linger
  // above destroys it.
  socket.destroySoon = () => socket.end();
  res.end(body);
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A key from a URL path; malformed percent-encoding is the client's error (400), not ours. */
function decodeKey(path: string): string {
  try {
    return path.split("/").map(decodeURIComponent).join("/");
  } catch {
    throw new SignatureError("malformed object key", 400);
  }
}

/** Whether a folder holds anything (false when it does not exist). */
function hasEntries(dir: string): boolean {
  try {
    return readdirSync(dir).length > 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/**
 * Keys under `dir`, as paths relative to it with "/" separators; none when it does not exist. Dot names
 * (seals) are the store's own, never keys.
 */
async function walk(dir: string): Promise<string[]> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR")
      return [];
    throw err;
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    if (e.isDirectory()) out.push(...(await walk(join(dir, e.name))).map((rel) => `${e.name}/${rel}`));
    else out.push(e.name);
  }
  return out;
}
