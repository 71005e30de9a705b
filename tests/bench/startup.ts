/**
 * Start-up of the `docfleet` CLI (issue 17 goal 2): the TypeScript sources run through tsx (how the
 * bin ran before the compiled build) against the compiled bundle the bin runs now, side by side in one
 * run, alternating, N times each.
 *
 *   npm run bench -- tests/bench/startup.ts [runs=10] [help|serve|all] [--against DIR]
 *
 * - `--help`: wall time from spawn to exit of `docfleet --help`.
 * - `serve`: wall time from spawn until GET /health answers 200 (polled every 25 ms), on a warm data
 *   folder: one made by a first `serve` before anything is measured (PGlite initialised, migrations
 *   applied, admin key written), then reused by every run; each run is stopped with SIGTERM and waited
 *   for before the next starts.
 *
 * `--against DIR`: instead of tsx, an earlier compiled build saved at DIR (a copy of apps/cli's bin/,
 * dist/ and package.json, kept inside apps/cli so that its packages resolve, e.g. apps/cli/.tmp/base):
 * the before/after of a start-up change, side by side, as `baseline` and `compiled`.
 *
 * Prints median, p90 and min per variant and the compiled/tsx ratio of the medians, and the median CPU
 * seconds (user + system, all threads) the process used until it exited (--help, through GNU time) or
 * answered (serve, from /proc/<pid>/stat), which depends less on other processes than wall time. Wall
 * times depend on the machine's load: compare the two variants of one run, not figures across runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { freePort, ROOT } from "../helpers/cli.ts";
import { pollUntil } from "../helpers/wait.ts";

const againstAt = process.argv.indexOf("--against");
const against = againstAt >= 0 ? resolve(process.argv[againstAt + 1] ?? "") : undefined;
const positional = process.argv
  .slice(2)
  .filter((_, i) => againstAt < 0 || (i + 2 !== againstAt && i + 1 !== againstAt));
const runs = Number(positional[0] ?? 10);
const which = positional[1] ?? "all";
if (
  !Number.isInteger(runs) ||
  runs < 1 ||
  !["help", "serve", "all"].includes(which) ||
  (against !== undefined && !existsSync(join(against, "bin/docfleet.mjs")))
) {
  console.error(
    "usage: tests/bench/startup.ts [runs=10] [help|serve|all] [--against DIR (holds bin/docfleet.mjs)]",
  );
  process.exit(2);
}

const MAIN_TS = join(ROOT, "apps/cli/src/main.ts");
const VARIANTS = {
  // what apps/cli/bin/docfleet.mjs did before the build: tsx's loader, then src/main.ts
  tsx: (args: string[]) => [
    "--import",
    "tsx",
    "--input-type=module",
    "-e",
    `const { main } = await import(${JSON.stringify(MAIN_TS)}); process.exitCode = await main(["node", "docfleet", ...${JSON.stringify(args)}]);`,
  ],
  compiled: (args: string[]) => [join(ROOT, "apps/cli/bin/docfleet.mjs"), ...args],
  // an earlier build (--against)
  baseline: (args: string[]) => [join(against ?? "", "bin/docfleet.mjs"), ...args],
} as const;
type Variant = keyof typeof VARIANTS;
/** The two variants compared: the first is the reference of the ratios. */
const COMPARED: [Variant, Variant] = against ? ["baseline", "compiled"] : ["tsx", "compiled"];

const env = { ...process.env, DOCFLEET_LOG_LEVEL: "warn", METRICS_PORT: "0" };

function start(variant: Variant, args: string[]): ChildProcess {
  return spawn(process.execPath, VARIANTS[variant](args), {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** A sample: wall milliseconds and CPU seconds. */
interface Sample {
  ms: number;
  cpu: number;
}

/** CPU seconds (user + system, every thread) a live process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in ticks (USER_HZ 100)
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

async function help(variant: Variant, scratch: string): Promise<Sample> {
  const report = join(scratch, "time");
  const t0 = performance.now();
  const child = spawn(
    "/usr/bin/time",
    ["-f", "%U %S", "-o", report, process.execPath, ...VARIANTS[variant](["--help"])],
    {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const code = await exited(child);
  const ms = performance.now() - t0;
  if (code !== 0 || !out.includes("Usage: docfleet"))
    throw new Error(`${variant} --help exited ${code}: ${out}`);
  const [user, sys] = (await readFile(report, "utf8")).trim().split("\n").at(-1)!.split(" ").map(Number);
  return { ms, cpu: user! + sys! };
}

async function serve(variant: Variant, dataDir: string): Promise<Sample> {
  const port = await freePort();
  const t0 = performance.now();
  const child = start(variant, [
    "serve",
    "--port",
    String(port),
    "--host",
    "127.0.0.1",
    "--data-dir",
    dataDir,
  ]);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  // Readiness is what is measured: /health is asked until it answers (nothing announces it sooner).
  await pollUntil(
    `${variant} serve's /health`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${variant} serve exited ${child.exitCode}:\n${out}`);
      return fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.status === 200,
        () => false,
      );
    },
    { timeoutMs: 600_000, intervalMs: 25 },
  );
  const ms = performance.now() - t0;
  const cpu = await cpuSeconds(child.pid!);
  child.kill("SIGTERM");
  await exited(child);
  return { ms, cpu };
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { median: at(0.5), p90: at(0.9), min: s[0]! };
}

async function measure(name: string, once: (v: Variant) => Promise<Sample>) {
  const samples: Record<Variant, Sample[]> = { tsx: [], compiled: [], baseline: [] };
  const [ref, cur] = COMPARED;
  for (let i = 0; i < runs; i++) {
    // alternate which goes first, so that a load spike does not fall on one variant only
    const order: Variant[] = i % 2 === 0 ? [ref, cur] : [cur, ref];
    for (const v of order) samples[v].push(await once(v));
  }
  const wall = (v: Variant) => stats(samples[v].map((x) => x.ms));
  const cpu = (v: Variant) => stats(samples[v].map((x) => x.cpu * 1000));
  const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`.padStart(8);
  console.log(`\n${name} (${runs} runs each)`);
  console.log("  variant   wall: median      p90      min   CPU: median");
  for (const v of COMPARED)
    console.log(
      `  ${v.padEnd(9)}    ${f(wall(v).median)} ${f(wall(v).p90)} ${f(wall(v).min)}      ${f(cpu(v).median)}`,
    );
  console.log(
    `  ${cur} / ${ref} (medians): wall ${(wall(cur).median / wall(ref).median).toFixed(2)}, ` +
      `CPU ${(cpu(cur).median / cpu(ref).median).toFixed(2)}`,
  );
}

console.log(
  `docfleet start-up: node ${process.version}, ${cpus().length} cores, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
if (which === "help" || which === "all") {
  const scratch = await mkdtemp(join(tmpdir(), "docfleet-bench-time-"));
  try {
    await measure("docfleet --help", (v) => help(v, scratch));
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
if (which === "serve" || which === "all") {
  const dataDir = await mkdtemp(join(tmpdir(), "docfleet-bench-startup-"));
  try {
    await serve("compiled", dataDir); // warms the data folder: not counted
    await measure("docfleet serve, until /health answers (warm data folder)", (v) => serve(v, dataDir));
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}
console.log(
  `load average at the end: ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
