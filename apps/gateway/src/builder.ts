import { getDatamodel, type PrismaTypes } from "@docfleet/schema";
import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import ScopeAuthPlugin from "@pothos/plugin-scope-auth";
import { forbidden } from "./auth.ts";
import type { Context } from "./context.ts";
import { MAX_PAGE_SIZE } from "./paging.ts";

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
    // The relay plugin's generated types and fields, described once for every connection.
    pageInfoTypeOptions: {
      description: "Where a page sits in its connection (Relay cursor pagination): pass endCursor as `after`",
    },
    hasNextPageFieldOptions: {
      description: "true when a page follows this one (ask with `after: endCursor`)",
    },
    hasPreviousPageFieldOptions: {
      description: "true when a page precedes this one (forward paging with `after` reports it too)",
    },
    startCursorFieldOptions: { description: "cursor of the first edge of this page; null when it is empty" },
    endCursorFieldOptions: {
      description:
        "cursor of the last edge of this page; null when it is empty. The next page: `after: endCursor`",
    },
    pageInfoFieldOptions: {
      description: "paging state: whether more pages follow and the cursors to reach them",
    },
    edgesFieldOptions: {
      description: "the items of this page, each with its cursor, in the connection's order",
    },
    nodeFieldOptions: { description: "the item" },
    cursorFieldOptions: {
      description: "opaque position of this item: pass it as `after` to read what follows",
    },
    firstArgOptions: {
      description: `page size, 1..${MAX_PAGE_SIZE} (default 20); more is refused with BAD_REQUEST, never silently capped`,
    },
    lastArgOptions: {
      description: `the last n items (with \`before\`), 1..${MAX_PAGE_SIZE}; more is refused with BAD_REQUEST`,
    },
    afterArgOptions: {
      description: "a cursor (an edge's `cursor` or pageInfo.endCursor): the page after it",
    },
    beforeArgOptions: { description: "a cursor (pageInfo.startCursor): the page before it" },
  },
});

builder.queryType({});
builder.mutationType({});

builder.scalarType("DateTime", {
  description:
    "A date and time, ISO-8601 in UTC (`2026-12-07T08:15:00.000Z`); inputs accept any ISO-8601 form",
  serialize: (v) => (v instanceof Date ? v.toISOString() : String(v)),
  parseValue: (v) => {
    const d = new Date(String(v));
    if (Number.isNaN(d.getTime())) throw new TypeError("DateTime must be an ISO-8601 string");
    return d;
  },
});

builder.scalarType("JSON", {
  description: "A JSON value (object, array, string, number, boolean or null); each field says its shape",
  serialize: (v) => v,
  parseValue: (v) => v,
});
