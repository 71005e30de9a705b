import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { watch } from "chokidar";
import type { GatewayClient } from "../client.ts";
import { type BulkOptions, type BulkResult, bulkUpload } from "../upload/bulk.ts";

// `docfleet consume DIR`: a hot folder. Uploads what is there, then every file that appears, once each:
// a file counts once chokidar saw its size stay the same for `stableMs` (awaitWriteFinish), and each run
// goes through the upload manifest of the folder's one batch, which skips every file an earlier run (or
// an earlier process: the batch id is kept in the state folder) dealt with.

export interface ConsumeOptions extends Omit<BulkOptions, "sources" | "batchId" | "resume" | "signal"> {
  dir: string;
  /** How long a file's size must stay unchanged before it is uploaded. */
  stableMs: number;
  signal: AbortSignal;
  /** After each run. */
  onRun: (r: BulkResult) => void;
  /** A run that failed (the gateway down, a refused key): the next file that settles tries again. */
  onError: (err: unknown) => void;
}

/** Where the folder's batch id is kept, per folder and endpoint. */
function batchFile(stateDir: string, dir: string, endpoint: string): string {
  const h = createHash("sha256")
    .update(`${resolve(dir)}\n${endpoint}`)
    .digest("hex")
    .slice(0, 16);
  return join(stateDir, `consume-${h}.json`);
}

async function readBatchId(file: string): Promise<string | undefined> {
  try {
    return (JSON.parse(await readFile(file, "utf8")) as { batchId?: string }).batchId;
  } catch {
    return undefined;
  }
}

/** Runs until `signal` aborts (a failed run is reported through `onError`); answers the folder's batch id. */
export async function consume(client: GatewayClient, opts: ConsumeOptions): Promise<string | undefined> {
  const { dir, stableMs, signal, onRun, onError, ...bulk } = opts;
  await mkdir(bulk.stateDir, { recursive: true });
  const file = batchFile(bulk.stateDir, dir, bulk.endpoint);
  let batchId = await readBatchId(file);
  const run = async () => {
    const r = await bulkUpload(client, {
      ...bulk,
      sources: [{ arg: dir, base: resolve(dir), kind: "dir" }],
      batchId,
      resume: true,
      signal,
    });
    if (batchId !== r.batchId) {
      batchId = r.batchId;
      await writeFile(`${file}.tmp`, JSON.stringify({ batchId, dir: resolve(dir) }));
      await rename(`${file}.tmp`, file);
    }
    onRun(r);
  };
  // One run at a time; files that settle meanwhile are taken by one more run after it.
  let running: Promise<void> | null = null;
  let again = false;
  const kick = () => {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await run();
      } while (again && !signal.aborted);
    })()
      .catch((err) => {
        if (!signal.aborted) onError(err);
      })
      .finally(() => {
        running = null;
      });
  };
  const watcher = watch(resolve(dir), {
    ignoreInitial: true,
    awaitWriteFinish: { stabilityThreshold: stableMs, pollInterval: Math.max(50, Math.floor(stableMs / 4)) },
    ignored: (p) => p.split(/[\\/]/).some((s) => s.startsWith(".") && s.length > 1),
  });
  const ready = new Promise<void>((r) => watcher.once("ready", () => r()));
  watcher.on("add", kick).on("change", kick);
  await ready;
  kick(); // what is there already (a restart's manifest skips what was sent)
  await new Promise<void>((r) => {
    if (signal.aborted) r();
    else signal.addEventListener("abort", () => r(), { once: true });
  });
  await watcher.close();
  await running;
  return batchId;
}
