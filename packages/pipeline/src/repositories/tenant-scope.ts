import { getDatamodel, type PrismaClient } from "@docfleet/schema";

/**
 * A Prisma client that can only see and touch one tenant's rows: the gateway hands it to every
 * resolver (and to @pothos/plugin-prisma), so a query that forgets its tenant filter still cannot
 * cross tenants. The Pipeline keeps the unscoped client (workers serve every tenant) and filters by
 * tenant explicitly.
 *
 * Per model, from the generated datamodel (so a new model is classified by its columns, not by a list
 * someone must remember):
 * - a `tenantId` column: the condition `tenantId = <tenant>` is ANDed into every `where` (reads,
 *   counts, aggregates, updates, deletes, upserts) and forced into the data of creates;
 * - `Tenant` itself: the same on its `id`;
 * - rows owned through a parent (`PARENT_SCOPED`: `CategoryVersion` through its `Category`): the
 *   parent relation must belong to the tenant;
 * - anything else (`Outbox`, infrastructure shared by all tenants): every operation throws.
 *
 * Writes naming another tenant (`tenantId`, `tenant: { connect }`), nested relation writes (not seen
 * by query extensions, so they could reach another tenant's rows) and foreign keys to another
 * tenant's parent (`batchId`, `documentId`, `categoryId`) throw a {@link TenantScopeError}; so do raw
 * queries, unless `allowRaw` (they bypass every filter here). Nested reads (`include`, `select`) need
 * no filter: they only follow relations of rows already scoped, and a tenant's rows only point at its
 * own. Foreign keys are checked outside the caller's transaction: a parent created in the same
 * transaction is not seen yet (the scoped client is for request handling, not for such writes).
 */
export function scopedToTenant(
  prisma: PrismaClient,
  tenantId: string,
  opts: { allowRaw?: boolean } = {},
): PrismaClient {
  const extended = prisma.$extends({
    name: "tenant-scope",
    query: {
      $allOperations: async ({ model, operation, args, query }) => {
        if (!model) {
          if (!opts.allowRaw && RAW_OPERATIONS.has(operation))
            throw new TenantScopeError(`${operation} bypasses the tenant scope; it is not allowed here`);
          return query(args);
        }
        return query(await scoped(prisma, tenantId, model, operation, (args ?? {}) as Args));
      },
    },
  });
  // A query extension changes no model's types: the extended client is used as the plain one.
  return extended as unknown as PrismaClient;
}

/** A write or query the tenant scope refuses (another tenant's id, a nested write, a raw query). */
export class TenantScopeError extends Error {
  override name = "TenantScopeError";
}

/** How a model's rows are tied to a tenant. */
export type TenantScope =
  | { kind: "column"; field: string }
  | { kind: "parent"; relation: string; foreignKey: string; parent: string }
  | { kind: "refused" };

/** Models without a tenant column that belong to a tenant through a required parent relation. */
const PARENT_SCOPED: Record<string, { relation: string; foreignKey: string; parent: string }> = {
  CategoryVersion: { relation: "category", foreignKey: "categoryId", parent: "Category" },
};

interface ModelInfo {
  scope: TenantScope;
  /** Relation fields (nested writes through them are refused, but `tenant: { connect }` to the tenant). */
  relations: Set<string>;
  /** Scalar foreign keys to a tenant-owned parent with an `id`: checked on writes. */
  foreignKeys: { field: string; parent: string }[];
}

const MODELS: ReadonlyMap<string, ModelInfo> = (() => {
  const { models } = getDatamodel().datamodel;
  const scopeOf = (name: string): TenantScope => {
    const fields = models[name]?.fields ?? [];
    if (name === "Tenant") return { kind: "column", field: "id" };
    if (fields.some((f) => f.name === "tenantId" && f.kind === "scalar"))
      return { kind: "column", field: "tenantId" };
    const parent = PARENT_SCOPED[name];
    if (parent) return { kind: "parent", ...parent };
    return { kind: "refused" };
  };
  const out = new Map<string, ModelInfo>();
  for (const [name, model] of Object.entries(models)) {
    const relations = model.fields.filter((f) => f.kind === "object");
    out.set(name, {
      scope: scopeOf(name),
      relations: new Set(relations.map((r) => r.name)),
      foreignKeys: relations.flatMap((r) => {
        const fk = r.relationFromFields ?? [];
        const parentScope = scopeOf(r.type);
        const parentHasId = models[r.type]?.fields.some((f) => f.name === "id");
        // The tenant column itself is checked as such; other keys only when the parent is a tenant's row.
        return fk.length === 1 && r.type !== "Tenant" && parentScope.kind === "column" && parentHasId
          ? [{ field: fk[0]!, parent: r.type }]
          : [];
      }),
    });
  }
  return out;
})();

/** How each model of the schema is scoped (tests assert that every model is classified on purpose). */
export function tenantScopes(): Record<string, TenantScope> {
  return Object.fromEntries([...MODELS].map(([name, m]) => [name, m.scope]));
}

const RAW_OPERATIONS = new Set([
  "$queryRaw",
  "$executeRaw",
  "$queryRawUnsafe",
  "$executeRawUnsafe",
  "$queryRawTyped",
  "$runCommandRaw",
]);

/** Operations whose `where` gets the tenant condition. */
const WHERE_OPERATIONS = new Set([
  "findUnique",
  "findUniqueOrThrow",
  "findFirst",
  "findFirstOrThrow",
  "findMany",
  "count",
  "aggregate",
  "groupBy",
  "update",
  "updateMany",
  "updateManyAndReturn",
  "delete",
  "deleteMany",
]);
const CREATE_OPERATIONS = new Set(["create", "createMany", "createManyAndReturn"]);
const UPDATE_OPERATIONS = new Set(["update", "updateMany", "updateManyAndReturn"]);

type Args = Record<string, unknown>;
type Data = Record<string, unknown>;

async function scoped(
  prisma: PrismaClient,
  tenantId: string,
  model: string,
  operation: string,
  args: Args,
): Promise<Args> {
  const info = MODELS.get(model);
  if (!info || info.scope.kind === "refused")
    throw new TenantScopeError(`${model} is not owned by a tenant; a tenant-scoped client cannot use it`);
  const { scope } = info;
  const condition =
    scope.kind === "column" ? { [scope.field]: tenantId } : { [scope.relation]: { is: { tenantId } } };
  const where = (w: unknown) => {
    const base = (w ?? {}) as Args;
    const and = base.AND === undefined ? [] : Array.isArray(base.AND) ? base.AND : [base.AND];
    // ANDed, never overwritten: a unique `where` keeps its unique fields, and asking for another
    // tenant's id finds nothing rather than one's own row.
    return { ...base, AND: [...and, condition] };
  };
  const checkData = async (data: Data, creating: boolean): Promise<Data> => {
    for (const key of Object.keys(data)) {
      if (key === "tenant" && scope.kind === "column" && data[key] !== undefined) {
        const connect = (data[key] as { connect?: { id?: unknown } } | null)?.connect;
        if (connect?.id !== tenantId || Object.keys(data[key] as object).length !== 1)
          throw new TenantScopeError(`${model}.tenant may only connect the scope's tenant`);
      } else if (info.relations.has(key) && data[key] !== undefined) {
        throw new TenantScopeError(`nested writes through ${model}.${key} are not tenant-scoped`);
      }
    }
    const out = { ...data };
    if (scope.kind === "column") {
      const value = out[scope.field];
      if (value !== undefined && value !== tenantId)
        throw new TenantScopeError(`${model}.${scope.field} must be the scope's tenant`);
      if (creating && out.tenant === undefined) out[scope.field] = tenantId;
    }
    if (creating && scope.kind === "parent" && typeof out[scope.foreignKey] !== "string")
      throw new TenantScopeError(`${model}.${scope.foreignKey} is required`);
    for (const { field, parent } of info.foreignKeys) {
      const id = out[field];
      if (id === undefined || id === null) continue;
      if (typeof id !== "string") throw new TenantScopeError(`${model}.${field} must be a plain id`);
      await assertOwned(prisma, tenantId, parent, id);
    }
    return out;
  };
  const many = async (data: unknown, creating: boolean) =>
    Array.isArray(data)
      ? Promise.all(data.map((d) => checkData(d as Data, creating)))
      : checkData((data ?? {}) as Data, creating);

  if (CREATE_OPERATIONS.has(operation)) return { ...args, data: await many(args.data, true) };
  if (operation === "upsert") {
    return {
      ...args,
      where: where(args.where),
      create: await checkData((args.create ?? {}) as Data, true),
      update: await checkData((args.update ?? {}) as Data, false),
    };
  }
  if (WHERE_OPERATIONS.has(operation)) {
    const out: Args = { ...args, where: where(args.where) };
    if (UPDATE_OPERATIONS.has(operation)) out.data = await checkData((args.data ?? {}) as Data, false);
    return out;
  }
  // Fail closed: an operation this file does not know (a new Prisma one) is not let through unscoped.
  throw new TenantScopeError(`${model}.${operation} is not supported by the tenant scope`);
}

/** Throws unless `parent` row `id` belongs to the tenant (read without the scope, outside any transaction). */
async function assertOwned(prisma: PrismaClient, tenantId: string, parent: string, id: string) {
  const delegate = (prisma as unknown as Record<string, { count(a: unknown): Promise<number> }>)[
    parent.charAt(0).toLowerCase() + parent.slice(1)
  ];
  const found = delegate ? await delegate.count({ where: { id, tenantId } }) : 0;
  if (found !== 1) throw new TenantScopeError(`${parent} ${id} is not the scope's tenant's`);
}

/**
 * One scoped client per tenant, reused across requests (an extended client is cheap but not free);
 * at most `max` kept, the least recently used dropped first.
 */
export function tenantClients(prisma: PrismaClient, max = 1000): (tenantId: string) => PrismaClient {
  const cache = new Map<string, PrismaClient>();
  return (tenantId) => {
    let client = cache.get(tenantId);
    if (client) cache.delete(tenantId);
    else client = scopedToTenant(prisma, tenantId);
    cache.set(tenantId, client);
    if (cache.size > max) cache.delete(cache.keys().next().value!);
    return client;
  };
}
