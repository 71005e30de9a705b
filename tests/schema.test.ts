import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { openPostgresDatabase } from "@docfleet/pipeline/adapters/database/postgres";
import { PostgresSearchIndex } from "@docfleet/pipeline/adapters/search/postgres";
import { loadMigrations } from "@docfleet/schema";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { TEST_DATABASE_URL, testDatabases } from "./helpers/db.ts";

// The Prisma schema engine cannot run here, so migrations are hand-written SQL. These tests prove the
// two agree: every model and column of the Prisma schema exists with a compatible type, and every model
// round-trips through the Prisma client on both databases.

const PG_TYPES: Record<string, string[]> = {
  String: ["text", "uuid"],
  Int: ["integer"],
  BigInt: ["bigint"],
  Float: ["double precision"],
  Boolean: ["boolean"],
  DateTime: ["timestamp with time zone"],
  Json: ["jsonb"],
};

interface Field {
  name: string;
  column: string;
  type: string;
  required: boolean;
  list: boolean;
  isEnum: boolean;
}

/** Models of schema.prisma with their columns (the generated client does not expose @map names). */
function prismaModels(): { name: string; table: string; fields: Field[] }[] {
  const src = readFileSync(new URL("../packages/schema/prisma/schema.prisma", import.meta.url), "utf8");
  const enums = new Set([...src.matchAll(/^enum (\w+)/gm)].map((m) => m[1]!));
  const blocks = [...src.matchAll(/^model (\w+) \{([\s\S]*?)^\}/gm)];
  const modelNames = new Set(blocks.map((b) => b[1]!));
  return blocks.map(([, name, body]) => {
    const table = /@@map\("([^"]+)"\)/.exec(body!)?.[1] ?? name!;
    const fields: Field[] = [];
    for (const line of body!.split("\n")) {
      const m = /^\s*(\w+)\s+(\w+)(\?|\[\])?(.*)$/.exec(line);
      if (!m || line.trim().startsWith("//") || modelNames.has(m[2]!)) continue;
      fields.push({
        name: m[1]!,
        column: /@map\("([^"]+)"\)/.exec(m[4]!)?.[1] ?? m[1]!,
        type: m[2]!,
        required: m[3] !== "?",
        list: m[3] === "[]",
        isEnum: enums.has(m[2]!),
      });
    }
    return { name: name!, table, fields };
  });
}

describe.each(testDatabases)("migrations on %o", (make) => {
  it("apply once, are recorded, and match the Prisma schema", async () => {
    const tdb = make();
    const db = await tdb.open();
    try {
      const applied = await db.migrate();
      expect(applied).toContain("0001_init.sql");
      expect(await db.migrate()).toEqual([]);

      const cols = await db.query<{
        table_name: string;
        column_name: string;
        data_type: string;
        udt_name: string;
        is_nullable: string;
      }>(
        `SELECT table_name, column_name, data_type, udt_name, is_nullable FROM information_schema.columns
         WHERE table_schema = current_schema()`,
      );
      const byTable = new Map<string, Map<string, (typeof cols)[number]>>();
      for (const c of cols) {
        if (!byTable.has(c.table_name)) byTable.set(c.table_name, new Map());
        byTable.get(c.table_name)!.set(c.column_name, c);
      }
      const models = prismaModels();
      expect(models.length).toBeGreaterThanOrEqual(6);
      for (const model of models) {
        const table = byTable.get(model.table);
        expect(table, `table for ${model.name}`).toBeDefined();
        for (const f of model.fields) {
          const col = table!.get(f.column);
          expect(col, `${model.name}.${f.name}`).toBeDefined();
          expect(col!.is_nullable === "YES", `${model.name}.${f.name} nullability`).toBe(!f.required);
          if (f.isEnum) expect(col!.udt_name).toBe(f.type);
          else if (f.list) expect(col!.data_type).toBe("ARRAY");
          else
            expect(PG_TYPES[f.type], `${model.name}.${f.name}: ${col!.data_type}`).toContain(col!.data_type);
        }
        // and no column the Prisma schema does not know
        expect([...table!.keys()].sort()).toEqual(model.fields.map((f) => f.column).sort());
      }
    } finally {
      await db.close();
      await tdb.cleanup();
    }
  });

  it("round-trips every model through the Prisma client", async () => {
    const tdb = make();
    const db = await tdb.open();
    try {
      await db.migrate();
      const p = db.prisma;
      const tenant = await p.tenant.create({ data: { name: "acme" } });
      const key = await p.apiKey.create({
        data: {
          tenantId: tenant.id,
          name: "ci",
          hash: "h".repeat(64),
          prefix: "df_abc",
          scopes: ["read", "upload"],
          expiresAt: new Date("2030-01-01T00:00:00.123Z"),
        },
      });
      expect((await p.apiKey.findUniqueOrThrow({ where: { hash: key.hash } })).scopes).toEqual([
        "read",
        "upload",
      ]);
      const batch = await p.batch.create({
        data: { tenantId: tenant.id, name: "b1", options: { categories: ["invoice"] } },
      });
      const doc = await p.document.create({
        data: {
          tenantId: tenant.id,
          batchId: batch.id,
          name: "a.pdf",
          sha256: "a".repeat(64),
          objectKey: "k",
          size: 123,
          status: "QUEUED",
          stage: "PARSE",
          confidence: 0.75,
          metadata: { fields: [{ name: "total", value: "12.50" }] },
          timings: { PARSE: 12 },
          leaseExpiresAt: new Date(),
        },
      });
      const back = await p.document.findUniqueOrThrow({ where: { id: doc.id } });
      expect(back).toMatchObject({
        status: "QUEUED",
        stage: "PARSE",
        confidence: 0.75,
        size: 123,
        needsReview: false,
      });
      expect(back.metadata).toEqual({ fields: [{ name: "total", value: "12.50" }] });
      await expect(
        p.document.create({
          data: {
            tenantId: tenant.id,
            batchId: batch.id,
            name: "dup",
            sha256: "a".repeat(64),
            objectKey: "k2",
            size: 1,
          },
        }),
      ).rejects.toMatchObject({ code: "P2002" });
      const ev = await p.event.create({
        data: {
          tenantId: tenant.id,
          batchId: batch.id,
          seq: 1,
          documentId: doc.id,
          type: "t",
          payload: { a: 1 },
        },
      });
      expect(typeof ev.id).toBe("bigint");
      const ob = await p.outbox.create({ data: { topic: "docfleet.parse", key: doc.id, payload: { v: 1 } } });
      expect((await p.outbox.findUniqueOrThrow({ where: { id: ob.id } })).sentAt).toBeNull();
      const updated = await p.batch.update({
        where: { id: batch.id },
        data: { queued: { increment: 2 }, eventSeq: { increment: 1 } },
      });
      expect(updated).toMatchObject({ queued: 2, eventSeq: 1 });
      // deleting a tenant removes everything it owns
      await p.tenant.delete({ where: { id: tenant.id } });
      expect(await p.document.count()).toBe(0);
      expect(await p.event.count()).toBe(0);
    } finally {
      await db.close();
      await tdb.cleanup();
    }
  });
});

/**
 * Processes that start together on a fresh database (issue 15: `gateway` and `worker` started at once
 * crashed the gateway's migration with `duplicate key ... pg_type_typname_nsp_index`): each opens
 * its own pool on a throwaway database of the local PostgreSQL, migrates and sets up the search index
 * at the same moment. Every one succeeds and each migration is applied exactly once.
 */
describe("migrations when processes start together on a fresh database", () => {
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  it("four processes migrate and set up the search index at once: all succeed, each migration applied once", async () => {
    // A few rounds: the race is between statements of different connections, so give it chances.
    for (let round = 0; round < 3; round++) {
      const name = `docfleet_race_${randomBytes(5).toString("hex")}`;
      await admin(`CREATE DATABASE ${name}`);
      const url = new URL(TEST_DATABASE_URL);
      url.pathname = `/${name}`;
      const dbs = await Promise.all(
        Array.from({ length: 4 }, () => openPostgresDatabase({ url: url.toString(), poolSize: 2 })),
      );
      try {
        const results = await Promise.allSettled(
          dbs.map(async (db) => {
            const applied = await db.migrate();
            await new PostgresSearchIndex(db, { dimensions: 8 }).setup();
            return applied;
          }),
        );
        expect({
          round,
          outcomes: results.map((r) => (r.status === "rejected" ? String(r.reason) : "ok")),
        }).toEqual({
          round,
          outcomes: ["ok", "ok", "ok", "ok"],
        });
        const applied = results.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
        expect(applied.sort()).toEqual(loadMigrations().map((m) => m.name));
      } finally {
        await Promise.all(dbs.map((db) => db.close()));
        await admin(`DROP DATABASE ${name} WITH (FORCE)`);
      }
    }
  }, 120_000);
});
