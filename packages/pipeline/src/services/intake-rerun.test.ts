import { describe, expect } from "vitest";
import { EventType } from "../domain/messages.ts";
import { counters, sha256, serviceTest as test } from "./test-resources.ts";

// Issue 22: `docfleet upload` rerun with a fresh state folder after an interrupted run registers the
// same files into a new batch. Files the abandoned batch registered but never received must be counted
// in the batch the rerun reports, not left behind in the abandoned one.
describe("IntakeService.requestUploads after an abandoned batch", () => {
  const file = (content: string) => ({
    name: `${content}.txt`,
    size: Buffer.byteLength(content),
    sha256: sha256(content),
  });

  test("moves a still-pending document into the batch that registers it again, counters and events in both", async ({
    env,
    tenantId,
  }) => {
    const { intake } = env.services();
    const abandoned = await intake.createBatch(tenantId, { name: "first run" });
    const [a, b] = await intake.requestUploads(tenantId, abandoned.id, [file("one"), file("two")]);
    expect(a?.status).toBe("UPLOAD");
    expect(b?.status).toBe("UPLOAD");
    // The first run sent "one" and queued it, then died before "two".
    const one = a!.status === "UPLOAD" ? a!.document : undefined;
    await env.deps.store.put(one!.objectKey, Buffer.from("one"));
    await intake.completeUploads(tenantId, [one!.id]);

    const rerun = await intake.createBatch(tenantId, { name: "second run" });
    const again = await intake.requestUploads(tenantId, rerun.id, [file("one"), file("two"), file("three")]);
    expect(again.map((o) => o.status)).toEqual(["DUPLICATE", "UPLOAD", "UPLOAD"]);
    const two = again[1]!.status === "UPLOAD" ? again[1]!.document : undefined;
    expect(two?.batchId).toBe(rerun.id);
    expect((await env.prisma.document.findUniqueOrThrow({ where: { id: two!.id } })).batchId).toBe(rerun.id);

    expect(await counters(env.prisma, abandoned.id)).toMatchObject({ total: 1, queued: 1, pendingUpload: 0 });
    expect(await counters(env.prisma, rerun.id)).toMatchObject({ total: 2, pendingUpload: 2 });
    const moved = await env.prisma.event.findMany({
      where: { batchId: abandoned.id, type: EventType.DOCUMENTS_MOVED },
    });
    expect(moved.map((e) => e.payload)).toEqual([
      expect.objectContaining({
        count: 1,
        toBatchId: rerun.id,
        batch: expect.objectContaining({ total: 1 }),
      }),
    ]);
    const joined = await env.prisma.event.findMany({
      where: { batchId: rerun.id, type: EventType.DOCUMENTS_REQUESTED },
      orderBy: { seq: "asc" },
    });
    expect(joined.map((e) => e.payload)).toContainEqual(
      expect.objectContaining({ count: 1, fromBatchId: abandoned.id }),
    );

    // Registered twice within one request: the second is a duplicate, and nothing moves twice.
    const third = await intake.createBatch(tenantId, { name: "third run" });
    const twice = await intake.requestUploads(tenantId, third.id, [file("two"), file("two")]);
    expect(twice.map((o) => o.status)).toEqual(["UPLOAD", "DUPLICATE"]);
    expect(await counters(env.prisma, rerun.id)).toMatchObject({ total: 1, pendingUpload: 1 });
    expect(await counters(env.prisma, third.id)).toMatchObject({ total: 1, pendingUpload: 1 });
  });
});
