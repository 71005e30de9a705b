import { isIP } from "node:net";
import type { Plugin } from "graphql-yoga";

// DNS rebinding (issue 15): a page at http://evil.example:4000 whose name the attacker re-points to
// 127.0.0.1 talks to a local server as its own origin, so CORS does not stop it. Its requests still
// say `Host: evil.example:4000`: only host names this server is known by get an answer (webpack's
// and Vite's allowedHosts). app.ts checks every HTTP request and WebSocket upgrade before any
// handler (/objects, /metrics included); the plugin below covers yoga served on its own (yoga.fetch).

/** Answers whether a `Host` header value names this server. */
export type HostCheck = (host: string | null | undefined) => boolean;

/** The refusal's status and text, the same from app.ts and the plugin. */
export const HOST_REFUSED = {
  status: 403,
  message: "this host name is not allowed (add it to DOCFLEET_ALLOWED_HOSTS)",
} as const;

/**
 * Allowed: an IP address (a rebinding page always comes by name), `localhost` and `*.localhost`
 * (browsers resolve them to loopback themselves), and `allowed`: exact names, `.example.com` for
 * the name and every subdomain, or `*` for any host (behind a proxy that checks the name itself).
 * A missing or unparsable `Host` is refused.
 */
export function hostCheck(allowed: readonly string[]): HostCheck {
  const names = new Set<string>();
  const suffixes: string[] = [];
  let any = false;
  for (const raw of allowed) {
    const a = raw.trim().toLowerCase().replace(/\.$/, "");
    if (a === "*") any = true;
    else if (a.startsWith(".")) suffixes.push(a);
    else if (a) names.add(a);
  }
  return (host) => {
    if (any) return true;
    const name = hostname(host);
    if (name === undefined) return false;
    if (isIP(name.replace(/^\[|\]$/g, "")) !== 0) return true;
    if (name === "localhost" || name.endsWith(".localhost")) return true;
    if (names.has(name)) return true;
    return suffixes.some((s) => name.endsWith(s) || name === s.slice(1));
  };
}

/** The host name of a `Host` value (`[::1]` keeps its brackets), lower case, without a trailing dot. */
export function hostname(host: string | null | undefined): string | undefined {
  const m = HOST.exec(host ?? "");
  return m ? m[1]!.toLowerCase().replace(/\.$/, "") : undefined;
}

/** host[:port]: a name (browsers send IDNs as punycode), an IPv4 address or a bracketed IPv6 one. */
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::\d{1,5})?$/;

/** Refuses a request whose `Host` (its URL's host: yoga builds it from the header) is not allowed. */
export function useAllowedHosts(allows: HostCheck): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (allows(request.headers.get("host") ?? url.host)) return;
      endResponse(
        new fetchAPI.Response(HOST_REFUSED.message, {
          status: HOST_REFUSED.status,
          headers: { "content-type": "text/plain; charset=utf-8" },
        }),
      );
    },
  };
}
