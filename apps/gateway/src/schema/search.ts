import {
  type FieldCondition,
  type SearchFilter as Filter,
  type SearchHit as Hit,
  isUuid,
  type SearchMode as Mode,
  RequestError,
  type Facet as SearchFacet,
} from "@docfleet/pipeline";
import { builder } from "../builder.ts";
import { guard } from "../errors.ts";
import { Document } from "./document.ts";

export const SearchMode = builder.enumType("SearchMode", {
  values: {
    KEYWORD: { description: "full-text ranking" },
    VECTOR: { description: "embedding similarity of the document's chunks" },
    HYBRID: { description: "both, fused by reciprocal rank" },
  },
});

const FieldOp = builder.enumType("FieldOp", {
  values: {
    EQ: { value: "eq", description: "equal (text case-insensitively)" },
    IN: { value: "in", description: "any of `values`" },
    GT: { value: "gt" },
    GTE: { value: "gte" },
    LT: { value: "lt" },
    LTE: { value: "lte" },
    EXISTS: { value: "exists", description: "the document has the field" },
  } as const,
});

const FieldConditionInput = builder.inputType("FieldCondition", {
  description: "A condition on an extracted field; numbers, money and dates compare as such",
  fields: (t) => ({
    name: t.string({ required: true }),
    op: t.field({ type: FieldOp, required: true }),
    value: t.string(),
    values: t.stringList(),
  }),
});

const SearchFilter = builder.inputType("SearchFilter", {
  fields: (t) => ({
    category: t.stringList(),
    batchId: t.idList(),
    dateFrom: t.string({ description: "the document's own date, YYYY-MM-DD, inclusive" }),
    dateTo: t.string({ description: "the document's own date, YYYY-MM-DD, inclusive" }),
    createdFrom: t.field({ type: "DateTime", description: "ingested at or after" }),
    createdTo: t.field({ type: "DateTime", description: "ingested at or before" }),
    fields: t.field({ type: [FieldConditionInput], description: "all must hold" }),
  }),
});

const Chunk = builder.objectRef<{ index: number; text: string }>("MatchingChunk");
Chunk.implement({
  fields: (t) => ({
    index: t.exposeInt("index", { description: "0-based position of the chunk in the document" }),
    text: t.exposeString("text"),
  }),
});

const SearchHit = builder.objectRef<Hit>("SearchHit");
SearchHit.implement({
  fields: (t) => ({
    score: t.exposeFloat("score", { description: "higher is better; comparable within one result only" }),
    chunk: t.exposeInt("chunk", { description: "index of the best matching chunk" }),
    matchingChunk: t.field({
      type: Chunk,
      description: "the best matching chunk of the document",
      resolve: (h) => ({ index: h.chunk, text: h.chunkText }),
    }),
    highlights: t.exposeStringList("highlights", {
      description: "snippets with matches wrapped in <mark></mark> (none for a pure vector match)",
    }),
    highlight: t.string({
      nullable: true,
      description: "the first of `highlights`",
      resolve: (h) => h.highlights[0] ?? null,
    }),
    document: t.prismaField({
      type: Document,
      nullable: true,
      resolve: (query, hit, _args, ctx) =>
        ctx.prisma.document.findFirst({ ...query, where: { id: hit.documentId, tenantId: ctx.tenantId } }),
    }),
  }),
});

const Bucket = builder.objectRef<{ value: string; count: number }>("FacetBucket");
Bucket.implement({
  fields: (t) => ({ value: t.exposeString("value"), count: t.exposeInt("count") }),
});
const Facet = builder.objectRef<SearchFacet>("Facet");
Facet.implement({
  description: "Counts of matching documents per value, over all matches (not just this page)",
  fields: (t) => ({
    field: t.exposeString("field"),
    buckets: t.field({ type: [Bucket], resolve: (f) => f.buckets }),
  }),
});

interface Page {
  edges: { node: Hit; cursor: string }[];
  endCursor: string | null;
  hasNextPage: boolean;
  totalCount: number;
  facets: SearchFacet[];
}
const SearchEdge = builder.objectRef<Page["edges"][number]>("SearchEdge");
SearchEdge.implement({
  fields: (t) => ({
    node: t.field({ type: SearchHit, resolve: (e) => e.node }),
    cursor: t.exposeString("cursor"),
  }),
});
const SearchResult = builder.objectRef<Page>("SearchResult");
SearchResult.implement({
  fields: (t) => ({
    edges: t.field({ type: [SearchEdge], resolve: (r) => r.edges }),
    hits: t.field({ type: [SearchHit], resolve: (r) => r.edges.map((e) => e.node) }),
    endCursor: t.exposeString("endCursor", { nullable: true }),
    hasNextPage: t.exposeBoolean("hasNextPage"),
    totalCount: t.exposeInt("totalCount", {
      description: "matching documents (KEYWORD: exact; VECTOR, HYBRID: the candidates considered)",
    }),
    facets: t.field({ type: [Facet], resolve: (r) => r.facets }),
  }),
});

const MAX_FIRST = 100;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const FACET = /^(category|batch|field:[a-z][a-z0-9_]{0,62})$/;

function pageArgs(first: number | null | undefined, after: string | null | undefined) {
  const n = first ?? 10;
  if (n < 1 || n > MAX_FIRST) throw new RequestError("BAD_REQUEST", `first must be 1..${MAX_FIRST}`);
  const offset = after ? Number.parseInt(Buffer.from(after, "base64url").toString(), 10) : 0;
  if (!Number.isInteger(offset) || offset < 0 || offset > 10_000)
    throw new RequestError("BAD_REQUEST", "invalid cursor");
  return { first: n, offset };
}

function toPage(hits: Hit[], first: number, offset: number, total: number, facets: SearchFacet[]): Page {
  const edges = hits.slice(0, first).map((node, i) => ({
    node,
    cursor: Buffer.from(String(offset + i + 1)).toString("base64url"),
  }));
  return {
    edges,
    endCursor: edges.at(-1)?.cursor ?? null,
    hasNextPage: hits.length > first,
    totalCount: total,
    facets,
  };
}

type FilterArg = {
  category?: string[] | null;
  batchId?: (string | number)[] | null;
  dateFrom?: string | null;
  dateTo?: string | null;
  createdFrom?: Date | null;
  createdTo?: Date | null;
  fields?:
    | { name: string; op: FieldCondition["op"]; value?: string | null; values?: string[] | null }[]
    | null;
};

function toFilter(f: FilterArg | null | undefined): Filter {
  for (const [k, v] of [
    ["dateFrom", f?.dateFrom],
    ["dateTo", f?.dateTo],
  ] as const) {
    if (v != null && (!DATE.test(v) || Number.isNaN(Date.parse(v))))
      throw new RequestError("BAD_REQUEST", `${k} must be a date YYYY-MM-DD`);
  }
  const fields = (f?.fields ?? []).map((c): FieldCondition => {
    if (!/^[a-z][a-z0-9_]{0,62}$/.test(c.name))
      throw new RequestError("BAD_REQUEST", `field ${c.name}: names are snake_case`);
    if (c.op === "in" ? !c.values?.length : c.op !== "exists" && c.value == null)
      throw new RequestError(
        "BAD_REQUEST",
        `field ${c.name}: ${c.op} needs ${c.op === "in" ? "values" : "a value"}`,
      );
    return { name: c.name, op: c.op, value: c.value ?? undefined, values: c.values ?? undefined };
  });
  return {
    categories: f?.category ?? undefined,
    batchIds: f?.batchId?.map(String),
    dateFrom: f?.dateFrom ?? undefined,
    dateTo: f?.dateTo ?? undefined,
    createdFrom: f?.createdFrom?.toISOString(),
    createdTo: f?.createdTo?.toISOString(),
    fields: fields.length ? fields : undefined,
  };
}

builder.queryFields((t) => ({
  search: t.field({
    authScopes: { read: true },
    type: SearchResult,
    description: "The tenant's documents matching a query, best first, with facets over all matches",
    args: {
      query: t.arg.string({ required: true }),
      mode: t.arg({ type: SearchMode, defaultValue: "HYBRID" }),
      filter: t.arg({ type: SearchFilter }),
      facets: t.arg.stringList({ description: "category, batch, or field:<name>" }),
      first: t.arg.int({ defaultValue: 10 }),
      after: t.arg.string(),
    },
    resolve: (_root, args, ctx) =>
      guard(async () => {
        const { first, offset } = pageArgs(args.first, args.after);
        if (args.query.length > 1000)
          throw new RequestError("BAD_REQUEST", "query is longer than 1000 characters");
        const facets = args.facets ?? [];
        const badFacet = facets.find((f) => !FACET.test(f));
        if (badFacet)
          throw new RequestError("BAD_REQUEST", `unknown facet ${badFacet}: category, batch or field:<name>`);
        if (facets.length > 10) throw new RequestError("BAD_REQUEST", "at most 10 facets");
        const mode = (args.mode ?? "HYBRID") as Mode;
        const { models, search } = ctx.pipeline.deps;
        const embedding = mode === "KEYWORD" ? undefined : (await models.embed([args.query]))[0];
        const res = await search.search({
          tenantId: ctx.tenantId,
          text: args.query,
          embedding,
          mode,
          filter: toFilter(args.filter),
          facets: facets.map((field) => ({ field })),
          limit: first + 1,
          offset,
        });
        return toPage(res.hits, first, offset, res.total, res.facets);
      }),
  }),
  similar: t.field({
    authScopes: { read: true },
    type: SearchResult,
    description: "The tenant's documents most like this one (by their chunks' embeddings), never itself",
    args: {
      documentId: t.arg.id({ required: true }),
      filter: t.arg({ type: SearchFilter }),
      first: t.arg.int({ defaultValue: 10 }),
      after: t.arg.string(),
    },
    resolve: (_root, args, ctx) =>
      guard(async () => {
        const { first, offset } = pageArgs(args.first, args.after);
        const documentId = String(args.documentId);
        // Another tenant's document is NOT_FOUND, as a missing one: never an empty answer that tells them apart.
        const own = isUuid(documentId)
          ? await ctx.prisma.document.findFirst({
              where: { id: documentId, tenantId: ctx.tenantId },
              select: { id: true },
            })
          : null;
        if (!own) throw new RequestError("NOT_FOUND", `document ${documentId} not found`);
        const hits = await ctx.pipeline.deps.search.similar(ctx.tenantId, documentId, {
          limit: first + 1,
          offset,
          filter: toFilter(args.filter),
        });
        return toPage(hits, first, offset, hits.length, []);
      }),
  }),
}));
