import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCAL_TENANT_ID } from "@docfleet/gateway";
import { type PipelineEvent, STAGES } from "@docfleet/pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordEvents } from "./helpers/events.ts";
import { inProcessSystem, type System } from "./helpers/system.ts";
import { deferred } from "./helpers/wait.ts";

const T = LOCAL_TENANT_ID;

/**
 * Poison documents, quarantine and operators' retries, on the embedded adapters: a document whose
 * understand stage throws every time ends FAILED (RETRIES_EXHAUSTED) with its message quarantined,
 * the rest of its batch completes, and a retry after the cause is gone completes it.
 */
describe("poison documents, quarantine and retries", () => {
  let dir: string;
  let system: System;
  let poisoned = true;
  const stalled = deferred();
  const release = deferred();
  let log: ReturnType<typeof recordEvents>;
  const events: PipelineEvent[] = [];
  const settled = (batchId: string, after = 0) => log.settled(batchId, after);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-ops-"));
    system = await inProcessSystem(dir, {
      env: { DOCFLEET_DELIVERY_LIMIT: "3", DOCFLEET_LOG_LEVEL: "silent" },
      publicUrl: "http://127.0.0.1:9",
      prepare: (deps) => {
        const real = deps.models;
        deps.models = {
          ...real,
          names: real.names,
          embeddingDimensions: real.embeddingDimensions,
          embed: (t) => real.embed(t),
          understand: async (input) => {
            if (poisoned && input.name === "poison.txt") throw new Error("model crashed on this document");
            if (input.name === "stalled.txt") {
              stalled.resolve();
              await release.promise; // a worker that hangs past its lease
            }
            return real.understand(input);
          },
        };
        log = recordEvents(deps.events);
        deps.events.subscribe((e) => events.push(e));
        return deps;
      },
      gateway: false,
      worker: { roles: STAGES, concurrency: { PARSE: 2, UNDERSTAND: 2, EMBED: 2, INDEX: 2 } },
      requeueOnStart: true,
    });
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function ingest(files: Record<string, string>) {
    const p = system.app.services.intake;
    const batch = await p.createBatch(T, { name: "ops" });
    const list = Object.entries(files).map(([name, text]) => ({
      name,
      size: Buffer.byteLength(text),
      sha256: createHash("sha256").update(text).digest("hex"),
    }));
    const outcomes = await p.requestUploads(T, batch.id, list);
    const ids: Record<string, string> = {};
    for (const [i, o] of outcomes.entries()) {
      if (o.status !== "UPLOAD") throw new Error(`unexpected ${o.status}`);
      const name = list[i]!.name;
      ids[name] = o.document.id;
      await system.app.deps.store.put(o.document.objectKey, files[name]!);
    }
    await p.completeUploads(T, Object.values(ids));
    return { batchId: batch.id, ids };
  }

  it("quarantines a poison document after the delivery limit while the rest of the batch completes", async () => {
    const { batchId, ids } = await ingest({
      "poison.txt": "This document makes the model crash. Invoice total 10.00",
      "ok-1.txt": "Dear Sir, I am writing about the lease. Yours sincerely, Ann",
      "ok-2.txt": "INVOICE No 42. Amount due: 99.00 EUR",
    });
    await settled(batchId);
    const docs = await system.app.deps.db.prisma.document.findMany({ where: { batchId } });
    const byName = Object.fromEntries(docs.map((d) => [d.name, d]));
    expect(byName["ok-1.txt"]!.status).toBe("COMPLETED");
    expect(byName["ok-2.txt"]!.status).toBe("COMPLETED");
    expect(byName["poison.txt"]).toMatchObject({
      status: "FAILED",
      stage: "UNDERSTAND",
      errorCode: "RETRIES_EXHAUSTED",
    });
    expect(byName["poison.txt"]!.errorMessage).toMatch(/after 3 attempts: model crashed/);

    const retries = events.filter((e) => e.documentId === ids["poison.txt"] && e.type === "stage.retry");
    expect(retries).toHaveLength(2);
    const dead = await system.app.deps.queue.deadLetters("docfleet.understand");
    expect(dead.map((d) => d.reason)).toContain("model crashed on this document");

    const groups = await system.app.services.operations.quarantine(T, { batchId });
    expect(groups).toEqual([{ code: "RETRIES_EXHAUSTED", count: 1, documentIds: [ids["poison.txt"]] }]);
  });

  it("retries a quarantined document with a longer time budget once the cause is fixed", async () => {
    const poison = await system.app.deps.db.prisma.document.findFirstOrThrow({
      where: { name: "poison.txt" },
    });
    poisoned = false;
    const lastSeq = events.filter((e) => e.batchId === poison.batchId).at(-1)!.seq;
    const res = await system.app.services.operations.retryDocuments(
      T,
      [poison.id, "00000000-0000-4000-8000-000000000999"],
      {
        options: { stageTimeoutMs: 300_000 },
      },
    );
    expect(res).toEqual([
      { documentId: poison.id, status: "QUEUED" },
      { documentId: "00000000-0000-4000-8000-000000000999", status: "NOT_FOUND" },
    ]);
    await settled(poison.batchId, lastSeq);
    const after = await system.app.deps.db.prisma.document.findUniqueOrThrow({
      where: { id: poison.id },
    });
    expect(after).toMatchObject({
      status: "COMPLETED",
      errorCode: null,
      options: { stageTimeoutMs: 300_000 },
    });
    const batch = await system.app.deps.db.prisma.batch.findUniqueOrThrow({
      where: { id: poison.batchId },
    });
    expect(batch).toMatchObject({ completed: 3, failed: 0, queued: 0, processing: 0 });
    expect(await system.app.services.operations.quarantine(T, { batchId: poison.batchId })).toEqual([]);
  });

  it("re-runs completed documents from a chosen stage, refuses what cannot run, and retries whole batches", async () => {
    const { batchId, ids } = await ingest({
      "again.txt": "Quarterly report: revenue grew.",
      "bad.bin": "\u0000\u0001\u0002binary",
    });
    await settled(batchId);
    const failedDoc = await system.app.deps.db.prisma.document.findUniqueOrThrow({
      where: { id: ids["bad.bin"]! },
    });
    expect(failedDoc.status).toBe("FAILED");

    const res = await system.app.services.operations.retryDocuments(T, [ids["again.txt"]!, ids["bad.bin"]!], {
      stage: "INDEX",
    });
    expect(res[0]).toEqual({ documentId: ids["again.txt"], status: "QUEUED" });
    expect(res[1]).toMatchObject({ status: "BAD_STAGE", message: expect.stringMatching(/failed at PARSE/) });
    const noStage = await system.app.services.operations.retryDocuments(T, [ids["again.txt"]!]);
    expect(noStage[0]!.status).toMatch(/IN_FLIGHT|BAD_STAGE/);

    const seq = events.filter((e) => e.batchId === batchId).at(-1)!.seq;
    expect(await system.app.services.operations.retryBatch(T, batchId)).toBe(1);
    await settled(batchId, seq);
    const docs = await system.app.deps.db.prisma.document.findMany({
      where: { batchId },
      orderBy: { name: "asc" },
    });
    expect(docs.map((d) => [d.name, d.status, d.errorCode])).toEqual([
      ["again.txt", "COMPLETED", null],
      ["bad.bin", "FAILED", failedDoc.errorCode],
    ]);
    await expect(
      system.app.services.operations.retryBatch("00000000-0000-4000-8000-000000000002", batchId),
    ).rejects.toThrow(/not found/);
  });

  it("re-enqueues a document whose lease expired exactly once, even with two reconcilers at once", async () => {
    const { batchId, ids } = await ingest({ "stalled.txt": "Dear Bob, the report is late. Regards, Ann" });
    await stalled.promise;
    const id = ids["stalled.txt"]!;
    const db = system.app.deps.db.prisma;
    expect(await db.document.findUniqueOrThrow({ where: { id } })).toMatchObject({
      status: "PROCESSING",
      stage: "UNDERSTAND",
    });
    const seq = events.filter((e) => e.batchId === batchId).at(-1)!.seq;

    const later = new Date(Date.now() + system.app.deps.settings.leaseMs + 1000);
    const moved = await Promise.all([
      system.app.services.stages.reconcileExpiredLeases(later),
      system.app.services.stages.reconcileExpiredLeases(later),
    ]);
    expect(moved[0]! + moved[1]!).toBe(1);
    release.resolve(); // the stalled holder wakes up and finds the document taken over
    await settled(batchId, seq);

    const mine = events.filter((e) => e.documentId === id);
    expect(mine.filter((e) => e.type === "stage.retry").map((e) => e.payload.reason)).toEqual([
      "lease expired",
    ]);
    expect(mine.filter((e) => e.type === "document.completed")).toHaveLength(1);
    expect(await db.document.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: "COMPLETED" });
  });
});
