import { type SearchMode as Mode, RequestError } from "@docfleet/pipeline";
import { builder } from "../builder.ts";
import { guard } from "../errors.ts";
import { Document } from "./document.ts";

export const SearchMode = builder.enumType("SearchMode", {
  values: {
    KEYWORD: { description: "full-text ranking" },
    VECTOR: { description: "embedding similarity" },
    HYBRID: { description: "both, fused by reciprocal rank" },
  },
});

const SearchFilter = builder.inputType("SearchFilter", {
  fields: (t) => ({ category: t.stringList(), batchId: t.idList() }),
});

type Hit = { documentId: string; score: number; chunk: number; highlight: string | null };
const SearchHit = builder.objectRef<Hit>("SearchHit");
SearchHit.implement({
  fields: (t) => ({
    score: t.exposeFloat("score"),
    chunk: t.exposeInt("chunk", { description: "index of the best matching chunk" }),
    highlight: t.exposeString("highlight", {
      nullable: true,
      description: "matches wrapped in <mark></mark>",
    }),
    document: t.prismaField({
      type: Document,
      nullable: true,
      resolve: (query, hit, _args, ctx) =>
        ctx.prisma.document.findFirst({ ...query, where: { id: hit.documentId, tenantId: ctx.tenantId } }),
    }),
  }),
});

const SearchEdge = builder.objectRef<{ node: Hit; cursor: string }>("SearchEdge");
SearchEdge.implement({
  fields: (t) => ({
    node: t.field({ type: SearchHit, resolve: (e) => e.node }),
    cursor: t.exposeString("cursor"),
  }),
});
const SearchResult = builder.objectRef<{
  edges: { node: Hit; cursor: string }[];
  endCursor: string | null;
  hasNextPage: boolean;
}>("SearchResult");
SearchResult.implement({
  fields: (t) => ({
    edges: t.field({ type: [SearchEdge], resolve: (r) => r.edges }),
    hits: t.field({ type: [SearchHit], resolve: (r) => r.edges.map((e) => e.node) }),
    endCursor: t.exposeString("endCursor", { nullable: true }),
    hasNextPage: t.exposeBoolean("hasNextPage"),
  }),
});

const MAX_FIRST = 100;

builder.queryFields((t) => ({
  search: t.field({
    type: SearchResult,
    args: {
      query: t.arg.string({ required: true }),
      mode: t.arg({ type: SearchMode, defaultValue: "HYBRID" }),
      filter: t.arg({ type: SearchFilter }),
      first: t.arg.int({ defaultValue: 10 }),
      after: t.arg.string(),
    },
    resolve: (_root, args, ctx) =>
      guard(async () => {
        const first = args.first ?? 10;
        if (first < 1 || first > MAX_FIRST)
          throw new RequestError("BAD_REQUEST", `first must be 1..${MAX_FIRST}`);
        if (args.query.length > 1000)
          throw new RequestError("BAD_REQUEST", "query is longer than 1000 characters");
        const offset = args.after ? Number.parseInt(Buffer.from(args.after, "base64url").toString(), 10) : 0;
        if (!Number.isInteger(offset) || offset < 0) throw new RequestError("BAD_REQUEST", "invalid cursor");
        const mode = (args.mode ?? "HYBRID") as Mode;
        const { models, search } = ctx.pipeline.deps;
        const embedding = mode === "KEYWORD" ? undefined : (await models.embed([args.query]))[0];
        const { hits } = await search.search({
          tenantId: ctx.tenantId,
          text: args.query,
          embedding,
          mode,
          filter: {
            categories: args.filter?.category ?? undefined,
            batchIds: args.filter?.batchId?.map(String),
          },
          limit: first + 1,
          offset,
        });
        const page = hits.slice(0, first);
        const edges = page.map((node, i) => ({
          node,
          cursor: Buffer.from(String(offset + i + 1)).toString("base64url"),
        }));
        return { edges, endCursor: edges.at(-1)?.cursor ?? null, hasNextPage: hits.length > first };
      }),
  }),
}));
