import { randomBytes } from "node:crypto";
import { openPostgresDatabase } from "@docfleet/pipeline/adapters/database/postgres";
import { outageOf } from "@docfleet/pipeline/domain/outages";
import type { Database } from "@docfleet/pipeline/ports/database";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { dropSchema, TEST_DATABASE_URL } from "./helpers/db.ts";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.ts";
import { pollUntil } from "./helpers/wait.ts";

/**
 * Issue 16: a connection the PostgreSQL adapter holds checked out of its pool (a raw transaction, such
 * as the outbox relay's round, which keeps it while its publishes are confirmed; a bounded statement)
 * dies with the database. node-postgres then emits 'error' on that client, and the pool listens only on
 * idle clients: without a listener of the adapter's own the process ends on an unhandled 'error' event
 * (the relay exited during the fault suite's database-down). Here the transaction (or statement) fails
 * with a database outage, the broken connection is not reused, and the next one works once it is back.
 */
describe("PostgreSQL connections held through a database outage", () => {
  let proxy: TcpProxy | undefined;
  let db: Database | undefined;
  const schema = `t_${randomBytes(6).toString("hex")}`;
  afterEach(async () => {
    await proxy?.restore();
    await db?.close();
    await proxy?.close();
    await dropSchema(schema);
    db = proxy = undefined;
  });
  const open = async () => {
    const direct = new URL(TEST_DATABASE_URL);
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const url = new URL(direct);
    url.port = String(proxy.port);
    db = await openPostgresDatabase({ url: url.toString(), poolSize: 2, schema });
    return { db, proxy };
  };

  it("a raw transaction whose connection is cut while it waits fails as a database outage; the next works", async () => {
    const { db, proxy } = await open();
    const failed = await db
      .transaction(async (tx) => {
        await tx.query("SELECT 1");
        // Cut while the transaction holds its connection between statements (the relay's publishes).
        await proxy.cut();
        return tx.query("SELECT 2", undefined, { last: true });
      })
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(failed).toBeInstanceOf(Error);
    expect(outageOf(failed)).toBe("database");
    await proxy.restore();
    const rows = await db.transaction((tx) =>
      tx.query<{ n: number }>("SELECT 3 AS n", undefined, { last: true }),
    );
    expect(rows[0]?.n).toBe(3);
  });

  it("a bounded statement whose connection is cut fails as a database outage; the next works", async () => {
    const { db, proxy } = await open();
    // The statement waits on an advisory lock another session holds: it runs on the server (its
    // connection checked out of the pool) until the cut, whatever the time.
    const key = 424_243_000 + Math.floor(Math.random() * 1000);
    const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    await holder.query("SELECT pg_advisory_lock($1)", [key]);
    try {
      const running = db.query("SELECT pg_advisory_xact_lock($1::bigint)", [key], { timeoutMs: 60_000 }).then(
        () => null,
        (err: unknown) => err,
      );
      // Polled: nothing announces that the server started waiting.
      await pollUntil("the statement waiting on the server", async () => {
        const { rows } = await holder.query(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1",
          [key],
        );
        return rows[0].n > 0;
      });
      await proxy.cut();
      const failed = await running;
      expect(failed).toBeInstanceOf(Error);
      expect(outageOf(failed)).toBe("database");
      await proxy.restore();
      expect(await db.query<{ n: number }>("SELECT 4 AS n", [], { timeoutMs: 10_000 })).toEqual([{ n: 4 }]);
    } finally {
      await holder.end();
    }
  });
});
