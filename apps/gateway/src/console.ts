import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

// The web console (apps/web) is a static build served at `/` beside the API: hashed assets cached for
// good, index.html revalidated, every other path answered with index.html (the console routes in the
// page). The embedded `serve` also hands its local admin key to the console's own pages, and to nobody
// else: see `offersKeyTo`.

export interface ConsoleOptions {
  /** The console's static build (apps/web/dist); absent or without index.html: not served, and said so. */
  dir?: string;
  /** The local admin key, offered to the console's own pages on this machine (`docfleet serve` only). */
  localKey?: () => Promise<string | undefined>;
}

/** Where the console's build is: the `@docfleet/web` package's `dist`, when that package is installed. */
export function findConsoleDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve("@docfleet/web/package.json");
    return join(dirname(pkg), "dist");
  } catch {
    // Not installed as a package (an image without node_modules links): the monorepo's layout.
    const here = dirname(fileURLToPath(import.meta.url));
    const guess = join(here, "..", "..", "web", "dist");
    return existsSync(guess) ? guess : undefined;
  }
}

/** The path the console asks for the local admin key (same origin, same machine: `offersKeyTo`). */
export const LOCAL_KEY_PATH = "/console/local-key";
/** The header the console sends with it: a page of another origin cannot send it without a preflight. */
export const LOCAL_KEY_HEADER = "x-docfleet-console";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".wasm": "application/wasm",
  ".txt": "text/plain; charset=utf-8",
  ".bcmap": "application/octet-stream",
  ".pfb": "application/octet-stream",
  ".ttf": "font/ttf",
};
const COMPRESSIBLE = /^(text\/|application\/(json|wasm)|image\/svg)/;

// The page may load its scripts, workers and styles from here only; images (signed thumbnails and
// previews) and connections (signed upload URLs of the object store) may be elsewhere. No framing.
const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src * blob: data:",
  "connect-src *",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join("; ");

interface Cached {
  body: Buffer;
  gzip?: Buffer;
  etag: string;
  type: string;
}

export interface ConsoleServer {
  /** The build's folder, when it holds an index.html. */
  readonly dir: string | undefined;
  /** Answers console requests (static files, the SPA fallback, the local key); false: not its request. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
}

export function consoleServer(opts: ConsoleOptions = {}): ConsoleServer {
  const dir = opts.dir && existsSync(join(opts.dir, "index.html")) ? opts.dir : undefined;
  const cache = new Map<string, Cached>();
  let root: Promise<string> | undefined;

  const load = async (file: string): Promise<Cached | undefined> => {
    const hit = cache.get(file);
    if (hit) return hit;
    root ??= realpath(dir!);
    let real: string;
    try {
      real = await realpath(file);
      if (!(await stat(real)).isFile()) return undefined;
    } catch {
      return undefined;
    }
    // Nothing outside the build, links included.
    if (!real.startsWith((await root) + sep)) return undefined;
    const body = await readFile(real);
    const type = TYPES[extname(real).toLowerCase()] ?? "application/octet-stream";
    const entry: Cached = {
      body,
      type,
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
      gzip: COMPRESSIBLE.test(type) && body.length > 1024 ? gzipSync(body) : undefined,
    };
    cache.set(file, entry);
    return entry;
  };

  const send = (req: IncomingMessage, res: ServerResponse, f: Cached, cacheControl: string) => {
    const headers: Record<string, string> = {
      "content-type": f.type,
      "cache-control": cacheControl,
      etag: f.etag,
      vary: "accept-encoding",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    };
    if (f.type.startsWith("text/html")) headers["content-security-policy"] = CSP;
    if (req.headers["if-none-match"] === f.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gz = f.gzip && /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    const body = gz ? f.gzip! : f.body;
    if (gz) headers["content-encoding"] = "gzip";
    headers["content-length"] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === "HEAD" ? undefined : body);
  };

  return {
    dir,
    async handle(req, res, path) {
      if (path === LOCAL_KEY_PATH) {
        await answerLocalKey(req, res, opts.localKey);
        return true;
      }
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      if (!dir) {
        if (path !== "/" && path !== "/index.html") return false;
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        res.end("The docfleet web console is not built here (npm run build); the API is at /graphql.\n");
        return true;
      }
      let rel: string;
      try {
        rel = decodeURIComponent(path);
      } catch {
        return false;
      }
      if (rel.includes("\0")) return false;
      const hashed = rel.startsWith("/assets/");
      const file = rel === "/" || rel.endsWith("/") ? undefined : await load(join(dir, rel));
      if (file) {
        // Vite puts a content hash in every name under assets/: such a name never changes content.
        send(req, res, file, hashed ? "public, max-age=31536000, immutable" : "no-cache");
        return true;
      }
      // A missing asset is a 404 (an old page asking for a file of an earlier build), not the page.
      if (hashed || extname(rel) !== "") {
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache" });
        res.end("not found\n");
        return true;
      }
      const index = await load(join(dir, "index.html"));
      if (!index) return false;
      send(req, res, index, "no-cache");
      return true;
    },
  };
}

/**
 * The local admin key, for a page of this very server on this very machine: a loopback peer, the
 * console's own header (another origin's page cannot send it without a CORS preflight, which gets no
 * CORS answer), `Sec-Fetch-Site: same-origin` (what a browser sends for its page's own fetch) and,
 * when present, an `Origin` naming the host asked. The Host itself was checked before
 * (`use-allowed-hosts.ts`, against DNS rebinding).
 */
export function offersKeyTo(req: IncomingMessage): boolean {
  if (req.method !== "GET") return false;
  if (!isLoopback(req.socket.remoteAddress)) return false;
  if (req.headers[LOCAL_KEY_HEADER] !== "1") return false;
  // Browsers send fetch metadata to loopback origins (potentially trustworthy): its absence is a
  // script, not the console's page. (A local process can forge it: serve is a single-user tool.)
  if (req.headers["sec-fetch-site"] !== "same-origin") return false;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    try {
      if (new URL(origin).host !== String(req.headers.host ?? "").toLowerCase()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

async function answerLocalKey(
  req: IncomingMessage,
  res: ServerResponse,
  localKey: ConsoleOptions["localKey"],
): Promise<void> {
  const headers = { "content-type": "application/json", "cache-control": "no-store" };
  const key = localKey && offersKeyTo(req) ? await localKey().catch(() => undefined) : undefined;
  if (!key) {
    res.writeHead(404, headers).end(JSON.stringify({ error: "no local key for this page" }));
    return;
  }
  res.writeHead(200, headers).end(JSON.stringify({ key: key.trim() }));
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.");
}
