import { describe, expect } from "vitest";
import { CategoryError, type CategoryInput } from "./categories.ts";
import { serviceTest as test } from "./test-resources.ts";

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (e: unknown) => (e instanceof CategoryError ? e.code : `not a CategoryError: ${String(e)}`),
  );
}

const FIELDS = {
  type: "object" as const,
  properties: {
    amount: { type: "string" as const, format: "money" as const, description: "the amount" },
    kind: { type: "string" as const, enum: ["a", "b"] },
  },
  required: ["amount"],
};

describe("CategoriesService", () => {
  test("seeds the deployment's defaults on first use, once, even when two first requests race", async ({
    env,
    tenantId,
  }) => {
    const { categories } = env.services();
    const defaults = env.deps.categories.map((c) => c.name).sort();
    const [one, two] = await Promise.all([categories.list(tenantId), categories.list(tenantId)]);
    expect(one.map((c) => c.name)).toEqual(defaults);
    expect(two.map((c) => c.name)).toEqual(defaults);
    expect(one.every((c) => c.version === 1)).toBe(true);
    expect(await categories.list(tenantId)).toHaveLength(defaults.length);
    expect(await env.prisma.category.count({ where: { tenantId } })).toBe(defaults.length);
    expect(await env.prisma.categoryVersion.count({ where: { category: { tenantId } } })).toBe(
      defaults.length,
    );
    const invoice = await categories.get(tenantId, "invoice");
    expect(invoice?.fields.properties.total).toMatchObject({ type: "string", format: "money" });
    expect(await categories.get(tenantId, "nonsense")).toBeNull();
  });

  test("defines a category at version 1 next to the defaults; a taken name is a CONFLICT", async ({
    env,
    tenantId,
  }) => {
    const { categories } = env.services();
    const defined = await categories.define(tenantId, {
      name: "purchase_order",
      description: "  An order to buy.  ",
      keywords: ["po", "order"],
      fields: FIELDS,
    });
    expect(defined).toMatchObject({
      name: "purchase_order",
      description: "An order to buy.",
      version: 1,
      fields: FIELDS,
    });
    const all = await categories.list(tenantId);
    expect(all).toHaveLength(env.deps.categories.length + 1);
    const versions = await env.prisma.categoryVersion.findMany({
      where: { category: { tenantId, name: "purchase_order" } },
    });
    expect(versions).toMatchObject([
      { version: 1, definition: { description: "An order to buy.", keywords: ["po", "order"] } },
    ]);

    expect(await codeOf(categories.define(tenantId, { name: "purchase_order", description: "again" }))).toBe(
      "CONFLICT",
    );
    expect(await codeOf(categories.define(tenantId, { name: "invoice", description: "mine" }))).toBe(
      "CONFLICT",
    );
    expect((await categories.get(tenantId, "invoice"))?.description).not.toBe("mine");
  });

  test("refuses bad definitions (BAD_REQUEST) and keeps tenants apart", async ({ env, tenantId }) => {
    const { categories } = env.services();
    const bad = [
      { name: "Purchase Order", description: "x" },
      { name: "po", description: "   " },
      { name: "po", description: "x", fields: { ...FIELDS, required: ["missing"] } },
      {
        name: "po",
        description: "x",
        fields: { type: "object", properties: { Amount: { type: "string" } } },
      },
      { name: "po", description: "x", fields: { type: "object", properties: { a: { type: "boolean" } } } },
    ];
    for (const input of bad)
      expect(
        await codeOf(categories.define(tenantId, input as unknown as CategoryInput)),
        JSON.stringify(input),
      ).toBe("BAD_REQUEST");
    expect(await categories.get(tenantId, "po")).toBeNull();

    const other = await env.prisma.tenant.create({ data: { name: "other" } });
    await categories.define(other.id, { name: "po", description: "theirs" });
    expect(await categories.get(tenantId, "po")).toBeNull();
    expect(await codeOf(categories.define(tenantId, { name: "po", description: "mine" }))).toBe("ok");
  });

  test("update bumps the version only on a real change, keeping each definition", async ({
    env,
    tenantId,
  }) => {
    const { categories } = env.services();
    await categories.define(tenantId, {
      name: "po",
      description: "An order.",
      keywords: ["po"],
      fields: FIELDS,
    });

    // The same values (whitespace and key order aside): nothing changes.
    const reordered = {
      required: ["amount"],
      properties: { kind: FIELDS.properties.kind, amount: FIELDS.properties.amount },
      type: "object",
    };
    const same = await categories.update(tenantId, "po", {
      description: " An order. ",
      keywords: ["po"],
      fields: reordered,
    });
    expect(same.version).toBe(1);
    expect(await categories.update(tenantId, "po", {})).toMatchObject({ version: 1 });

    const changed = await categories.update(tenantId, "po", { description: "A purchase order." });
    expect(changed).toMatchObject({
      version: 2,
      description: "A purchase order.",
      keywords: ["po"],
      fields: FIELDS,
    });
    const fields = await categories.update(tenantId, "po", { fields: { type: "object", properties: {} } });
    expect(fields).toMatchObject({ version: 3, fields: { type: "object", properties: {} } });

    const versions = await env.prisma.categoryVersion.findMany({
      where: { category: { tenantId, name: "po" } },
      orderBy: { version: "asc" },
    });
    expect(versions.map((v) => [v.version, (v.definition as { description: string }).description])).toEqual([
      [1, "An order."],
      [2, "A purchase order."],
      [3, "A purchase order."],
    ]);

    expect(
      await codeOf(categories.update(tenantId, "po", { fields: { type: "object", properties: { X: {} } } })),
    ).toBe("BAD_REQUEST");
    expect(await codeOf(categories.update(tenantId, "nonsense", { description: "x" }))).toBe("NOT_FOUND");
    expect((await categories.get(tenantId, "po"))?.version).toBe(3);
  });

  test("forBatch answers the batch's chosen categories, or all of them", async ({ env, tenantId }) => {
    const { categories } = env.services();
    const all = (await categories.list(tenantId)).map((c) => c.name);
    const names = async (options: { categories?: string[] } | null) =>
      (await categories.forBatch(tenantId, options)).map((c) => c.name);
    expect(await names({ categories: ["receipt", "invoice", "nonsense"] })).toEqual(["invoice", "receipt"]);
    expect(await names({ categories: ["nonsense"] })).toEqual(all);
    expect(await names({ categories: [] })).toEqual(all);
    expect(await names(null)).toEqual(all);
  });
});
