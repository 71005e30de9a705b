import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { dirname, join, resolve, sep } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import busboy from "busboy";
import {
  assertObjectKey,
  ObjectNotFoundError,
  type ObjectStore,
  type UploadTarget,
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

/**
 * Objects in a local folder. Upload and download URLs are HMAC-signed and served by the gateway
 * itself (`handleHttp`), which checks the exact key, the expiry and the maximum size, as S3's presigned
 * POST policy does.
 */
export class LocalObjectStore implements ObjectStore {
  constructor(private readonly opts: LocalObjectStoreOptions) {}

  async setup(): Promise<void> {
    await mkdir(this.opts.root, { recursive: true });
    await mkdir(join(this.opts.root, ".tmp"), { recursive: true });
  }

  async createUploadTarget(
    key: string,
    opts: { maxSize: number; ttlSeconds: number },
  ): Promise<UploadTarget> {
    this.path(key);
    const expires = Math.floor(Date.now() / 1000) + opts.ttlSeconds;
    const fields = {
      key,
      expires: String(expires),
      maxSize: String(opts.maxSize),
      signature: this.sign(`upload\n${key}\n${expires}\n${opts.maxSize}`),
    };
    return { url: `${this.opts.publicUrl}/objects/upload`, fields, expiresAt: new Date(expires * 1000) };
  }

  async createDownloadUrl(key: string, opts: { ttlSeconds: number; fileName?: string }): Promise<string> {
    this.path(key);
    const expires = Math.floor(Date.now() / 1000) + opts.ttlSeconds;
    const q = new URLSearchParams({
      expires: String(expires),
      signature: this.sign(`get\n${key}\n${expires}`),
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

  /**
   * Serves `POST /objects/upload` (multipart form: key, expires, maxSize, signature, then file) and
   * `GET /objects/<key>?expires&signature`. Returns false when the request is not for it.
   */
  async handleHttp(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? "/", "http://local");
    if (!url.pathname.startsWith("/objects/")) return false;
    try {
      if (req.method === "POST" && url.pathname === "/objects/upload") {
        await this.receiveUpload(req);
        res.writeHead(204).end();
      } else if (req.method === "GET" || req.method === "HEAD") {
        const key = url.pathname.slice("/objects/".length).split("/").map(decodeURIComponent).join("/");
        this.verify(`get\n${key}\n${url.searchParams.get("expires")}`, url.searchParams);
        const info = await this.stat(key);
        if (!info) throw new SignatureError("no such object", 404);
        const name = url.searchParams.get("name");
        res.writeHead(200, {
          "content-length": info.size,
          "content-type": "application/octet-stream",
          ...(name
            ? { "content-disposition": `attachment; filename*=UTF-8''${encodeURIComponent(name)}` }
            : {}),
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
    this.verify(`upload\n${key}\n${fields.get("expires")}\n${fields.get("maxSize")}`, fields);
    this.path(key);
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > maxSize)
          cb(new SignatureError(`file exceeds the signed maximum of ${maxSize} bytes`, 413));
        else cb(null, chunk);
      },
    });
    await pipeline(stream, limit, createWriteStream(tmp));
    return key;
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
