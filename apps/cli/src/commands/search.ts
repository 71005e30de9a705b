import { decodeHTML } from "entities";
import picocolors from "picocolors";
import type { GatewayClient } from "../client.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { graphql } from "../generated/gql.ts";
import type { SearchFilter, SearchMode, SearchQuery } from "../generated/graphql.ts";

// The `search` command: main.ts runs it, the demo prints its results the same way.

export type Hit = SearchQuery["search"]["hits"][number];
export type Facet = SearchQuery["search"]["facets"][number];

/** What formatHits reads of a hit. */
type ShownHit = Pick<Hit, "score" | "highlight"> & {
  document: Pick<NonNullable<Hit["document"]>, "id" | "name" | "category"> | null;
  matchingChunk?: { text: string } | null;
};

const Search = graphql(`
  query Search($q: String!, $mode: SearchMode, $first: Int, $filter: SearchFilter, $facets: [String!]) {
    search(query: $q, mode: $mode, first: $first, filter: $filter, facets: $facets) {
      totalCount
      hits { score highlight matchingChunk { text } document { id name category status } }
      facets { field buckets { value count } }
    }
  }
`);

export interface SearchOptions {
  mode: SearchMode;
  limit: number;
  filter?: SearchFilter;
  /** category, batch or field:<name>. */
  facets?: string[];
}

export interface SearchAnswer {
  query: string;
  totalCount: number;
  hits: Hit[];
  facets: Facet[];
}

export async function search(
  client: GatewayClient,
  query: string,
  mode: SearchMode,
  limit: number,
): Promise<Hit[]> {
  return (await searchAll(client, query, { mode, limit })).hits;
}

export async function searchAll(
  client: GatewayClient,
  query: string,
  o: SearchOptions,
): Promise<SearchAnswer> {
  const { search } = await client.request(Search, {
    q: query,
    mode: o.mode,
    first: o.limit,
    filter: o.filter ?? null,
    facets: o.facets?.length ? o.facets : null,
  });
  return { query, totalCount: search.totalCount, hits: search.hits, facets: search.facets };
}

const FIELD_OPS = { "=": "EQ", ">=": "GTE", "<=": "LTE", ">": "GT", "<": "LT" } as const;

/**
 * `--field` conditions: `total>=100`, `date<2024-01-01`, `vendor=ACME`, `iban?` (exists),
 * `currency=EUR|USD` (any of).
 */
export function parseFieldCondition(v: string): NonNullable<SearchFilter["fields"]>[number] {
  const exists = /^([a-z][a-z0-9_]*)\?$/i.exec(v.trim());
  if (exists) return { name: exists[1]!, op: "EXISTS" };
  const m = /^([a-z][a-z0-9_]*)\s*(>=|<=|=|>|<)\s*(.+)$/i.exec(v.trim());
  if (!m)
    throw new CliError(
      `--field must be name=value, name>=value, name<value... or name? (exists), got ${JSON.stringify(v)}`,
      ExitCode.USAGE,
    );
  const [, name, op, value] = m;
  if (op === "=" && value!.includes("|")) return { name: name!, op: "IN", values: value!.split("|") };
  return { name: name!, op: FIELD_OPS[op as keyof typeof FIELD_OPS], value: value! };
}

export function formatHits(
  query: string,
  hits: readonly ShownHit[],
  color = process.stdout.isTTY === true && !process.env.NO_COLOR,
): string {
  if (hits.length === 0) return `no results for "${query}"\n`;
  const c = picocolors.createColors(color);
  return `${hits
    .map((h, i) => {
      const head = `${i + 1}. ${c.bold(h.document?.name ?? "?")} [${h.document?.category ?? "-"}] score ${h.score.toFixed(4)}`;
      const text = h.highlight
        ? snippet(h.highlight, 240, c)
        : // a vector hit has no highlight: the start of its best chunk
          plain(h.matchingChunk?.text ?? "", 240);
      return `${head}\n   ${c.dim(`id ${h.document?.id ?? "?"}`)}\n   ${text}`;
    })
    .join("\n")}\n`;
}

export function formatFacets(facets: readonly Facet[]): string {
  return facets
    .map(
      (f) =>
        `${f.field}: ${f.buckets.length ? f.buckets.map((b) => `${b.value} (${b.count})`).join(", ") : "-"}`,
    )
    .join("\n");
}

function plain(text: string, max: number): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** A highlight (HTML: escaped text, <mark>) cut to `max` visible characters; marks bold on a terminal. */
function snippet(highlight: string, max: number, c: ReturnType<typeof picocolors.createColors>): string {
  let out = "";
  let visible = 0;
  let bold = false;
  for (const part of highlight.replace(/\s+/g, " ").split(/(<\/?mark>)/)) {
    if (part === "<mark>" || part === "</mark>") {
      bold = part === "<mark>";
      continue;
    }
    const take = decodeHTML(part).slice(0, max - visible);
    out += bold ? c.bold(take) : take;
    visible += take.length;
    if (visible >= max) break;
  }
  return out;
}
