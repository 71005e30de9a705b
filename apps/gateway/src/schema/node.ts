import { graphReads } from "@docfleet/pipeline";
import { brandWithType } from "@pothos/core";
import { builder } from "../builder.ts";

// Relay's object identification. docfleet's ids are UUIDs, unique across every table, and clients
// (the CLI, scripts, stored links) already hold them: `node(id)` takes those same ids and finds which
// type holds one, instead of issuing a second, base64 "global" id per object.

/** The types `node(id)` finds, in the order it looks (each lookup is one indexed query). */
const NODE_TYPES = ["Document", "Batch"] as const;

export const Node = builder.interfaceRef<{ id: string }>("Node");
Node.implement({
  description: `An object node(id) finds again by its id (Relay object identification): ${NODE_TYPES.join(", ")}`,
  fields: (t) => ({
    id: t.exposeID("id", {
      description:
        "the object's id, a UUID unique across every type: the same value its own query, mutations and node(id) take",
    }),
  }),
});

builder.queryFields((t) => ({
  node: t.field({
    authScopes: { read: true },
    type: Node,
    nullable: true,
    description:
      `The tenant's ${NODE_TYPES.join(" or ")} with this id (Relay's node query); null when the tenant has none ` +
      "(another tenant's objects included, as for document(id) and batch(id)). Scope: read",
    args: {
      id: t.arg.id({
        required: true,
        description: "an object's id, as any `id` field answers it (a UUID; not base64-encoded)",
      }),
    },
    resolve: async (_root, args, ctx) => {
      const id = String(args.id);
      // ctx.prisma is scoped to the caller's tenant, and every read names the tenant as well.
      const [document, batch] = await Promise.all([
        graphReads.document(ctx.prisma, {}, ctx.tenantId, id),
        graphReads.batch(ctx.prisma, {}, ctx.tenantId, id),
      ]);
      const found = document ?? batch;
      // The interface's type resolution reads the brand (a row alone does not say its table).
      // (A type's name is a brand Pothos reads as such; its typing only lists refs.)
      if (found) brandWithType(found, (document ? "Document" : "Batch") as never);
      return found;
    },
  }),
}));
