import { MemoryQueue } from "@docfleet/pipeline/adapters/queue/memory";
import type { Database } from "@docfleet/pipeline/ports/database";
import type { Delivery } from "@docfleet/pipeline/ports/queue";
import { OutboxRelay } from "@docfleet/pipeline/services/relay";
import pg from "pg";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { TEST_DATABASE_URL, type TestDatabase, testDatabases } from "./helpers/db.ts";
import { deferred } from "./helpers/wait.ts";

const quiet = pino({ level: "silent" });

/**
 * `Database.transaction` (the raw transaction the outbox relay's round runs in) on both engines, and
 * the relay over it: every row published, marked once; a failed publish leaves its round unsent.
 */
describe.each(testDatabases)("raw transaction and outbox relay on %o", (make) => {
  let t: TestDatabase | undefined;
  let db: Database | undefined;
  afterEach(async () => {
    await db?.close();
    await t?.cleanup();
    db = t = undefined;
  });
  const open = async () => {
    t = make();
    db = await t.open();
    await db.migrate();
    await db.exec("CREATE TABLE tx_probe (n int PRIMARY KEY)");
    return db;
  };

  it("commits when the function resolves, rolls back when it throws, BEGIN and COMMIT carried or not", async () => {
    const d = await open();
    const rows = async () =>
      (await d.query<{ n: number }>("SELECT n FROM tx_probe ORDER BY n")).map((r) => r.n);
    // first statement without parameters (travels with BEGIN), last one with them
    await d.transaction(async (tx) => {
      await tx.query("INSERT INTO tx_probe VALUES (1)");
      await tx.query("INSERT INTO tx_probe VALUES ($1)", [2]);
    });
    // first with parameters, last without (travels with COMMIT), results read back
    const got = await d.transaction(async (tx) => {
      await tx.query("INSERT INTO tx_probe VALUES ($1)", [3]);
      return tx.query<{ n: number }>("INSERT INTO tx_probe VALUES (4) RETURNING n", undefined, {
        last: true,
      });
    });
    expect(got.map((r) => Number(r.n))).toEqual([4]);
    // one statement that is both first and last
    const only = await d.transaction((tx) =>
      tx.query<{ n: number }>("SELECT count(*)::int AS n FROM tx_probe", undefined, { last: true }),
    );
    expect(only[0]?.n).toBe(4);
    // thrown: nothing of it stays, and the connection serves the next transaction
    await expect(
      d.transaction(async (tx) => {
        await tx.query("INSERT INTO tx_probe VALUES (5)");
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    // a failing last statement rolls back what came before it
    await expect(
      d.transaction(async (tx) => {
        await tx.query("INSERT INTO tx_probe VALUES (6)");
        await tx.query("INSERT INTO tx_probe VALUES (1)", undefined, { last: true }); // duplicate key
      }),
    ).rejects.toThrow();
    expect(await rows()).toEqual([1, 2, 3, 4]);
  });

  it("a transaction past its timeoutMs is rolled back and fails (PostgreSQL; PGlite ignores the bound)", async () => {
    const d = await open();
    // On PostgreSQL another session holds an advisory lock the transaction then waits for: it waits until
    // its bound closes the connection (no sleep). PGlite has one session, so the lock is free there.
    const key = 424_242_000 + Math.floor(Math.random() * 1000);
    const holder = d.kind === "postgres" ? new pg.Client({ connectionString: TEST_DATABASE_URL }) : null;
    await holder?.connect();
    await holder?.query("SELECT pg_advisory_lock($1)", [key]);
    try {
      const run = d.transaction(
        async (tx) => {
          await tx.query("INSERT INTO tx_probe VALUES (7)");
          await tx.query("SELECT pg_advisory_xact_lock($1::bigint)", [key]);
          await tx.query("INSERT INTO tx_probe VALUES (8)");
        },
        { timeoutMs: 300 },
      );
      if (d.kind === "postgres") await expect(run).rejects.toThrow();
      else await run;
    } finally {
      await holder?.end();
    }
    const rows = await d.query<{ n: number }>("SELECT n FROM tx_probe ORDER BY n");
    expect(rows.map((r) => r.n)).toEqual(d.kind === "postgres" ? [] : [7, 8]);
    // the pool goes on with a new connection
    expect(await d.query("SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });

  it("the relay publishes every row once with its id as message id and marks it; a failed publish leaves the round unsent", async () => {
    const d = await open();
    const queue = new MemoryQueue({ deliveryLimit: 5 });
    await queue.setup(["test.relay"]);
    const values = Array.from({ length: 7 }, (_, i) => `('test.relay', 'k${i}', '{"i": ${i}}'::jsonb)`);
    await d.exec(`INSERT INTO outbox (topic, key, payload) VALUES ${values.join(", ")}`);

    // The broker refuses: the round rolls back, nothing is marked sent.
    const failing = Object.assign(Object.create(queue), {
      publish: async () => {
        throw new Error("broker away");
      },
    }) as MemoryQueue;
    const down = new OutboxRelay(d, failing, quiet, { batchSize: 3, pollMs: 60_000 });
    await expect(down.drain()).rejects.toThrow("broker away");
    expect((await down.lag()).pending).toBe(7);

    const relay = new OutboxRelay(d, queue, quiet, { batchSize: 3, pollMs: 60_000 });
    expect(await relay.drain()).toBe(7);
    expect(await relay.drain()).toBe(0);
    const marked = await d.query<{ id: string; attempts: number; sent: boolean }>(
      "SELECT id::text AS id, attempts, sent_at IS NOT NULL AS sent FROM outbox ORDER BY id",
    );
    expect(marked.every((r) => r.sent && r.attempts === 1)).toBe(true);
    const got: Delivery[] = [];
    const all = deferred();
    const consumer = queue.consume(
      "test.relay",
      async (m) => {
        got.push(m);
        if (got.length === 7) all.resolve();
        return { action: "ack" };
      },
      { concurrency: 1 },
    );
    await all.promise;
    await consumer.close();
    await queue.close();
    expect(got.map((m) => m.messageId).sort()).toEqual(marked.map((r) => `outbox-${r.id}`).sort());
    expect(got.map((m) => (m.body as { i: number }).i).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
