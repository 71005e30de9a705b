import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { HashPool, type HashResult } from "./hash-pool.ts";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

let dir: string;
const pools: HashPool[] = [];

function pool(threads = 2): HashPool {
  const p = new HashPool(threads);
  pools.push(p);
  return p;
}

function file(name: string, content: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "docfleet-hash-"));
});

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("HashPool", () => {
  it("hashes files of 0 B, 1 B and 3 MiB as node:crypto does, with their size and mtime", async () => {
    const hp = pool();
    const contents = {
      "empty.bin": Buffer.alloc(0),
      "one.bin": Buffer.from([0x2a]),
      // past the thread's 1 MiB read buffer, and not a multiple of it
      "big.bin": randomBytes(3 * 1024 ** 2 + 17),
    };
    for (const [name, content] of Object.entries(contents)) {
      const path = file(name, content);
      const st = statSync(path);
      expect(await hp.hash(path), name).toEqual({
        sha256: sha256(content),
        size: content.length,
        mtimeMs: st.mtimeMs,
      });
    }
  });

  it("hashes many files at once, each its own answer", async () => {
    const hp = pool(2);
    const sub = join(dir, "many");
    mkdirSync(sub);
    // 500 files: far more than the 2 threads × 2 batches × 16 files in flight, so most wait in the queue
    const contents = Array.from({ length: 500 }, (_, i) => randomBytes(i % 7 === 0 ? 70_000 : i));
    const paths = contents.map((c, i) => {
      const path = join(sub, `f${i}`);
      writeFileSync(path, c);
      return path;
    });
    const results = await Promise.all(paths.map((p) => hp.hash(p)));
    const wrong = results.filter(
      (r, i) => !("sha256" in r) || r.sha256 !== sha256(contents[i]!) || r.size !== contents[i]!.length,
    );
    expect(wrong).toEqual([]);
  });

  it("answers why a file cannot be read instead of throwing", async () => {
    const hp = pool(1);
    const ok = file("fine.txt", Buffer.from("fine"));
    const [missing, folder, fine] = await Promise.all([
      hp.hash(join(dir, "no-such-file")),
      hp.hash(dir),
      hp.hash(ok),
    ]);
    expect(missing).toMatchObject({ error: "ENOENT" });
    expect((missing as { message: string }).message).toContain("no-such-file");
    expect(folder).toMatchObject({ error: "EISDIR" });
    expect(typeof (folder as { message: string }).message).toBe("string");
    // the thread is still there for the next file
    expect(fine).toMatchObject({ sha256: sha256(Buffer.from("fine")), size: 4 });
  });

  it("on close, settles every job, rejects the queued ones and stops its threads", async () => {
    const terminate = vi.spyOn(Worker.prototype, "terminate");
    const hp = new HashPool(2);
    const path = file("small.txt", Buffer.from("x"));
    const settled: (HashResult | Error | undefined)[] = Array(200).fill(undefined);
    const jobs = settled.map((_, i) =>
      hp.hash(path).then(
        (r) => {
          settled[i] = r;
        },
        (err: Error) => {
          settled[i] = err;
        },
      ),
    );
    await hp.close();
    expect(terminate).toHaveBeenCalledTimes(2);
    // the threads took 2 × 2 batches of 16 at most: the rest was still queued
    expect(settled.filter((s) => s === undefined)).toHaveLength(0);
    const rejected = settled.filter((s) => s instanceof Error) as Error[];
    expect(rejected.length).toBeGreaterThanOrEqual(200 - 64);
    expect(rejected.every((e) => e.message.includes("closed"))).toBe(true);
    await Promise.all(jobs);
    await expect(hp.hash(path)).rejects.toThrow("closed");
  });
});
