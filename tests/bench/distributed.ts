/**
 * Documents/s through the full distributed path (gateway → S3 → RabbitMQ → worker → PostgreSQL), with
 * the zero-latency built-in models, against the embedded mode (`docfleet serve`) on the same documents
 * in the same run; and CPU milliseconds per document for the gateway, the relay and the worker.
 *
 *   npm run bench -- tests/bench/distributed.ts [documents=400]
 *
 * Needs this machine's PostgreSQL and RabbitMQ; S3 is s3rver inside this process (its CPU is not
 * counted). Each process's CPU is read from /proc/<pid>/stat before the upload and after the batch.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, runCli, type Served, startDocfleet, startServe } from "../helpers/cli.ts";
import { distributedEnv } from "../helpers/distributed.ts";

const exec = promisify(execFile);
const N = Number(process.argv[2] ?? 400);
const TICKS = Number((await exec("getconf", ["CLK_TCK"])).stdout.trim()) || 100;

async function cpuMs(p: Served): Promise<number> {
  const stat = await readFile(`/proc/${p.child.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS; // utime + stime
}

async function writeDocs(dir: string) {
  const kinds = [
    (i: number) =>
      `INVOICE No B-${i}\nInvoice date: 2024-03-14\nSubtotal 100.00\nVAT 20.00\nTotal due: ${i}.50 EUR`,
    (i: number) => `Dear customer ${i},\n\nI am writing about your order. Yours sincerely, Ann`,
    (i: number) => `Service Agreement ${i}. The parties hereby agree; either party may terminate on notice.`,
    (i: number) =>
      `Quarterly report ${i}: revenue grew ${i % 17}% in the quarter, driven by the East region.`,
  ];
  for (let i = 0; i < N; i++) await writeFile(join(dir, `doc-${i}.txt`), kinds[i % kinds.length]!(i));
}

interface Result {
  seconds: number;
  cpu: Record<string, number>;
}

async function measure(
  upload: () => Promise<{ seconds: number }>,
  procs: Record<string, Served>,
): Promise<Result> {
  const before = Object.fromEntries(
    await Promise.all(Object.entries(procs).map(async ([k, p]) => [k, await cpuMs(p)])),
  );
  const { seconds } = await upload();
  const cpu: Record<string, number> = {};
  for (const [k, p] of Object.entries(procs)) cpu[k] = ((await cpuMs(p)) - before[k]) / N;
  return { seconds, cpu };
}

async function uploadTo(url: string, dir: string) {
  const res = await runCli(["upload", dir, "--endpoint", url, "--json", "--concurrency", "16"]);
  if (res.code !== 0) throw new Error(`upload failed (${res.code}): ${res.stderr}`);
  const s = JSON.parse(res.stdout) as { completed: number; failed: number; seconds: number };
  if (s.completed !== N) throw new Error(`expected ${N} completed, got ${JSON.stringify(s)}`);
  return s;
}

const dir = await mkdtemp(join(tmpdir(), "docfleet-bench-"));
const docs = join(dir, "docs");
await mkdir(docs);
await writeDocs(docs);

// Baseline: the embedded mode, one process.
// Requests without a key by explicit opt-in (serve refuses them by default), as the gateways here.
const serve = await startServe(join(dir, "embedded"), {
  DOCFLEET_LOG_LEVEL: "warn",
  DOCFLEET_ALLOW_ANONYMOUS: "true",
});
const embedded = await measure(() => uploadTo(serve.url, docs), { serve });
await serve.stop();

// Distributed: gateway, relay and worker as separate processes.
const deployment = await distributedEnv("bench");
const env = deployment.env;
const port = await freePort();
const gateway = await startDocfleet(["gateway", "--port", String(port), "--no-relay"], env, { port });
const [relay, worker] = await Promise.all([
  startDocfleet(["relay"], env, { readyLine: /docfleet relay publishing/ }),
  startDocfleet(["worker", "--roles", "all", "--concurrency", "4", "--no-relay"], env, {
    readyLine: /docfleet worker consuming/,
  }),
]);
const distributed = await measure(() => uploadTo(gateway.url, docs), { gateway, relay, worker });
await Promise.all([gateway.stop(), relay.stop(), worker.stop()]);
await deployment.close();
await rm(dir, { recursive: true, force: true });

const rate = (r: Result) => N / r.seconds;
const fmt = (x: number) => x.toFixed(1);
console.log(`\n${N} documents (upload + processing, built-in models), ${new Date().toISOString()}`);
console.log(
  `embedded    (serve, 1 process):            ${fmt(rate(embedded))} docs/s   CPU ms/doc: serve ${fmt(embedded.cpu.serve!)}`,
);
console.log(
  `distributed (gateway, relay, worker):       ${fmt(rate(distributed))} docs/s   CPU ms/doc: gateway ${fmt(distributed.cpu.gateway!)}, relay ${fmt(distributed.cpu.relay!)}, worker ${fmt(distributed.cpu.worker!)}`,
);
console.log(`ratio distributed / embedded (docs/s):      ${(rate(distributed) / rate(embedded)).toFixed(2)}`);
