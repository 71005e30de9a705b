import type { Pipeline } from "@docfleet/pipeline";
import { getDatamodel, type PrismaClient, type PrismaTypes } from "@docfleet/schema";
import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { type Auth, forbidden } from "./auth.ts";
import type { ProgressHub } from "./progress.ts";

export interface Context {
  /** Scoped to `tenantId` (`scopedToTenant`): another tenant's rows are out of its reach. */
  prisma: PrismaClient;
  pipeline: Pipeline;
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
}

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
  /** API key scopes (`admin` holds all three); every root field names the ones it needs. */
  AuthScopes: { read: boolean; upload: boolean; admin: boolean };
}>({
  // scope-auth first, so that no other plugin's wrapper runs before the check.
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({
      read: ctx.auth.scopes.includes("read"),
      upload: ctx.auth.scopes.includes("upload"),
      admin: ctx.auth.scopes.includes("admin"),
    }),
    unauthorizedError: (_parent, ctx, info, result) =>
      forbidden(ctx, `${info.parentType.name}.${info.fieldName}`, result.failure),
  },
  prisma: {
    client: (ctx) => ctx.prisma,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
  },
  relay: {
    clientMutationId: "omit",
    cursorType: "String",
  },
});

builder.queryType({});
builder.mutationType({});

builder.scalarType("DateTime", {
  description: "An ISO-8601 date and time",
  serialize: (v) => (v instanceof Date ? v.toISOString() : String(v)),
  parseValue: (v) => {
    const d = new Date(String(v));
    if (Number.isNaN(d.getTime())) throw new TypeError("DateTime must be an ISO-8601 string");
    return d;
  },
});

builder.scalarType("JSON", {
  description: "Arbitrary JSON",
  serialize: (v) => v,
  parseValue: (v) => v,
});
