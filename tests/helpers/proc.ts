import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

/*
 * Peak memory and CPU of child processes, for benchmarks. Peak memory is always the kernel's resident
 * high-water mark of the process (mm->hiwater_rss): read as VmHWM from /proc while the process lives
 * (servers, read once the measured work is done), or as ru_maxrss from wait4 through GNU time for a
 * process run to completion (read at its exit, so nothing between two polls is missed). Both are KiB.
 */

const TIME = "/usr/bin/time";
let ticks: number | undefined;

async function clockTicks(): Promise<number> {
  if (ticks === undefined) {
    const out = await capture("getconf", ["CLK_TCK"]).catch(() => "");
    ticks = Number(out.trim()) || 100;
  }
  return ticks;
}

function capture(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.once("error", reject);
    c.once("close", () => resolve(out));
  });
}

/** Peak resident set (VmHWM) of a live process so far, in KiB. */
export async function peakRssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
  if (!m) throw new Error(`no VmHWM for process ${pid}`);
  return Number(m[1]);
}

/** User + system CPU seconds a live process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / (await clockTicks()); // utime + stime
}

/** Peak RSS and CPU of a live child so far; throws if it has exited. */
export async function sample(child: ChildProcess): Promise<{ peakRssKiB: number; cpuSeconds: number }> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null)
    throw new Error("process is not running");
  return { peakRssKiB: await peakRssKiB(child.pid), cpuSeconds: await cpuSeconds(child.pid) };
}

export interface Measured {
  code: number | null;
  stdout: string;
  /** The last 64 KiB of stderr. */
  stderr: string;
  /** Wall seconds from spawn to exit. */
  seconds: number;
  peakRssKiB: number;
  cpuSeconds: number;
}

const KEEP = 64 * 1024;

/** Runs `cmd args` to completion under GNU time: wall seconds, peak RSS and CPU of that process. */
export async function runMeasured(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<Measured> {
  const dir = await mkdtemp(join(tmpdir(), "docfleet-time-"));
  const report = join(dir, "time");
  try {
    const started = performance.now();
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      // GNU time exits with the command's status (128+n when a signal ended it).
      const child = spawn(TIME, ["-f", "%M %U %S", "-o", report, cmd, ...args], {
        env: { ...process.env, ...opts.env },
        cwd: opts.cwd,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => {
        err += d;
        if (err.length > 2 * KEEP) err = err.slice(-KEEP);
      });
      child.once("error", reject);
      child.once("close", (c) => resolve({ code: c, stdout: out, stderr: err.slice(-KEEP) }));
    });
    const seconds = (performance.now() - started) / 1000;
    const line = (await readFile(report, "utf8")).trim().split("\n").at(-1) ?? "";
    const [maxRss, user, sys] = line.split(" ").map(Number);
    if (!Number.isFinite(maxRss) || !Number.isFinite(user) || !Number.isFinite(sys))
      throw new Error(`unexpected GNU time report ${JSON.stringify(line)} for ${cmd} (stderr: ${stderr})`);
    return { code, stdout, stderr, seconds, peakRssKiB: maxRss!, cpuSeconds: user! + sys! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
