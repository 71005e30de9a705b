import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { CliError, ExitCode } from "./exit-codes.ts";

// The embedded database (PGlite) serves one process: a second opening of its folder corrupts it
// (`RuntimeError: Aborted()`). Whoever opens it (serve, migrate, keys) first takes `<data dir>/lock`,
// a JSON file with its pid, command and URL, created exclusively; a lock whose process is gone is
// stale and taken over.

/** Who holds a data folder. */
export interface LockHolder {
  pid: number;
  host: string;
  /** The docfleet command: serve, keys, migrate. */
  command: string;
  /** Where a serving holder answers (serve only). */
  url?: string;
  startedAt: string;
}

export const LOCK_FILE = "lock";

/** The live holder of `dataDir`'s lock, or null (no lock, or a stale one). */
export function lockHolder(dataDir: string): LockHolder | null {
  let holder: LockHolder;
  try {
    holder = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), "utf8")) as LockHolder;
  } catch {
    // none, or half-written by a process that died while writing it (we write it in one call)
    return null;
  }
  return isAlive(holder) ? holder : null;
}

function isAlive(h: LockHolder): boolean {
  if (!Number.isInteger(h.pid) || h.pid <= 0) return false;
  // Another machine sharing the folder: we cannot tell, so it counts as held.
  if (h.host && h.host !== hostname()) return true;
  if (h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The one line a refused command prints. */
export function inUseMessage(dataDir: string, h: LockHolder, hint?: string): string {
  const what = `docfleet ${h.command} (pid ${h.pid}${h.host !== hostname() ? ` on ${h.host}` : ""}${h.url ? `, ${h.url}` : ""})`;
  return `the data folder ${dataDir} is in use by ${what}${hint ? `; ${hint}` : ""}`;
}

export interface DataLock {
  holder: LockHolder;
  release(): void;
}

/**
 * Takes `dataDir`'s lock for this process, or throws a USAGE CliError naming the live holder. Call it
 * before opening the database. Released by `release()` and, failing that, at process exit.
 */
export function lockDataDir(
  dataDir: string,
  command: string,
  opts: { url?: string; hint?: (h: LockHolder) => string | undefined } = {},
): DataLock {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    command,
    ...(opts.url ? { url: opts.url } : {}),
    startedAt: new Date().toISOString(),
  };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(holder)}\n`, { flag: "wx", mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const live = lockHolder(dataDir);
      if (live) throw new CliError(inUseMessage(dataDir, live, opts.hint?.(live)), ExitCode.USAGE);
      if (attempt > 0)
        throw new CliError(`could not take the lock ${file} (another process races for it)`, ExitCode.USAGE);
      // stale: its process is gone
      try {
        unlinkSync(file);
      } catch {}
    }
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off("exit", release);
    try {
      // only ours: never a lock another process took over
      const now = JSON.parse(readFileSync(file, "utf8")) as LockHolder;
      if (now.pid === holder.pid && now.startedAt === holder.startedAt) unlinkSync(file);
    } catch {}
  };
  process.on("exit", release);
  return { holder, release };
}
