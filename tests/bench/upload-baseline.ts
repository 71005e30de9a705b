/**
 * The baseline of tests/bench/upload.ts: bare parallel HTTP PUTs, no hashing, no GraphQL. Two roles,
 * each its own process so that its CPU and memory are its own:
 *
 *   node --import tsx tests/bench/upload-baseline.ts sink <dir>
 *     a minimal node:http server that streams each PUT body to <dir>/<path>; prints {"port":n} once
 *     listening and {"files":n,"bytes":n} when SIGTERM stops it.
 *   node --import tsx tests/bench/upload-baseline.ts put <root> <baseUrl> <concurrency>
 *     walks <root> and PUTs each file (read whole, they are small) to <baseUrl>/<relative path> with
 *     fetch, <concurrency> at once; prints {"files":n,"bytes":n,"failed":n,"firstError":...}.
 *     <baseUrl> may be a sink or a path-style S3 bucket URL (s3rver takes unsigned PUTs).
 */
import { createWriteStream } from "node:fs";
import { mkdir, opendir, readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";

/** Files under `root`, depth-first, streamed; dot files skipped as `docfleet upload` does. */
async function* walk(root: string): AsyncGenerator<string> {
  for await (const entry of await opendir(root)) {
    if (entry.name.startsWith(".")) continue;
    const p = join(root, entry.name);
    if (entry.isDirectory()) yield* walk(p);
    else if (entry.isFile()) yield p;
  }
}

async function put(root: string, baseUrl: string, concurrency: number) {
  const files = walk(root);
  let n = 0;
  let bytes = 0;
  let failed = 0;
  let firstError: string | null = null;
  // Async generators queue concurrent next() calls, so the lanes share one walk.
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const next = await files.next();
        if (next.done) return;
        const path = next.value;
        const key = relative(root, path).split(sep).map(encodeURIComponent).join("/");
        const body = await readFile(path);
        try {
          const res = await fetch(`${baseUrl}/${key}`, { method: "PUT", body });
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`${res.status} for ${key}`);
          n++;
          bytes += body.length;
        } catch (err) {
          failed++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  process.stdout.write(`${JSON.stringify({ files: n, bytes, failed, firstError })}\n`);
  if (failed > 0) process.exitCode = 1;
}

async function sink(dir: string) {
  const root = resolve(dir);
  const made = new Map<string, Promise<unknown>>();
  let files = 0;
  let bytes = 0;
  const server = createServer(async (req, res) => {
    try {
      const path = resolve(root, `.${decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)}`);
      if (req.method !== "PUT" || !path.startsWith(`${root}${sep}`)) {
        res.writeHead(400).end();
        req.resume();
        return;
      }
      const parent = dirname(path);
      if (!made.has(parent)) made.set(parent, mkdir(parent, { recursive: true }));
      await made.get(parent);
      const out = createWriteStream(path);
      await pipeline(req, out);
      files++;
      bytes += out.bytesWritten;
      res.writeHead(201).end();
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end((err as Error).message);
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`);
  process.once("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => process.stdout.write(`${JSON.stringify({ files, bytes })}\n`));
  });
}

const [role, a, b, c] = process.argv.slice(2);
if (role === "put" && a && b) await put(a, b.replace(/\/+$/, ""), Number(c ?? 16));
else if (role === "sink" && a) await sink(a);
else {
  process.stderr.write("usage: upload-baseline.ts sink <dir> | put <root> <baseUrl> [concurrency]\n");
  process.exitCode = 2;
}
