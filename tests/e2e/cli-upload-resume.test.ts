import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";
import { mulberry32 as rng } from "../helpers/random.ts";
import { batchDocuments, embeddedGateway, writeFiles } from "../helpers/upload.ts";
import { whenFiles } from "../helpers/wait.ts";

const N = 2000;
const SEED = Number(process.env.UPLOAD_RESUME_SEED ?? Date.now() % 100_000);

async function manifestLines(stateDir: string): Promise<number> {
  const dir = join(stateDir, "uploads");
  const names = await readdir(dir).catch(() => [] as string[]);
  let n = 0;
  // a manifest renamed between readdir and read (finished: .done.jsonl) is counted under its new name next time
  for (const name of names)
    n += (await readFile(join(dir, name), "utf8").catch(() => "")).split("\n").length - 1;
  return n;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `docfleet upload` and, when `stop` is given, sends it `stop.signal` once the manifest has grown
 * by `stop.afterLines` lines: a random point of the run (hashing, registering, sending or queueing).
 */
async function upload(
  args: string[],
  env: NodeJS.ProcessEnv,
  stop?: { signal: NodeJS.Signals; afterLines: number },
) {
  const stateDir = env.DOCFLEET_STATE_DIR!;
  await mkdir(join(stateDir, "uploads"), { recursive: true }); // there to be watched before the run writes to it
  const start = await manifestLines(stateDir);
  const child: ChildProcess = spawn(
    process.execPath,
    [join(ROOT, "apps/cli/bin/docfleet.mjs"), "upload", ...args],
    {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<Run>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  let sent = false;
  if (stop) {
    // Watch the manifest the way a person would watch the bar, and pull the plug past the mark.
    const exited = new AbortController();
    void done.then(() => exited.abort());
    const past = await whenFiles(
      join(stateDir, "uploads"),
      `the manifest to grow by ${stop.afterLines} lines`,
      async () => (await manifestLines(stateDir)) - start >= stop.afterLines,
      { stop: exited.signal, timeoutMs: 120_000 },
    );
    if (past && child.exitCode === null && child.signalCode === null) {
      child.kill(stop.signal);
      sent = true;
    }
  }
  const run = await done;
  return { ...run, sent };
}

describe("docfleet upload: interrupted three times, resumed to the end", () => {
  let dir: string;
  let gateway: Awaited<ReturnType<typeof embeddedGateway>>;
  let files: Map<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-resume-"));
    gateway = await embeddedGateway(join(dir, "data"));
    files = await writeFiles(join(dir, "src"), N);
  }, 120_000);

  afterAll(async () => {
    await gateway?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it(`holds each of ${N} files exactly once (seed ${SEED})`, async () => {
    const random = rng(SEED);
    const env = { DOCFLEET_STATE_DIR: join(dir, "state"), DOCFLEET_ENDPOINT: gateway.url };
    const args = [join(dir, "src"), "--no-wait", "--json", "--concurrency", "8", "--chunk-size", "200"];
    // A crash, a Ctrl-C and another crash, each at a random point of its run.
    const stops: NodeJS.Signals[] = ["SIGKILL", "SIGINT", "SIGKILL"];
    for (const signal of stops) {
      const afterLines = 50 + Math.floor(random() * 900);
      const r = await upload(args, env, { signal, afterLines });
      expect(r.sent, `the run ended before the ${signal} at +${afterLines} lines: ${r.stderr}`).toBe(true);
      if (signal === "SIGKILL") expect(r.signal).toBe("SIGKILL");
      else {
        // Ctrl-C: it stops, says how far it got, keeps the manifest and exits 130.
        expect(r.code, r.stderr).toBe(130);
        const s = JSON.parse(r.stdout);
        expect(s.interrupted).toBe(true);
        expect(s.files).toBeLessThanOrEqual(N);
      }
    }

    const last = await upload(args, env);
    expect(last.code, last.stderr).toBe(0);
    const s = JSON.parse(last.stdout);
    expect(s.stderr).toBeUndefined();
    expect(last.stderr).toMatch(/resuming batch/);
    expect(s.interrupted).toBe(false);
    expect(s.resumed).toBe(true);
    expect(s.files).toBe(N);
    // This run's outcomes add up to every file; what earlier runs did is skipped, not sent again.
    expect(s.skipped + s.uploaded + s.inBatch + s.duplicates).toBe(N);
    expect(s.duplicates).toBe(0);
    expect(s.skipped).toBeGreaterThan(0);
    expect(s.problems).toEqual({ rejected: 0, unreadable: 0, uploadFailed: 0 });
    expect(s.pendingLeft).toBe(0);
    expect(s.totals.queued + s.totals.inBatch).toBe(N);
    expect(s.batch).toEqual({ total: N, pendingUpload: 0 });

    // The batch itself: each file once, with its own content, all queued.
    const docs = await batchDocuments(gateway.url, s.batchId);
    expect(docs).toHaveLength(N);
    const byName = new Map(docs.map((d) => [d.name, d]));
    expect(byName.size).toBe(N);
    for (const [name, sha256] of files) {
      expect(byName.get(name)?.sha256, name).toBe(sha256);
      expect(byName.get(name)?.status, name).toBe("QUEUED");
    }

    // A fourth run has nothing left to do.
    const again = await upload(args, env);
    expect(again.code).toBe(0);
    const t = JSON.parse(again.stdout);
    expect([t.batchId, t.skipped, t.uploaded]).toEqual([s.batchId, N, 0]);
  }, 300_000);
});
