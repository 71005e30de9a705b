import { createHash, randomUUID } from "node:crypto";
import type { PrismaClient } from "@docfleet/schema";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openPgliteDatabase } from "../adapters/database/pglite.ts";
import type { Database } from "../ports/database.ts";
import { scopedToTenant, TenantScopeError, tenantScopes } from "./tenant-scope.ts";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

describe("scopedToTenant (PGlite)", () => {
  let db: Database;
  let base: PrismaClient;
  const A = randomUUID();
  const B = randomUUID();
  let asA: PrismaClient;
  /** Tenant B's rows, which nothing done through `asA` may see or change. */
  let b: { batch: string; doc: string; category: string };
  let a: { batch: string; doc: string };

  /** A snapshot of B's rows (to prove that nothing about them changed). */
  const snapshotB = async () => ({
    batches: await base.batch.findMany({ where: { tenantId: B }, orderBy: { id: "asc" } }),
    documents: await base.document.findMany({ where: { tenantId: B }, orderBy: { id: "asc" } }),
    categories: await base.category.findMany({ where: { tenantId: B }, include: { versions: true } }),
    labels: await base.label.findMany({ where: { tenantId: B } }),
    events: await base.event.findMany({ where: { tenantId: B } }),
    keys: await base.apiKey.findMany({ where: { tenantId: B } }),
    model: await base.tenantModel.findUnique({ where: { tenantId: B } }),
    tenant: await base.tenant.findUnique({ where: { id: B } }),
  });

  beforeAll(async () => {
    db = await openPgliteDatabase(undefined);
    await db.migrate();
    base = db.prisma;
    asA = scopedToTenant(base, A);
  });
  afterAll(async () => {
    await db?.close();
  });

  beforeEach(async () => {
    await base.tenant.deleteMany({});
    for (const [id, name] of [
      [A, "a"],
      [B, "b"],
    ] as const) {
      await base.tenant.create({ data: { id, name } });
    }
    const seed = async (tenantId: string, tag: string) => {
      const batch = await base.batch.create({ data: { tenantId, name: `batch ${tag}` } });
      const doc = await base.document.create({
        data: {
          tenantId,
          batchId: batch.id,
          name: `same name.txt`,
          sha256: sha("same content"), // the same content in both tenants: dedupe is per tenant
          objectKey: `${tenantId}/x/original`,
          size: 12,
          status: "COMPLETED",
        },
      });
      const category = await base.category.create({
        data: {
          tenantId,
          name: "invoice",
          description: `invoices of ${tag}`,
          keywords: [],
          versions: { create: { version: 1, definition: {} } },
        },
      });
      await base.label.create({ data: { documentId: doc.id, tenantId, category: "invoice", tokens: [tag] } });
      await base.event.create({
        data: { tenantId, batchId: batch.id, seq: 1, documentId: doc.id, type: "t" },
      });
      await base.apiKey.create({
        data: { tenantId, name: tag, hash: sha(`key ${tag} ${randomUUID()}`), prefix: "dfk_", scopes: [] },
      });
      await base.tenantModel.create({ data: { tenantId } });
      return { batch: batch.id, doc: doc.id, category: category.id };
    };
    a = await seed(A, "a");
    b = await seed(B, "b");
  });

  it("classifies every model on purpose: tenant column, parent, or refused", () => {
    expect(tenantScopes()).toEqual({
      Tenant: { kind: "column", field: "id" },
      ApiKey: { kind: "column", field: "tenantId" },
      Batch: { kind: "column", field: "tenantId" },
      Document: { kind: "column", field: "tenantId" },
      Event: { kind: "column", field: "tenantId" },
      Outbox: { kind: "refused" },
      Category: { kind: "column", field: "tenantId" },
      CategoryVersion: { kind: "parent", relation: "category", foreignKey: "categoryId", parent: "Category" },
      Label: { kind: "column", field: "tenantId" },
      TenantModel: { kind: "column", field: "tenantId" },
      // deployment-wide (workers serve every tenant): read through the Pipeline, never a tenant's client
      Worker: { kind: "refused" },
      WebhookEndpoint: { kind: "column", field: "tenantId" },
      WebhookDelivery: { kind: "column", field: "tenantId" },
    });
  });

  it("reads, counts, aggregates and groups only the tenant's rows", async () => {
    expect((await asA.document.findMany()).map((d) => d.id)).toEqual([a.doc]);
    expect(await asA.document.findUnique({ where: { id: b.doc } })).toBeNull();
    expect(await asA.document.findFirst({ where: { id: b.doc, tenantId: B } })).toBeNull();
    expect(await asA.document.findFirst({ where: { OR: [{ id: b.doc }, { tenantId: B }] } })).toBeNull();
    expect(
      await asA.document.findUnique({
        where: { tenantId_sha256: { tenantId: B, sha256: sha("same content") } },
      }),
    ).toBeNull();
    await expect(asA.document.findUniqueOrThrow({ where: { id: b.doc } })).rejects.toThrow();
    await expect(asA.batch.findFirstOrThrow({ where: { id: b.batch } })).rejects.toThrow();
    expect(await asA.document.count()).toBe(1);
    expect(await asA.document.count({ where: { tenantId: B } })).toBe(0);
    expect((await asA.document.aggregate({ _sum: { size: true } }))._sum.size).toBe(12);
    const groups = await asA.document.groupBy({ by: ["tenantId"], _count: { _all: true } });
    expect(groups).toEqual([{ tenantId: A, _count: { _all: 1 } }]);
    expect((await asA.tenant.findMany()).map((t) => t.id)).toEqual([A]);
    expect(await asA.tenant.findUnique({ where: { id: B } })).toBeNull();
    expect((await asA.categoryVersion.findMany()).map((v) => v.categoryId)).not.toContain(b.category);
    expect(await asA.categoryVersion.count()).toBe(1);
    expect((await asA.label.findMany()).map((l) => l.documentId)).toEqual([a.doc]);
    expect((await asA.event.findMany()).map((e) => e.batchId)).toEqual([a.batch]);
    expect((await asA.apiKey.findMany()).map((k) => k.tenantId)).toEqual([A]);
    expect(await asA.tenantModel.findUnique({ where: { tenantId: B } })).toBeNull();
    // Nested reads follow relations of scoped rows only.
    const batches = await asA.batch.findMany({
      include: { documents: true, _count: { select: { documents: true } } },
    });
    expect(batches.flatMap((x) => x.documents.map((d) => d.id))).toEqual([a.doc]);
    // Cursor pagination (as @pothos/plugin-prisma's connections do) with another tenant's id as cursor.
    const page = await asA.document.findMany({ cursor: { id: b.doc }, take: 10, orderBy: { id: "asc" } });
    expect(page.every((d) => d.tenantId === A)).toBe(true);
  });

  it("updates and deletes of another tenant's rows touch nothing", async () => {
    const before = await snapshotB();
    expect((await asA.document.updateMany({ where: { id: b.doc }, data: { name: "hacked" } })).count).toBe(0);
    expect((await asA.document.updateMany({ data: { name: "renamed" } })).count).toBe(1);
    await expect(asA.document.update({ where: { id: b.doc }, data: { name: "hacked" } })).rejects.toThrow();
    await expect(asA.batch.delete({ where: { id: b.batch } })).rejects.toThrow();
    expect((await asA.batch.deleteMany({ where: { id: b.batch } })).count).toBe(0);
    expect((await asA.label.deleteMany({ where: { tenantId: B } })).count).toBe(0);
    expect((await asA.event.deleteMany({ where: { batchId: b.batch } })).count).toBe(0);
    expect((await asA.apiKey.updateMany({ data: { revokedAt: new Date() } })).count).toBe(1);
    expect((await asA.categoryVersion.deleteMany({ where: { categoryId: b.category } })).count).toBe(0);
    expect((await asA.category.updateMany({ data: { description: "x" } })).count).toBe(1);
    await expect(asA.tenant.update({ where: { id: B }, data: { name: "hacked" } })).rejects.toThrow();
    // An upsert on another tenant's row creates the caller's own (or fails), never changes theirs.
    await expect(
      asA.tenantModel.upsert({ where: { tenantId: B }, create: { tenantId: B }, update: { labels: 99 } }),
    ).rejects.toThrow(TenantScopeError);
    await expect(
      asA.label.upsert({
        where: { documentId: b.doc },
        create: { documentId: b.doc, tenantId: A, category: "x", tokens: [] },
        update: { category: "hacked" },
      }),
    ).rejects.toThrow(TenantScopeError);
    // Deleting everything the client can reach leaves B whole.
    await asA.document.deleteMany({});
    await asA.batch.deleteMany({});
    expect(await snapshotB()).toEqual(before);
  });

  it("refuses creates and updates naming another tenant, its parents, or nested writes", async () => {
    const before = await snapshotB();
    await expect(asA.batch.create({ data: { tenantId: B, name: "x" } })).rejects.toThrow(TenantScopeError);
    await expect(
      asA.batch.createMany({
        data: [
          { tenantId: A, name: "ok" },
          { tenantId: B, name: "x" },
        ],
      }),
    ).rejects.toThrow(TenantScopeError);
    await expect(asA.batch.create({ data: { name: "x", tenant: { connect: { id: B } } } })).rejects.toThrow(
      TenantScopeError,
    );
    await expect(asA.batch.updateMany({ data: { tenantId: B } })).rejects.toThrow(TenantScopeError);
    // A document in another tenant's batch, an event on another tenant's document, a version of its category.
    await expect(
      asA.document.create({
        data: { tenantId: A, batchId: b.batch, name: "x", sha256: sha("x"), objectKey: "k", size: 1 },
      }),
    ).rejects.toThrow(TenantScopeError);
    await expect(
      asA.event.create({ data: { tenantId: A, batchId: a.batch, seq: 2, documentId: b.doc, type: "t" } }),
    ).rejects.toThrow(TenantScopeError);
    await expect(
      asA.categoryVersion.create({ data: { categoryId: b.category, version: 2, definition: {} } }),
    ).rejects.toThrow(TenantScopeError);
    await expect(asA.document.updateMany({ data: { batchId: b.batch } })).rejects.toThrow(TenantScopeError);
    // Nested writes are not seen by query extensions: refused.
    await expect(
      asA.batch.update({ where: { id: a.batch }, data: { documents: { connect: { id: b.doc } } } }),
    ).rejects.toThrow(TenantScopeError);
    await expect(asA.outbox.findMany()).rejects.toThrow(TenantScopeError);
    await expect(asA.tenant.create({ data: { id: B, name: "x" } })).rejects.toThrow(TenantScopeError);
    expect(await snapshotB()).toEqual(before);

    // Without a tenant the tenant is filled in; with its own it goes through.
    const made = await asA.batch.create({
      data: { name: "filled in" } as { name: string; tenantId: string },
    });
    expect(made.tenantId).toBe(A);
    const doc = await asA.document.create({
      data: {
        tenantId: A,
        batchId: made.id,
        name: "y",
        sha256: sha("y"),
        objectKey: `${A}/y/original`,
        size: 1,
      },
    });
    expect(doc.tenantId).toBe(A);
    await asA.categoryVersion.create({
      data: { categoryId: (await asA.category.findFirstOrThrow()).id, version: 2, definition: {} },
    });
    expect(await asA.categoryVersion.count()).toBe(2);
  });

  it("refuses raw queries unless allowed, and keeps the scope inside transactions", async () => {
    await expect(asA.$queryRaw`SELECT 1`).rejects.toThrow(TenantScopeError);
    await expect(asA.$executeRawUnsafe("DELETE FROM batch")).rejects.toThrow(TenantScopeError);
    await expect(asA.$queryRawUnsafe("SELECT 1")).rejects.toThrow(TenantScopeError);
    const raw = scopedToTenant(base, A, { allowRaw: true });
    expect(await raw.$queryRaw<{ one: number }[]>`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    const seen = await asA.$transaction(async (tx) => {
      await tx.document.updateMany({ data: { name: "in a transaction" } });
      return tx.document.findMany({ select: { id: true, name: true } });
    });
    expect(seen).toEqual([{ id: a.doc, name: "in a transaction" }]);
    expect((await base.document.findUniqueOrThrow({ where: { id: b.doc } })).name).toBe("same name.txt");
    const [count] = await asA.$transaction([asA.document.count({ where: { id: b.doc } })]);
    expect(count).toBe(0);
  });
});
