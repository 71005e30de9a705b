import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pg from "pg";
import { AMQP_URL } from "./amqp.ts";
import { freePort, ROOT, runCli, type Served, served } from "./cli.ts";
import { type DistributedEnv, distributedEnv } from "./distributed.ts";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.ts";
import { deferred } from "./wait.ts";

// Fault injection on the distributed mode (issue 16): a gateway, a relay and a worker as separate
// processes, each reaching PostgreSQL, RabbitMQ and s3rver through a TCP proxy of this process, so that
// a dependency can be cut off from docfleet (connections dropped, new ones refused, as a stopped server)
// without stopping the machine's shared services. Outcomes are read from the database directly.

export const FAULTS = [
  "worker-kill",
  "gateway-kill",
  "relay-kill",
  "database-down",
  "store-down",
  "broker-down",
] as const;
export type Fault = (typeof FAULTS)[number];

export interface FaultOutcome {
  fault: Fault;
  documents: number;
  completed: number;
  /** Neither COMPLETED nor FAILED when the wait ended. */
  stuck: number;
  /** FAILED: every document is valid, so each failure is the fault's. */
  failed: number;
  /** (document, chunk) pairs indexed more than once, plus files registered twice in the batch (same name). */
  duplicates: number;
  /** Documents without exactly one document.completed event (among the completed). */
  completionMismatches: number;
  /** Batch counters that differ from the rows (names). */
  counterMismatches: string[];
  /** Seconds from the fault's end (restore, or the replacement process up) to the next completion. */
  resumedS: number | null;
  /** Seconds from the fault's end until every document was final. */
  settledS: number | null;
  /** Seconds the dependency was away (0 for a kill). */
  downS: number;
  /** docfleet processes that exited by themselves during the run (none should: they reconnect). */
  exited: string[];
  /** gateway-kill: what the interrupted upload and its rerun said (exit codes, files uploaded, resumed). */
  upload?: string;
  /** The stuck documents by status/stage, e.g. "QUEUED/PARSE 19" (empty when none). */
  stuckStates: string;
  /** The failed documents by error code, e.g. "RETRIES_EXHAUSTED 32" (empty when none). */
  failedCodes: string;
}

export interface FaultDeployment {
  /** Uploads `n` small text documents through the gateway; answers the batch id. */
  upload(n: number, tag: string): Promise<string>;
  /** Waits until `count` documents of the batch are final (polling the database: the gateway may be cut off). */
  untilFinal(batchId: string, count: number, ms: number): Promise<boolean>;
  /** Runs `fault` on a batch of `n` documents mid-way and measures the outcome. */
  /**
   * `settleMs` caps the wait after the fault; it also ends once the batch made no progress (no document
   * of it changed) for `stallMs`: what is not final then is stuck, not slow.
   */
  run(
    fault: Fault,
    n: number,
    opts?: { downMs?: number; settleMs?: number; stallMs?: number },
  ): Promise<FaultOutcome>;
  close(): Promise<void>;
}

const POLL_MS = 250;

/** Starts the deployment; `dir` holds the documents written for uploads. */
/**
 * `docfleet <args>` of `bin` (this tree's build, or another commit's for a before/after comparison),
 * ready once it printed `line` (and, for a gateway on `port`, /ready answered 200).
 */
async function startProc(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  line: RegExp,
  port?: number,
): Promise<Served> {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, DOCFLEET_LOG_LEVEL: "warn", METRICS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const printed = deferred();
  const onData = (d: Buffer) => {
    out = (out + d).slice(-200_000);
    if (line.test(out)) printed.resolve();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  void exited.then((code) => printed.reject(new Error(`docfleet ${args[0]} exited with ${code}:\n${out}`)));
  const timer = setTimeout(
    () => printed.reject(new Error(`docfleet ${args[0]} not ready in 180 s:\n${out}`)),
    180_000,
  );
  const url = port ? `http://127.0.0.1:${port}` : "";
  try {
    await printed.promise.finally(() => clearTimeout(timer));
    if (url && (await fetch(`${url}/ready`)).status !== 200) throw new Error(`${args[0]} not ready:\n${out}`);
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return served(child, url, () => out, exited);
}

export async function faultDeployment(
  dir: string,
  extraEnv: NodeJS.ProcessEnv = {},
  /** The docfleet bin the gateway, relay and worker run (default: this tree's build). */
  bin = `${ROOT}apps/cli/bin/docfleet.mjs`,
): Promise<FaultDeployment> {
  const deployment: DistributedEnv = await distributedEnv("faults");
  const direct = new URL(deployment.env.DATABASE_URL);
  const dbProxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  const amqp = new URL(AMQP_URL);
  const brokerProxy = await startTcpProxy({ host: amqp.hostname, port: Number(amqp.port || 5672) });
  const s3 = new URL(deployment.env.S3_ENDPOINT as string);
  const storeProxy = await startTcpProxy({ host: s3.hostname, port: Number(s3.port) });
  const via = (u: URL, port: number) => {
    const v = new URL(u);
    v.port = String(port);
    return v.toString().replace(/\/$/, "");
  };
  const env: NodeJS.ProcessEnv = {
    ...deployment.env,
    DATABASE_URL: via(direct, dbProxy.port),
    AMQP_URL: via(amqp, brokerProxy.port),
    S3_ENDPOINT: via(s3, storeProxy.port),
    DOCFLEET_LEASE_MS: "30000",
    DOCFLEET_RECONCILE_EVERY_MS: "2000",
    DOCFLEET_RECONCILE_QUIET_MS: "30000",
    ...extraEnv,
  };
  const proxies: Record<"database" | "store" | "broker", TcpProxy> = {
    database: dbProxy,
    store: storeProxy,
    broker: brokerProxy,
  };
  const procs = new Set<Served>();
  const started = async (p: Promise<Served>) => {
    const s = await p;
    procs.add(s);
    return s;
  };
  const startWorker = () =>
    started(startProc(bin, ["worker", "--no-relay", "--concurrency", "4"], env, /docfleet worker consuming/));
  const startRelay = () =>
    started(startProc(bin, ["relay", "--poll-ms", "500"], env, /docfleet relay publishing/));
  const port = await freePort();
  const startGateway = () =>
    started(
      startProc(
        bin,
        ["gateway", "--no-relay", "--port", String(port)],
        env,
        /^docfleet (serving|gateway) at /m,
        port,
      ),
    );
  let gateway = await startGateway();
  let relay = await startRelay();
  let worker = await startWorker();

  const db = new pg.Client({ connectionString: deployment.env.DATABASE_URL });
  await db.connect();
  const finalCount = async (batchId: string) =>
    (
      await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM document WHERE batch_id = $1 AND status IN ('COMPLETED', 'FAILED')",
        [batchId],
      )
    ).rows[0]!.n;
  /** The latest change to any of the batch's documents (progress, whatever the stage). */
  const lastUpdate = async (batchId: string) =>
    (
      await db.query<{ at: string | null }>(
        "SELECT max(updated_at)::text AS at FROM document WHERE batch_id = $1",
        [batchId],
      )
    ).rows[0]!.at ?? "";
  const completedCount = async (batchId: string) =>
    (
      await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM document WHERE batch_id = $1 AND status = 'COMPLETED'",
        [batchId],
      )
    ).rows[0]!.n;

  /** Writes `n` small text documents under dir/tag; answers the folder. */
  const writeDocs = async (n: number, tag: string) => {
    const docs = join(dir, tag);
    await mkdir(docs, { recursive: true });
    for (let i = 0; i < n; i++)
      await writeFile(
        join(docs, `doc-${i}.txt`),
        `INVOICE No ${tag}-${i}\nInvoice date: 2024-03-${String((i % 28) + 1).padStart(2, "0")}\nTotal due: ${i}.50 EUR`,
      );
    return docs;
  };
  const uploadArgs = (docs: string) => [
    "upload",
    docs,
    "--endpoint",
    gateway.url,
    "--json",
    "--no-wait",
    "--concurrency",
    "16",
  ];
  /** The database's clock now (batches made from then on are the next upload's). */
  const dbNow = async () => (await db.query<{ now: Date }>("SELECT now() AS now")).rows[0]!.now;
  /** The batch made since `since` (by the upload running), or null while there is none yet. */
  const batchSince = async (since: Date) =>
    (
      await db.query<{ id: string }>(
        "SELECT id FROM batch WHERE created_at >= $1 ORDER BY created_at DESC LIMIT 1",
        [since],
      )
    ).rows[0]?.id ?? null;
  /** Files of a batch: registered so far, and uploaded (QUEUED or beyond). */
  const uploadedSoFar = async (batchId: string | null) =>
    batchId === null
      ? { registered: 0, uploaded: 0 }
      : (
          await db.query<{ registered: number; uploaded: number }>(
            `SELECT count(*)::int AS registered,
                    count(*) FILTER (WHERE status <> 'PENDING_UPLOAD')::int AS uploaded
               FROM document WHERE batch_id = $1`,
            [batchId],
          )
        ).rows[0]!;

  /**
   * gateway-kill: `docfleet upload` of `n` files runs; once a fifth of them are registered, the gateway is killed
   * with SIGKILL and started again on the same port (as a supervisor would); once that upload exited
   * (it retries, then gives up or finishes), the same command runs again with the same state folder and
   * resumes the batch. Answers the batch, when the gateway was back, and what both runs said.
   */
  const gatewayKillDuringUpload = async (n: number, tag: string) => {
    const docs = await writeDocs(n, tag);
    const stateDir = join(dir, `${tag}-state`);
    const cliEnv = { DOCFLEET_STATE_DIR: stateDir };
    const since = await dbNow();
    const first = runCli(uploadArgs(docs), cliEnv);
    let firstDone = false;
    void first.then(() => (firstDone = true));
    // Polled: the upload's progress is in the database (and the CLI's manifest), nothing announces it.
    let batch: string | null = null;
    for (;;) {
      batch ??= await batchSince(since);
      if (firstDone || (await uploadedSoFar(batch)).registered >= Math.ceil(n / 5)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const during = !firstDone;
    const inAtKill = (await uploadedSoFar(batch)).uploaded;
    await gateway.kill();
    procs.delete(gateway);
    gateway = await startGateway();
    const endedAt = Date.now();
    const newest = batch ?? (await batchSince(since));
    const before = newest ? await completedCount(newest) : 0;
    const a = await first;
    const b = await runCli(uploadArgs(docs), cliEnv);
    if (b.code !== 0)
      throw new Error(`gateway-kill: the rerun of the upload failed (${b.code}): ${b.stderr}`);
    const s = JSON.parse(b.stdout) as {
      batchId: string;
      resumed?: boolean;
      uploaded?: number;
      skipped?: number;
      inBatch?: number;
    };
    const upload =
      `${during ? `killed with ${inAtKill}/${n} files in` : "the upload ended before the kill"}; ` +
      `first upload exit ${a.code}, rerun exit ${b.code}: resumed ${s.resumed ?? false}, ` +
      `uploaded ${s.uploaded ?? "?"}, skipped ${s.skipped ?? "?"}, already in the batch ${s.inBatch ?? "?"}`;
    if (newest && s.batchId !== newest)
      throw new Error(`gateway-kill: the rerun made batch ${s.batchId}, not ${newest}`);
    return { batchId: s.batchId, endedAt, upload, before };
  };

  let closing: Promise<void> | undefined;
  const self: FaultDeployment = {
    async upload(n, tag) {
      const up = await runCli(uploadArgs(await writeDocs(n, tag)));
      if (up.code !== 0) throw new Error(`upload failed (${up.code}): ${up.stderr}`);
      return JSON.parse(up.stdout).batchId as string;
    },

    async untilFinal(batchId, count, ms) {
      // Polled: the gateway and the event bus may be what the fault cut off, so nothing announces it.
      const deadline = Date.now() + ms;
      while (Date.now() < deadline) {
        if ((await finalCount(batchId)) >= count) return true;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      return false;
    },

    async run(fault, n, opts = {}) {
      const downMs = opts.downMs ?? 20_000;
      const tag = `${fault}-${Date.now().toString(36)}`;
      let batchId: string;
      let upload: string | undefined;
      let endedAt = 0;
      let downS = 0;
      let before = 0;
      if (fault === "gateway-kill") {
        // During the upload, not mid-processing.
        ({ batchId, endedAt, upload, before } = await gatewayKillDuringUpload(n, tag));
      } else {
        batchId = await self.upload(n, tag);
        // Mid-batch: a fifth done.
        if (!(await self.untilFinal(batchId, Math.ceil(n / 5), 300_000)))
          throw new Error(`${fault}: the batch did not get started`);
        before = await completedCount(batchId);
      }
      if (fault === "worker-kill") {
        await worker.kill();
        procs.delete(worker);
        worker = await startWorker();
      } else if (fault === "relay-kill") {
        await relay.kill();
        procs.delete(relay);
        relay = await startRelay();
      } else if (fault !== "gateway-kill") {
        const proxy =
          proxies[fault === "database-down" ? "database" : fault === "store-down" ? "store" : "broker"];
        const cutAt = Date.now();
        await proxy.cut();
        // The fault itself: the dependency stays away this long.
        await new Promise((r) => setTimeout(r, downMs));
        await proxy.restore();
        downS = (Date.now() - cutAt) / 1000;
      }
      if (fault !== "gateway-kill") endedAt = Date.now();
      let resumedS: number | null = null;
      let settledS: number | null = null;
      const deadline = endedAt + (opts.settleMs ?? 900_000);
      const stallMs = opts.stallMs ?? 120_000;
      let lastChange = "";
      let lastChangeAt = Date.now();
      while (Date.now() < deadline && Date.now() - lastChangeAt < stallMs) {
        const [done, completed] = [await finalCount(batchId), await completedCount(batchId)];
        const change = await lastUpdate(batchId);
        if (change !== lastChange) {
          lastChange = change;
          lastChangeAt = Date.now();
        }
        if (resumedS === null && (completed > before || done === n)) resumedS = (Date.now() - endedAt) / 1000;
        if (done === n) {
          settledS = (Date.now() - endedAt) / 1000;
          break;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      const exited = [
        ["gateway", gateway],
        ["relay", relay],
        ["worker", worker],
      ]
        .filter(([, p]) => (p as Served).child.exitCode !== null || (p as Served).child.signalCode !== null)
        .map(([name, p]) => `${name}: ${(p as Served).output().slice(-2000)}`);
      return { fault, downS, resumedS, settledS, exited, upload, ...(await outcome(db, batchId, n)) };
    },

    close() {
      // Once: the bench's SIGTERM handler and its run loop's `finally` may both close (a second
      // s3rver close threw ERR_SERVER_NOT_RUNNING and left the database and queues behind).
      closing ??= (async () => {
        await db.end().catch(() => {});
        await Promise.all([...procs].map((p) => p.stop().catch(() => null)));
        for (const p of Object.values(proxies)) await p.close();
        await deployment.close();
      })();
      return closing;
    },
  };
  return self;
}

async function outcome(db: pg.Client, batchId: string, n: number) {
  const { rows } = await db.query<{
    completed: number;
    failed: number;
    duplicates: number;
    mismatches: number;
  }>(
    `SELECT (SELECT count(*)::int FROM document WHERE batch_id = $1 AND status = 'COMPLETED') AS completed,
            (SELECT count(*)::int FROM document WHERE batch_id = $1 AND status = 'FAILED') AS failed,
            (SELECT count(*)::int FROM (SELECT document_id, chunk FROM search_chunk WHERE batch_id = $1
               GROUP BY 1, 2 HAVING count(*) > 1) d)
            + (SELECT count(*)::int FROM (SELECT name FROM document WHERE batch_id = $1
               GROUP BY 1 HAVING count(*) > 1) n) AS duplicates,
            (SELECT count(*)::int FROM document d WHERE d.batch_id = $1 AND d.status = 'COMPLETED' AND
               (SELECT count(*) FROM event e WHERE e.batch_id = $1 AND e.document_id = d.id
                  AND e.type = 'document.completed') <> 1) AS mismatches`,
    [batchId],
  );
  const r = rows[0]!;
  const counters = (
    await db.query<Record<string, number>>(
      `SELECT b.total, b.queued, b.processing, b.completed, b.failed,
              (SELECT count(*)::int FROM document WHERE batch_id = b.id) AS rows_total,
              (SELECT count(*)::int FROM document WHERE batch_id = b.id AND status = 'QUEUED') AS rows_queued,
              (SELECT count(*)::int FROM document WHERE batch_id = b.id AND status = 'PROCESSING') AS rows_processing,
              (SELECT count(*)::int FROM document WHERE batch_id = b.id AND status = 'COMPLETED') AS rows_completed,
              (SELECT count(*)::int FROM document WHERE batch_id = b.id AND status = 'FAILED') AS rows_failed
         FROM batch b WHERE b.id = $1`,
      [batchId],
    )
  ).rows[0]!;
  const groups = async (sql: string) =>
    (await db.query<{ k: string; n: number }>(sql, [batchId])).rows.map((g) => `${g.k} ${g.n}`).join(", ");
  const stuckStates = await groups(
    `SELECT status || '/' || coalesce(stage::text, '-') AS k, count(*)::int AS n FROM document
      WHERE batch_id = $1 AND status NOT IN ('COMPLETED', 'FAILED') GROUP BY 1 ORDER BY 2 DESC`,
  );
  const failedCodes = await groups(
    `SELECT coalesce(error_code, '-') AS k, count(*)::int AS n FROM document
      WHERE batch_id = $1 AND status = 'FAILED' GROUP BY 1 ORDER BY 2 DESC`,
  );
  const counterMismatches = ["total", "queued", "processing", "completed", "failed"].filter(
    (k) => counters[k] !== counters[`rows_${k}`],
  );
  return {
    documents: n,
    completed: r.completed,
    failed: r.failed,
    stuck: n - r.completed - r.failed,
    duplicates: r.duplicates,
    completionMismatches: r.mismatches,
    counterMismatches,
    stuckStates,
    failedCodes,
  };
}

/** One line per outcome, for logs and the benchmark's table. */
export function formatOutcome(o: FaultOutcome): string {
  const s = (v: number | null) => (v === null ? "never" : `${v.toFixed(1)} s`);
  return (
    `${o.fault}: ${o.completed}/${o.documents} completed, ${o.stuck} stuck, ${o.failed} failed, ` +
    `${o.duplicates} duplicate index entries, ${o.completionMismatches} completion-event mismatches, ` +
    `counters ${o.counterMismatches.length ? `differ (${o.counterMismatches.join(", ")})` : "equal the rows"}; ` +
    `${o.downS ? `down ${o.downS.toFixed(1)} s; ` : ""}resumed ${s(o.resumedS)} and settled ${s(o.settledS)} after the fault` +
    (o.upload ? `; upload: ${o.upload}` : "") +
    (o.stuckStates ? `; stuck: ${o.stuckStates}` : "") +
    (o.failedCodes ? `; failed: ${o.failedCodes}` : "")
  );
}
