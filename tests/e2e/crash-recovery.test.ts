import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { afterAll, expect, it } from "vitest";
import { bearer, CORPUS, gql, runCli, type Served, startServe, withKey } from "../helpers/cli.ts";
import { followBatch } from "../helpers/graphql.ts";

let dir: string;
let served: Served | undefined;
afterAll(async () => {
  await served?.kill();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Counts = {
  total: number;
  pendingUpload: number;
  completed: number;
  failed: number;
  queued: number;
  processing: number;
};
const countsQuery =
  "query($id: ID!) { batch(id: $id) { counts { total pendingUpload completed failed queued processing } } }";

it("kill -9 of docfleet serve mid-batch, then restart: every document finishes, none indexed twice", async () => {
  // A wait's bound is a stall detector, not a timing assertion: the batch may take what is left of the
  // test's 600 s (a loaded 2-core machine needed over 240 s after the restart), and a stall still fails
  // with the last counts before vitest's own timeout.
  const deadline = Date.now() + 570_000;
  dir = await mkdtemp(join(tmpdir(), "docfleet-crash-"));
  const data = join(dir, "data");
  served = await startServe(data);
  const up = await runCli(
    [
      "upload",
      join(CORPUS, "pdfjs"),
      join(CORPUS, "formats"),
      "--endpoint",
      served.url,
      "--json",
      "--no-wait",
    ],
    withKey(served),
  );
  expect(up.code, up.stderr).toBe(0);
  const { batchId, uploaded } = JSON.parse(up.stdout) as { batchId: string; uploaded: number };

  // wait until the batch is under way, then kill without warning
  let counts: Counts = (
    await followBatch(
      served.url,
      batchId,
      "20 documents done",
      (m) => m.counts.completed + m.counts.failed >= 20,
      { timeoutMs: deadline - Date.now(), headers: bearer(served) },
    )
  ).counts;
  await served.kill();
  const doneAtKill = counts.completed + counts.failed;
  expect(doneAtKill).toBeLessThan(uploaded); // really mid-batch

  served = await startServe(data);
  const restartedAt = Date.now();
  await followBatch(
    served.url,
    batchId,
    "every document done after the restart",
    (m) => m.counts.completed + m.counts.failed === uploaded,
    { timeoutMs: deadline - Date.now(), headers: bearer(served) },
  );
  ({
    batch: { counts },
  } = await gql<{ batch: { counts: Counts } }>(served.url, countsQuery, { id: batchId }, served.apiKey));
  expect(counts).toMatchObject({ queued: 0, processing: 0, pendingUpload: 0, total: uploaded });
  console.log(
    `crash test: killed at ${doneAtKill}/${uploaded} done; all finished ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after restart`,
  );
  expect(await served.stop()).toBe(0);
  served = undefined;

  // Now look inside: exactly one completion per document, and the index holds each document's chunks once.
  const db = await openPgliteDatabase(join(data, "db"));
  try {
    const docs = await db.query<{
      id: string;
      tenant_id: string;
      status: string;
      error_code: string | null;
      completions: number;
    }>(
      `SELECT d.id, d.tenant_id, d.status, d.error_code,
              (SELECT count(*)::int FROM event e WHERE e.document_id = d.id AND e.type = 'document.completed') AS completions
       FROM document d WHERE d.batch_id = $1`,
      [batchId],
    );
    expect(docs).toHaveLength(uploaded);
    for (const d of docs) {
      expect(["COMPLETED", "FAILED"]).toContain(d.status);
      if (d.status === "FAILED") expect(d.error_code).toBeTruthy();
      expect(d.completions).toBe(d.status === "COMPLETED" ? 1 : 0);
    }
    const chunks = await db.query<{ document_id: string; n: number; max: number }>(
      "SELECT document_id, count(*)::int AS n, max(chunk)::int AS max FROM search_chunk WHERE batch_id = $1 GROUP BY document_id",
      [batchId],
    );
    const byDoc = new Map(chunks.map((c) => [c.document_id, c]));
    for (const d of docs.filter((x) => x.status === "COMPLETED")) {
      const artifact = JSON.parse(
        await readFile(join(data, "objects", d.tenant_id, d.id, "chunks.json"), "utf8"),
      ) as { chunks: unknown[] };
      const c = byDoc.get(d.id);
      expect(c?.n ?? 0, d.id).toBe(artifact.chunks.length);
      if (c) expect(c.max).toBe(c.n - 1);
    }
    for (const c of chunks) expect(docs.find((d) => d.id === c.document_id)?.status).toBe("COMPLETED");
  } finally {
    await db.close();
  }
}, 600_000);
