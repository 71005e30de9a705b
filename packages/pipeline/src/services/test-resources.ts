import { createHash, randomUUID } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  type Document,
  type DocumentStatus,
  loadMigrations,
  type Prisma,
  type PrismaClient,
} from "@docfleet/schema";
import { test } from "vitest";
import {
  createDatabase,
  createLogger,
  createModels,
  createObjectStore,
  createQueue,
  createSearch,
} from "../composition/adapters.ts";
import { createApplication } from "../composition/application.ts";
import { DEFAULT_CATEGORIES } from "../composition/deps.ts";
import { DEFAULT_SETTINGS, type PipelineDeps, type PipelineSettings } from "../domain/context.ts";
import { COUNTER_FIELDS, counterDelta } from "../domain/lifecycle.ts";
import type { StageName } from "../domain/messages.ts";
import { createInProcessParser } from "../parse/sandbox.ts";
import { createServices, type Services } from "./index.ts";

// Shared by the service tests beside each service (CONVENTIONS "Tests": PGlite + memory adapters). Not a
// test file itself, so it builds its adapters through composition/'s factories, never by importing them.

/** Settings of every test deployment: the defaults, with a delivery limit small enough to reach. */
export const TEST_SETTINGS: PipelineSettings = { ...DEFAULT_SETTINGS, deliveryLimit: 3 };

/** One test file's deployment: PGlite in a temporary folder, the local store, memory queue and bus, built-in models. */
export interface ServiceEnv {
  deps: PipelineDeps;
  /** The unscoped client (tests read and seed through it). */
  prisma: PrismaClient;
  /** Services over `deps` (each call a new set: pass an after-commit hook or stage handlers of the test's own). */
  services(opts?: Parameters<typeof createServices>[1]): Services;
}

/**
 * `env`: one deployment per test file, closed and deleted after it; `tenantId`: a new tenant per test, so
 * tests share no rows and never depend on their order.
 */
export const serviceTest = test
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads a fixture's dependencies from this pattern (none)
  .extend("env", { scope: "file" }, async ({}, { onCleanup }): Promise<ServiceEnv> => {
    const dir = mkdtempSync(join(tmpdir(), "docfleet-service-test-"));
    const dbDir = join(dir, "db");
    const models = await createModels({ kind: "builtin" });
    cpSync(await pgliteTemplate(models.embeddingDimensions), dbDir, { recursive: true });
    const db = await createDatabase({ kind: "pglite", dir: dbDir });
    const { queue, events } = await createQueue({ kind: "memory" }, TEST_SETTINGS.deliveryLimit);
    const deps: PipelineDeps = {
      db,
      store: await createObjectStore(
        { kind: "local", root: join(dir, "objects"), secret: "service-test-secret" },
        "http://127.0.0.1:9",
      ),
      queue,
      events,
      search: await createSearch({ kind: "postgres" }, db, models.embeddingDimensions),
      models,
      parser: createInProcessParser(),
      categories: DEFAULT_CATEGORIES,
      settings: TEST_SETTINGS,
      log: createLogger("silent", "service-test"),
    };
    // Migrates, sets up the store, search tables and queues; no relay: tests read the outbox themselves.
    const app = await createApplication(deps, { requeueOnStart: false, relay: false });
    onCleanup(async () => {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    return { deps, prisma: db.prisma, services: (opts) => createServices(deps, opts) };
  })
  .extend("tenantId", async ({ env }) => createTenant(env.prisma));

/**
 * A migrated PGlite data folder (search tables included) to copy: a new folder costs PGlite's initdb,
 * 10 s and more on a busy machine; a copy about a second. Kept in the temporary folder, named by the
 * migrations, PGlite's version and the vector size; built under a name of its own and renamed into
 * place, so a reader never sees half of one.
 */
async function pgliteTemplate(dimensions: number): Promise<string> {
  const key = createHash("sha256")
    .update(`${pgliteVersion()} ${dimensions}\n`)
    .update(
      loadMigrations()
        .map((m) => `${m.name}:${m.checksum}`)
        .join("\n"),
    )
    .digest("hex")
    .slice(0, 16);
  const template = join(tmpdir(), `docfleet-pglite-template-${key}`);
  if (existsSync(join(template, "PG_VERSION"))) return template;
  const building = `${template}.${process.pid}-${randomUUID().slice(0, 8)}`;
  const db = await createDatabase({ kind: "pglite", dir: building });
  await db.migrate();
  await (await createSearch({ kind: "postgres" }, db, dimensions)).setup(); // the vector extension takes a while too
  await db.close();
  try {
    renameSync(building, template);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another test file renamed its copy first
  }
  return template;
}

function pgliteVersion(): string {
  let dir = dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite"));
  for (; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "@electric-sql/pglite") return pkg.version ?? "unknown";
  }
  return "unknown";
}

export async function createTenant(prisma: PrismaClient, name = "service test"): Promise<string> {
  const t = await prisma.tenant.create({ data: { name } });
  return t.id;
}

export async function insertBatch(prisma: PrismaClient, tenantId: string, name = "batch") {
  return prisma.batch.create({ data: { tenantId, name } });
}

export const sha256 = (content: string | Buffer) => createHash("sha256").update(content).digest("hex");

/**
 * A document put straight into a state (as the pipeline would have left it), with the batch's counters
 * moved as a transition would, so services that move it on keep them consistent.
 */
export async function insertDocument(
  prisma: PrismaClient,
  doc: {
    tenantId: string;
    batchId: string;
    status: DocumentStatus;
    stage?: StageName | null;
    name?: string;
  } & Omit<
    Prisma.DocumentUncheckedCreateInput,
    "tenantId" | "batchId" | "status" | "stage" | "name" | "sha256" | "objectKey" | "size"
  >,
): Promise<Document> {
  const id = doc.id ?? randomUUID();
  const { tenantId, batchId, status, stage = null, name = `${id}.txt`, ...rest } = doc;
  const created = await prisma.document.create({
    data: {
      ...rest,
      id,
      tenantId,
      batchId,
      name,
      status,
      stage,
      sha256: sha256(id),
      size: 10,
      objectKey: `${tenantId}/${id}/original`,
    },
  });
  const delta: Record<string, number> = { ...counterDelta(null, { status, stage }, 1) };
  if (created.needsReview) delta.needsReview = (delta.needsReview ?? 0) + 1;
  await prisma.batch.update({
    where: { id: batchId },
    data: Object.fromEntries(Object.entries(delta).map(([k, v]) => [k, { increment: v }])),
  });
  return created;
}

/** The outbox rows written for a document (their key is its id), oldest first. */
export function outboxFor(prisma: PrismaClient, documentId: string) {
  return prisma.outbox.findMany({ where: { key: documentId }, orderBy: { id: "asc" } });
}

/** The batch's counters. */
export function counters(prisma: PrismaClient, batchId: string) {
  return prisma.batch.findUniqueOrThrow({ where: { id: batchId }, select: COUNTER_FIELDS });
}
