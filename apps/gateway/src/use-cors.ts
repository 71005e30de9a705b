import type { YogaServerOptions } from "graphql-yoga";

// CORS by allow-list (issue 15): yoga's default answers any `Origin` with that origin and
// `allow-credentials: true`, so any page could read the answers. Here only the server's own origin
// (its public URL, or the page's origin naming the very host it asked) and DOCFLEET_CORS_ORIGINS get
// CORS headers, never with credentials: docfleet authenticates by a Bearer key, not by cookies. This
// is yoga's `cors` option (its built-in CORS plugin), not a plugin of its own; app.ts also uses
// `allowsOrigin` for WebSocket upgrades, which CORS does not cover.

/** Answers whether a page of `origin` may call a server that the request reached as `host`. */
export type OriginCheck = (origin: string, host: string | null | undefined) => boolean;

/** `allowed` (origins, as `new URL(x).origin` spells them) and the page of the server itself. */
export function originCheck(allowed: readonly string[]): OriginCheck {
  const origins = new Set(allowed.map(normalOrigin).filter((o) => o !== undefined));
  return (origin, host) => {
    if (origins.has(origin)) return true;
    // Same origin: the page came from the host it calls (which the Host check has let through). The
    // scheme is not compared: behind a TLS proxy this process cannot tell it.
    const own = normalOrigin(origin);
    return !!own && !!host && own.replace(/^https?:\/\//, "") === host.toLowerCase();
  };
}

/** `scheme://host[:port]` of an http(s) URL, lower case and without a default port; else undefined. */
export function normalOrigin(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** yoga's `cors` option: CORS headers for allowed origins only, without credentials. */
export function corsPolicy(allows: OriginCheck): NonNullable<YogaServerOptions<object, object>["cors"]> {
  return (request: Request) => {
    const origin = request.headers.get("origin");
    const host = request.headers.get("host") ?? new URL(request.url).host;
    if (!origin || !allows(origin, host)) return false;
    return {
      origin: [origin],
      credentials: false,
      methods: ["GET", "POST", "OPTIONS"],
      exposedHeaders: ["retry-after", "x-request-id"],
      maxAge: 600,
    };
  };
}
