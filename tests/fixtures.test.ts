import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { ApiKeys, type Database } from "@docfleet/pipeline";
import { describe, expect } from "vitest";
import { gql } from "./helpers/cli.ts";
import { test } from "./helpers/fixtures.ts";
import { completeUploads, followBatch, uploadFiles } from "./helpers/graphql.ts";

/** The fixtures every test file may use: they start what they say, over what they say, per file. */
describe("test fixtures", () => {
  let firstDataDir = "";
  // Started in a suite hook (hookTimeout) rather than within the first test's time.
  test.beforeAll(({ embedded }) => {
    expect(embedded.url).not.toBe("");
  });

  test("embedded: gateway and workers over this file's data folder, with its admin key", async ({
    embedded,
    dataDir,
  }) => {
    firstDataDir = dataDir;
    expect(embedded.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(embedded.adminKey).toEqual({ path: join(dataDir, "data", "admin-key"), state: "created" });
    expect((await stat(join(dataDir, "data", "db"))).isDirectory()).toBe(true);
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      embedded.url,
      'mutation { createBatch(input: { name: "fixture" }) { id } }',
    );
    const ids = await uploadFiles(embedded.url, createBatch.id, [
      { name: "a.txt", bytes: Buffer.from(`Invoice total 12.00 EUR, ${randomUUID()}\n`) },
    ]);
    const finished = followBatch(embedded.url, createBatch.id, "the batch finished", (m) => m.finished);
    await completeUploads(embedded.url, ids);
    expect((await finished).counts).toMatchObject({ total: 1, completed: 1, failed: 0 });
  });

  test("yoga: the same application without a socket", async ({ yoga, embedded, dataDir }) => {
    expect(dataDir).toBe(firstDataDir); // one system per file
    const res = await yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ batches(first: 10) { edges { node { name } } } }" }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { batches: { edges: { node: { name: string } }[] } } };
    expect(body.data.batches.edges.map((e) => e.node.name)).toContain("fixture");
    expect(await embedded.app.deps.db.prisma.batch.count()).toBe(body.data.batches.edges.length);
  });

  async function ownMigrated(db: Database) {
    const keys = new ApiKeys(db);
    expect(await db.prisma.tenant.count()).toBe(0);
    const tenant = await keys.tenantByName("t", { create: true });
    expect(await db.prisma.tenant.findMany({ select: { id: true } })).toEqual([{ id: tenant!.id }]);
  }
  test("pglite: a migrated database of this file's own", ({ pglite }) => ownMigrated(pglite));
  test("postgres: a migrated schema of this file's own", ({ postgres }) => ownMigrated(postgres));
});
