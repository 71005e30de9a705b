import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, runCli, type Served, startDocfleet } from "../helpers/cli.ts";
import { type DistributedEnv, distributedEnv } from "../helpers/distributed.ts";
import { followBatches } from "../helpers/graphql.ts";
import { describeRgw, removeRgwBucket, rgwBucketName } from "../helpers/rgw.ts";

const exec = promisify(execFile);

type Counts = {
  total: number;
  completed: number;
  failed: number;
  queued: number;
  processing: number;
  pendingUpload: number;
};
/**
 * Follows the batches' progress subscriptions on the gateway at `url` until `done` holds for their
 * counters, or fails after `ms` with the last counters.
 */
async function waitFor(
  url: string,
  batchIds: string[],
  what: string,
  done: (c: Counts[]) => boolean,
  ms: number,
): Promise<Counts[]> {
  const latest = await followBatches(url, batchIds, what, (m) => done(m.map((x) => x.counts)), {
    timeoutMs: ms,
  });
  return latest.map((m) => m.counts);
}
const finished = (c: Counts[]) => c.every((x) => x.completed + x.failed === x.total && x.total > 0);

/** `n` small, distinct text documents of a few kinds under `dir`. */
async function writeDocs(dir: string, n: number, tag: string) {
  await mkdir(dir, { recursive: true });
  const kinds = [
    (i: number) =>
      `INVOICE No ${tag}-${i}\nInvoice date: 2024-03-${String((i % 28) + 1).padStart(2, "0")}\nTotal due: ${i}.50 EUR`,
    (i: number) => `Dear customer ${i},\n\nI am writing about order ${tag}-${i}. Yours sincerely, Ann`,
    (i: number) =>
      `Service Agreement ${tag}-${i}. The parties hereby agree; either party may terminate on notice.`,
    (i: number) => `Quarterly report ${tag}-${i}: revenue grew ${i % 17}% in the quarter.`,
  ];
  for (let i = 0; i < n; i++) await writeFile(join(dir, `doc-${i}.txt`), kinds[i % kinds.length]!(i));
}

/** Where a deployment keeps its objects: its S3 variables, and what to delete afterwards. */
type ObjectStoreEnv = () => Promise<{ env: NodeJS.ProcessEnv; close(): Promise<void> }>;

/**
 * The distributed mode as separate processes: 2 gateways, 2 workers (parse,index / understand,embed),
 * RabbitMQ and PostgreSQL of this machine, and an S3 server for objects: s3rver (in this process, fast,
 * checks no signature), and once more on radosgw (`objects`), which checks every signature and policy the
 * gateways hand out. Runs alone (the s3rver case restarts the broker).
 */
function distributedSuite(title: string, opts: { objects?: ObjectStoreEnv; brokerRestart: boolean }) {
  describe(title, () => {
    const procs: Served[] = [];
    let env: NodeJS.ProcessEnv;
    let deployment: DistributedEnv;
    let dir: string;
    let gw1: Served;
    let gw2: Served;
    let workerB: Served;

    const startWorker = async (roles: string) => {
      const p = await startDocfleet(["worker", "--roles", roles, "--concurrency", "4"], env, {
        readyLine: /docfleet worker consuming/,
      });
      procs.push(p);
      return p;
    };
    const startGateway = async () => {
      const port = await freePort();
      const p = await startDocfleet(["gateway", "--port", String(port)], env, { port });
      procs.push(p);
      return p;
    };

    let closeObjects: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), "docfleet-dist-"));
      deployment = await distributedEnv("e2e");
      const objects = opts.objects ? await opts.objects() : undefined;
      closeObjects = objects?.close;
      // the objects' variables replace the deployment's s3rver ones
      env = { ...deployment.env, ...objects?.env, DOCFLEET_LEASE_MS: "20000" };
      gw1 = await startGateway(); // first: migrates the fresh database
      [gw2] = await Promise.all([startGateway(), startWorker("parse,index")]);
      workerB = await startWorker("understand,embed");
    }, 180_000);

    afterAll(async () => {
      const codes = await Promise.all(procs.map((p) => p.stop()));
      await closeObjects?.();
      await deployment?.close();
      await rm(dir, { recursive: true, force: true });
      // every process that was not killed drained and exited cleanly on SIGTERM
      expect(codes.filter((c) => c !== null && c !== 0)).toEqual([]);
    }, 120_000);

    it("1,000 documents through two gateways; a worker killed mid-batch; exactly one index entry each", async () => {
      await writeDocs(join(dir, "a"), 500, "A");
      await writeDocs(join(dir, "b"), 500, "B");
      const [upA, upB] = await Promise.all([
        runCli([
          "upload",
          join(dir, "a"),
          "--endpoint",
          gw1.url,
          "--json",
          "--no-wait",
          "--concurrency",
          "16",
        ]),
        runCli([
          "upload",
          join(dir, "b"),
          "--endpoint",
          gw2.url,
          "--json",
          "--no-wait",
          "--concurrency",
          "16",
        ]),
      ]);
      expect(upA.code, upA.stderr).toBe(0);
      expect(upB.code, upB.stderr).toBe(0);
      const batches = [JSON.parse(upA.stdout).batchId as string, JSON.parse(upB.stdout).batchId as string];

      // a batch started on one gateway is visible on the other
      const before = await waitFor(
        gw2.url,
        batches,
        "150 documents completed",
        (c) => c.reduce((s, x) => s + x.completed, 0) >= 150,
        180_000,
      );
      expect(before.map((c) => c.total)).toEqual([500, 500]);

      // kill -9 the GPU-role worker mid-batch, start a fresh one
      const doneAtKill = before.reduce((s, x) => s + x.completed + x.failed, 0);
      expect(doneAtKill).toBeLessThan(1000);
      const killedAt = Date.now();
      await workerB.kill();
      workerB = await startWorker("understand,embed");
      const startedAt = Date.now();
      await waitFor(
        gw1.url,
        batches,
        "work going on after the kill",
        (c) => c.reduce((s, x) => s + x.completed + x.failed, 0) > doneAtKill + 4,
        60_000,
      );
      const resumedAt = Date.now();

      const end = await waitFor(gw1.url, batches, "both batches finished", finished, 300_000);
      console.log(
        `distributed: worker killed at ${doneAtKill}/1000; replacement up in ${((startedAt - killedAt) / 1000).toFixed(1)} s; ` +
          `work resumed ${((resumedAt - killedAt) / 1000).toFixed(1)} s after the kill; all done ${((Date.now() - killedAt) / 1000).toFixed(1)} s after it`,
      );
      expect(end.map((c) => [c.completed, c.failed, c.queued, c.processing])).toEqual([
        [500, 0, 0, 0],
        [500, 0, 0, 0],
      ]);

      const db = new pg.Client({ connectionString: env.DATABASE_URL });
      await db.connect();
      try {
        const { rows } = await db.query<{
          docs: number;
          entries: number;
          duplicates: number;
          completions: number;
        }>(
          `SELECT (SELECT count(*)::int FROM document WHERE batch_id = ANY($1::uuid[])) AS docs,
                (SELECT count(*)::int FROM search_chunk WHERE batch_id = ANY($1::uuid[])) AS entries,
                (SELECT count(*)::int FROM (SELECT document_id, chunk FROM search_chunk WHERE batch_id = ANY($1::uuid[])
                   GROUP BY 1, 2 HAVING count(*) > 1) d) AS duplicates,
                (SELECT count(*)::int FROM event WHERE batch_id = ANY($1::uuid[]) AND type = 'document.completed') AS completions`,
          [batches],
        );
        // every document is one chunk long: exactly one search entry and one completion per document
        expect(rows[0]).toEqual({ docs: 1000, entries: 1000, duplicates: 0, completions: 1000 });
      } finally {
        await db.end();
      }
    }, 600_000);

    // The broker restart is about RabbitMQ, not the object store: it runs in the s3rver deployment only
    // (restarting the shared broker again on radosgw would add minutes and prove nothing more).
    if (opts.brokerRestart)
      it("RabbitMQ restarted mid-batch: publishers and consumers reconnect, nothing is lost", async () => {
        await writeDocs(join(dir, "c"), 200, "C");
        const up = await runCli([
          "upload",
          join(dir, "c"),
          "--endpoint",
          gw1.url,
          "--json",
          "--no-wait",
          "--concurrency",
          "16",
        ]);
        expect(up.code, up.stderr).toBe(0);
        const batchId = JSON.parse(up.stdout).batchId as string;
        await waitFor(gw1.url, [batchId], "20 documents completed", ([c]) => c!.completed >= 20, 120_000);
        await exec("rabbitmqctl", ["stop_app"]);
        try {
          await new Promise((r) => setTimeout(r, 2000)); // the broker stays down for a while
        } finally {
          await exec("rabbitmqctl", ["start_app"]);
        }
        const [c] = await waitFor(gw2.url, [batchId], "the batch finished", finished, 300_000);
        expect(c).toMatchObject({ total: 200, completed: 200, failed: 0, queued: 0, processing: 0 });
      }, 600_000);
  });
}

distributedSuite("distributed: 2 gateways, 2 workers, RabbitMQ, PostgreSQL, S3", { brokerRestart: true });

// The same deployment with its objects on radosgw: every upload is a presigned POST that radosgw checks
// (signature, exact key, size range, expiry), and every read and write of the workers a signed request. Skipped locally without
// RGW_URL (the reason is printed), a failure in CI without it.
describeRgw("distributed on radosgw", (rgw) => {
  distributedSuite("distributed: 2 gateways, 2 workers, RabbitMQ, PostgreSQL, radosgw", {
    brokerRestart: false,
    objects: async () => {
      const bucket = rgwBucketName("e2e");
      return {
        env: {
          S3_ENDPOINT: rgw.url,
          S3_ACCESS_KEY: rgw.accessKey,
          S3_SECRET_KEY: rgw.secretKey,
          S3_BUCKET: bucket,
        },
        close: () => removeRgwBucket(rgw, bucket),
      };
    },
  });
});
