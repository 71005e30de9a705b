import { describe, expect, vi } from "vitest";
import { createLogger } from "../composition/adapters.ts";
import { FailureCode } from "../domain/errors.ts";
import { STAGES, type StageName, stageMessage } from "../domain/messages.ts";
import type { StageHandler } from "../stages/index.ts";
import { createServices } from "./index.ts";
import { lazyChild } from "./stage-runner.ts";
import { insertBatch, insertDocument, serviceTest } from "./test-resources.ts";

// Issue 22: after a store outage every line read "stage failed; will retry", the attempt that gave up
// included, and no line said that the document failed.

interface Line {
  level: number;
  msg: string;
  [key: string]: unknown;
}
const WARN = 40;

/** A stage runner logging into `lines`, over stub handlers, and a batch of the tenant. */
const test = serviceTest.extend("run", async ({ env, tenantId }) => {
  const lines: Line[] = [];
  const log = createLogger("debug", "service-test", {
    write: (s: string) => {
      lines.push(JSON.parse(s) as Line);
    },
  });
  const handlers = Object.fromEntries(
    STAGES.map((s) => [s, vi.fn<StageHandler>(async () => ({ data: {} }))]),
  ) as Record<StageName, ReturnType<typeof vi.fn<StageHandler>>>;
  const services = createServices({ ...env.deps, log }, { handlers });
  const batch = await insertBatch(env.prisma, tenantId);
  const seed = (doc: Omit<Parameters<typeof insertDocument>[1], "tenantId" | "batchId">) =>
    insertDocument(env.prisma, { tenantId, batchId: batch.id, ...doc });
  const about = (documentId: string) => lines.filter((l) => l.documentId === documentId);
  return { handlers, runner: services.stages, seed, about };
});

describe("stage runner logs", () => {
  test("a retry logs 'will retry' with the attempt and the next delay", async ({ run }) => {
    const doc = await run.seed({ status: "QUEUED", stage: "EMBED" });
    run.handlers.EMBED.mockRejectedValue(new Error("object store unreachable"));
    const d = await run.runner.processStage(stageMessage(doc, "EMBED"), 1);
    expect(d.action).toBe("retry");
    const warnings = run.about(doc.id).filter((l) => l.level >= WARN);
    expect(warnings).toEqual([
      expect.objectContaining({
        msg: "stage failed; will retry",
        stage: "EMBED",
        attempt: 1,
        delayMs: d.action === "retry" ? d.delayMs : -1,
      }),
    ]);
    expect(run.about(doc.id).map((l) => l.msg)).not.toContain("document failed");
  });

  test("the attempt that gives up logs 'document failed' with RETRIES_EXHAUSTED and the attempt, not 'will retry'", async ({
    env,
    run,
  }) => {
    const limit = env.deps.settings.deliveryLimit;
    const doc = await run.seed({ status: "QUEUED", stage: "EMBED", attempts: limit - 1 });
    run.handlers.EMBED.mockRejectedValue(new Error("object store unreachable"));
    const d = await run.runner.processStage(stageMessage(doc, "EMBED"), limit);
    expect(d.action).toBe("dead-letter");
    const mine = run.about(doc.id);
    expect(mine.map((l) => l.msg)).not.toContain("stage failed; will retry");
    expect(mine.filter((l) => l.level >= WARN)).toEqual([
      expect.objectContaining({
        msg: "document failed",
        level: WARN,
        stage: "EMBED",
        code: FailureCode.RETRIES_EXHAUSTED,
        attempt: limit,
        reason: expect.stringContaining("object store unreachable"),
      }),
    ]);
  });

  test("a document failed for crashing workers says so once, with WORKER_CRASHED", async ({ env, run }) => {
    const max = env.deps.settings.maxCrashes;
    const doc = await run.seed({
      status: "PROCESSING",
      stage: "PARSE",
      attempts: max,
      crashes: max - 1,
      leaseExpiresAt: new Date(Date.now() - 1000),
    });
    expect(await run.runner.reconcileExpiredLeases()).toBe(1);
    expect(run.about(doc.id).filter((l) => l.msg === "document failed")).toEqual([
      expect.objectContaining({ level: WARN, code: FailureCode.WORKER_CRASHED, crashes: max }),
    ]);
  });

  test("a stage's logger makes its child at the first line at an enabled level, with the ids", async () => {
    const lines: Line[] = [];
    const parent = createLogger("info", "service-test", {
      write: (s: string) => {
        lines.push(JSON.parse(s) as Line);
      },
    });
    const child = vi.spyOn(parent, "child");
    const log = lazyChild(parent, { documentId: "d1", stage: "PARSE" });
    log.debug({ ms: 1 }, "stage completed");
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    log.warn({ code: "X" }, "document failed");
    log.info("again");
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines).toEqual([
      expect.objectContaining({ msg: "document failed", documentId: "d1", stage: "PARSE", code: "X" }),
      expect.objectContaining({ msg: "again", documentId: "d1", stage: "PARSE" }),
    ]);
    expect(log.bindings()).toMatchObject({ documentId: "d1", stage: "PARSE" });
  });
});
