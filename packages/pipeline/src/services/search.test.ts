import { randomUUID } from "node:crypto";
import type { Document } from "@docfleet/schema";
import { describe, expect, vi } from "vitest";
import { RequestError } from "../domain/errors.ts";
import { StatementTimeoutError } from "../ports/database.ts";
import type { SearchHit } from "../ports/search.ts";
import type { Db } from "../repositories/db.ts";
import { SEARCH_LIMITS, type SearchService } from "./search.ts";
import { createTenant, insertBatch, insertDocument, type ServiceEnv, serviceTest } from "./test-resources.ts";

const test = serviceTest.extend("search", async ({ env, tenantId }) => {
  const batch = await insertBatch(env.prisma, tenantId);
  const doc = (name: string, extra: Partial<Parameters<typeof insertDocument>[1]> = {}) =>
    insertDocument(env.prisma, { tenantId, batchId: batch.id, status: "COMPLETED", name, ...extra });
  return { service: env.services().search, batch, doc };
});

const hit = (documentId: string, score: number): SearchHit => ({
  documentId,
  score,
  chunk: 0,
  chunkText: `text of ${documentId}`,
  highlights: [],
});

const cursor = (offset: number) => Buffer.from(String(offset)).toString("base64url");

/** A client whose document reads are counted (the hydration must be one query per page). */
function countingDb(env: ServiceEnv) {
  const findMany = vi.fn((args: object) => env.prisma.document.findMany(args));
  return { db: { document: { findMany } } as unknown as Db, findMany };
}

/** Puts documents in the search index with the chunk text given (embedded by the deployment's model). */
async function index(env: ServiceEnv, docs: { doc: Document; text: string; category?: string }[]) {
  const embeddings = await env.deps.models.embed(docs.map((d) => d.text));
  await env.deps.search.upsert(
    docs.map(({ doc, text, category }, i) => ({
      documentId: doc.id,
      tenantId: doc.tenantId,
      batchId: doc.batchId,
      name: doc.name,
      category: category ?? null,
      createdAt: doc.createdAt.toISOString(),
      date: null,
      fields: [],
      chunks: [{ chunk: 0, text, embedding: embeddings[i]! }],
    })),
  );
}

/** `n` field conditions, each one a document could meet. */
function conditions(n: number) {
  return Array.from({ length: n }, (_, i) => ({ name: `f${i}`, op: "exists" as const }));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (e: unknown) => (e instanceof RequestError ? e.code : `not a RequestError: ${String(e)}`),
  );
}

describe("SearchService.search", () => {
  test("refuses bad requests before asking the index", async ({ env, tenantId, search }) => {
    const port = vi.spyOn(env.deps.search, "search");
    const bad: [string, Parameters<SearchService["search"]>[1]][] = [
      ["first 0", { query: "x", first: 0 }],
      ["first 101", { query: "x", first: 101 }],
      ["cursor not a number", { query: "x", after: "garbage!" }],
      ["cursor negative", { query: "x", after: cursor(-1) }],
      ["cursor too deep", { query: "x", after: cursor(10_001) }],
      ["long query", { query: "x".repeat(1001) }],
      ["unknown facet", { query: "x", facets: ["colour"] }],
      ["field facet not snake_case", { query: "x", facets: ["field:Total"] }],
      ["11 facets", { query: "x", facets: Array.from({ length: 11 }, () => "category") }],
      ["date not ISO", { query: "x", filter: { dateFrom: "01/02/2024" } }],
      ["date impossible", { query: "x", filter: { dateTo: "2024-02-30" } }],
      ["field name", { query: "x", filter: { fields: [{ name: "Total", op: "eq", value: "1" }] } }],
      ["in without values", { query: "x", filter: { fields: [{ name: "total", op: "in", values: [] }] } }],
      ["gt without value", { query: "x", filter: { fields: [{ name: "total", op: "gt" }] } }],
      // issue 15: every list bounded, no NUL character anywhere text reaches SQL
      ["21 field conditions", { query: "x", filter: { fields: conditions(21) } }],
      [
        "an in of 101 values",
        {
          query: "x",
          filter: { fields: [{ name: "vendor", op: "in", values: Array.from({ length: 101 }, String) }] },
        },
      ],
      [
        "101 categories",
        { query: "x", filter: { category: Array.from({ length: 101 }, (_, i) => `c${i}`) } },
      ],
      ["101 batch ids", { query: "x", filter: { batchId: Array.from({ length: 101 }, () => randomUUID()) } }],
      [
        "a value of 1001 characters",
        { query: "x", filter: { fields: [{ name: "v", op: "eq", value: "x".repeat(1001) }] } },
      ],
      ["NUL in the query", { query: "in\u0000voice" }],
      ["33 words", { query: Array.from({ length: 33 }, (_, i) => `w${i}`).join(" ") }],
      [
        "NUL in a field value",
        { query: "x", filter: { fields: [{ name: "total", op: "eq", value: "1\u0000" }] } },
      ],
      [
        "NUL in an in value",
        { query: "x", filter: { fields: [{ name: "v", op: "in", values: ["a", "\u0000"] }] } },
      ],
      ["NUL in a category", { query: "x", filter: { category: ["inv\u0000"] } }],
      ["NUL in a batch id", { query: "x", filter: { batchId: ["\u0000"] } }],
    ];
    const answers: string[] = [];
    for (const [what, args] of bad)
      answers.push(`${what}: ${await codeOf(search.service.search(tenantId, args))}`);
    expect(answers).toEqual(bad.map(([what]) => `${what}: BAD_REQUEST`));
    expect(port).not.toHaveBeenCalled();

    // At the limits: accepted.
    for (const args of [
      { query: "x".repeat(1000), first: 100, after: cursor(10_000) },
      { query: "x", first: 1, facets: ["category", "batch", "field:total"] },
      { query: "x", filter: { dateFrom: "2024-02-29", fields: [{ name: "total", op: "exists" as const }] } },
      // every list at its bound at once (SEARCH_LIMITS), through the real index
      {
        query: Array.from({ length: SEARCH_LIMITS.queryWords }, () => "x".repeat(30)).join(" "),
        facets: Array.from({ length: SEARCH_LIMITS.facets }, (_, i) => (i % 2 ? "category" : "field:f1")),
        filter: {
          category: Array.from({ length: SEARCH_LIMITS.categories }, (_, i) => `c${i}`),
          batchId: Array.from({ length: SEARCH_LIMITS.batchIds }, () => randomUUID()),
          fields: [
            ...conditions(SEARCH_LIMITS.fieldConditions - 1),
            {
              name: "vendor",
              op: "in" as const,
              values: Array.from({ length: SEARCH_LIMITS.valuesPerCondition }, () => "v".repeat(1000)),
            },
          ],
        },
      },
    ])
      expect(await codeOf(search.service.search(tenantId, args))).toBe("ok");
    port.mockRestore();
  });

  test("a search stopped by its statement time bound is the caller's BAD_REQUEST, naming the bound", async ({
    env,
    tenantId,
    search,
  }) => {
    const port = vi
      .spyOn(env.deps.search, "search")
      .mockRejectedValue(new StatementTimeoutError("statement stopped after 10000 ms"));
    try {
      const err = await search.service.search(tenantId, { query: "x" }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RequestError);
      expect((err as RequestError).code).toBe("BAD_REQUEST");
      expect((err as RequestError).message).toMatch(/DOCFLEET_SEARCH_TIMEOUT_MS/);
    } finally {
      port.mockRestore();
    }
  });

  test("hydrates the page's documents in one query, in hit order, a missing or foreign one as null", async ({
    env,
    tenantId,
    search,
  }) => {
    const a = await search.doc("a.txt");
    const b = await search.doc("b.txt");
    const c = await search.doc("c.txt");
    const stranger = await createTenant(env.prisma);
    const theirs = await insertDocument(env.prisma, {
      tenantId: stranger,
      batchId: (await insertBatch(env.prisma, stranger)).id,
      status: "COMPLETED",
    });
    const missing = randomUUID();
    const facets = [{ field: "category", buckets: [{ value: "invoice", count: 2 }] }];
    const port = vi.spyOn(env.deps.search, "search").mockResolvedValue({
      hits: [hit(b.id, 0.9), hit(missing, 0.8), hit(theirs.id, 0.7), hit(a.id, 0.6), hit(c.id, 0.5)],
      total: 42,
      facets,
    });
    const { db, findMany } = countingDb(env);
    try {
      const page = await search.service.search(
        tenantId,
        { query: "acme invoice", first: 4, facets: ["category"], filter: { category: ["invoice"] } },
        { db, query: { select: { id: true, name: true } } },
      );
      expect(findMany).toHaveBeenCalledTimes(1);
      expect(page.edges.map((e) => [e.node.documentId, e.node.score, e.node.document])).toEqual([
        [b.id, 0.9, { id: b.id, name: "b.txt" }],
        [missing, 0.8, null],
        [theirs.id, 0.7, null],
        [a.id, 0.6, { id: a.id, name: "a.txt" }],
      ]);
      expect(page).toMatchObject({ hasNextPage: true, totalCount: 42, facets, endCursor: cursor(4) });
      expect(page.edges.map((e) => e.cursor)).toEqual([1, 2, 3, 4].map(cursor));

      const asked = port.mock.calls[0]![0];
      expect(asked).toMatchObject({
        tenantId,
        text: "acme invoice",
        mode: "HYBRID",
        limit: 5,
        offset: 0,
        facets: [{ field: "category" }],
        filter: { categories: ["invoice"] },
      });
      expect(asked.embedding).toHaveLength(env.deps.models.embeddingDimensions);

      // The next page starts after the cursor; a keyword search embeds nothing.
      port.mockResolvedValue({ hits: [hit(c.id, 0.5)], total: 42, facets: [] });
      const next = await search.service.search(tenantId, {
        query: "acme invoice",
        mode: "KEYWORD",
        first: 4,
        after: page.endCursor,
      });
      expect(port.mock.calls[1]![0]).toMatchObject({
        mode: "KEYWORD",
        offset: 4,
        limit: 5,
        embedding: undefined,
      });
      expect(next).toMatchObject({ hasNextPage: false, endCursor: cursor(5) });
      expect(next.edges[0]!.node.document).toMatchObject({ id: c.id, name: "c.txt", status: "COMPLETED" });
    } finally {
      port.mockRestore();
    }
  });

  test("finds only the tenant's documents in the index", async ({ env, tenantId, search }) => {
    const mine = await search.doc("zebra.txt");
    const other = await search.doc("giraffe.txt");
    const stranger = await createTenant(env.prisma);
    const theirs = await insertDocument(env.prisma, {
      tenantId: stranger,
      batchId: (await insertBatch(env.prisma, stranger)).id,
      status: "COMPLETED",
    });
    await index(env, [
      { doc: mine, text: "the striped zebra grazes", category: "report" },
      { doc: other, text: "a tall giraffe", category: "letter" },
      { doc: theirs, text: "another zebra, someone else's", category: "report" },
    ]);
    const page = await search.service.search(tenantId, {
      query: "zebra",
      mode: "KEYWORD",
      facets: ["category"],
    });
    expect(page.edges.map((e) => e.node.document?.id)).toEqual([mine.id]);
    expect(page.edges[0]!.node.highlights.join(" ")).toContain("<mark>zebra</mark>");
    expect(page.totalCount).toBe(1);
    expect(page.facets).toEqual([{ field: "category", buckets: [{ value: "report", count: 1 }] }]);
  });
});

describe("SearchService.similar", () => {
  test("answers the tenant's similar documents, never the document itself; another tenant's is NOT_FOUND", async ({
    env,
    tenantId,
    search,
  }) => {
    const seed = await search.doc("seed.txt");
    const near = await search.doc("near.txt");
    const stranger = await createTenant(env.prisma);
    const theirs = await insertDocument(env.prisma, {
      tenantId: stranger,
      batchId: (await insertBatch(env.prisma, stranger)).id,
      status: "COMPLETED",
    });
    await index(env, [
      { doc: seed, text: "quarterly revenue report for the north region" },
      { doc: near, text: "quarterly revenue report for the south region" },
      { doc: theirs, text: "quarterly revenue report for the north region" },
    ]);
    const page = await search.service.similar(tenantId, seed.id, {});
    expect(page.edges.map((e) => e.node.document?.id)).toEqual([near.id]);

    const port = vi.spyOn(env.deps.search, "similar");
    try {
      for (const id of [theirs.id, randomUUID(), "not-an-id"])
        expect(await codeOf(search.service.similar(tenantId, id, {}))).toBe("NOT_FOUND");
      expect(port).not.toHaveBeenCalled();
      expect(await codeOf(search.service.similar(tenantId, seed.id, { first: 0 }))).toBe("BAD_REQUEST");
    } finally {
      port.mockRestore();
    }
  });
});
