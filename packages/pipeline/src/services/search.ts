import type { Document } from "@docfleet/schema";
import { isIsoDate } from "../domain/dates.ts";
import { RequestError } from "../domain/errors.ts";
import { StatementTimeoutError } from "../ports/database.ts";
import type { Facet, FieldCondition, SearchFilter, SearchHit, SearchMode } from "../ports/search.ts";
import type { Db } from "../repositories/db.ts";
import * as documents from "../repositories/documents.ts";
import type { Resources } from "./resources.ts";

/** Largest page a search answers. */
export const SEARCH_MAX_FIRST = 100;
/** How deep paging goes: a cursor past this many results is refused (BAD_REQUEST). */
export const SEARCH_MAX_DEPTH = 10_000;
const FACET = /^(category|batch|field:[a-z][a-z0-9_]{0,62})$/;
const FIELD = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Bounds on every list and text a search takes (issue 15: 1,000 field conditions froze the embedded
 * server). Each is refused with BAD_REQUEST naming it, never cut silently. With all of them at their
 * bound a search stays fast (tests/bench/search-attacks.ts measures that worst allowed query).
 */
export const SEARCH_LIMITS = {
  /** Characters of the query text. */
  queryChars: 1000,
  /**
   * Words of the query text: keyword ranking and highlights cost grows with the terms times the
   * matching chunks (140 words over 1,000 documents took 36 s on PGlite, 32 about a quarter of that).
   */
  queryWords: 32,
  /** Field conditions in one filter (all must hold). */
  fieldConditions: 20,
  /** Values of one `in` condition. */
  valuesPerCondition: 100,
  /** Characters of one condition value. */
  valueChars: 1000,
  /** Categories, and batch ids, in one filter. */
  categories: 100,
  batchIds: 100,
  facets: 10,
} as const;

/** A filter as a caller writes it (GraphQL input, CLI flags); checked by `toFilter`. */
export interface SearchFilterInput {
  category?: readonly string[] | null;
  batchId?: readonly (string | number)[] | null;
  dateFrom?: string | null;
  dateTo?: string | null;
  createdFrom?: Date | null;
  createdTo?: Date | null;
  fields?:
    | readonly {
        name: string;
        op: FieldCondition["op"];
        value?: string | null;
        values?: readonly string[] | null;
      }[]
    | null;
}

/** One page of hits, each with its document read in one query for the whole page (never one per hit). */
export interface SearchPage {
  edges: { node: SearchHit & { document: Document | null }; cursor: string }[];
  /** Cursor of the first edge (null for an empty page), and whether pages precede this one. */
  startCursor: string | null;
  hasPreviousPage: boolean;
  endCursor: string | null;
  hasNextPage: boolean;
  totalCount: number;
  facets: Facet[];
}

/**
 * The search use case: validates the request, pages with opaque cursors, embeds the query through the
 * model port, asks the search port, then hydrates the page's documents in one query.
 */
export class SearchService {
  constructor(private readonly r: Resources) {}

  /**
   * The tenant's documents matching `query`, best first, with facets over all matches. BAD_REQUEST for a
   * query over 1,000 characters, a page size outside 1..100, a bad cursor, date, field or facet.
   * `db` reads the hits' documents (the gateway passes its tenant-scoped client; `select` narrows them).
   */
  async search(
    tenantId: string,
    args: {
      query: string;
      mode?: SearchMode | null;
      filter?: SearchFilterInput | null;
      facets?: readonly string[] | null;
      first?: number | null;
      after?: string | null;
      /** The caller left (the gateway passes its request's): queries not yet run are not started. */
      signal?: AbortSignal | null;
    },
    hydrate: { db?: Db; query?: object } = {},
  ): Promise<SearchPage> {
    const { first, offset } = pageArgs(args.first, args.after);
    if (args.query.length > SEARCH_LIMITS.queryChars)
      throw new RequestError("BAD_REQUEST", `query is longer than ${SEARCH_LIMITS.queryChars} characters`);
    storableText("query", args.query);
    atMost("query words", args.query.split(/\s+/).filter(Boolean), SEARCH_LIMITS.queryWords);
    const facets = args.facets ?? [];
    atMost("facets", facets, SEARCH_LIMITS.facets);
    const badFacet = facets.find((f) => !FACET.test(f));
    if (badFacet)
      throw new RequestError(
        "BAD_REQUEST",
        `unknown facet ${JSON.stringify(badFacet)}: category, batch or field:<name>`,
      );
    const filter = toFilter(args.filter);
    const mode = args.mode ?? "HYBRID";
    const { models, search } = this.r.deps;
    const embedding = mode === "KEYWORD" ? undefined : (await models.embed([args.query]))[0];
    const res = await timeBound(
      search.search({
        tenantId,
        text: args.query,
        embedding,
        mode,
        filter,
        facets: facets.map((field) => ({ field })),
        limit: first + 1,
        offset,
        signal: args.signal ?? undefined,
      }),
    );
    return this.page(tenantId, res.hits, first, offset, res.total, res.facets, hydrate);
  }

  /**
   * The tenant's documents most like this one (by their chunks' embeddings), never itself. Another
   * tenant's document is NOT_FOUND, as a missing one: never an empty answer that tells them apart.
   */
  async similar(
    tenantId: string,
    documentId: string,
    args: {
      filter?: SearchFilterInput | null;
      first?: number | null;
      after?: string | null;
      signal?: AbortSignal | null;
    },
    hydrate: { db?: Db; query?: object } = {},
  ): Promise<SearchPage> {
    const { first, offset } = pageArgs(args.first, args.after);
    const own = await documents.findOwned(hydrate.db ?? this.r.prisma, tenantId, documentId);
    if (!own) throw new RequestError("NOT_FOUND", `document ${documentId} not found`);
    const filter = toFilter(args.filter);
    const hits = await timeBound(
      this.r.deps.search.similar(tenantId, documentId, {
        limit: first + 1,
        offset,
        filter,
        signal: args.signal ?? undefined,
      }),
    );
    return this.page(tenantId, hits, first, offset, hits.length, [], hydrate);
  }

  private async page(
    tenantId: string,
    hits: SearchHit[],
    first: number,
    offset: number,
    total: number,
    facets: Facet[],
    hydrate: { db?: Db; query?: object },
  ): Promise<SearchPage> {
    const shown = hits.slice(0, first);
    const docs = await documents.inOrder(
      hydrate.db ?? this.r.prisma,
      hydrate.query ?? {},
      tenantId,
      shown.map((h) => h.documentId),
    );
    const byId = new Map(docs.map((d) => [d.id, d]));
    const edges = shown.map((hit, i) => ({
      node: { ...hit, document: byId.get(hit.documentId) ?? null },
      cursor: Buffer.from(String(offset + i + 1)).toString("base64url"),
    }));
    return {
      edges,
      startCursor: edges[0]?.cursor ?? null,
      hasPreviousPage: offset > 0,
      endCursor: edges.at(-1)?.cursor ?? null,
      hasNextPage: hits.length > first,
      totalCount: total,
      facets,
    };
  }
}

function pageArgs(first: number | null | undefined, after: string | null | undefined) {
  const n = first ?? 10;
  if (n < 1 || n > SEARCH_MAX_FIRST)
    throw new RequestError(
      "BAD_REQUEST",
      `first must be 1..${SEARCH_MAX_FIRST} (asked ${n}): page with after`,
    );
  const offset = after ? Number.parseInt(Buffer.from(after, "base64url").toString(), 10) : 0;
  if (!Number.isInteger(offset) || offset < 0) throw new RequestError("BAD_REQUEST", "invalid cursor");
  if (offset > SEARCH_MAX_DEPTH)
    throw new RequestError(
      "BAD_REQUEST",
      `search pages reach ${SEARCH_MAX_DEPTH} results deep at most: narrow the query or the filter`,
    );
  return { first: n, offset };
}

/** Checks a caller's filter and turns it into the search port's. */
export function toFilter(f: SearchFilterInput | null | undefined): SearchFilter {
  for (const [k, v] of [
    ["dateFrom", f?.dateFrom],
    ["dateTo", f?.dateTo],
  ] as const) {
    if (v != null && !isIsoDate(v)) throw new RequestError("BAD_REQUEST", `${k} must be a date YYYY-MM-DD`);
  }
  atMost("filter.fields (conditions)", f?.fields, SEARCH_LIMITS.fieldConditions);
  atMost("filter.category", f?.category, SEARCH_LIMITS.categories);
  atMost("filter.batchId", f?.batchId, SEARCH_LIMITS.batchIds);
  for (const c of f?.category ?? []) storableText("filter.category", c);
  for (const b of f?.batchId ?? []) storableText("filter.batchId", String(b));
  const fields = (f?.fields ?? []).map((c): FieldCondition => {
    if (!FIELD.test(c.name))
      throw new RequestError("BAD_REQUEST", `field ${JSON.stringify(c.name)}: names are snake_case`);
    if (c.op === "in" ? !c.values?.length : c.op !== "exists" && c.value == null)
      throw new RequestError(
        "BAD_REQUEST",
        `field ${c.name}: ${c.op} needs ${c.op === "in" ? "values" : "a value"}`,
      );
    atMost(`field ${c.name}: values`, c.values, SEARCH_LIMITS.valuesPerCondition);
    for (const v of [...(c.values ?? []), ...(c.value == null ? [] : [c.value])]) {
      storableText(`field ${c.name}: value`, v);
      if (v.length > SEARCH_LIMITS.valueChars)
        throw new RequestError(
          "BAD_REQUEST",
          `field ${c.name}: a value is longer than ${SEARCH_LIMITS.valueChars} characters`,
        );
    }
    return {
      name: c.name,
      op: c.op,
      value: c.value ?? undefined,
      values: c.values ? [...c.values] : undefined,
    };
  });
  return {
    categories: f?.category ? [...f.category] : undefined,
    batchIds: f?.batchId?.map(String),
    dateFrom: f?.dateFrom ?? undefined,
    dateTo: f?.dateTo ?? undefined,
    createdFrom: f?.createdFrom?.toISOString(),
    createdTo: f?.createdTo?.toISOString(),
    fields: fields.length ? fields : undefined,
  };
}

/** Refuses a list longer than `max`, naming it and the bound (never cut silently). */
function atMost(what: string, list: readonly unknown[] | null | undefined, max: number): void {
  if (list && list.length > max)
    throw new RequestError("BAD_REQUEST", `${what}: at most ${max} in one search (got ${list.length})`);
}

/**
 * Refuses text that PostgreSQL's text type cannot hold: a NUL character (U+0000). Sent on, it failed
 * the keyword sub-query at once while its sibling kept running (issue 15: the embedded server hung).
 */
function storableText(what: string, text: string): void {
  if (text.includes("\u0000"))
    throw new RequestError(
      "BAD_REQUEST",
      `${what} contains a NUL character (U+0000), which text cannot hold`,
    );
}

/** A search statement stopped by its time bound, as the caller's error to narrow (not an internal one). */
async function timeBound<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof StatementTimeoutError)
      throw new RequestError(
        "BAD_REQUEST",
        "the search ran past its time bound (DOCFLEET_SEARCH_TIMEOUT_MS) and was stopped: narrow the query or the filter",
      );
    throw err;
  }
}
