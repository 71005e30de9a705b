import { createHash, randomUUID } from "node:crypto";
import { type Gateway, LOCAL_TENANT_ID } from "@docfleet/gateway";
import { expect } from "vitest";
import { test } from "./helpers/fixtures.ts";
import type { System } from "./helpers/system.ts";

// Issue 22 through the API: retryBatch resumes stuck documents and re-runs completed ones only when asked
// (includeCompleted, or the deprecated failedOnly: false); retryDocuments answers RESUMED.

async function gql<T>(yoga: Gateway["yoga"], query: string, variables: Record<string, unknown>): Promise<T> {
  const res = await yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data!;
}

/**
 * A batch of the local tenant with documents put straight into a state (counters to match), with the
 * files the stages they go on to read, so that the system's workers run them quietly.
 */
async function seedBatch(
  { db: { prisma }, store }: System["deps"],
  docs: { status: "QUEUED" | "COMPLETED"; stage?: "INDEX"; updatedAt?: Date }[],
) {
  const queued = docs.filter((d) => d.status === "QUEUED").length;
  const batch = await prisma.batch.create({
    data: {
      tenantId: LOCAL_TENANT_ID,
      name: "resume",
      total: docs.length,
      queued,
      atIndex: queued,
      completed: docs.length - queued,
    },
  });
  const ids: string[] = [];
  for (const d of docs) {
    const id = randomUUID();
    ids.push(id);
    const text = "Dear Ann, the report is late. Regards, Bob";
    await store.put(`${LOCAL_TENANT_ID}/${id}/original`, text);
    if (d.status === "QUEUED") await store.put(`${LOCAL_TENANT_ID}/${id}/chunks.json`, '{"chunks":[]}');
    await prisma.document.create({
      data: {
        id,
        tenantId: LOCAL_TENANT_ID,
        batchId: batch.id,
        name: `${id}.txt`,
        sha256: createHash("sha256").update(id).digest("hex"),
        objectKey: `${LOCAL_TENANT_ID}/${id}/original`,
        size: Buffer.byteLength(text),
        status: d.status,
        stage: d.stage ?? null,
        ...(d.status === "COMPLETED" ? { completedAt: new Date() } : {}),
        ...(d.updatedAt ? { updatedAt: d.updatedAt } : {}),
      },
    });
  }
  return { batchId: batch.id, ids };
}

const RETRY_BATCH = `mutation($b: ID!, $stuck: Int, $completed: Boolean, $failedOnly: Boolean) {
  retryBatch(batchId: $b, stuckAfterSeconds: $stuck, includeCompleted: $completed, failedOnly: $failedOnly)
}`;

test("retryBatch resumes stuck documents, re-runs completed ones only when asked; retryDocuments answers RESUMED", async ({
  yoga,
  embedded,
}) => {
  const prisma = embedded.app.deps.db.prisma;
  const twoMinutesAgo = new Date(Date.now() - 120_000); // younger than the lease (10 minutes)
  const stuck = await seedBatch(embedded.deps, [
    { status: "QUEUED", stage: "INDEX", updatedAt: twoMinutesAgo },
    { status: "QUEUED", stage: "INDEX", updatedAt: twoMinutesAgo },
  ]);
  const retryBatch = async (b: string, vars: Record<string, unknown> = {}) =>
    (await gql<{ retryBatch: number }>(yoga, RETRY_BATCH, { b, ...vars })).retryBatch;

  // Waiting less than the lease is not stuck, unless stuckAfterSeconds says so.
  expect(await retryBatch(stuck.batchId)).toBe(0);
  const { retryDocuments } = await gql<{ retryDocuments: { documentId: string; status: string }[] }>(
    yoga,
    "mutation($ids: [ID!]!) { retryDocuments(ids: $ids, stuckAfterSeconds: 60) { documentId status } }",
    { ids: [stuck.ids[0]] },
  );
  expect(retryDocuments).toEqual([{ documentId: stuck.ids[0], status: "RESUMED" }]);
  expect(await retryBatch(stuck.batchId, { stuck: 60 })).toBe(1); // the other one

  const done = await seedBatch(embedded.deps, [{ status: "COMPLETED" }]);
  expect(await retryBatch(done.batchId)).toBe(0);
  expect(await prisma.document.findUniqueOrThrow({ where: { id: done.ids[0] } })).toMatchObject({
    status: "COMPLETED",
  });
  expect(await retryBatch(done.batchId, { completed: true })).toBe(1);

  const old = await seedBatch(embedded.deps, [{ status: "COMPLETED" }]);
  expect(await retryBatch(old.batchId, { failedOnly: false })).toBe(1);
}, 180_000);
