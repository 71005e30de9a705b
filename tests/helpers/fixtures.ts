import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGateway, type Gateway } from "@docfleet/gateway";
import type { Database } from "@docfleet/pipeline";
import { test as base } from "vitest";
import { pgliteTestDatabase, postgresTestDatabase, type TestDatabase } from "./db.ts";
import { embeddedSystem } from "./system.ts";

/** Opens `t` and migrates it; closes and drops it at the fixture's cleanup. */
async function migrated(t: TestDatabase, onCleanup: (fn: () => Promise<void>) => void): Promise<Database> {
  const db = await t.open();
  onCleanup(async () => {
    await db.close();
    await t.cleanup();
  });
  await db.migrate();
  return db;
}

/**
 * The tests' fixtures (CONVENTIONS "Tests"), each set up on first use and torn down after the file's
 * last test, in the reverse order:
 *
 * - `dataDir`: a fresh temporary folder for this file, removed after.
 * - `embedded`: what `docfleet serve` runs (embeddedSystem: gateway on a free port, every stage's
 *   worker) over `dataDir`, on PGlite, the local store, the memory queue and the built-in models; stopped after.
 * - `yoga`: a socketless gateway over `embedded`'s application (`yoga.fetch`), anonymous requests as the
 *   local tenant, the development profile and no rate limits.
 * - `pglite`, `postgres`: a migrated database of its own (in-memory PGlite; a schema of the test
 *   PostgreSQL, dropped after).
 *
 * Suite hooks get them too: `test.beforeAll(({ embedded }) => ...)`.
 */
// Vitest reads which fixtures a fixture needs from its first parameter's pattern: `{}` is "none".
export const test = base
  // biome-ignore lint/correctness/noEmptyPattern: vitest requires a destructuring pattern
  .extend("dataDir", { scope: "file" }, async ({}, { onCleanup }) => {
    const dir = await mkdtemp(join(tmpdir(), "docfleet-test-"));
    onCleanup(() => rm(dir, { recursive: true, force: true }));
    return dir;
  })
  .extend("embedded", { scope: "file" }, async ({ dataDir }, { onCleanup }) => {
    const system = await embeddedSystem(join(dataDir, "data"));
    onCleanup(() => system.stop());
    return system;
  })
  .extend("yoga", { scope: "file" }, async ({ embedded }, { onCleanup }): Promise<Gateway["yoga"]> => {
    const gateway = createGateway({
      app: embedded.app,
      log: embedded.deps.log,
      allowAnonymous: true,
      hardening: { profile: "development" },
      rateLimiters: {},
    });
    onCleanup(() => gateway.close());
    return gateway.yoga;
  })
  // biome-ignore lint/correctness/noEmptyPattern: vitest requires a destructuring pattern
  .extend("pglite", { scope: "file" }, async ({}, { onCleanup }) => migrated(pgliteTestDatabase(), onCleanup))
  // biome-ignore lint/correctness/noEmptyPattern: vitest requires a destructuring pattern
  .extend("postgres", { scope: "file" }, async ({}, { onCleanup }) =>
    migrated(postgresTestDatabase(), onCleanup),
  );

export const it = test;
