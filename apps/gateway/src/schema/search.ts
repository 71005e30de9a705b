import {
  type SearchMode as Mode,
  SEARCH_MAX_DEPTH,
  SEARCH_MAX_FIRST,
  type Facet as SearchFacet,
  type SearchPage,
} from "@docfleet/pipeline";
import { queryFromInfo } from "@pothos/plugin-prisma";
import type { GraphQLResolveInfo } from "graphql";
import { builder } from "../builder.ts";
import { Document } from "./document.ts";

export const SearchMode = builder.enumType("SearchMode", {
  description: "How `search` matches the query against documents",
  values: {
    KEYWORD: { description: "full-text ranking" },
    VECTOR: { description: "embedding similarity of the document's chunks" },
    HYBRID: { description: "both, fused by reciprocal rank" },
  },
});

const FieldOp = builder.enumType("FieldOp", {
  description: "How a FieldCondition compares an extracted field",
  values: {
    EQ: { value: "eq", description: "equal (text case-insensitively)" },
    IN: { value: "in", description: "any of `values`" },
    GT: { value: "gt", description: "greater than `value` (numbers, money, dates)" },
    GTE: { value: "gte", description: "greater than or equal to `value`" },
    LT: { value: "lt", description: "less than `value` (numbers, money, dates)" },
    LTE: { value: "lte", description: "less than or equal to `value`" },
    EXISTS: { value: "exists", description: "the document has the field" },
  } as const,
});

const FieldConditionInput = builder.inputType("FieldCondition", {
  description: "A condition on an extracted field; numbers, money and dates compare as such",
  fields: (t) => ({
    name: t.string({
      required: true,
      description: "the field's name, snake_case (as the category declares it)",
    }),
    op: t.field({ type: FieldOp, required: true, description: "the comparison" }),
    value: t.string({
      description: "the operand of EQ, GT, GTE, LT, LTE: dates YYYY-MM-DD, amounts like 1234.50",
    }),
    values: t.stringList({ description: "the operands of IN (at least one)" }),
  }),
});

const SearchFilter = builder.inputType("SearchFilter", {
  description: "Restricts the documents searched; every given condition must hold",
  fields: (t) => ({
    category: t.stringList({ description: "documents of any of these categories" }),
    batchId: t.idList({ description: "documents of any of these batches" }),
    dateFrom: t.string({ description: "the document's own date, YYYY-MM-DD, inclusive" }),
    dateTo: t.string({ description: "the document's own date, YYYY-MM-DD, inclusive" }),
    createdFrom: t.field({ type: "DateTime", description: "ingested at or after" }),
    createdTo: t.field({ type: "DateTime", description: "ingested at or before" }),
    fields: t.field({ type: [FieldConditionInput], description: "all must hold" }),
  }),
});

const Chunk = builder.objectRef<{ index: number; text: string }>("MatchingChunk");
Chunk.implement({
  description: "A passage of a document's text, as it was cut for embedding and search",
  fields: (t) => ({
    index: t.exposeInt("index", { description: "0-based position of the chunk in the document" }),
    text: t.exposeString("text", { description: "the chunk's text, plain (no highlighting)" }),
  }),
});

const SearchHit = builder.objectRef<Page["edges"][number]["node"]>("SearchHit");
SearchHit.implement({
  description: "One matching document, with its score and where it matched",
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
  description: "One value of a facet and how many matching documents have it",
  fields: (t) => ({
    value: t.exposeString("value", { description: "the category name, batch id or field value" }),
    count: t.exposeInt("count", { description: "matching documents with this value (each counted once)" }),
  }),
});
const Facet = builder.objectRef<SearchFacet>("Facet");
Facet.implement({
  description: "Counts of matching documents per value, over all matches (not just this page)",
  fields: (t) => ({
    field: t.exposeString("field", { description: "the facet as asked: category, batch or field:<name>" }),
    buckets: t.field({
      type: [Bucket],
      description: "its values, most frequent first",
      resolve: (f) => f.buckets,
    }),
  }),
});

type Page = SearchPage;
const SearchEdge = builder.objectRef<Page["edges"][number]>("SearchEdge");
SearchEdge.implement({
  description: "One hit of a search page, with its cursor",
  fields: (t) => ({
    node: t.field({ type: SearchHit, description: "the hit", resolve: (e) => e.node }),
    cursor: t.exposeString("cursor", {
      description: "opaque position of this hit: pass it as `after` to read the hits that follow",
    }),
  }),
});
const SearchResult = builder.objectRef<Page>("SearchResult");
SearchResult.implement({
  description: `A page of search hits, best first (a Relay connection: page with \`after: pageInfo.endCursor\`, at most ${SEARCH_MAX_DEPTH} hits deep)`,
  fields: (t) => ({
    edges: t.field({
      type: [SearchEdge],
      description: "the hits of this page with their cursors, best first",
      resolve: (r) => r.edges,
    }),
    hits: t.field({
      type: [SearchHit],
      description: "the hits of this page, best first (edges without cursors)",
      resolve: (r) => r.edges.map((e) => e.node),
    }),
    pageInfo: t.field({
      type: builder.pageInfoRef(),
      description: "paging state: whether more hits follow and the cursors to reach them",
      resolve: (r) => ({
        hasNextPage: r.hasNextPage,
        hasPreviousPage: r.hasPreviousPage,
        startCursor: r.startCursor,
        endCursor: r.endCursor,
      }),
    }),
    endCursor: t.exposeString("endCursor", {
      nullable: true,
      description: "cursor of the last hit of this page",
      deprecationReason: "Use pageInfo.endCursor (Relay); removed in the release after next.",
    }),
    hasNextPage: t.exposeBoolean("hasNextPage", {
      description: "true when more hits follow",
      deprecationReason: "Use pageInfo.hasNextPage (Relay); removed in the release after next.",
    }),
    totalCount: t.exposeInt("totalCount", {
      description: "matching documents (KEYWORD: exact; VECTOR, HYBRID: the candidates considered)",
    }),
    facets: t.field({
      type: [Facet],
      description: "the facets asked for (`facets` argument), counted over all matches; empty for similar",
      resolve: (r) => r.facets,
    }),
  }),
});

/**
 * What the request selects under the hits' `document` (through `edges.node` and `hits`), merged into
 * one Prisma query: the page's documents and their relations (batch, ...) are read in one findMany
 * with its includes, never one query per hit for a relation (issue 17: the batch was read per hit).
 */
function documentQuery(ctx: object, info: GraphQLResolveInfo): object {
  return queryFromInfo({
    context: ctx,
    info,
    typeName: "Document",
    paths: [
      ["edges", "node", "document"],
      ["hits", "document"],
    ],
  });
}

const FIRST = `hits per page, 1..${SEARCH_MAX_FIRST} (default 10); more is refused with BAD_REQUEST, never capped`;
const AFTER = `pageInfo.endCursor of the previous page; paging stops ${SEARCH_MAX_DEPTH} hits deep (BAD_REQUEST)`;

builder.queryFields((t) => ({
  search: t.field({
    authScopes: { read: true },
    type: SearchResult,
    description:
      "The tenant's documents matching a query, best first, with facets over all matches. Scope: read",
    args: {
      query: t.arg.string({ required: true, description: "words to look for, at most 1000 characters" }),
      mode: t.arg({ type: SearchMode, defaultValue: "HYBRID", description: "how to match (default HYBRID)" }),
      filter: t.arg({ type: SearchFilter, description: "restricts the documents searched" }),
      facets: t.arg.stringList({
        description: "facets to count: category, batch, or field:<name>; at most 10",
      }),
      first: t.arg.int({ defaultValue: 10, description: FIRST }),
      after: t.arg.string({ description: AFTER }),
    },
    resolve: (_root, args, ctx, info) =>
      ctx.services.search.search(
        ctx.tenantId,
        { ...args, mode: args.mode as Mode | null | undefined, signal: ctx.request?.signal },
        { db: ctx.prisma, query: documentQuery(ctx, info) },
      ),
  }),
  similar: t.field({
    authScopes: { read: true },
    type: SearchResult,
    description:
      "The tenant's documents most like this one (by their chunks' embeddings), never itself. Scope: read",
    args: {
      documentId: t.arg.id({
        required: true,
        description: "the document to compare with (NOT_FOUND if not the tenant's)",
      }),
      filter: t.arg({ type: SearchFilter, description: "restricts the documents compared" }),
      first: t.arg.int({ defaultValue: 10, description: FIRST }),
      after: t.arg.string({ description: AFTER }),
    },
    resolve: (_root, args, ctx, info) =>
      ctx.services.search.similar(
        ctx.tenantId,
        String(args.documentId),
        { ...args, signal: ctx.request?.signal },
        { db: ctx.prisma, query: documentQuery(ctx, info) },
      ),
  }),
}));
