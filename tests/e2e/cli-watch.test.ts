import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  adminKey,
  bearer,
  freePort,
  gql,
  ROOT,
  type RunResult,
  runCli,
  type Served,
  startDocfleet,
  startServe,
  withKey,
} from "../helpers/cli.ts";
import { followBatch } from "../helpers/graphql.ts";
import { type OllamaDouble, startOllamaDouble } from "../ollama-double/index.ts";

// `docfleet watch` over the gateway's batchProgress subscription (graphql-ws), against real
// `docfleet serve` processes: exact counts from the event history, and a resume across a restart.

const TEXTS = 28;
/** A first serve creates its database: at a load of 30 on 2 cores that outlasts the default 90 s. */
const READY_MS = 240_000;

interface WatchJson {
  batchId: string;
  counts: { total: number; pendingUpload: number; completed: number; failed: number; done: number };
  failuresByCode: Record<string, number>;
  seconds: number;
  reconnects: number;
}

/** TEXTS distinct small text files, one empty file (EMPTY) and one of binary garbage (UNSUPPORTED_TYPE). */
async function makeFiles(dir: string, tag: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < TEXTS; i++) {
    await writeFile(
      join(dir, `note-${i}.txt`),
      `Meeting note ${tag} ${i}\n\nThe ${["north", "south", "east", "west"][i % 4]} warehouse counted ${100 + i} pallets of item ${tag}-${i * 7}.\nNext review in ${1 + (i % 12)} weeks.\n`,
    );
  }
  await writeFile(join(dir, "empty.txt"), "");
  // every byte value, NULs included, no known magic number; differs per tag (not a duplicate)
  const garbage = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 151 + tag.charCodeAt(0)) % 256));
  await writeFile(join(dir, "garbage.bin"), garbage);
  return dir;
}

async function uploadNoWait(served: Served, dir: string): Promise<string> {
  const up = await runCli(["upload", dir, "--endpoint", served.url, "--json", "--no-wait"], withKey(served));
  expect(up.code, up.stderr).toBe(0);
  const s = JSON.parse(up.stdout) as { batchId: string; uploaded: number };
  expect(s.uploaded).toBe(TEXTS + 2);
  return s.batchId;
}

function expectExact(r: WatchJson, batchId: string) {
  expect(r.batchId).toBe(batchId);
  expect(r.counts).toMatchObject({
    total: TEXTS + 2,
    pendingUpload: 0,
    completed: TEXTS,
    failed: 2,
    done: TEXTS + 2,
  });
  expect(r.failuresByCode).toEqual({ EMPTY: 1, UNSUPPORTED_TYPE: 1 });
}

describe("docfleet watch", () => {
  let dir: string;
  let served: Served | undefined;
  let double: OllamaDouble | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-watch-"));
  });

  afterAll(async () => {
    await served?.kill();
    await double?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("follows a batch to the end: exit code, counts and failures by code", async () => {
    served = await startServe(join(dir, "data-1"), {}, { readyMs: READY_MS });
    const batchId = await uploadNoWait(served, await makeFiles(join(dir, "files-1"), "a"));

    const res = await runCli(["watch", batchId, "--endpoint", served.url, "--json"], withKey(served));
    expect(res.stderr).not.toMatch(/unexpected error/);
    expect(res.code, res.stderr).toBe(4); // ExitCode.PARTIAL: finished, some failed
    const r = JSON.parse(res.stdout) as WatchJson;
    expectExact(r, batchId);
    expect(r.reconnects).toBe(0);

    // the same batch again, long finished: the history alone gives the same answer
    const again = JSON.parse(
      (await runCli(["watch", batchId, "--endpoint", served.url, "--json"], withKey(served))).stdout,
    );
    expect(again.counts).toEqual(r.counts);
    expect(again.failuresByCode).toEqual(r.failuresByCode);

    // upload --watch reports through upload's summary (the empty file is a duplicate by now)
    const up = await runCli(
      ["upload", await makeFiles(join(dir, "files-1b"), "b"), "--endpoint", served.url, "--json", "--watch"],
      withKey(served),
    );
    expect(up.code, up.stderr).toBe(4);
    expect(JSON.parse(up.stdout)).toMatchObject({
      uploaded: TEXTS + 1,
      duplicates: 1,
      completed: TEXTS,
      failed: 1,
      failuresByCode: { UNSUPPORTED_TYPE: 1 },
    });
  }, 300_000); // starting `docfleet serve` alone took ~50 s on a loaded 2-core machine

  it("a batch that does not exist: NOT_FOUND and the usage exit code", async () => {
    served ??= await startServe(join(dir, "data-1"), {}, { readyMs: READY_MS });
    const res = await runCli(
      ["watch", "00000000-0000-4000-8000-000000000000", "--endpoint", served.url],
      withKey(served),
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/NOT_FOUND/);
    expect(res.stdout).toBe("");
  }, 300_000);

  it("resumes from its cursor when the gateway is stopped and started again on the same data and port", async () => {
    await served?.stop();
    served = undefined;
    // a slow model server keeps the batch under way long enough to restart the gateway mid-batch
    double = await startOllamaDouble({ timeScale: 0 });
    double.setBehaviour({ extraLatencyMs: 250 });
    const data = join(dir, "data-2");
    const port = await freePort();
    const serve = async () => ({
      ...(await startDocfleet(
        ["serve", "--port", String(port), "--data-dir", data],
        { OLLAMA_URL: double!.url },
        { port },
        READY_MS,
      )),
      apiKey: adminKey(data),
    });
    served = await serve();
    const url = served.url;
    const batchId = await uploadNoWait(served, await makeFiles(join(dir, "files-2"), "c"));

    const watch = spawnWatch(["watch", batchId, "--endpoint", url, "--json"], withKey(served));
    // the first progress line means the subscription is live
    await watch.stderrMatches(/batch \S+: \d+\/\d+ done/);

    const { done } = (
      await followBatch(url, batchId, "5 documents done", (m) => m.counts.done >= 5, {
        timeoutMs: 120_000,
        headers: bearer(served),
      })
    ).counts;
    expect(await served.stop()).toBe(0);
    expect(done).toBeLessThan(TEXTS + 2); // really mid-batch
    await watch.stderrMatches(/reconnecting/);
    served = await serve();

    const res = await watch.result;
    expect(res.code, res.stderr).toBe(4);
    const r = JSON.parse(res.stdout) as WatchJson;
    expectExact(r, batchId);
    expect(r.reconnects).toBeGreaterThanOrEqual(1);
    const { batch } = await gql<{
      batch: { finished: boolean; counts: { completed: number; failed: number } };
    }>(
      url,
      "query($id: ID!) { batch(id: $id) { finished counts { completed failed } } }",
      { id: batchId },
      served.apiKey,
    );
    expect(batch).toEqual({ finished: true, counts: { completed: TEXTS, failed: 2 } });
  }, 300_000);
});

/** `docfleet <args>` in the background, with a way to wait for something on its stderr. */
function spawnWatch(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [`${ROOT}apps/cli/bin/docfleet.mjs`, ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => {
    stderr += d;
    for (const w of waiters.splice(0)) {
      if (w.re.test(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const result = new Promise<RunResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      for (const w of waiters.splice(0)) w.resolve(); // the caller's next assertion says what went wrong
      resolve({ code, stdout, stderr });
    });
  });
  return {
    result,
    stderrMatches: (re: RegExp) =>
      new Promise<void>((resolve) => {
        if (re.test(stderr) || child.exitCode !== null) resolve();
        else waiters.push({ re, resolve });
      }),
  };
}
