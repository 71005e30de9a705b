/**
 * The fault suite's rows for the seed peer (issue 16): ../shared/peers/celery-seed (FastAPI + Celery
 * prefork workers, Redis broker and result backend, PostgreSQL), under the faults that apply to it:
 *
 *   worker-kill    kill -9 of the Celery worker's process group mid-batch, a new worker started at once
 *   database-down  PostgreSQL cut off for --down seconds mid-batch
 *   broker-down    Redis (broker and result backend) cut off for --down seconds mid-batch
 *
 * As for docfleet (tests/bench/faults.ts), the shared services keep running: the peer reaches
 * PostgreSQL and Redis through TCP proxies of this process (tests/helpers/tcp-proxy.ts) that are cut,
 * through its own environment (DATABASE_URL, CELERY_BROKER_URL, CELERY_RESULT_BACKEND read by app.py).
 * Each run gets its own database, Redis databases 11 and 12, its own upload folder and API port, so the
 * peer other engineers run (database `documents`, Redis 0 and 1, port 8765) is left alone.
 * (gateway-kill, relay-kill and store-down have no counterpart: the peer's API writes its files to a
 * local folder and publishes to Celery itself.)
 *
 *   node --import tsx tests/bench/faults-peer.ts [--docs 1000] [--down 25] [--stall 120] [--settle 900]
 *        [--sequence worker-kill,database-down,broker-down]
 *
 * A run ends when every document is completed or failed, or when none changed for --stall seconds (the
 * peer retries a failed task after 60 s, so the stall should exceed that). Counted from the peer's
 * table: completed, failed (every document is valid: each failure is the fault's), unfinished (queued
 * or processing: stuck). The peer's index table is keyed by document, so it cannot hold duplicates, and
 * it has no completion events or batch counters: those columns read n/a. Prints the same table as
 * tests/bench/faults.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as holdFor } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pg from "pg";
import { freePort } from "../helpers/cli.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";
import { pollUntil } from "../helpers/wait.ts";

const PEER = fileURLToPath(new URL("../../../shared/peers/celery-seed/", import.meta.url));
const PG_ADMIN = "postgresql://postgres:devpassword@127.0.0.1:5432/documents";
const REDIS = { host: "127.0.0.1", port: 6379 };
const PEER_FAULTS = ["worker-kill", "database-down", "broker-down"] as const;
type PeerFault = (typeof PEER_FAULTS)[number];

const { values } = parseArgs({
  options: {
    docs: { type: "string", default: "1000" },
    down: { type: "string", default: "25" },
    stall: { type: "string", default: "120" },
    settle: { type: "string", default: "900" },
    sequence: { type: "string", default: PEER_FAULTS.join(",") },
    label: { type: "string", default: "seed peer" },
  },
});
const docs = Number(values.docs);
const sequence = values.sequence!.split(",").filter(Boolean) as PeerFault[];
for (const f of sequence)
  if (!PEER_FAULTS.includes(f)) throw new Error(`unknown fault ${f}; one of ${PEER_FAULTS.join(", ")}`);

interface PeerOutcome {
  fault: PeerFault;
  completed: number;
  failed: number;
  stuck: number;
  downS: number;
  resumedS: number | null;
  settledS: number | null;
}

function start(args: string[], env: NodeJS.ProcessEnv, log: string[]): ChildProcess {
  // Its own process group, so that kill -9 takes the prefork pool with it (as crash.sh does).
  const child = spawn("/usr/bin/python3", ["-m", ...args], {
    cwd: PEER,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const keep = (d: Buffer) => {
    log.push(String(d));
    if (log.length > 200) log.shift();
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return child;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

async function redisFlush(db: number) {
  await new Promise<void>((resolve) => {
    const p = spawn("redis-cli", ["-n", String(db), "flushdb"], { stdio: "ignore" });
    p.once("exit", () => resolve());
  });
}

async function runOne(fault: PeerFault): Promise<PeerOutcome> {
  const tag = `${fault.replace("-", "_")}_${Date.now().toString(36)}`;
  const dbName = `peer_faults_${tag}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const direct = new URL(PG_ADMIN);
  direct.pathname = `/${dbName}`;
  const db = new pg.Client({ connectionString: direct.toString() });
  await db.connect();
  const dbProxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
  const redisProxy = await startTcpProxy(REDIS);
  await redisFlush(11);
  await redisFlush(12);
  const uploads = await mkdtemp(join(tmpdir(), "peer-faults-"));
  const viaProxy = new URL(direct);
  viaProxy.port = String(dbProxy.port);
  const apiPort = await freePort();
  const env = {
    DATABASE_URL: viaProxy.toString(),
    CELERY_BROKER_URL: `redis://127.0.0.1:${redisProxy.port}/11`,
    CELERY_RESULT_BACKEND: `redis://127.0.0.1:${redisProxy.port}/12`,
    UPLOAD_DIR: uploads,
    CONCURRENCY: "2",
  };
  const log: string[] = [];
  const api = start(["uvicorn", "app:app", "--port", String(apiPort), "--log-level", "warning"], env, log);
  const workerArgs = ["celery", "-A", "app.celery", "worker", "--loglevel=warning", "--concurrency=2"];
  let worker = start(workerArgs, env, log);
  const url = `http://127.0.0.1:${apiPort}`;
  try {
    // The API creates its table on start-up; nothing announces it but the API answering.
    await pollUntil(
      "the peer API to answer",
      async () => (await fetch(`${url}/docs`).catch(() => null))?.ok,
      {
        timeoutMs: 120_000,
        intervalMs: 250,
      },
    );
    const count = async () =>
      (
        await db.query<{ completed: number; failed: number; total: number; at: string | null }>(
          `SELECT count(*) FILTER (WHERE processing_status = 'completed')::int AS completed,
                  count(*) FILTER (WHERE processing_status = 'failed')::int AS failed,
                  count(*)::int AS total, max(updated_at)::text AS at FROM documents`,
        )
      ).rows[0]!;
    // The seed's client: batches of 100 files, one request each (run.sh's bench does the same).
    const uploading = (async () => {
      for (let b = 0; b < docs; b += 100) {
        const form = new FormData();
        for (let i = b; i < Math.min(docs, b + 100); i++)
          form.append(
            "files",
            new Blob([`INVOICE No ${tag}-${i}\nTotal due: ${i}.50 EUR\n`], { type: "text/plain" }),
            `doc-${i}.txt`,
          );
        const r = await fetch(`${url}/api/batch-upload`, { method: "POST", body: form });
        if (!r.ok) throw new Error(`peer upload: HTTP ${r.status} ${await r.text()}`);
      }
    })();
    // Mid-batch: a fifth done (polled from the peer's table: it announces nothing).
    await pollUntil("a fifth completed", async () => (await count()).completed >= Math.ceil(docs / 5), {
      timeoutMs: 600_000,
      intervalMs: 250,
    });
    let downS = 0;
    if (fault === "worker-kill") {
      const old = worker;
      const gone = new Promise((r) => old.once("exit", r));
      killGroup(old, "SIGKILL");
      await gone;
      worker = start(workerArgs, env, log);
    } else {
      const proxy = fault === "database-down" ? dbProxy : redisProxy;
      const cutAt = Date.now();
      await proxy.cut();
      // the fault itself, not a wait for anything: the dependency stays away this long (the issue: 20-30 s)
      await holdFor(Number(values.down) * 1000);
      await proxy.restore();
      downS = (Date.now() - cutAt) / 1000;
    }
    await uploading.catch((err) => log.push(`upload: ${err}`));
    const endedAt = Date.now();
    const before = (await count()).completed;
    let resumedS: number | null = null;
    let settledS: number | null = null;
    let last = "";
    let lastAt = Date.now();
    // The peer announces nothing: its rows are counted until every document is final, or nothing
    // changed for --stall seconds (stuck, not slow), at most --settle seconds.
    await pollUntil(
      "the peer's documents final, or no change for --stall s",
      async () => {
        const c = await count();
        if (`${c.at}|${c.total}` !== last) {
          last = `${c.at}|${c.total}`;
          lastAt = Date.now();
        }
        if (resumedS === null && c.completed > before) resumedS = (Date.now() - endedAt) / 1000;
        if (c.total >= docs && c.completed + c.failed === c.total) {
          settledS = (Date.now() - endedAt) / 1000;
          return true;
        }
        return Date.now() - lastAt >= Number(values.stall) * 1000;
      },
      { timeoutMs: Number(values.settle) * 1000, intervalMs: 250 },
    ).catch(() => undefined); // past --settle: counted as it stands
    const c = await count();
    return {
      fault,
      completed: c.completed,
      failed: c.failed,
      // Documents never registered (an upload request lost to the fault) are unfinished too.
      stuck: docs - c.completed - c.failed,
      downS,
      resumedS,
      settledS,
    };
  } finally {
    killGroup(worker, "SIGKILL");
    killGroup(api, "SIGKILL");
    await db.end().catch(() => {});
    await dbProxy.close();
    await redisProxy.close();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await redisFlush(11);
    await redisFlush(12);
    await rm(uploads, { recursive: true, force: true });
  }
}

const results: PeerOutcome[] = [];
const s = (v: number | null) => (v === null ? "never" : v.toFixed(1));
for (const [i, fault] of sequence.entries()) {
  const o = await runOne(fault);
  results.push(o);
  console.log(
    `${values.label} run ${i + 1}/${sequence.length} (${new Date().toISOString()}): ${fault}: ${o.completed}/${docs} completed, ` +
      `${o.stuck} stuck, ${o.failed} failed; ${o.downS ? `down ${o.downS.toFixed(1)} s; ` : ""}` +
      `resumed ${s(o.resumedS)} s and settled ${s(o.settledS)} s after the fault`,
  );
}
console.log(`\n${values.label}: ${docs} documents a run`);
console.log(
  "| fault | runs | completed | stuck | failed by the fault | duplicates | completion events ≠ 1 | counters ≠ rows | resumed after (s, worst) | all final after (s, worst) |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const fault of [...new Set(sequence)]) {
  const rs = results.filter((r) => r.fault === fault);
  const sum = (k: "completed" | "stuck" | "failed") => rs.reduce((a, r) => a + r[k], 0);
  const worst = (k: "resumedS" | "settledS") =>
    rs.some((r) => r[k] === null) ? null : Math.max(...rs.map((r) => r[k] as number));
  console.log(
    `| ${fault} (${values.label}) | ${rs.length} | ${sum("completed")}/${rs.length * docs} | ${sum("stuck")} | ${sum("failed")} | n/a (keyed) | n/a | n/a | ${s(worst("resumedS"))} | ${s(worst("settledS"))} |`,
  );
}
process.exit(0);
