import { getDatamodel, type PrismaTypes } from "@docfleet/schema";
import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { forbidden } from "./auth.ts";
import type { Context } from "./context.ts";

export type { Context } from "./context.ts";

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
