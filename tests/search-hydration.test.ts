import { createGateway, LOCAL_TENANT_ID } from "@docfleet/gateway";
import type { PrismaClient } from "@docfleet/schema";
import { expect } from "vitest";
import { test } from "./helpers/fixtures.ts";

/**
 * Issue 17: hydrating a search page's documents (and what the query selects under them: the batch)
 * costs the same few Prisma operations whatever the page size, never one per hit (N+1). The gateway
 * runs over a client that counts every model operation the resolvers and the Pothos plugin make.
 */
test("a search page's documents and their batches are read in a fixed number of queries, not one per hit", async ({
  embedded,
}) => {
  const base = embedded.deps.db.prisma;
  const ops: string[] = [];
  const counting = base.$extends({
    query: {
      $allOperations: ({ model, operation, args, query }) => {
        if (model) ops.push(`${model}.${operation}`);
        return query(args);
      },
    },
  }) as unknown as PrismaClient;
  const app = {
    ...embedded.app,
    deps: { ...embedded.app.deps, db: { ...embedded.app.deps.db, prisma: counting } },
  };
  const gateway = createGateway({
    app,
    log: embedded.deps.log,
    allowAnonymous: true,
    hardening: { profile: "development" },
    rateLimiters: {},
  });
  try {
    const batch = await base.batch.create({ data: { tenantId: LOCAL_TENANT_ID, name: "hydration" } });
    const docs = [];
    for (let i = 0; i < 12; i++) {
      docs.push(
        await base.document.create({
          data: {
            tenantId: LOCAL_TENANT_ID,
            batchId: batch.id,
            name: `hydrate-${i}.txt`,
            status: "COMPLETED",
            sha256: `${i}`.padStart(64, "0"),
            objectKey: `hydrate/${i}`,
            size: 10,
          },
        }),
      );
    }
    const [embedding] = await embedded.deps.models.embed(["zanzibar quokka"]);
    await embedded.deps.search.upsert(
      docs.map((d) => ({
        documentId: d.id,
        tenantId: LOCAL_TENANT_ID,
        batchId: batch.id,
        name: d.name,
        category: "letter",
        createdAt: d.createdAt.toISOString(),
        date: null,
        fields: [],
        chunks: [{ chunk: 0, text: "zanzibar quokka", embedding: embedding! }],
      })),
    );
    const run = async (first: number) => {
      ops.length = 0;
      const res = await gateway.yoga.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: `query($n: Int) { search(query: "zanzibar quokka", mode: KEYWORD, first: $n, facets: ["category"]) {
            edges { node { score document { id name status batch { id name } } } }
            hits { document { name batch { name } } }
            totalCount } }`,
          variables: { n: first },
        }),
      });
      const body = (await res.json()) as {
        data?: { search: { edges: { node: { document: { name: string; batch: { name: string } } } }[] } };
        errors?: unknown;
      };
      expect(body.errors).toBeUndefined();
      expect(body.data!.search.edges).toHaveLength(first);
      for (const e of body.data!.search.edges) expect(e.node.document.batch.name).toBe("hydration");
      return [...ops];
    };
    const two = await run(2);
    const twelve = await run(12);
    expect(twelve).toEqual(two);
    expect(twelve.filter((op) => op.startsWith("Document."))).toEqual(["Document.findMany"]);
  } finally {
    await gateway.close();
  }
}, 300_000); // starts an embedded system: slow on a busy machine
