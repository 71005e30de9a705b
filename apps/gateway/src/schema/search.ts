import type { SearchMode as Mode, Facet as SearchFacet, SearchPage } from "@docfleet/pipeline";
import { builder } from "../builder.ts";
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

const SearchHit = builder.objectRef<Page["edges"][number]["node"]>("SearchHit");
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
      description: "the document, read with every other hit of the page in one query",
      resolve: (_query, hit) => hit.document,
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

type Page = SearchPage;
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
      ctx.services.search.search(
        ctx.tenantId,
        { ...args, mode: args.mode as Mode | null | undefined },
        { db: ctx.prisma },
      ),
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
      ctx.services.search.similar(ctx.tenantId, String(args.documentId), args, { db: ctx.prisma }),
  }),
}));
