import type { Pipeline } from "@docfleet/pipeline";
import { getDatamodel, type PrismaClient, type PrismaTypes } from "@docfleet/schema";
import SchemaBuilder from "@pothos/core";
import PrismaPlugin from "@pothos/plugin-prisma";
import RelayPlugin from "@pothos/plugin-relay";
import type { ProgressHub } from "./progress.ts";

export interface Context {
  prisma: PrismaClient;
  pipeline: Pipeline;
  /** The caller's tenant: every query below is scoped by it. */
  tenantId: string;
  /** This gateway's fan-out of live events to subscriptions. */
  progress: ProgressHub;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
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
