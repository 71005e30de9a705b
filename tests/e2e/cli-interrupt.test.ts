import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/cli.ts";
import { deferred } from "../helpers/wait.ts";

// Ctrl-C on a spawned `docfleet upload`, against a stand-in gateway that answers the upload's
// GraphQL operations by name and never lets the step under test end: the bytes' POST never answers
// (the upload phase), or the batch never finishes (the wait). The first SIGINT must stop the command
// where it stands: exit 130, one line on stderr, no stack, the manifest kept for a rerun.

const BIN = `${ROOT}apps/cli/bin/docfleet.mjs`;
const BATCH = "11111111-1111-4111-8111-111111111111";
const DOC = "22222222-2222-4222-8222-222222222222";
const INTERRUPTED =
  "docfleet: interrupted: the upload's manifest keeps what was done; rerun the same command to go on";

interface StandIn {
  url: string;
  /** Resolves when the bytes' POST arrived (and is left unanswered). */
  posted: Promise<void>;
  server: Server;
}

async function standIn(o: { answerBytes: boolean }): Promise<StandIn> {
  const posted = deferred();
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith("/bytes")) {
      req.resume();
      posted.resolve();
      if (o.answerBytes) req.on("end", () => res.writeHead(204).end());
      else held.push(res); // never answered
      return;
    }
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const { query } = JSON.parse(body) as { query: string };
      const op = /(?:query|mutation) (\w+)/.exec(query)?.[1];
      const counts = {
        total: 1,
        pendingUpload: 0,
        queued: 1,
        processing: 0,
        completed: 0,
        failed: 0,
        needsReview: 0,
        done: 0,
      };
      const data: Record<string, unknown> = {
        CreateBatch: { createBatch: { id: BATCH } },
        CheckBatch: { batch: { id: BATCH } },
        RequestUploads: {
          requestUploads: [
            {
              status: "UPLOAD",
              documentId: DOC,
              batchId: BATCH,
              documentName: "a.txt",
              code: null,
              message: null,
              target: { url: `${address()}/bytes`, fields: [] },
            },
          ],
        },
        CompleteUploads: { completeUploads: [{ documentId: DOC, status: "QUEUED", message: null }] },
        BatchCounts: { batch: { counts } },
      };
      if (!op || !(op in data)) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: [{ message: `stand-in knows no ${op}` }] }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ data: data[op] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  server.on("close", () => {
    for (const r of held) r.destroy();
  });
  return { url: address(), posted: posted.promise, server };
}

/** `docfleet upload` of one file, as a child whose output is watched. */
function spawnUpload(file: string, endpoint: string, stateDir: string) {
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, "upload", file, "--endpoint", endpoint, "--api-key", `dfk_${"a".repeat(43)}`],
    {
      env: { ...process.env, DOCFLEET_STATE_DIR: stateDir, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  const waiting = deferred();
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => {
    stderr += d;
    if (/processing 0\/1/.test(stderr)) waiting.resolve();
  });
  const exited = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
  return { child, exited, waiting: waiting.promise, out: () => ({ stdout, stderr }) };
}

describe("Ctrl-C during docfleet upload", () => {
  let dir: string;
  let file: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-interrupt-"));
    file = join(dir, "a.txt");
    await writeFile(file, "a note to upload\n");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("while the bytes are in flight: stops at once, exit 130, one line, manifest kept", async () => {
    const s = await standIn({ answerBytes: false });
    const stateDir = join(dir, "state-upload");
    try {
      const run = spawnUpload(file, s.url, stateDir);
      await s.posted;
      run.child.kill("SIGINT");
      const code = await run.exited;
      const { stdout, stderr } = run.out();
      expect(code, stderr).toBe(130);
      expect(stdout).toBe("");
      const lines = stderr.split("\n").filter((l) => l.trim() && !l.startsWith("uploading"));
      expect(lines).toEqual([INTERRUPTED]);
      expect(stderr).not.toMatch(/^\s+at /m);
      // the manifest stays (not renamed .done): a rerun resumes from it
      expect(await readdir(join(stateDir, "uploads"))).toEqual([`${BATCH}.jsonl`]);
    } finally {
      await new Promise((r) => s.server.close(r));
    }
  }, 60_000);

  it("while waiting for processing: stops at once, exit 130, one line, manifest kept", async () => {
    const s = await standIn({ answerBytes: true });
    const stateDir = join(dir, "state-wait");
    try {
      const run = spawnUpload(file, s.url, stateDir);
      await run.waiting;
      run.child.kill("SIGINT");
      const code = await run.exited;
      const { stdout, stderr } = run.out();
      expect(code, stderr).toBe(130);
      expect(stdout).toBe("");
      expect(stderr.trimEnd().split("\n").at(-1)).toBe(INTERRUPTED);
      expect(stderr).not.toMatch(/unexpected error|^\s+at /m);
      expect(existsSync(join(stateDir, "uploads"))).toBe(true);
    } finally {
      await new Promise((r) => s.server.close(r));
    }
  }, 60_000);
});
