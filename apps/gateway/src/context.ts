import type { Scope, Services } from "@docfleet/pipeline";
import type { PrismaClient } from "@docfleet/schema";
import type { ProgressHub } from "./progress.ts";

// The request context and who it speaks for, apart from builder.ts and auth.ts: both need these
// types, and builder.ts needs auth.ts's `forbidden`, so keeping them in either one made a cycle.

/** Who a request speaks for: a key's tenant and scopes, or (anonymous, embedded mode) the local tenant. */
export interface Auth {
  tenantId: string;
  /** null: anonymous (allowed only where `allowAnonymous`). */
  keyId: string | null;
  /** Effective scopes: `admin` includes `upload` and `read`. */
  scopes: readonly Scope[];
}

export interface Context {
  /** Scoped to `tenantId` (`scopedToTenant`): another tenant's rows are out of its reach. */
  prisma: PrismaClient;
  /** The application's services: resolvers call these, never a repository or a port. */
  services: Services;
  /** The caller's tenant: every query below is scoped by it. */
  tenantId: string;
  /** This gateway's fan-out of live events to subscriptions. */
  progress: ProgressHub;
  /** The caller's key (tenant, key id, effective scopes); `tenantId` is `auth.tenantId`. */
  auth: Auth;
  /** http: HTTP and SSE (key in the Authorization header); ws: graphql-ws (key in connection_init). */
  transport: "http" | "ws";
  /** SSE subscriptions only: aborts (reason: an UNAUTHENTICATED error) when the key is revoked or expires. */
  authLost?: AbortSignal;
  /**
   * yoga's own: the HTTP request (absent over graphql-ws). Its signal aborts when the client leaves;
   * searches pass it on, so their statements stop with the request.
   */
  request?: Request;
}
