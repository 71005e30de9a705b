import { GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";

// Cross-site request forgery (issue 15). A page may send a "simple" request to any server without
// asking first (no CORS preflight): a GET, or a POST of a form, multipart or text/plain body, with no
// custom header. CORS only hides the answer; the request has run by then. So no GraphQL request runs
// unless a browser would have preflighted it: a JSON (or application/graphql) body, or one of the
// headers below. Form-encoded, multipart and text/plain POSTs are refused outright (yoga's multipart
// parser is off in app.ts too: the schema has no Upload). The rule is that of graphql-yoga's
// @graphql-yoga/plugin-csrf-prevention and Apollo Server's CSRF prevention; that package is not
// installed here, hence this equivalent. graphql-ws connections do not pass here: app.ts checks the
// Origin of each upgrade.

/** Headers that only a preflighted request can carry: any one lets a GET (a query, SSE) through. */
export const CSRF_HEADERS = ["x-graphql-yoga-csrf", "graphql-require-preflight"] as const;

/** Content types a page may send without a preflight (the Fetch standard's CORS-safelisted ones). */
const SIMPLE_TYPES = new Set(["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]);

export function useCSRFPrevention(): Plugin {
  return {
    onRequestParse({ request }) {
      const type = request.headers.get("content-type");
      const essence = type === null ? undefined : (type.split(";")[0] ?? "").trim().toLowerCase();
      if (essence !== undefined && SIMPLE_TYPES.has(essence)) {
        throw new GraphQLError(
          `GraphQL requests are not accepted as ${essence}: send application/json (this protects against cross-site requests)`,
          { extensions: { code: "BAD_REQUEST", http: { status: 415 } } },
        );
      }
      // Any other content type, even one that does not parse, makes a browser preflight.
      if (essence) return;
      if (CSRF_HEADERS.some((h) => request.headers.has(h))) return;
      throw new GraphQLError(
        `a GraphQL ${request.method} without a JSON body needs the ${CSRF_HEADERS.map((h) => `"${h}"`).join(" or ")} header (this protects against cross-site requests)`,
        { extensions: { code: "BAD_REQUEST", http: { status: 403 } } },
      );
    },
  };
}
