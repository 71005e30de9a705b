import { type ChildProcess, spawn } from "node:child_process";
import { appendFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gql, ROOT, type Served, startServe } from "../helpers/cli.ts";

// `docfleet consume DIR` (issue 20's hot folder), spawned against a real `docfleet serve`: files already
// there and files that appear are uploaded once each, a file written in parts only once whole, and a
// restarted consume uploads nothing again.

const BIN = `${ROOT}apps/cli/bin/docfleet.mjs`;

interface RunLine {
  batchId: string;
  uploaded: number;
  skipped: number;
  duplicates: number;
}

/** A running `docfleet consume --json`: its run lines as they come. */
function startConsume(dir: string, served: Served, stateDir: string) {
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, "consume", dir, "--endpoint", served.url, "--json", "--stable-ms", "1500", "--name", "hot"],
    {
      env: { ...process.env, DOCFLEET_API_KEY: served.apiKey, DOCFLEET_STATE_DIR: stateDir },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const lines: RunLine[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    lines.push(JSON.parse(l) as RunLine);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    lines,
    stderr: () => stderr,
    /** Resolves once the runs so far uploaded `n` files in all. */
    async uploadedAtLeast(n: number): Promise<void> {
      for (;;) {
        if (lines.reduce((a, l) => a + l.uploaded, 0) >= n) return;
        const more = new Promise<void>((r) => waiters.push(r));
        const gone = exited.then(() => {
          throw new Error(`consume exited: ${stderr}`);
        });
        await Promise.race([more, gone]);
      }
    },
    /** Resolves once `n` run lines came. */
    async runs(n: number): Promise<void> {
      while (lines.length < n) await new Promise<void>((r) => waiters.push(r));
    },
    async stop(): Promise<number | null> {
      child.kill("SIGINT");
      return exited;
    },
  };
}

describe("docfleet consume", () => {
  let dir: string;
  let served: Served;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-cli-consume-"));
    served = await startServe(join(dir, "data"), {}, { readyMs: 240_000 });
  }, 260_000);

  afterAll(async () => {
    await served?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("uploads each file once, a slowly written one only whole, and nothing again after a restart", async () => {
    const hot = join(dir, "hot");
    const state = join(dir, "state");
    await mkdir(hot);
    await writeFile(join(hot, "before.txt"), "A file that was there before consume started.");
    const first = startConsume(hot, served, state);
    await first.uploadedAtLeast(1);

    await writeFile(join(hot, "new.txt"), "A file that appeared while consume ran.");
    // written in three parts by a slow writer, each part well inside the 1.5 s stability window
    const slow = join(hot, "slow.txt");
    const parts = ["First part of a slow file. ", "Second part. ", "Third and last part."];
    await writeFile(slow, parts[0]!);
    for (const p of parts.slice(1)) {
      await new Promise((r) => setTimeout(r, 300)); // the writer's pace, not a synchronisation
      await appendFile(slow, p);
    }
    await first.uploadedAtLeast(3);
    expect(await first.stop()).toBe(130);
    const batchId = first.lines[0]!.batchId;
    expect(new Set(first.lines.map((l) => l.batchId))).toEqual(new Set([batchId]));
    expect(first.lines.reduce((a, l) => a + l.uploaded, 0)).toBe(3);

    const second = startConsume(hot, served, state);
    await second.runs(1);
    expect(second.lines[0]).toMatchObject({ batchId, uploaded: 0, duplicates: 0, skipped: 3 });
    await writeFile(join(hot, "after-restart.txt"), "A file that appeared after the restart.");
    await second.uploadedAtLeast(1);
    expect(await second.stop()).toBe(130);
    expect(second.lines.every((l) => l.batchId === batchId)).toBe(true);

    const { documents } = await gql<{ documents: { edges: { node: { name: string; size: number } }[] } }>(
      served.url,
      "query($b: ID!) { documents(filter: { batchId: $b }, first: 100) { edges { node { name size } } } }",
      { b: batchId },
      served.apiKey,
    );
    const byName = documents.edges.map((e) => e.node).sort((a, b) => a.name.localeCompare(b.name));
    expect(byName.map((d) => d.name)).toEqual(["after-restart.txt", "before.txt", "new.txt", "slow.txt"]);
    expect(byName.find((d) => d.name === "slow.txt")?.size).toBe(Buffer.byteLength(parts.join("")));
  }, 600_000);
});
