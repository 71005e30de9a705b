import { openAsBlob } from "node:fs";
import type { RequestUploadsMutation } from "../generated/graphql.ts";
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

/** Classifies a failed fetch or response, so the caller retries, re-signs or gives the file up. */
async function check(res: Response, what: string): Promise<Response> {
  if (res.ok) return res;
  const text = (await res.text().catch(() => "")).slice(0, 500);
  if (isTransientStatus(res.status))
    throw new TransientError(`${what}: HTTP ${res.status}`, retryAfterMs(res.headers.get("retry-after")));
  if (res.status === 403 && /expired/i.test(text)) throw new ExpiredError(`${what}: the signed URL expired`);
  throw new RefusedError(`${what}: HTTP ${res.status} ${text.replace(/\s+/g, " ").trim()}`, res.status);
}

/** One request; a failure of the network (connecting, or mid-body) is a TransientError. */
async function send<T>(url: string, init: RequestInit, what: string, read: (res: Response) => Promise<T>) {
  try {
    return await fetchLinked(url, init, async (res) => read(await check(res, what)));
  } catch (err) {
    if (init.signal?.aborted) throw err;
    if (err instanceof TransientError || err instanceof RefusedError || err instanceof ExpiredError)
      throw err;
    const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
    throw new TransientError(`${what}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
}

/** POSTs a whole file as an HTML form (policy fields first, then the file), read lazily from disk. */
export async function postFile(
  target: FormTarget,
  path: string,
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  const form = new FormData();
  for (const f of target.fields) form.append(f.name, f.value);
  form.append("file", await openAsBlob(path), name.split("/").pop() ?? "file");
  await send(target.url, { method: "POST", body: form, signal }, `upload of ${name}`, (res) =>
    res.arrayBuffer(),
  );
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
