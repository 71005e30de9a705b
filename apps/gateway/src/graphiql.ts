import type { IncomingMessage } from "node:http";
import type { GraphiQLOptions, Plugin } from "graphql-yoga";

// GraphiQL as the gateway serves it (development profile, or DOCFLEET_GRAPHIQL): the page comes whole
// from the installed @graphql-yoga/render-graphiql (GraphiQL, its editor and workers inlined), so it
// works offline and behind proxies that block CDNs; yoga's own page loads its script from unpkg and
// stays blank at "Loading..." without the internet. It opens on example operations, and on the
// embedded `serve` its own page, loaded on this machine, gets the local admin key in its headers.

/** The tabs GraphiQL opens on: a batch with its progress, a search with facets, live progress. */
export const EXAMPLE_TABS: { query: string; variables?: string }[] = [
  {
    query: `# docfleet's GraphQL API. Every operation needs an API key:
# Authorization: Bearer dfk_... in the headers below.
# Tabs: your batches, a search, live progress. The Docs pane
# (top left) describes every type and field.

# Your latest batches and their counters. Pages hold at most
# 100; the next one: after: pageInfo.endCursor.
query Batches {
  batches(first: 5) {
    edges {
      node {
        id
        name
        createdAt
        finished
        counts { total queued processing completed failed }
        documents(first: 5) {
          totalCount
          edges { node { id name status category } }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
`,
  },
  {
    query: `# Hybrid search (keyword + vector, fused by rank),
# with a facet and highlighted snippets.
query Search($q: String!, $after: String) {
  search(query: $q, first: 10, after: $after, facets: ["category"]) {
    totalCount
    facets { field buckets { value count } }
    edges {
      node {
        score
        highlights
        document { id name category fields { name value } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
`,
    variables: JSON.stringify({ q: "invoice total" }, null, 2),
  },
  {
    query: `# A batch's progress, live: its events after \`after\`
# (0: the whole log first), then as they happen. Put a batch
# id (from the Batches tab) in the variables; after a
# disconnect, resume with after: cursor.
subscription Progress($id: ID!, $after: Int) {
  batchProgress(id: $id, after: $after) {
    cursor
    finished
    documentsPerMinute
    etaSeconds
    counts { total completed failed }
    events { seq kind documentId stage nextStage code }
  }
}
`,
    variables: JSON.stringify({ id: "<batch id>", after: 0 }, null, 2),
  },
];

/** A key that may go into the page's script as it is (docfleet keys are dfk_ + base64url). */
const SAFE_KEY = /^[\w.~+/=-]{8,200}$/;

/**
 * yoga's `graphiql` option: off, or per request the example tabs, and the local key in their
 * Authorization header where `offersKeyToPage` allows it.
 */
export function graphiqlOptions(
  enabled: boolean,
  localKey?: () => Promise<string | undefined>,
): false | ((request: Request, context?: { req?: IncomingMessage }) => Promise<GraphiQLOptions>) {
  if (!enabled) return false;
  return async (request, context) => {
    const raw =
      localKey && offersKeyToPage(request, context?.req)
        ? await localKey().catch(() => undefined)
        : undefined;
    const key = raw?.trim();
    const headers = JSON.stringify(
      key && SAFE_KEY.test(key) ? { Authorization: `Bearer ${key}` } : {},
      null,
      2,
    );
    return {
      title: "docfleet GraphiQL",
      defaultTabs: EXAMPLE_TABS.map((t) => ({ ...t, headers })),
      defaultQuery: EXAMPLE_TABS[0]!.query,
      headers,
      // A key typed in stays in the tab, never in the browser's storage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
      inputValueDeprecation: true,
      // Subscriptions too (SSE over a POST): a GET would need a CSRF header GraphiQL does not send.
      method: "POST",
      schemaDescription: true,
    };
  };
}

/**
 * Whether a GraphiQL page may carry the local key: a page load (not a frame, not another page's
 * fetch) from this very machine, for this very server. `Sec-Fetch-*` and `Origin` as browsers send
 * them; a client without them (curl) on the loopback is this machine's user anyway. The Host itself
 * was checked before (use-allowed-hosts.ts, against DNS rebinding).
 */
export function offersKeyToPage(request: Request, req?: IncomingMessage): boolean {
  if (request.method !== "GET") return false;
  const address = req?.socket.remoteAddress;
  if (!address || !(address === "::1" || address.startsWith("127.") || address.startsWith("::ffff:127.")))
    return false;
  const h = request.headers;
  const site = h.get("sec-fetch-site");
  if (site !== null && site !== "none" && site !== "same-origin") return false;
  const dest = h.get("sec-fetch-dest");
  if (dest !== null && dest !== "document") return false;
  const origin = h.get("origin");
  if (origin !== null) {
    try {
      if (new URL(origin).host !== (h.get("host") ?? "").toLowerCase()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * The bundled page: everything inline, nothing fetched from elsewhere. Loaded at the first page asked
 * for, not at start: the module is 9 MB of inlined script (~0.3-0.5 s of CPU to load, issue 17 goal 2),
 * and most starts never serve the page.
 */
export const renderGraphiQL = async (opts: GraphiQLOptions): Promise<string> =>
  (await import("@graphql-yoga/render-graphiql")).renderGraphiQL(opts);

/**
 * Headers of the GraphiQL page: never cached (it may hold a key), never framed (clickjacking a page
 * that holds an admin key), no referrer.
 */
export function useGraphiQLPage(): Plugin {
  return {
    onResponse({ response }) {
      if (!response.headers.get("content-type")?.startsWith("text/html")) return;
      response.headers.set("cache-control", "no-store");
      response.headers.set("x-frame-options", "DENY");
      response.headers.set(
        "content-security-policy",
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      );
      response.headers.set("referrer-policy", "no-referrer");
      response.headers.set("x-content-type-options", "nosniff");
    },
  };
}
