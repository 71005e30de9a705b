/**
 * Upload throughput of `docfleet upload` (issue 7): N generated small files uploaded to the embedded
 * server and to the distributed stack, files/s and peak memory, each against a baseline of bare
 * parallel HTTP PUTs of the same files, at the same concurrency, in the same run.
 *
 *   npm run bench -- tests/bench/upload.ts [files=100000] [concurrency=16] [all|embedded|distributed|gateway|gateway-embedded|gateway-distributed|radosgw]
 *
 * - gateway: the upload into the gateway alone (issue 17 goal 4): the embedded baseline and the embedded
 *   gateway without workers, then the distributed pair (whose gateway has no workers either); no `serve` row.
 *   gateway-embedded and gateway-distributed: one of those two pairs alone (to repeat a pair, or to run
 *   two builds' pairs one after the other in one command).
 *
 * - Files: 1–4 KB of distinct text each, 1,000 per folder, two folder levels; generated into a
 *   temporary folder before anything is measured (the generation is timed, not counted).
 * - Embedded: `docfleet serve` on a fresh data folder, and `docfleet upload <dir> --no-wait --json
 *   --concurrency C` as a child process. `serve` always runs its workers, which start processing the
 *   queued documents while the upload runs and compete for the same cores: that is the embedded
 *   product, so it is measured as is (how many were processed by the end of the upload is printed).
 * - Distributed: a fresh PostgreSQL database, a RabbitMQ prefix and s3rver (all tests/helpers/
 *   distributed.ts) behind one `docfleet gateway` process with its default outbox relay; no workers,
 *   since they play no part in an upload. The CLI sends the bytes straight to s3rver (presigned POST).
 *   s3rver runs inside this process: its CPU is this process's CPU during the run, its memory is not
 *   reported.
 * - radosgw (only when named, RGW_URL set: .ci/rgw-start.sh): the distributed pair again with the objects
 *   on Ceph radosgw, a real S3 server that checks each presigned POST's signature and policy. radosgw
 *   runs in its own processes: its CPU and memory are not in the table.
 * - Baselines: tests/bench/upload-baseline.ts walks the same folder and PUTs each file with fetch, C at
 *   once: to a node:http sink process that streams each body to a file (embedded), straight to a
 *   bucket of the same s3rver (distributed), or, unsigned, to a radosgw bucket whose policy lets anyone
 *   PUT (radosgw: bare PUTs, no signing on either side).
 *
 * Wall time is from spawn to exit of the client process (Node and tsx start-up included, for the CLI
 * and the baseline alike). Peak memory is the kernel's resident high-water mark: ru_maxrss through
 * GNU time for the client processes, VmHWM from /proc for the servers, read when the upload is done.
 * Each upload is checked (CLI exit 0 and its JSON summary, then the batch over GraphQL: N documents,
 * none pending upload); the bench exits 1 if any run did not upload all N.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  freePort,
  gql,
  ROOT,
  runCli,
  type Served,
  served,
  startDocfleet,
  startServe,
} from "../helpers/cli.ts";
import { type DistributedEnv, distributedEnv } from "../helpers/distributed.ts";
import { type Measured, runMeasured, sample } from "../helpers/proc.ts";
import { mulberry32 as rng } from "../helpers/random.ts";
import { RGW, removeRgwBucket, rgwBucketName, rgwClient } from "../helpers/rgw.ts";

const N = Number(process.argv[2] ?? 100_000);
const C = Number(process.argv[3] ?? 16);
const TARGETS = process.argv[4] ?? "all";
if (
  !Number.isInteger(N) ||
  N < 1 ||
  !Number.isInteger(C) ||
  C < 1 ||
  ![
    "all",
    "embedded",
    "distributed",
    "gateway",
    "gateway-embedded",
    "gateway-distributed",
    "radosgw",
  ].includes(TARGETS) ||
  (TARGETS === "radosgw" && !RGW)
) {
  console.error(
    "usage: npm run bench -- tests/bench/upload.ts [files=100000] [concurrency=16] [all|embedded|distributed|gateway|gateway-embedded|gateway-distributed|radosgw]\n" +
      "radosgw needs RGW_URL (and RGW_ACCESS_KEY, RGW_SECRET_KEY): .ci/rgw-start.sh DIR prints it",
  );
  process.exit(2);
}
const BIN = join(ROOT, "apps/cli/bin/docfleet.mjs");
const BASELINE = fileURLToPath(new URL("./upload-baseline.ts", import.meta.url));
const GATEWAY_ONLY = fileURLToPath(new URL("./upload-gateway.ts", import.meta.url));
const PER_FOLDER = 1000;

// ---- generated files -------------------------------------------------------------------------

const WORDS = (
  "invoice total due payment order customer account report quarter revenue region contract party " +
  "agreement notice terminate delivery address shipment amount balance reference period summary " +
  "statement receipt supplier tax rate date signed annex schedule item quantity price discount"
).split(" ");

function fileText(i: number): string {
  const r = rng(i + 1);
  const size = 1024 + Math.floor(r() * 3072);
  let s = `Document ${i} ref ${Math.floor(r() * 2 ** 32).toString(16)}\n`;
  while (s.length < size) s += `${WORDS[Math.floor(r() * WORDS.length)]}${r() < 0.1 ? ".\n" : " "}`;
  return s.slice(0, size); // ASCII: characters are bytes
}

/** `root/p<k>/d<j>/doc-<i>.txt`, 1,000 files per folder, 10 folders per parent. */
function filePath(root: string, i: number): string {
  const folder = Math.floor(i / PER_FOLDER);
  return join(root, `p${Math.floor(folder / 10)}`, `d${folder % 10}`, `doc-${i}.txt`);
}

async function generate(root: string): Promise<number> {
  const folders = Math.ceil(N / PER_FOLDER);
  for (let f = 0; f < folders; f++)
    await mkdir(join(root, `p${Math.floor(f / 10)}`, `d${f % 10}`), { recursive: true });
  let next = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < N) {
        const i = next++;
        const text = fileText(i);
        bytes += text.length;
        await writeFile(filePath(root, i), text);
      }
    }),
  );
  return bytes;
}

// ---- runs ------------------------------------------------------------------------------------

interface Row {
  target: string;
  seconds: number;
  clientPeakKiB: number;
  clientCpu: number;
  serverPeakKiB: number | null;
  serverCpu: number | null;
  s3rverCpu: number | null;
  /** The baseline row this row is compared with. */
  baseline?: Row;
  problem?: string;
}

/** CPU seconds of this process (where s3rver runs) while `fn` runs; this process otherwise waits. */
async function withOwnCpu<T>(fn: () => Promise<T>): Promise<{ result: T; cpu: number }> {
  const before = process.cpuUsage();
  const result = await fn();
  const d = process.cpuUsage(before);
  return { result, cpu: (d.user + d.system) / 1e6 };
}

function lastJsonLine(stdout: string): Record<string, unknown> | null {
  const line = stdout.trim().split("\n").at(-1);
  try {
    return line ? (JSON.parse(line) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function baselineProblem(m: Measured): string | undefined {
  const s = lastJsonLine(m.stdout);
  if (m.code !== 0 || !s || s.files !== N)
    return `baseline put: exit ${m.code}, ${m.stdout.trim() || m.stderr.trim().slice(-2000)}`;
}

function runBaseline(root: string, url: string): Promise<Measured> {
  return runMeasured(process.execPath, ["--import", "tsx", BASELINE, "put", root, url, String(C)], {
    cwd: ROOT,
  });
}

/** The sink server of the embedded baseline, in its own process. */
async function startSink(dir: string): Promise<Served> {
  const child = spawn(process.execPath, ["--import", "tsx", BASELINE, "sink", dir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("close", (code) => r(code))); // output drained
  const port = await new Promise<number>((resolve, reject) => {
    const onData = () => {
      const m = /"port":(\d+)/.exec(out);
      if (m) {
        child.stdout.off("data", onData);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`baseline sink exited with ${code}:\n${out}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return exited;
  };
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  return { url: `http://127.0.0.1:${port}`, child, output: () => out, stop, kill };
}

/** Whether this CLI keeps a resumable manifest under `--state-dir`. */
async function cliHasStateDir(): Promise<boolean> {
  const help = await runCli(["upload", "--help"]);
  return /--state-dir\b/.test(help.stdout);
}

/**
 * `docfleet upload` as a script would run it. Its manifest goes to a fresh `stateDir` per target (so
 * the writes are counted, nothing is resumed, and nothing lands in ~/.local/state); the variable
 * covers a CLI without the flag.
 */
async function cliUpload(
  url: string,
  docs: string,
  stateDir: string,
): Promise<{ m: Measured; problem?: string; done?: number }> {
  const m = await runMeasured(
    process.execPath,
    [
      BIN,
      "upload",
      docs,
      "--endpoint",
      url,
      "--no-wait",
      "--json",
      "--concurrency",
      String(C),
      ...(hasStateDir ? ["--state-dir", stateDir] : []),
    ],
    { env: { DOCFLEET_STATE_DIR: stateDir } },
  );
  let summary: { files?: unknown; uploaded?: unknown; batchId?: unknown } | undefined;
  try {
    summary = JSON.parse(m.stdout);
  } catch {
    // reported below
  }
  if (
    m.code !== 0 ||
    !summary ||
    summary.files !== N ||
    summary.uploaded !== N ||
    typeof summary.batchId !== "string"
  )
    return {
      m,
      problem: `docfleet upload: exit ${m.code}, summary ${m.stdout.trim().slice(0, 2000)}, stderr ${m.stderr.trim().slice(-2000)}`,
    };
  return { m, ...(await checkBatch(url, summary.batchId)) };
}

/** The gateway's view: the batch holds N documents and none is still waiting for its bytes. */
async function checkBatch(url: string, id: string): Promise<{ problem?: string; done: number }> {
  const { batch } = await gql<{
    batch: { counts: { total: number; pendingUpload: number; done: number } } | null;
  }>(url, "query($id: ID!) { batch(id: $id) { counts { total pendingUpload done } } }", { id });
  const c = batch?.counts;
  if (!c || c.total !== N || c.pendingUpload !== 0)
    return { problem: `batch ${id} on the gateway: ${JSON.stringify(c ?? null)}`, done: c?.done ?? 0 };
  return { done: c.done };
}

/** tests/bench/upload-gateway.ts in a child process: an embedded gateway with no workers. */
async function startGatewayOnly(dataDir: string): Promise<Served> {
  const child = spawn(process.execPath, ["--import", "tsx", GATEWAY_ONLY, dataDir], {
    cwd: ROOT,
    env: { ...process.env, DOCFLEET_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = /ready (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`upload-gateway exited with ${code}:\n${out}`)));
  });
  return served(child, url, () => out, exited);
}

async function stopWithin(p: Served, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), ms)));
  if ((await Promise.race([p.stop(), late])) === "late") await p.kill();
  clearTimeout(timer);
}

// ---- the bench ---------------------------------------------------------------------------------

const rows: Row[] = [];
const notes: string[] = [];
const cleanup: (() => Promise<unknown>)[] = [];
const tmp = await mkdtemp(join(tmpdir(), "docfleet-upbench-"));
cleanup.push(() => rm(tmp, { recursive: true, force: true }));
let totalBytes = 0;
let generatedIn = 0;
let hasStateDir = false;

try {
  const docs = join(tmp, "docs");
  const t0 = performance.now();
  totalBytes = await generate(docs);
  generatedIn = (performance.now() - t0) / 1000;
  hasStateDir = await cliHasStateDir();

  // Embedded: baseline to the sink, then the CLI to `docfleet serve` (not for "gateway").
  if (["all", "embedded", "gateway", "gateway-embedded"].includes(TARGETS)) {
    const sinkDir = join(tmp, "sink");
    const sink = await startSink(sinkDir);
    cleanup.push(() => stopWithin(sink, 10_000));
    const before = await sample(sink.child);
    const m = await runBaseline(docs, sink.url);
    const after = await sample(sink.child);
    await stopWithin(sink, 10_000);
    await rm(sinkDir, { recursive: true, force: true });
    const stored = Number(/"files":(\d+)/.exec(sink.output())?.[1]);
    const base: Row = {
      target: "embedded  baseline PUT → node:http sink",
      seconds: m.seconds,
      clientPeakKiB: m.peakRssKiB,
      clientCpu: m.cpuSeconds,
      serverPeakKiB: after.peakRssKiB,
      serverCpu: after.cpuSeconds - before.cpuSeconds,
      s3rverCpu: null,
      problem: baselineProblem(m) ?? (stored === N ? undefined : `the sink stored ${stored} files`),
    };

    rows.push(base);
  }
  if (TARGETS === "all" || TARGETS === "embedded") {
    // Requests without a key by explicit opt-in (serve refuses them by default).
    const serve = await startServe(join(tmp, "embedded"), {
      DOCFLEET_LOG_LEVEL: "warn",
      DOCFLEET_ALLOW_ANONYMOUS: "true",
    });
    cleanup.push(() => stopWithin(serve, 30_000));
    const sBefore = await sample(serve.child);
    const { m: cm, problem, done } = await cliUpload(serve.url, docs, join(tmp, "state-embedded"));
    const sAfter = await sample(serve.child);
    if (done !== undefined)
      notes.push(`embedded: serve's workers had finished ${done} of ${N} documents by the end of the upload`);
    await stopWithin(serve, 30_000);
    rows.push({
      target: "embedded  docfleet upload → serve",
      seconds: cm.seconds,
      clientPeakKiB: cm.peakRssKiB,
      clientCpu: cm.cpuSeconds,
      serverPeakKiB: sAfter.peakRssKiB,
      serverCpu: sAfter.cpuSeconds - sBefore.cpuSeconds,
      s3rverCpu: null,
      baseline: rows.find((r) => r.target.startsWith("embedded  baseline")),
      problem,
    });
  }

  // Embedded gateway alone (no workers), against the same baseline: the upload path by itself.
  if (["all", "embedded", "gateway", "gateway-embedded"].includes(TARGETS)) {
    const gw = await startGatewayOnly(join(tmp, "embedded-gateway"));
    cleanup.push(() => stopWithin(gw, 30_000));
    const gBefore = await sample(gw.child);
    const { m: cm, problem } = await cliUpload(gw.url, docs, join(tmp, "state-embedded-gateway"));
    const gAfter = await sample(gw.child);
    await stopWithin(gw, 30_000);
    rows.push({
      target: "embedded  docfleet upload → gateway only",
      seconds: cm.seconds,
      clientPeakKiB: cm.peakRssKiB,
      clientCpu: cm.cpuSeconds,
      serverPeakKiB: gAfter.peakRssKiB,
      serverCpu: gAfter.cpuSeconds - gBefore.cpuSeconds,
      s3rverCpu: null,
      baseline: rows.find((r) => r.target.startsWith("embedded  baseline")),
      problem,
    });
  }

  // Distributed: baseline PUTs to an s3rver bucket, then the CLI to a gateway over the same s3rver.
  if (["all", "distributed", "gateway", "gateway-distributed"].includes(TARGETS)) {
    const deployment: DistributedEnv = await distributedEnv("upbench");
    cleanup.push(() => deployment.close());
    const s3 = deployment.env.S3_ENDPOINT!;
    const bucketUrl = `${s3}/upbench-baseline-${randomBytes(3).toString("hex")}`;
    const created = await fetch(bucketUrl, { method: "PUT" });
    if (!created.ok)
      throw new Error(`creating the baseline bucket: ${created.status} ${await created.text()}`);
    const { result: m, cpu: s3Base } = await withOwnCpu(() => runBaseline(docs, bucketUrl));
    const base: Row = {
      target: "distrib.  baseline PUT → s3rver",
      seconds: m.seconds,
      clientPeakKiB: m.peakRssKiB,
      clientCpu: m.cpuSeconds,
      serverPeakKiB: null,
      serverCpu: null,
      s3rverCpu: s3Base,
      problem: baselineProblem(m),
    };

    const port = await freePort();
    const gateway = await startDocfleet(["gateway", "--port", String(port)], deployment.env, { port });
    cleanup.push(() => stopWithin(gateway, 30_000));
    const gBefore = await sample(gateway.child);
    const { result, cpu: s3Cli } = await withOwnCpu(() =>
      cliUpload(gateway.url, docs, join(tmp, "state-distributed")),
    );
    const gAfter = await sample(gateway.child);
    await stopWithin(gateway, 30_000);
    rows.push(base, {
      target: "distrib.  docfleet upload → gateway + s3rver",
      seconds: result.m.seconds,
      clientPeakKiB: result.m.peakRssKiB,
      clientCpu: result.m.cpuSeconds,
      serverPeakKiB: gAfter.peakRssKiB,
      serverCpu: gAfter.cpuSeconds - gBefore.cpuSeconds,
      s3rverCpu: s3Cli,
      baseline: base,
      problem: result.problem,
    });
  }

  // radosgw: baseline PUTs (unsigned, to a bucket anyone may PUT to), then the CLI to a gateway whose
  // objects are on radosgw (presigned POSTs, checked by radosgw).
  if (TARGETS === "radosgw" && RGW) {
    const rgw = RGW;
    const deployment: DistributedEnv = await distributedEnv("upbench"); // its s3rver stays unused
    cleanup.push(() => deployment.close());
    const baseBucket = rgwBucketName("upbench-base");
    const bucket = rgwBucketName("upbench");
    cleanup.push(
      () => removeRgwBucket(rgw, bucket),
      () => removeRgwBucket(rgw, baseBucket),
    );
    const admin = rgwClient(rgw);
    await admin.makeBucket(baseBucket, "us-east-1");
    await admin.setBucketPolicy(
      baseBucket,
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: "*",
            Action: ["s3:PutObject"],
            Resource: [`arn:aws:s3:::${baseBucket}/*`],
          },
        ],
      }),
    );
    const m = await runBaseline(docs, `${rgw.url}/${baseBucket}`);
    const base: Row = {
      target: "radosgw   baseline PUT → radosgw",
      seconds: m.seconds,
      clientPeakKiB: m.peakRssKiB,
      clientCpu: m.cpuSeconds,
      serverPeakKiB: null,
      serverCpu: null,
      s3rverCpu: null,
      problem: baselineProblem(m),
    };
    const env = {
      ...deployment.env,
      S3_ENDPOINT: rgw.url,
      S3_ACCESS_KEY: rgw.accessKey,
      S3_SECRET_KEY: rgw.secretKey,
      S3_BUCKET: bucket,
    };
    const port = await freePort();
    const gateway = await startDocfleet(["gateway", "--port", String(port)], env, { port });
    cleanup.push(() => stopWithin(gateway, 30_000));
    const gBefore = await sample(gateway.child);
    const result = await cliUpload(gateway.url, docs, join(tmp, "state-radosgw"));
    const gAfter = await sample(gateway.child);
    await stopWithin(gateway, 30_000);
    const stored = await countObjects(rgw, bucket);
    rows.push(base, {
      target: "radosgw   docfleet upload → gateway + radosgw",
      seconds: result.m.seconds,
      clientPeakKiB: result.m.peakRssKiB,
      clientCpu: result.m.cpuSeconds,
      serverPeakKiB: gAfter.peakRssKiB,
      serverCpu: gAfter.cpuSeconds - gBefore.cpuSeconds,
      s3rverCpu: null,
      baseline: base,
      problem: result.problem ?? (stored >= N ? undefined : `radosgw holds ${stored} objects, not ${N}`),
    });
  }
} finally {
  for (const f of cleanup.reverse()) await f().catch((err) => console.error(`cleanup: ${err}`));
}

/** Objects in a radosgw bucket: what radosgw accepted, not what the CLI says it sent. */
async function countObjects(rgw: NonNullable<typeof RGW>, bucket: string): Promise<number> {
  let n = 0;
  for await (const _ of rgwClient(rgw).listObjectsV2(bucket, "", true)) n++;
  return n;
}

// ---- report ------------------------------------------------------------------------------------

const mib = (kib: number | null) => (kib === null ? "-" : (kib / 1024).toFixed(0));
const sec = (s: number | null) => (s === null ? "-" : s.toFixed(1));
const rate = (r: Row) => N / r.seconds;
const table = [
  [
    "target",
    "files",
    "seconds",
    "files/s",
    "MB/s",
    "client peak RSS MiB",
    "server peak RSS MiB",
    "client CPU s",
    "server CPU s",
    "s3rver CPU s",
    "files/s ÷ baseline",
  ],
  ...rows.map((r) => [
    r.problem ? `${r.target} (FAILED)` : r.target,
    String(N),
    r.seconds.toFixed(2),
    rate(r).toFixed(0),
    (totalBytes / r.seconds / 1e6).toFixed(2),
    mib(r.clientPeakKiB),
    mib(r.serverPeakKiB),
    sec(r.clientCpu),
    sec(r.serverCpu),
    sec(r.s3rverCpu),
    r.baseline ? (rate(r) / rate(r.baseline)).toFixed(2) : "",
  ]),
];
const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
const cpu = cpus();
console.log(`\nupload bench, ${new Date().toISOString()}`);
console.log(
  `command: node --import tsx ${relative(ROOT, process.argv[1]!)} ${process.argv.slice(2).join(" ")}`,
);
console.log(
  `machine: ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}, Node ${process.version}`,
);
console.log(
  `files: ${N} (${(totalBytes / 1e6).toFixed(1)} MB, 1–4 KB text, ≤${PER_FOLDER} per folder), generated in ${generatedIn.toFixed(1)} s (not counted); concurrency ${C}; --state-dir ${hasStateDir ? "passed" : "not supported by this CLI, not passed"}`,
);
console.log("");
for (const row of table)
  console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
console.log("");
console.log(
  "client = the uploading process (docfleet upload or the baseline), spawn to exit; MB = 10^6 bytes.",
);
console.log(
  "server = serve / the sink / the gateway process; s3rver runs in the bench process (its CPU only); radosgw in its own processes (not measured).",
);
for (const n of notes) console.log(n);
const failed = rows.filter((r) => r.problem);
for (const r of failed) console.error(`\n${r.target}: ${r.problem}`);
const expectedRows =
  (
    {
      all: 5,
      embedded: 3,
      distributed: 2,
      gateway: 4,
      "gateway-embedded": 2,
      "gateway-distributed": 2,
      radosgw: 2,
    } as Record<string, number>
  )[TARGETS] ?? 5;
if (failed.length > 0 || rows.length < expectedRows) process.exitCode = 1;
