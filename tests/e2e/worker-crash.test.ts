import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCAL_TENANT_ID } from "@docfleet/gateway";
import { type PipelineEvent, STAGES } from "@docfleet/pipeline";
import { afterAll, beforeAll, expect, it } from "vitest";
import { recordEvents } from "../helpers/events.ts";
import { inProcessSystem, type System } from "../helpers/system.ts";
import { deferred, within } from "../helpers/wait.ts";

const T = LOCAL_TENANT_ID;
// Short, for a short test; long enough that a live stage run on a loaded machine (2 cores shared by
// several test files) seldom outlives it (that would count as a crash too, though not at understand).
const LEASE_MS = 5000;

/**
 * Issue 22, on the embedded adapters: a document whose understand stage "kills its worker" every time
 * (the handler never answers, as a dead process would not: its lease expires and the reconciler hands
 * it out again) ends FAILED with WORKER_CRASHED after DOCFLEET_MAX_CRASHES, instead of going round for
 * ever; the rest of its batch completes and nothing is left in flight.
 */
let dir: string;
let system: System;
let log: ReturnType<typeof recordEvents>;
const events: PipelineEvent[] = [];
const release = deferred();
let crashRuns = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "docfleet-worker-crash-"));
  system = await inProcessSystem(dir, {
    env: {
      DOCFLEET_LOG_LEVEL: "silent",
      DOCFLEET_LEASE_MS: String(LEASE_MS),
      DOCFLEET_MAX_CRASHES: "3",
      // The "dead" runs must not end by their time budget: only the lease brings the document back.
      DOCFLEET_STAGE_TIMEOUT_MS: "600000",
    },
    prepare: (deps) => {
      const real = deps.models;
      deps.models = {
        ...real,
        names: real.names,
        embeddingDimensions: real.embeddingDimensions,
        embed: (t) => real.embed(t),
        understand: async (input) => {
          if (input.name === "crash.txt") {
            crashRuns++;
            await release.promise; // never answers while the test runs: the worker "died"
            throw new Error("woke up after the test");
          }
          return real.understand(input);
        },
      };
      log = recordEvents(deps.events);
      deps.events.subscribe((e) => events.push(e));
      return deps;
    },
    gateway: false,
    // Each "dead" run keeps its slot: room for three of them and the innocent documents.
    worker: { roles: STAGES, concurrency: { PARSE: 2, UNDERSTAND: 5, EMBED: 2, INDEX: 2 } },
  });
}, 120_000);

afterAll(async () => {
  release.resolve(); // let the hung runs end, or stopping the worker would wait for them
  await system?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("fails a document that keeps killing its worker with WORKER_CRASHED; the rest of the batch completes", async () => {
  const intake = system.app.services.intake;
  const batch = await intake.createBatch(T, { name: "crashes" });
  const files: Record<string, string> = {
    "crash.txt": "This document takes its worker down every time.",
    "ok-1.txt": "Dear Sir, I am writing about the lease. Yours sincerely, Ann",
    "ok-2.txt": "INVOICE No 42. Amount due: 99.00 EUR",
  };
  const list = Object.entries(files).map(([name, text]) => ({
    name,
    size: Buffer.byteLength(text),
    sha256: createHash("sha256").update(text).digest("hex"),
  }));
  const ids: Record<string, string> = {};
  for (const [i, o] of (await intake.requestUploads(T, batch.id, list)).entries()) {
    if (o.status !== "UPLOAD") throw new Error(`unexpected ${o.status}`);
    const name = list[i]!.name;
    ids[name] = o.document.id;
    await system.app.deps.store.put(o.document.objectKey, files[name]!);
  }
  await intake.completeUploads(T, Object.values(ids));

  // Three crashes take three lease periods (plus the reconciler's interval each).
  await within(90_000, "the batch to settle", log.settled(batch.id), {
    detail: () => ({ crashRuns, last: events.filter((e) => e.batchId === batch.id).at(-1)?.payload.batch }),
  });

  const docs = await system.app.deps.db.prisma.document.findMany({ where: { batchId: batch.id } });
  const byName = Object.fromEntries(docs.map((d) => [d.name, d]));
  expect(byName["ok-1.txt"]).toMatchObject({ status: "COMPLETED", crashes: 0 });
  expect(byName["ok-2.txt"]).toMatchObject({ status: "COMPLETED", crashes: 0 });
  expect(byName["crash.txt"]).toMatchObject({
    status: "FAILED",
    stage: "UNDERSTAND",
    errorCode: "WORKER_CRASHED",
    crashes: 3,
  });
  // Run three times, never a fourth.
  expect(crashRuns).toBe(3);
  const mine = events.filter((e) => e.documentId === ids["crash.txt"]);
  const retried = mine.filter((e) => e.type === "stage.retry" && e.payload.stage === "UNDERSTAND");
  expect(retried.map((e) => e.payload.reason)).toEqual(["lease expired", "lease expired"]);
  expect(mine.filter((e) => e.type === "document.failed").map((e) => e.payload.code)).toEqual([
    "WORKER_CRASHED",
  ]);
  const b = await system.app.deps.db.prisma.batch.findUniqueOrThrow({ where: { id: batch.id } });
  expect(b).toMatchObject({ completed: 2, failed: 1, queued: 0, processing: 0 });
  expect(await system.app.services.operations.quarantine(T, { batchId: batch.id })).toEqual([
    { code: "WORKER_CRASHED", count: 1, documentIds: [ids["crash.txt"]] },
  ]);
}, 120_000);
