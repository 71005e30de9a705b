import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

/**
 * One HTTP request with a body held in memory, over node:http(s) and a keep-alive agent per protocol,
 * for what the CLI sends thousands of times in a bulk upload (GraphQL calls, the form POST of each
 * small file). fetch (undici) spends several times the CPU per request on WHATWG streams, Request and
 * Response objects and abort plumbing (issue 17 goal 4: undici was the CLI's top item); large files
 * keep streaming through fetch.
 *
 * Failures read as fetch's do, so callers classify them the same way: a network failure rejects with a
 * TypeError whose `cause` is the socket's error (its `code`: ECONNREFUSED, ECONNRESET, ETIMEDOUT...);
 * an abort rejects with the signal's reason.
 */
export interface BufferedResponse {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  body: Buffer;
  text(): Promise<string>;
}

export interface BufferedRequest {
  method: string;
  headers?: Record<string, string>;
  body?: Buffer | Uint8Array | string;
  signal?: AbortSignal;
}

/** Sockets kept per origin: the upload's concurrency plus GraphQL calls, with room to spare. */
const MAX_SOCKETS = 256;
/** No byte in either direction for this long fails the request (undici's header and body timeouts). */
const IDLE_MS = 300_000;

const agents = {
  http: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, scheduling: "lifo" }),
  https: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, scheduling: "lifo" }),
};

function networkError(cause: unknown): TypeError {
  return new TypeError("fetch failed", { cause });
}

function headerGetter(h: IncomingHttpHeaders) {
  return {
    get(name: string): string | null {
      const v = h[name.toLowerCase()];
      if (v === undefined) return null;
      return Array.isArray(v) ? v.join(", ") : v;
    },
  };
}

export function requestBuffered(url: string, init: BufferedRequest): Promise<BufferedResponse> {
  const { signal } = init;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const u = new URL(url);
  const https = u.protocol === "https:";
  if (!https && u.protocol !== "http:")
    return Promise.reject(networkError(new Error(`unsupported protocol ${u.protocol}`)));
  const body =
    init.body === undefined ? undefined : typeof init.body === "string" ? Buffer.from(init.body) : init.body;
  const headers: Record<string, string | number> = { ...init.headers };
  if (body !== undefined) headers["content-length"] = body.byteLength;
  return new Promise<BufferedResponse>((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(signal!.reason);
    };
    const done = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const req = (https ? httpsRequest : httpRequest)(
      {
        protocol: u.protocol,
        hostname: u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname,
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        method: init.method,
        headers,
        agent: https ? agents.https : agents.http,
        ...(u.username
          ? { auth: `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          size += c.length;
        });
        res.once("error", (err) => done(() => reject(networkError(err))));
        res.once("aborted", () => done(() => reject(networkError(connectionReset()))));
        res.once("end", () => {
          const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
          const status = res.statusCode ?? 0;
          done(() =>
            resolve({
              status,
              ok: status >= 200 && status < 300,
              headers: headerGetter(res.headers),
              body: buf,
              text: async () => buf.toString("utf8"),
            }),
          );
        });
      },
    );
    req.setTimeout(IDLE_MS, () =>
      req.destroy(Object.assign(new Error("no answer in time"), { code: "ETIMEDOUT" })),
    );
    req.once("error", (err) => done(() => reject(networkError(err))));
    signal?.addEventListener("abort", onAbort, { once: true });
    req.end(body);
  });
}

function connectionReset(): Error {
  return Object.assign(new Error("the connection closed before the answer's end"), { code: "ECONNRESET" });
}
