import type { GatewayClient } from "../client.ts";
import { graphql } from "../generated/gql.ts";
import type { SearchMode, SearchQuery } from "../generated/graphql.ts";

// The `search` command: main.ts runs it, the demo prints its results the same way.

export type Hit = SearchQuery["search"]["hits"][number];

/** What formatHits reads of a hit. */
type ShownHit = Pick<Hit, "score" | "highlight"> & {
  document: Pick<NonNullable<Hit["document"]>, "name" | "category"> | null;
};

const Search = graphql(`
  query Search($q: String!, $mode: SearchMode, $first: Int) {
    search(query: $q, mode: $mode, first: $first) {
      hits { score highlight document { id name category status } }
    }
  }
`);

export async function search(
  client: GatewayClient,
  query: string,
  mode: SearchMode,
  limit: number,
): Promise<Hit[]> {
  const { search } = await client.request(Search, { q: query, mode, first: limit });
  return search.hits;
}

export function formatHits(
  query: string,
  hits: readonly ShownHit[],
  color = process.stdout.isTTY === true,
): string {
  if (hits.length === 0) return `no results for "${query}"\n`;
  return `${hits
    .map((h, i) => {
      const head = `${i + 1}. ${h.document?.name ?? "?"} [${h.document?.category ?? "-"}] score ${h.score.toFixed(4)}`;
      return `${head}\n   ${snippet(h.highlight ?? "", 240, color)}`;
    })
    .join("\n")}\n`;
}

/** A highlight cut to `max` visible characters; <mark> becomes bold on a terminal and vanishes elsewhere. */
const ENTITIES: Record<string, string> = {
  "&amp;": "&",
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&#39;": "'",
};

/** Highlights are HTML (escaped text, <mark>); a terminal shows the text itself. */
function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (e) => ENTITIES[e] ?? e);
}

function snippet(highlight: string, max: number, color: boolean): string {
  let out = "";
  let visible = 0;
  let bold = false;
  for (const part of highlight.replace(/\s+/g, " ").split(/(<\/?mark>)/)) {
    if (part === "<mark>" || part === "</mark>") {
      bold = part === "<mark>";
      if (color) out += bold ? "\x1b[1m" : "\x1b[0m";
      continue;
    }
    const take = unescapeHtml(part).slice(0, max - visible);
    out += take;
    visible += take.length;
    if (visible >= max) break;
  }
  return bold && color ? `${out}\x1b[0m` : out;
}
