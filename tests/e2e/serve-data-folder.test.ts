import { execFile, spawn } from "node:child_process";
import { chmod, chown, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  adminKey,
  bearer,
  freePort,
  gql,
  ROOT,
  runCli,
  type Served,
  served,
  withKey,
} from "../helpers/cli.ts";
import { followBatch } from "../helpers/graphql.ts";
import { deferred, pollUntil } from "../helpers/wait.ts";

// Issue 16: `docfleet serve` outlives its own data folder being briefly unavailable. Its objects folder
// (the local store) is made not writable mid-batch: each write fails with EACCES as it would with the
// disk full (ENOSPC) or remounted read-only (EROFS). That is the store being away, not the documents'
// fault: the store's breaker opens (its probe writes a file), /health and /ready say so, processing is
// deferred without spending attempts, and once the folder takes writes again every document completes.
// serve runs as `nobody`, since root writes through any mode bits.

const exec = promisify(execFile);
const N = 30;

let dir: string;
let dataDir: string;
let serve: Served & { apiKey: string };

async function startServeAs(user: string, data: string): Promise<Served & { apiKey: string }> {
  const port = await freePort();
  const child = spawn(
    "runuser",
    [
      "-u",
      user,
      "--",
      process.execPath,
      `${ROOT}apps/cli/bin/docfleet.mjs`,
      "serve",
      "--port",
      String(port),
      "--data-dir",
      data,
    ],
    {
      env: { ...process.env, HOME: dir, DOCFLEET_LOG_LEVEL: "warn", METRICS_PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  const printed = deferred();
  const onData = (d: Buffer) => {
    out += d;
    if (/^docfleet serving at /m.test(out)) printed.resolve();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  void exited.then((code) => printed.reject(new Error(`serve exited with ${code}:\n${out}`)));
  await printed.promise;
  const url = `http://127.0.0.1:${port}`;
  return { ...served(child, url, () => out, exited), apiKey: adminKey(data) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "docfleet-serve-folder-"));
  const uid = Number((await exec("id", ["-u", "nobody"])).stdout.trim());
  const gid = Number((await exec("id", ["-g", "nobody"])).stdout.trim());
  await chmod(dir, 0o755);
  dataDir = join(dir, "data");
  await mkdir(dataDir);
  await chown(dataDir, uid, gid);
  serve = await startServeAs("nobody", dataDir);
}, 300_000);

afterAll(async () => {
  await serve?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

it("a data folder not writable for a while defers the batch; nothing fails, everything completes", async () => {
  const docs = join(dir, "docs");
  await mkdir(docs);
  for (let i = 0; i < N; i++)
    await writeFile(join(docs, `note-${i}.txt`), `INVOICE No F-${i}\nTotal due: ${i}.50 EUR\n`);
  const up = await runCli(["upload", docs, "--endpoint", serve.url, "--json", "--no-wait"], {
    ...withKey(serve),
    DOCFLEET_STATE_DIR: join(dir, "state"),
  });
  expect(up.code, up.stderr).toBe(0);
  const { batchId } = JSON.parse(up.stdout) as { batchId: string };

  // The fault: every write of the local store starts in one of these folders.
  const objects = join(dataDir, "objects");
  const folders = [objects, join(objects, ".tmp"), join(objects, ".types")];
  const modes = await Promise.all(folders.map(async (f) => (await stat(f)).mode & 0o7777));
  for (const f of folders) await chmod(f, 0o555);
  try {
    // The breaker's state is announced nowhere but /health (polled, as a monitor would).
    const health = await pollUntil(
      "the store's breaker to open",
      async () => {
        const h = (await (await fetch(`${serve.url}/health`)).json()) as {
          dependencies?: Record<string, { status: string; error?: string }>;
        };
        return h.dependencies?.store?.status === "down" ? h : null;
      },
      { timeoutMs: 120_000, intervalMs: 200 },
    );
    expect(health.dependencies!.store!.error).toMatch(/EACCES/);
    const ready = await fetch(`${serve.url}/ready`);
    expect(ready.status).toBe(503);
    // Nothing failed because of it while it lasts.
    const during = await gql<{ batch: { counts: { completed: number; failed: number } } }>(
      serve.url,
      "query($id: ID!) { batch(id: $id) { counts { completed failed } } }",
      { id: batchId },
      serve.apiKey,
    );
    expect(during.batch.counts.failed).toBe(0);
    expect(during.batch.counts.completed).toBeLessThan(N);
  } finally {
    for (const [i, f] of folders.entries()) await chmod(f, modes[i]!);
  }

  const end = await followBatch(serve.url, batchId, "every document final", (m) => m.finished, {
    headers: bearer(serve),
    timeoutMs: 300_000,
  });
  expect(end.counts).toMatchObject({ total: N, completed: N, failed: 0 });
  // The breaker closed by itself: the same process is ready again.
  const h = (await (await fetch(`${serve.url}/health`)).json()) as {
    dependencies: Record<string, { status: string }>;
  };
  expect(h.dependencies.store!.status).toBe("up");
  expect((await fetch(`${serve.url}/ready`)).status).toBe(200);
  expect(serve.child.exitCode).toBeNull();
}, 420_000);
