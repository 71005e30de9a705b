import { randomBytes } from "node:crypto";
import { openAsBlob, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { RequestUploadsMutation } from "../generated/graphql.ts";
import { type BufferedResponse, requestBuffered } from "./http.ts";
import { fetchLinked, isTransientStatus, retryAfterMs, TransientError } from "./retry.ts";

/** Where one file's bytes go, as requestUploads answers it. */
export type FormTarget = NonNullable<RequestUploadsMutation["requestUploads"][number]["target"]>;

/** The store refused the bytes for good (4xx): this file fails, the others go on. */
export class RefusedError extends Error {
  override name = "RefusedError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The signed URL ran out: ask for a fresh one and send again. */
export class ExpiredError extends Error {
  override name = "ExpiredError";
}

/** What `check` reads of an answer: fetch's Response, or requestBuffered's. */
type Answer = Pick<Response, "status" | "ok" | "text"> & { headers: { get(name: string): string | null } };

/** Classifies a failed fetch or response, so the caller retries, re-signs or gives the file up. */
async function check<R extends Answer>(res: R, what: string): Promise<R> {
  if (res.ok) return res;
  const text = (await res.text().catch(() => "")).slice(0, 500);
  if (isTransientStatus(res.status))
    throw new TransientError(`${what}: HTTP ${res.status}`, retryAfterMs(res.headers.get("retry-after")));
  if (res.status === 403 && /expired/i.test(text)) throw new ExpiredError(`${what}: the signed URL expired`);
  throw new RefusedError(`${what}: HTTP ${res.status} ${text.replace(/\s+/g, " ").trim()}`, res.status);
}

/** One request; a failure of the network (connecting, or mid-body) is a TransientError. */
async function send<T>(url: string, init: RequestInit, what: string, read: (res: Response) => Promise<T>) {
  return classified(init.signal, what, () =>
    fetchLinked(url, init, async (res) => read(await check(res, what))),
  );
}

/** `send` for a body held in memory: node:http with keep-alive (./http.ts), far less CPU than fetch. */
function sendBuffered(
  url: string,
  init: { method: string; headers: Record<string, string>; body: Uint8Array; signal?: AbortSignal },
  what: string,
): Promise<BufferedResponse> {
  return classified(init.signal, what, async () => check(await requestBuffered(url, init), what));
}

async function classified<T>(signal: AbortSignal | null | undefined, what: string, fn: () => Promise<T>) {
  try {
    return await fn();
  } catch (err) {
    if (signal?.aborted) throw err;
    if (err instanceof TransientError || err instanceof RefusedError || err instanceof ExpiredError)
      throw err;
    const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
    throw new TransientError(`${what}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

/**
 * Files up to this size are read whole and sent as one prepared form body; larger ones stream from disk
 * through FormData (whose file-backed Blob costs far more CPU per request: what matters for many small
 * files).
 */
const BUFFERED_FORM_BYTES = 8 * 1024 ** 2;
/** Files up to this size are read with blocking calls (a few milliseconds at worst on a slow disk). */
const SYNC_READ_BYTES = 256 * 1024;

/** POSTs a whole file as an HTML form (policy fields first, then the file). */
export async function postFile(
  target: FormTarget,
  path: string,
  name: string,
  signal?: AbortSignal,
  /** The size the gateway was told; a small file read with another size changed since it was hashed. */
  size?: number,
  /**
   * Send a small file's form over node:http (./http.ts) rather than fetch. The caller sets it for
   * targets on the gateway's own origin (its local store), where it was measured; S3-compatible stores
   * keep fetch until an A/B against s3rver and radosgw says the same (two noisy runs against s3rver
   * were slower with it).
   */
  keepAlive = false,
): Promise<void> {
  const fileName = name.split("/").pop() ?? "file";
  const what = `upload of ${name}`;
  let init: RequestInit;
  if (size !== undefined && size <= BUFFERED_FORM_BYTES) {
    // A small file is read with blocking calls: four system calls on the main thread cost less than
    // readFile's four round trips through the thread pool, which a bulk upload pays for every file.
    const bytes = size <= SYNC_READ_BYTES ? readFileSync(path) : await readFile(path);
    if (bytes.length !== size)
      throw new RefusedError(
        `${what}: the file changed since it was read (${size} bytes, now ${bytes.length})`,
        0,
      );
    const { body, contentType } = formBody(target.fields, fileName, bytes);
    const headers = { "content-type": contentType };
    if (keepAlive) {
      await sendBuffered(target.url, { method: "POST", body, headers, signal }, what);
      return;
    }
    // The same bytes as a plain Uint8Array view (what fetch's types take), not a copy.
    const view = new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength);
    init = { method: "POST", body: view, headers, signal };
  } else {
    const form = new FormData();
    for (const f of target.fields) form.append(f.name, f.value);
    form.append("file", await openAsBlob(path), fileName);
    init = { method: "POST", body: form, signal };
  }
  await send(target.url, init, what, (res) => res.arrayBuffer());
}

/**
 * multipart/form-data as FormData encodes it (the HTML standard's rules: line breaks of names and values
 * as CRLF, then in names and the file name LF, CR and `"` percent-encoded; UTF-8), in one buffer.
 */
export function formBody(
  fields: readonly { name: string; value: string }[],
  fileName: string,
  bytes: Uint8Array,
): { body: Buffer; contentType: string } {
  const boundary = `----docfleet${randomBytes(12).toString("hex")}`;
  const crlf = (s: string) => s.replace(/\r\n|\r(?!\n)|\n/g, "\r\n");
  const quoted = (s: string) => s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
  let head = "";
  for (const f of fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(crlf(f.name))}"\r\n\r\n`;
    head += `${crlf(f.value)}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${quoted(fileName)}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const body = Buffer.concat([
    Buffer.from(head, "utf8"),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`, "utf8"),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** PUTs bytes [start, end) of a file to a signed part URL; answers the part's ETag. */
export async function putPart(
  url: string,
  path: string,
  start: number,
  end: number,
  what: string,
  signal?: AbortSignal,
): Promise<string> {
  const blob = (await openAsBlob(path)).slice(start, end);
  return send(url, { method: "PUT", body: blob, signal }, what, async (res) => {
    await res.arrayBuffer();
    const etag = res.headers.get("etag");
    if (!etag) throw new RefusedError(`${what}: the store answered no ETag`, res.status);
    return etag;
  });
}
