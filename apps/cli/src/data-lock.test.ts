import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LOCK_FILE, lockDataDir, lockHolder } from "./data-lock.ts";
import { CliError, ExitCode } from "./exit-codes.ts";

describe("the data folder lock", () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = mkdtempSync(join(tmpdir(), "docfleet-lock-"));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("is taken once: a second taker gets a one-line usage error naming the holder", () => {
    const d = dir();
    const lock = lockDataDir(d, "serve", { url: "http://127.0.0.1:4000" });
    // the holder is this process; a holder is read from the file as another process would
    const file = JSON.parse(readFileSync(join(d, LOCK_FILE), "utf8"));
    expect(file).toMatchObject({ pid: process.pid, command: "serve", url: "http://127.0.0.1:4000" });
    lock.release();
    expect(existsSync(join(d, LOCK_FILE))).toBe(false);
  });

  it("refuses while a live process holds it, and takes over once that process is gone", async () => {
    const d = dir();
    const child = spawn(process.execPath, ["-e", "process.stdout.write('up'); setInterval(() => {}, 1000)"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    await new Promise((r) => child.stdout!.once("data", r));
    const exited = new Promise((r) => child.once("exit", r));
    try {
      writeFileSync(
        join(d, LOCK_FILE),
        JSON.stringify({
          pid: child.pid,
          host: (await import("node:os")).hostname(),
          command: "serve",
          url: "http://127.0.0.1:4711",
          startedAt: new Date().toISOString(),
        }),
      );
      expect(lockHolder(d)).toMatchObject({ pid: child.pid, command: "serve" });
      let err: unknown;
      try {
        lockDataDir(d, "keys");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(ExitCode.USAGE);
      expect((err as CliError).message).toBe(
        `the data folder ${d} is in use by docfleet serve (pid ${child.pid}, http://127.0.0.1:4711)`,
      );
      expect((err as CliError).message).not.toContain("\n");
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    // its process is gone: the lock is stale and taken over
    expect(lockHolder(d)).toBeNull();
    const lock = lockDataDir(d, "keys");
    expect(lockHolder(d)).toBeNull(); // our own lock is not a "live other" holder
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), "utf8")).command).toBe("keys");
    lock.release();
  });

  it("never removes a lock another process took over", () => {
    const d = dir();
    const lock = lockDataDir(d, "migrate");
    const other = { pid: 1, host: "elsewhere", command: "serve", startedAt: "2026-01-01T00:00:00Z" };
    writeFileSync(join(d, LOCK_FILE), JSON.stringify(other));
    lock.release();
    expect(JSON.parse(readFileSync(join(d, LOCK_FILE), "utf8"))).toEqual(other);
    // a holder on another machine counts as live: we cannot tell
    expect(lockHolder(d)).toEqual(other);
  });
});
