import type { KeyInfo } from "@docfleet/pipeline";
import { builder } from "../builder.ts";

// API keys of the caller's own tenant, for an admin key: what `docfleet keys` uses while `serve` holds
// the embedded database. Never another tenant's keys; never a stored secret (only creation answers one).

const ApiKeyStatus = builder.enumType("ApiKeyStatus", {
  description: "Whether a key is accepted now",
  values: {
    ACTIVE: { description: "accepted (not revoked, not past its expiry)" },
    EXPIRED: { description: "past its expiresAt: refused (UNAUTHENTICATED, reason expired)" },
    REVOKED: { description: "revoked: refused at once, on live subscriptions too" },
  } as const,
});

function status(k: KeyInfo, now = Date.now()): "ACTIVE" | "EXPIRED" | "REVOKED" {
  if (k.revokedAt) return "REVOKED";
  if (k.expiresAt && k.expiresAt.getTime() <= now) return "EXPIRED";
  return "ACTIVE";
}

const ApiKey = builder.objectRef<KeyInfo>("ApiKey");
ApiKey.implement({
  description: "An API key as listed: its id and first characters, never its secret",
  fields: (t) => ({
    id: t.exposeID("id", { description: "the key's id (revokeApiKey takes it)" }),
    prefix: t.exposeString("prefix", { description: "the key's first 12 characters (dfk_...)" }),
    name: t.exposeString("name", { description: "a name for people, given at creation" }),
    tenantName: t.exposeString("tenantName", { description: "the name of the tenant the key acts for" }),
    scopes: t.exposeStringList("scopes", { description: "read, upload, admin (admin implies the others)" }),
    status: t.field({
      type: ApiKeyStatus,
      description: "whether it is accepted now",
      resolve: (k) => status(k),
    }),
    expiresAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "when it stops working; null: never",
      resolve: (k) => k.expiresAt,
    }),
    revokedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "when it was revoked; null: not revoked",
      resolve: (k) => k.revokedAt,
    }),
    lastUsedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "when a request last used it (updated at most once a minute); null: never used",
      resolve: (k) => k.lastUsedAt,
    }),
    createdAt: t.field({ type: "DateTime", description: "when it was created", resolve: (k) => k.createdAt }),
  }),
});

const CreatedApiKey = builder.objectRef<{ secret: string; key: KeyInfo }>("CreatedApiKey");
CreatedApiKey.implement({
  description: "A key just created: its secret (shown this once) and its listing",
  fields: (t) => ({
    secret: t.exposeString("secret", {
      description: "the key itself (Authorization: Bearer <secret>): answered once, never stored",
    }),
    key: t.field({ type: ApiKey, description: "the key as apiKeys lists it", resolve: (c) => c.key }),
  }),
});

builder.queryFields((t) => ({
  apiKeys: t.field({
    authScopes: { admin: true },
    type: [ApiKey],
    description:
      "The caller's tenant's API keys, oldest first, revoked and expired ones included. Scope: admin",
    resolve: (_root, _args, ctx) => ctx.services.keys.list({ tenantId: ctx.tenantId }),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    authScopes: { admin: true },
    type: CreatedApiKey,
    description:
      "A new API key of the caller's tenant. Errors: BAD_REQUEST (no or unknown scopes, an empty name, an expiry in the past). Scope: admin",
    args: {
      name: t.arg.string({ required: true, description: "a name for people (what uses the key)" }),
      scopes: t.arg.stringList({ required: true, description: "read, upload, admin" }),
      expiresAt: t.arg({
        type: "DateTime",
        description: "when it stops working (in the future); default never",
      }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.keys.create({
        tenantId: ctx.tenantId,
        name: args.name,
        scopes: args.scopes,
        expiresAt: args.expiresAt ?? null,
      }),
  }),
  revokeApiKey: t.field({
    authScopes: { admin: true },
    type: ApiKey,
    description:
      "Revokes a key of the caller's tenant by id, listed prefix or the key itself, at once; idempotent. Errors: NOT_FOUND (none of this tenant's), CONFLICT (a prefix naming several). Scope: admin",
    args: {
      key: t.arg.string({
        required: true,
        description: "the key's id, its listed prefix (dfk_...) or the key itself",
      }),
    },
    resolve: (_root, args, ctx) => ctx.services.keys.revoke(args.key, { tenantId: ctx.tenantId }),
  }),
}));
