import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCAL_TENANT_ID } from "@docfleet/gateway";
import {
  CategoryError,
  type PipelineEvent,
  planFor,
  RequestError,
  STAGES,
  type StoredField,
} from "@docfleet/pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordEvents } from "./helpers/events.ts";
import { inProcessSystem, type System } from "./helpers/system.ts";

const T = LOCAL_TENANT_ID;
const OTHER = "00000000-0000-4000-8000-0000000000b2";

/**
 * Categories as data, people's corrections teaching the classifier, provenance per stage and
 * reprocessing only what a change affects, on the embedded adapters with the built-in models.
 */
describe("categories, corrections and reprocessing", () => {
  let dir: string;
  let system: System;
  let log: ReturnType<typeof recordEvents>;
  const events: PipelineEvent[] = [];
  const settled = (batchId: string, after = 0) => log.settled(batchId, after);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-understand-"));
    system = await inProcessSystem(dir, {
      env: { DOCFLEET_LOG_LEVEL: "silent" },
      publicUrl: "http://127.0.0.1:9",
      prepare: (deps) => {
        log = recordEvents(deps.events);
        deps.events.subscribe((e) => events.push(e));
        return deps;
      },
      gateway: false,
      worker: { roles: STAGES, concurrency: { PARSE: 1, UNDERSTAND: 2, EMBED: 2, INDEX: 2 } },
      requeueOnStart: true,
    });
    await system.app.services.intake.ensureTenant(OTHER, "other");
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const p = () => system.app;
  const prisma = () => system.app.deps.db.prisma;

  const lastSeq = (batchId: string) => log.lastSeq(batchId);

  async function ingest(files: Record<string, string>, categories?: string[]) {
    const batch = await p().services.intake.createBatch(T, { name: "understand", categories });
    // Each text ends with its batch id, so the same text in two tests is not a duplicate.
    const list = Object.entries(files).map(([name, text]) => ({
      name,
      size: Buffer.byteLength(content(batch.id, text)),
      sha256: createHash("sha256").update(content(batch.id, text)).digest("hex"),
    }));
    const outcomes = await p().services.intake.requestUploads(T, batch.id, list);
    const ids: Record<string, string> = {};
    for (const [i, o] of outcomes.entries()) {
      if (o.status !== "UPLOAD") throw new Error(`unexpected ${o.status}`);
      const name = list[i]!.name;
      ids[name] = o.document.id;
      await p().deps.store.put(o.document.objectKey, content(batch.id, files[name]!));
    }
    await p().services.intake.completeUploads(T, Object.values(ids));
    await settled(batch.id);
    return { batchId: batch.id, ids };
  }
  const content = (batchId: string, text: string) => `${text}\n\nref ${batchId}`;

  it("gives every tenant the default set, and keeps tenants' own categories apart", async () => {
    const mine = await p().services.categories.list(T);
    expect(mine.map((c) => c.name)).toEqual(
      expect.arrayContaining(["invoice", "receipt", "letter", "other"]),
    );
    const receipt = mine.find((c) => c.name === "receipt")!;
    // jsonb keeps no key order.
    expect(Object.keys(receipt.fields!.properties).sort()).toEqual(["address", "company", "date", "total"]);
    expect(receipt.version).toBe(1);

    const po = await p().services.categories.define(T, {
      name: "purchase_order",
      description: "An order a buyer sends to a supplier before any invoice",
      keywords: ["purchase order", "po number", "ship to", "order date"],
      fields: {
        type: "object",
        properties: {
          po_number: { type: "string" },
          order_date: { type: "string", format: "date" },
          total: { type: "string", format: "money" },
          priority: { type: "string", enum: ["low", "high"] },
        },
      },
    });
    expect(po.version).toBe(1);
    await expect(
      p().services.categories.define(T, { name: "purchase_order", description: "again" }),
    ).rejects.toMatchObject({ code: "CONFLICT" });
    expect((await p().services.categories.list(OTHER)).map((c) => c.name)).not.toContain("purchase_order");
  });

  it("refuses malformed definitions with the path of each problem", async () => {
    const err = await p()
      .services.categories.define(T, {
        name: "Bad Name",
        description: "x",
        fields: { type: "object", properties: { total: { type: "money" } } } as never,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CategoryError);
    expect((err as CategoryError).code).toBe("BAD_REQUEST");
    expect((err as Error).message).toMatch(/category\.name/);
    expect((err as Error).message).toMatch(/category\.fields\.properties\.total/);
  });

  it("bumps the version only on a real change", async () => {
    const same = await p().services.categories.update(T, "purchase_order", {
      keywords: ["purchase order", "po number", "ship to", "order date"],
    });
    expect(same.version).toBe(1);
    const changed = await p().services.categories.update(T, "purchase_order", {
      description: "A buyer's order to a supplier",
    });
    expect(changed.version).toBe(2);
    const versions = await prisma().categoryVersion.findMany({
      where: { category: { tenantId: T, name: "purchase_order" } },
      orderBy: { version: "asc" },
    });
    expect(versions.map((v) => v.version)).toEqual([1, 2]);
    await expect(p().services.categories.update(T, "nope", { description: "x" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("records the model, prompt and category versions each stage's result came from", async () => {
    const { ids } = await ingest(
      {
        "po.txt":
          "PURCHASE ORDER\nPO Number: PO-7781\nOrder date: 2024-03-05\nShip to: Dock 4\nTotal: 1,250.00 EUR",
      },
      ["purchase_order", "invoice"],
    );
    const doc = await prisma().document.findUniqueOrThrow({ where: { id: ids["po.txt"]! } });
    expect(doc).toMatchObject({ status: "COMPLETED", category: "purchase_order", categoryVersion: 2 });
    const prov = doc.provenance as Record<string, Record<string, unknown>>;
    expect(prov.PARSE).toMatchObject({ parser: expect.any(String), detectedType: "txt" });
    expect(prov.UNDERSTAND).toMatchObject({
      model: p().deps.models.names.understand,
      promptVersion: p().deps.models.promptVersion,
      category: "purchase_order",
      categoryVersion: 2,
    });
    expect(prov.EMBED).toMatchObject({ model: p().deps.models.names.embed });
    expect(prov.INDEX).toMatchObject({ category: "purchase_order" });
    const fields = (doc.metadata as unknown as { fields: StoredField[] }).fields;
    expect(fields.find((f) => f.name === "total")).toMatchObject({ kind: "money", value: "1250.00" });
  });

  it("checks corrected values against the declared field types", async () => {
    const doc = await prisma().document.findFirstOrThrow({ where: { name: "po.txt" } });
    const bad = (fields: { name: string; value: string }[]) =>
      p()
        .services.review.correctDocument(T, doc.id, { fields })
        .then(
          () => new RequestError("BAD_REQUEST", "expected a refusal"),
          (e: unknown) => e as RequestError,
        );
    expect((await bad([{ name: "order_date", value: "05/03/2024" }])).message).toMatch(/YYYY-MM-DD/);
    expect((await bad([{ name: "total", value: "1,250" }])).message).toMatch(/number/);
    expect((await bad([{ name: "priority", value: "urgent" }])).message).toMatch(/one of low, high/);
    expect((await bad([{ name: "colour", value: "red" }])).message).toMatch(/declares no field colour/);
    await expect(
      p().services.review.correctDocument(OTHER, doc.id, { category: "invoice" }),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("takes a person's fields, re-indexes only, and keeps them through a reprocess", async () => {
    const doc = await prisma().document.findFirstOrThrow({ where: { name: "po.txt" } });
    const before = lastSeq(doc.batchId);
    const fixed = await p().services.review.correctDocument(T, doc.id, {
      fields: [{ name: "priority", value: "high" }],
    });
    expect(fixed).toMatchObject({ status: "QUEUED", stage: "INDEX", confidence: 1, needsReview: false });
    await settled(doc.batchId, before);
    const started = events
      .filter((e) => e.documentId === doc.id && e.seq > before && e.type === "stage.started")
      .map((e) => (e.payload as { stage?: string }).stage);
    expect(started).toEqual(["INDEX"]);
    const found = await p().deps.search.search({
      tenantId: T,
      text: "purchase order",
      mode: "KEYWORD",
      filter: { fields: [{ name: "priority", op: "eq", value: "HIGH" }] },
      limit: 10,
    });
    expect(found.hits.map((h) => h.documentId)).toEqual([doc.id]);
    const after = lastSeq(doc.batchId);
    const res = await p().services.operations.reprocess(T, {
      filter: { documentIds: [doc.id] },
      stages: ["UNDERSTAND"],
      force: true,
    });
    expect(res).toMatchObject({ queued: 1, upToDate: 0 });
    await settled(doc.batchId, after);
    const again = await prisma().document.findUniqueOrThrow({ where: { id: doc.id } });
    const fields = (again.metadata as unknown as { fields: StoredField[] }).fields;
    expect(fields.find((f) => f.name === "priority")).toMatchObject({ value: "high", source: "human" });
  });

  it("learns a tenant's categories from its corrections", async () => {
    // Keywords point at "invoice"; this tenant's "work orders" are a category of its own.
    await p().services.categories.define(T, {
      name: "work_order",
      description: "An internal job ticket for the maintenance crew",
    });
    const order = (n: number) =>
      `Invoice department job ticket ${n}\nMaintenance crew: replace valve in boiler room, check pump pressure, ` +
      `lubricate conveyor bearings.\nTechnician signature required. Amount due 0.00`;
    const first = await ingest(Object.fromEntries([1, 2, 3, 4, 5, 6].map((n) => [`wo-${n}.txt`, order(n)])), [
      "invoice",
      "work_order",
      "letter",
    ]);
    const docs = await prisma().document.findMany({ where: { batchId: first.batchId } });
    expect(docs.every((d) => d.category === "invoice")).toBe(true);
    for (const d of docs) await p().services.review.correctDocument(T, d.id, { category: "work_order" });
    const model = await prisma().tenantModel.findUniqueOrThrow({ where: { tenantId: T } });
    expect((model.learned as { docs: Record<string, number> }).docs.work_order).toBe(6);
    await settled(first.batchId);
    // Corrected documents keep the person's category through their re-run.
    const rerun = await prisma().document.findMany({ where: { batchId: first.batchId } });
    expect(rerun.every((d) => d.category === "work_order" && d.status === "COMPLETED")).toBe(true);

    const next = await ingest({ "wo-new.txt": order(99) }, ["invoice", "work_order", "letter"]);
    const fresh = await prisma().document.findUniqueOrThrow({ where: { id: next.ids["wo-new.txt"]! } });
    expect(fresh.category).toBe("work_order");
    // Another tenant learnt nothing from them.
    expect(await prisma().tenantModel.findUnique({ where: { tenantId: OTHER } })).toBeNull();
  });

  it("re-runs understand and index (not embed) for the documents a category change affects", async () => {
    const { batchId, ids } = await ingest(
      {
        "po-2.txt": "PURCHASE ORDER\nPO Number: PO-9\nOrder date: 2024-04-01\nTotal: 80.00 EUR",
        "letter.txt": "Dear Ms Smith,\nThank you for your letter of 3 May.\nYours sincerely,\nJohn",
      },
      ["purchase_order", "letter"],
    );
    const seq = lastSeq(batchId);
    await p().services.categories.update(T, "purchase_order", {
      fields: {
        type: "object",
        properties: { po_number: { type: "string" }, total: { type: "string", format: "money" } },
      },
    });
    const res = await p().services.operations.reprocess(T, {
      filter: { batchId },
      stages: ["UNDERSTAND", "EMBED"],
    });
    expect(res).toMatchObject({ queued: 1, upToDate: 1 });
    expect(res.documentIds).toEqual([ids["po-2.txt"]]);
    await settled(batchId, seq);
    const started = events
      .filter((e) => e.documentId === ids["po-2.txt"] && e.seq > seq && e.type === "stage.started")
      .map((e) => (e.payload as { stage?: string }).stage);
    expect(started).toEqual(["UNDERSTAND", "INDEX"]);
    const doc = await prisma().document.findUniqueOrThrow({ where: { id: ids["po-2.txt"]! } });
    expect(doc).toMatchObject({ status: "COMPLETED", categoryVersion: 3, options: null });
    // Nothing changed since: a second reprocess has nothing to do.
    expect(
      await p().services.operations.reprocess(T, { filter: { batchId }, stages: ["UNDERSTAND", "EMBED"] }),
    ).toMatchObject({
      queued: 0,
      upToDate: 2,
    });
  });

  it("refuses another embedding model and unknown built-in models", async () => {
    await expect(
      p().services.operations.reprocess(T, {
        filter: {},
        stages: ["EMBED"],
        models: { embed: "nomic-embed-text" },
      }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
    const doc = await prisma().document.findFirstOrThrow({ where: { name: "letter.txt" } });
    const seq = lastSeq(doc.batchId);
    await p().services.operations.reprocess(T, {
      filter: { documentIds: [doc.id] },
      stages: ["UNDERSTAND"],
      models: { understand: "llama9:70b" },
    });
    await settled(doc.batchId, seq);
    expect(await prisma().document.findUniqueOrThrow({ where: { id: doc.id } })).toMatchObject({
      status: "FAILED",
      errorCode: "MODEL_UNAVAILABLE",
    });
  });

  it("plans from provenance", () => {
    const now = {
      force: false,
      understandModels: ["m@1"],
      promptVersion: "p1",
      embedModel: "e@1",
      categoryVersion: 2,
    };
    const prov = {
      PARSE: { parser: "old" },
      UNDERSTAND: { model: "m@1", promptVersion: "p1", categoryVersion: 2 },
      EMBED: { model: "e@1", chunker: "chunk-1" },
      INDEX: { category: "x" },
    };
    const d = { category: "x", provenance: prov };
    expect(planFor(d, ["UNDERSTAND", "EMBED", "INDEX"], now)).toEqual([]);
    expect(planFor(d, ["UNDERSTAND"], { ...now, categoryVersion: 3 })).toEqual(["UNDERSTAND", "INDEX"]);
    expect(planFor(d, ["UNDERSTAND"], { ...now, promptVersion: "p2" })).toEqual(["UNDERSTAND", "INDEX"]);
    expect(planFor(d, ["EMBED"], { ...now, embedModel: "e@2" })).toEqual(["EMBED", "INDEX"]);
    expect(planFor(d, ["INDEX"], now)).toEqual([]);
    expect(planFor({ ...d, category: "y" }, ["INDEX"], now)).toEqual(["INDEX"]);
    expect(planFor(d, ["PARSE"], now)).toEqual([...STAGES]);
    expect(planFor(d, ["UNDERSTAND"], { ...now, force: true })).toEqual(["UNDERSTAND", "INDEX"]);
  });
});
