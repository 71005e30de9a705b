import { execFile } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Outages, outageOf } from "@docfleet/pipeline";
import { openPostgresDatabase } from "@docfleet/pipeline/adapters/database/postgres";
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "./helpers/cli.ts";

// Issue 16: a real PostgreSQL restart (fast stop, then start) under a live pool, on a server of this
// test's own (initdb into a temporary folder, its own port): the shared one keeps serving everyone else.
// The errors while it is down are told as a database outage, the breaker opens, closes by itself when the
// server is back, and the same pool and Prisma client work again without a restart of the process.

const exec = promisify(execFile);
const BIN = (() => {
  const versions = readdirSync("/usr/lib/postgresql").sort();
  return `/usr/lib/postgresql/${versions.at(-1)}/bin`;
})();
const asPostgres = (cmd: string, args: string[]) =>
  exec("runuser", ["-u", "postgres", "--", `${BIN}/${cmd}`, ...args]);

let dir: string;
let port: number;
const pgctl = (action: "start" | "stop") =>
  asPostgres("pg_ctl", [
    "-D",
    join(dir, "data"),
    "-l",
    join(dir, "log"),
    "-w",
    ...(action === "start" ? ["-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`] : ["-m", "fast"]),
    action,
  ]);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "docfleet-pg-restart-"));
  const { stdout } = await exec("id", ["-u", "postgres"]);
  const { stdout: gid } = await exec("id", ["-g", "postgres"]);
  chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  port = await freePort();
  await asPostgres("initdb", ["-D", join(dir, "data"), "-U", "postgres", "--auth=trust", "-N"]);
  await pgctl("start");
}, 180_000);

afterAll(async () => {
  await pgctl("stop").catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

it("a PostgreSQL restart is an outage the breaker rides out; the same pool reconnects by itself", async () => {
  const db = await openPostgresDatabase({
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    poolSize: 3,
  });
  const outages = new Outages(
    { database: () => db.query("SELECT 1") },
    { warn: () => {}, info: () => {} },
    {
      minProbeMs: 100,
      maxProbeMs: 500,
    },
  );
  try {
    await db.exec("CREATE TABLE t (n int)");
    await db.prisma.$executeRawUnsafe("INSERT INTO t VALUES (1)");
    await pgctl("stop");

    // Every way the pipeline reaches the database fails as an outage of the database, not the document's.
    const errors = await Promise.all([
      db.prisma.$queryRawUnsafe("SELECT count(*) FROM t").catch((e: unknown) => e),
      db.prisma.$transaction((tx) => tx.$queryRawUnsafe("SELECT 1")).catch((e: unknown) => e),
      db.query("SELECT 1").catch((e: unknown) => e),
    ]);
    // Prisma's errors name the database; the raw pool's bare ECONNREFUSED names no peer, and the probes
    // find which dependency it was.
    expect(outageOf(errors[0]), String(errors[0])).toBe("database");
    expect(outageOf(errors[1]), String(errors[1])).toBe("database");
    for (const err of errors) expect(await outages.confirm(err), String(err)).toBe("database");
    expect(outages.down()).toEqual(["database"]);

    const back = outages.whenUp();
    await pgctl("start");
    expect(await back).toBe(true);
    expect(outages.down()).toEqual([]);
    // The same client, no restart: pooled connections that died with the server are replaced.
    await db.prisma.$executeRawUnsafe("INSERT INTO t VALUES (2)");
    expect(await db.query<{ n: number }>("SELECT sum(n)::int AS n FROM t")).toEqual([{ n: 3 }]);
  } finally {
    outages.close();
    await db.close();
  }
}, 180_000);
