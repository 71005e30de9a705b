import { describe, expect } from "vitest";
import { serviceTest as test } from "./test-resources.ts";
import { WorkerRegistry } from "./workers.ts";

const CONCURRENCY = { PARSE: 2, UNDERSTAND: 1, EMBED: 1, INDEX: 1 };

describe("WorkerRegistry", () => {
  test("registers, heartbeats its in-flight count and unregisters; operators see live workers only", async ({
    env,
  }) => {
    const { operations } = env.services();
    let inFlight = 0;
    const registry = new WorkerRegistry(
      env.deps.db,
      { roles: ["PARSE", "EMBED"], concurrency: CONCURRENCY },
      () => inFlight,
      60_000,
    );
    // A row of a process that died long ago (swept at register) and one that stopped beating 5 minutes ago.
    await env.deps.db.query(
      `INSERT INTO worker (id, hostname, pid, heartbeat_at) VALUES ('dead', 'h', 1, now() - interval '1 day'),
       ('quiet', 'h', 2, now() - interval '5 minutes')`,
    );
    await registry.register();
    try {
      const alive = await operations.workers(60_000);
      expect(alive.map((w) => w.id)).toEqual([registry.id]);
      expect(alive[0]).toMatchObject({
        roles: ["PARSE", "EMBED"],
        concurrency: CONCURRENCY,
        inFlight: 0,
        pid: process.pid,
      });
      expect((await operations.workers(600_000)).map((w) => w.id).sort()).toEqual(
        ["quiet", registry.id].sort(),
      );
      expect(await env.prisma.worker.count({ where: { id: "dead" } })).toBe(0);

      inFlight = 3;
      await registry.beat();
      expect((await env.prisma.worker.findUniqueOrThrow({ where: { id: registry.id } })).inFlight).toBe(3);
    } finally {
      await registry.unregister();
    }
    expect(await env.prisma.worker.count({ where: { id: registry.id } })).toBe(0);
  });
});
