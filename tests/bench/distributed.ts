/**
 * Documents/s through the full distributed path (gateway → S3 → RabbitMQ → worker → PostgreSQL), with
 * the zero-latency built-in models, and CPU milliseconds per document for the gateway, the relay and
 * the worker; side by side in the same run with, on request, the seed peer and a worker whose models
 * are a test double that does no work (the peer's models are no-ops too).
 *
 *   node --import tsx tests/bench/distributed.ts [documents=400] [--peer] [--double] [--no-builtin]
 *        [--no-embedded] [--cpu-prof DIR] [--concurrency N]
 *
 *   --peer         first runs ../shared/peers/celery-seed/run.sh with the same document count (FastAPI +
 *                  Celery + Redis + PostgreSQL, no-op models) and prints docfleet's ratios against it
 *   --double       also runs the distributed mode with tests/bench/noop-models-worker.ts as the worker
 *                  (the CLI's worker composition with NoopModelsDouble in place of the built-in models)
 *   --double-compiled  also runs that double worker compiled to JavaScript first (tests/bench/
 *                  compile-double.ts, as the CLI is compiled), not through tsx: the like-for-like line
 *                  without the TypeScript loader's own CPU (the built-in worker is the compiled CLI)
 *   --no-builtin   skips the distributed run with the built-in models
 *   --no-embedded  skips the embedded mode (`docfleet serve`)
 *   --cpu-prof DIR each distributed process runs under `node --cpu-prof` and writes its profile to
 *                  DIR/<run>/<process>/ at exit (summarise: tests/bench/cpuprofile-top.ts DIR/<run>/worker)
 *   --warmup N     each docfleet deployment first processes N other documents, unmeasured: the figures are
 *                  then the steady state, without a fresh process's module loading and JIT warm-up (the
 *                  double worker runs through tsx, which transpiles each module it loads on first use).
 *                  The peer's script has no such option: its line is always from a cold start.
 *
 * Needs this machine's PostgreSQL and RabbitMQ; S3 is s3rver inside this process (its CPU is not
 * counted). Each process's CPU is read from /proc/<pid>/stat before the upload and after the batch.
 */
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, ROOT, runCli, type Served, served, startDocfleet, startServe } from "../helpers/cli.ts";
import { distributedEnv } from "../helpers/distributed.ts";
import { deferred } from "../helpers/wait.ts";
import { compileDoubleWorker } from "./compile-double.ts";

const exec = promisify(execFile);
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const N = Number(args.find((a, i) => /^\d+$/.test(a) && !args[i - 1]?.startsWith("--")) ?? 400);
const PROFILE_DIR = option("--cpu-prof");
const CONCURRENCY = option("--concurrency") ?? "4";
const WARMUP = Number(option("--warmup") ?? 0);
const PEER = join(ROOT, "../shared/peers/celery-seed/run.sh");
/** A loaded machine starts processes slowly. */
const READY_MS = 300_000;
const TICKS = Number((await exec("getconf", ["CLK_TCK"])).stdout.trim()) || 100;

async function cpuMs(p: Served): Promise<number> {
  const stat = await readFile(`/proc/${p.child.pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS; // utime + stime
}

async function writeDocs(dir: string, count = N, prefix = "doc") {
  const kinds = [
    (i: number) =>
      `INVOICE No B-${i}\nInvoice date: 2024-03-14\nSubtotal 100.00\nVAT 20.00\nTotal due: ${i}.50 EUR`,
    (i: number) => `Dear customer ${i},\n\nI am writing about your order. Yours sincerely, Ann`,
    (i: number) => `Service Agreement ${i}. The parties hereby agree; either party may terminate on notice.`,
    (i: number) =>
      `Quarterly report ${i}: revenue grew ${i % 17}% in the quarter, driven by the East region.`,
  ];
  for (let i = 0; i < count; i++)
    // Warm-up documents differ from the measured ones: the same bytes would be DUPLICATEs of them.
    await writeFile(
      join(dir, `${prefix}-${i}.txt`),
      kinds[i % kinds.length]!(i) + (prefix === "doc" ? "" : `\n(${prefix})`),
    );
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

let uploads = 0;
async function uploadTo(url: string, dir: string, expected = N) {
  // A state folder per run: the same folder again would resume the previous deployment's batch.
  const state = join(dir, `../state-${uploads++}`);
  const res = await runCli([
    "upload",
    dir,
    "--endpoint",
    url,
    "--json",
    "--concurrency",
    "16",
    "--state-dir",
    state,
  ]);
  if (res.code !== 0) throw new Error(`upload failed (${res.code}): ${res.stderr}`);
  const s = JSON.parse(res.stdout) as { completed: number; failed: number; seconds: number };
  if (s.completed !== expected) throw new Error(`expected ${expected} completed, got ${JSON.stringify(s)}`);
  return s;
}

const dir = await mkdtemp(join(tmpdir(), "docfleet-bench-"));
const docs = join(dir, "docs");
await mkdir(docs);
await writeDocs(docs);
const warmupDocs = join(dir, "warmup");
if (WARMUP > 0) {
  await mkdir(warmupDocs);
  await writeDocs(warmupDocs, WARMUP, "warmup");
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");
const loadBefore = load();

interface Peer {
  rate: number;
  cpuMsPerDoc: number;
  line: string;
}

/** The seed peer on the same document count; its own script prints one line with both figures. */
async function runPeer(): Promise<Peer> {
  const { stdout } = await exec(PEER, [String(N)], { maxBuffer: 1 << 20 });
  const line = stdout.trim().split("\n").at(-1) ?? "";
  const m = /= ([\d.]+) docs\/s.*= ([\d.]+) ms\/doc/.exec(line);
  if (!m) throw new Error(`unexpected seed peer output: ${stdout}`);
  return { rate: Number(m[1]), cpuMsPerDoc: Number(m[2]), line };
}

/** Node options that make a process write a CPU profile into PROFILE_DIR/run/proc at exit (--cpu-prof). */
function profiled(run: string, proc: string): string[] {
  return PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${join(PROFILE_DIR, run, proc)}`] : [];
}

/**
 * tests/bench/noop-models-worker.ts as a Served, ready once it says it consumes: through tsx, or the
 * file `compiled` (compileDoubleWorker's output) when given.
 */
async function startDoubleWorker(
  env: NodeJS.ProcessEnv,
  nodeArgs: string[],
  compiled?: string,
): Promise<Served> {
  const child = spawn(
    process.execPath,
    compiled
      ? [...nodeArgs, compiled, CONCURRENCY]
      : [...nodeArgs, "--import", "tsx", join(ROOT, "tests/bench/noop-models-worker.ts"), CONCURRENCY],
    {
      cwd: ROOT,
      env: { ...process.env, DOCFLEET_LOG_LEVEL: "warn", METRICS_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  const ready = deferred();
  const onData = (d: Buffer) => {
    out += d;
    if (/docfleet worker consuming/.test(out)) ready.resolve();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  void exited.then((code) => ready.reject(new Error(`the double worker exited with ${code}:\n${out}`)));
  await ready.promise;
  return served(child, "", () => out, exited);
}

/** Where the compiled double worker goes: inside the repository (.tmp, ignored), so that its externals resolve. */
let compiledAt: string | undefined;
async function compiledDir(): Promise<string> {
  await mkdir(join(ROOT, ".tmp"), { recursive: true });
  compiledAt ??= await mkdtemp(join(ROOT, ".tmp", "bench-double-"));
  return compiledAt;
}

/** Gateway, relay and worker as separate processes over a fresh deployment (database, queues, bucket). */
async function runDistributed(run: "builtin" | "double" | "double-compiled"): Promise<Result> {
  const deployment = await distributedEnv("bench");
  const env = deployment.env;
  const port = await freePort();
  const gateway = await startDocfleet(
    ["gateway", "--port", String(port), "--no-relay"],
    env,
    { port },
    READY_MS,
    profiled(run, "gateway"),
  );
  const [relay, worker] = await Promise.all([
    startDocfleet(
      ["relay"],
      env,
      { readyLine: /docfleet relay publishing/ },
      READY_MS,
      profiled(run, "relay"),
    ),
    run !== "builtin"
      ? startDoubleWorker(
          env,
          profiled(run, "worker"),
          run === "double-compiled" ? await compileDoubleWorker(ROOT, await compiledDir()) : undefined,
        )
      : startDocfleet(
          ["worker", "--roles", "all", "--concurrency", CONCURRENCY, "--no-relay"],
          env,
          { readyLine: /docfleet worker consuming/ },
          READY_MS,
          profiled(run, "worker"),
        ),
  ]);
  try {
    if (WARMUP > 0) await uploadTo(gateway.url, warmupDocs, WARMUP);
    return await measure(() => uploadTo(gateway.url, docs), { gateway, relay, worker });
  } catch (err) {
    for (const [name, p] of Object.entries({ gateway, relay, worker }))
      console.error(`--- ${name} output (last 3000 characters):\n${p.output().slice(-3000)}`);
    throw err;
  } finally {
    await Promise.all([gateway.stop(), relay.stop(), worker.stop()]);
    await deployment.close();
  }
}

const peer = flag("--peer") ? await runPeer() : undefined;
if (peer) console.log(peer.line);
const builtin = flag("--no-builtin") ? undefined : await runDistributed("builtin");
if (builtin) console.log("built-in models:", JSON.stringify({ seconds: builtin.seconds, cpu: builtin.cpu }));
const double = flag("--double") ? await runDistributed("double") : undefined;
if (double) console.log("NoopModelsDouble:", JSON.stringify({ seconds: double.seconds, cpu: double.cpu }));
const doubleCompiled = flag("--double-compiled") ? await runDistributed("double-compiled") : undefined;
if (doubleCompiled)
  console.log(
    "NoopModelsDouble compiled:",
    JSON.stringify({ seconds: doubleCompiled.seconds, cpu: doubleCompiled.cpu }),
  );
let embedded: Result | undefined;
if (!flag("--no-embedded")) {
  // Requests without a key by explicit opt-in (serve refuses them by default), as the gateways here.
  const serve = await startServe(join(dir, "embedded"), {
    DOCFLEET_LOG_LEVEL: "warn",
    DOCFLEET_ALLOW_ANONYMOUS: "true",
  });
  embedded = await measure(() => uploadTo(serve.url, docs), { serve });
  await serve.stop();
}
await rm(dir, { recursive: true, force: true });
if (compiledAt) await rm(compiledAt, { recursive: true, force: true });

const rate = (r: Result) => N / r.seconds;
const total = (r: Result) => Object.values(r.cpu).reduce((a, b) => a + b, 0);
const fmt = (x: number) => x.toFixed(1);
const parts = (r: Result) =>
  Object.entries(r.cpu)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(", ");
console.log(
  `\n${N} documents (upload + processing), ${new Date().toISOString()}, worker concurrency ${CONCURRENCY}${WARMUP > 0 ? `, after ${WARMUP} unmeasured warm-up documents per docfleet deployment` : ""}`,
);
console.log(`load average (1, 5, 15 min): before ${loadBefore}, after ${load()}`);
if (peer) console.log(peer.line);
const row = (name: string, r: Result) => {
  console.log(
    `${name.padEnd(44)} ${fmt(rate(r)).padStart(6)} docs/s   CPU ${fmt(total(r)).padStart(6)} ms/doc (${parts(r)})`,
  );
  if (peer)
    console.log(
      `${"".padEnd(44)} vs seed peer: docs/s x${(rate(r) / peer.rate).toFixed(2)}, CPU/doc x${(total(r) / peer.cpuMsPerDoc).toFixed(2)}`,
    );
};
if (peer)
  console.log(
    `${"seed peer (no-op models)".padEnd(44)} ${fmt(peer.rate).padStart(6)} docs/s   CPU ${fmt(peer.cpuMsPerDoc).padStart(6)} ms/doc (API + workers)`,
  );
if (builtin) row("docfleet distributed, built-in models", builtin);
if (double) row("docfleet distributed, NoopModelsDouble", double);
if (doubleCompiled) row("docfleet distributed, NoopModelsDouble compiled", doubleCompiled);
if (embedded) row("docfleet embedded (serve, 1 process)", embedded);
