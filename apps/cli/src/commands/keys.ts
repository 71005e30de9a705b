import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseExpiry } from "../args.ts";
import { GatewayClient } from "../client.ts";
import { inUseMessage, type LockHolder, lockDataDir, lockHolder } from "../data-lock.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { graphql } from "../generated/gql.ts";
import { plainTable, renderTable } from "../table.ts";

// `docfleet keys create|list|revoke`. On PostgreSQL (DATABASE_URL) straight on the database, like
// `docfleet migrate`. On the embedded database, whose folder one process holds (data-lock.ts): through
// the running `serve` and its local admin key when it holds the folder (keys of its own tenant,
// `local`), else on the folder under its lock. Loaded only by these commands.

interface Out {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

const STD: Out = { stdout: process.stdout, stderr: process.stderr };

/** A key as printed (`--json`) whichever way it was read. */
export interface KeyJson {
  id: string;
  prefix: string;
  tenantId?: string;
  tenantName: string;
  name: string;
  scopes: string[];
  status: "active" | "expired" | "revoked";
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
}

const KeyFields = graphql(`
  fragment ApiKeyFields on ApiKey {
    id prefix name tenantName scopes status expiresAt revokedAt lastUsedAt createdAt
  }
`);
void KeyFields;

const ListKeys = graphql(`
  query ListApiKeys { apiKeys { ...ApiKeyFields } }
`);

const CreateKey = graphql(`
  mutation CreateApiKey($name: String!, $scopes: [String!]!, $expiresAt: DateTime) {
    createApiKey(name: $name, scopes: $scopes, expiresAt: $expiresAt) { secret key { ...ApiKeyFields } }
  }
`);

const RevokeKey = graphql(`
  mutation RevokeApiKey($key: String!) { revokeApiKey(key: $key) { ...ApiKeyFields } }
`);

/** The embedded mode's tenant, the one `serve`'s admin key speaks for. */
const LOCAL_TENANT = "local";

type Route =
  | { kind: "server"; client: GatewayClient; holder: LockHolder; dataDir: string }
  | { kind: "database"; dataDir?: string };

/** Where this command's keys are read and written (see the top of this file). */
async function route(dataDir: string | undefined, tenant: string | undefined, what: string): Promise<Route> {
  const env = { ...process.env, ...(dataDir ? { DOCFLEET_DATA_DIR: dataDir } : {}) };
  const { adapterConfig, baseEnvSchema, parseEnv } = await import("@docfleet/pipeline");
  const cfg = adapterConfig(parseEnv(baseEnvSchema, env));
  if (cfg.database.kind !== "pglite") return { kind: "database", dataDir };
  const holder = lockHolder(cfg.dataDir);
  if (!holder) return { kind: "database", dataDir };
  const stop = "stop it first";
  if (holder.command !== "serve" || !holder.url)
    throw new CliError(inUseMessage(cfg.dataDir, holder, `wait for it to end`), ExitCode.USAGE);
  if (tenant !== undefined && tenant !== LOCAL_TENANT)
    throw new CliError(
      inUseMessage(
        cfg.dataDir,
        holder,
        `${what} of tenant ${JSON.stringify(tenant)} go to the database: ${stop} (keys of tenant "local" work while it runs)`,
      ),
      ExitCode.USAGE,
    );
  let key: string;
  try {
    key = readFileSync(join(cfg.dataDir, "admin-key"), "utf8").trim();
  } catch {
    throw new CliError(
      inUseMessage(
        cfg.dataDir,
        holder,
        `its admin key (${join(cfg.dataDir, "admin-key")}) is missing: ${stop}`,
      ),
      ExitCode.USAGE,
    );
  }
  return {
    kind: "server",
    client: new GatewayClient(holder.url, key, { retries: 2, baseMs: 200, maxMs: 2_000 }),
    holder,
    dataDir: cfg.dataDir,
  };
}

/** Runs `fn` on a migrated database under the data folder's lock, with the local tenant in place. */
async function withKeys<T>(
  dataDir: string | undefined,
  fn: (keys: import("@docfleet/pipeline").ApiKeys) => Promise<T>,
): Promise<T> {
  const p = await import("@docfleet/pipeline");
  const env = { ...process.env, ...(dataDir ? { DOCFLEET_DATA_DIR: dataDir } : {}) };
  const cfg = p.adapterConfig(p.parseEnv(p.baseEnvSchema, env));
  const lock = cfg.database.kind === "pglite" ? lockDataDir(cfg.dataDir, "keys") : null;
  try {
    const db = await p.createDatabase(cfg.database);
    try {
      await db.migrate();
      // So that `--tenant local` before the first `serve` names the tenant serve will use.
      const keys = new p.ApiKeys(db);
      await keys.ensureTenant(p.LOCAL_TENANT_ID, LOCAL_TENANT);
      return await fn(keys);
    } catch (err) {
      if (err instanceof p.RequestError) throw new CliError(err.message, ExitCode.USAGE);
      throw err;
    } finally {
      await db.close();
    }
  } finally {
    lock?.release();
  }
}

export async function createKey(
  o: { tenant: string; scopes: string[]; name?: string; expires?: string; dataDir?: string; json?: boolean },
  out: Out = STD,
): Promise<void> {
  const expiresAt = o.expires ? parseExpiry(o.expires) : null;
  const name = o.name ?? `${o.tenant} key`;
  const r = await route(o.dataDir, o.tenant, "keys");
  let created: { secret: string; key: KeyJson; tenantCreated: boolean };
  if (r.kind === "server") {
    const { createApiKey } = await r.client.request(
      CreateKey,
      { name, scopes: o.scopes, expiresAt: expiresAt?.toISOString() ?? null },
      { idempotent: false },
    );
    created = { secret: createApiKey.secret, key: fromGraph(createApiKey.key), tenantCreated: false };
    out.stderr.write(`(through docfleet serve at ${r.holder.url}, pid ${r.holder.pid})\n`);
  } else {
    created = await withKeys(r.dataDir, async (keys) => {
      const tenant = (await keys.tenantByName(o.tenant, { create: true }))!;
      const { secret, key } = await keys.create({ tenantId: tenant.id, name, scopes: o.scopes, expiresAt });
      if (tenant.created) out.stderr.write(`created tenant "${tenant.name}" (${tenant.id})\n`);
      return { secret, key: fromInfo(key), tenantCreated: tenant.created };
    });
  }
  const { secret, key } = created;
  if (o.json) {
    out.stdout.write(
      `${JSON.stringify({ ...key, tenantCreated: created.tenantCreated, secret }, null, 2)}\n`,
    );
    return;
  }
  out.stderr.write(
    `API key ${key.id} for tenant "${key.tenantName}": scopes ${key.scopes.join(", ")}, ` +
      `${key.expiresAt ? `expires ${key.expiresAt}` : "no expiry"}. ` +
      "It is shown only this once; use it as Authorization: Bearer <key> or DOCFLEET_API_KEY:\n",
  );
  out.stdout.write(`${secret}\n`);
}

export async function listKeys(
  o: { tenant?: string; dataDir?: string; json?: boolean },
  out: Out = STD,
): Promise<void> {
  const r = await route(o.dataDir, o.tenant, "keys");
  let list: KeyJson[];
  if (r.kind === "server") {
    const { apiKeys } = await r.client.request(ListKeys);
    list = apiKeys.map(fromGraph);
    if (!o.json)
      out.stderr.write(
        `tenant "local" (docfleet serve holds ${r.dataDir}; other tenants' keys are listed once it stops)\n`,
      );
  } else {
    list = await withKeys(r.dataDir, async (keys) => {
      let tenantId: string | undefined;
      if (o.tenant) {
        const t = await keys.tenantByName(o.tenant, { create: false });
        if (!t) throw new CliError(`no tenant named ${JSON.stringify(o.tenant)}`, ExitCode.USAGE);
        tenantId = t.id;
      }
      return (await keys.list({ tenantId })).map(fromInfo);
    });
  }
  if (o.json) {
    out.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  if (list.length === 0) {
    out.stderr.write("no API keys\n");
    return;
  }
  out.stdout.write(`${keysTable(list)}\n`);
}

/** The listing as a table (cli-table3, no borders: greppable, columns aligned). */
export function keysTable(list: readonly KeyJson[]): string {
  const table = plainTable(["ID", "PREFIX", "TENANT", "NAME", "SCOPES", "STATUS", "EXPIRES", "LAST USED"]);
  for (const k of list)
    table.push([
      k.id,
      k.prefix,
      k.tenantName,
      k.name,
      k.scopes.join(","),
      k.status,
      k.expiresAt ?? "-",
      k.lastUsedAt ?? "-",
    ]);
  return renderTable(table);
}

export async function revokeKey(
  o: { key: string; dataDir?: string; json?: boolean },
  out: Out = STD,
): Promise<void> {
  const r = await route(o.dataDir, undefined, "keys");
  let k: KeyJson;
  if (r.kind === "server") {
    try {
      k = fromGraph((await r.client.request(RevokeKey, { key: o.key })).revokeApiKey);
    } catch (err) {
      if ((err as { code?: string }).code === "NOT_FOUND")
        throw new CliError(
          `no API key ${JSON.stringify(o.key)} of tenant "local" (docfleet serve holds ${r.dataDir}: other tenants' keys are revoked once it stops)`,
          ExitCode.USAGE,
        );
      throw err;
    }
  } else {
    k = await withKeys(r.dataDir, async (keys) => fromInfo(await keys.revoke(o.key)));
  }
  if (o.json) out.stdout.write(`${JSON.stringify(k, null, 2)}\n`);
  else out.stdout.write(`revoked ${k.prefix}… (${k.id}) of tenant "${k.tenantName}" at ${k.revokedAt}\n`);
}

function statusOf(
  k: { revokedAt: Date | null; expiresAt: Date | null },
  now = Date.now(),
): KeyJson["status"] {
  if (k.revokedAt) return "revoked";
  if (k.expiresAt && k.expiresAt.getTime() <= now) return "expired";
  return "active";
}

function fromInfo(k: import("@docfleet/pipeline").KeyInfo): KeyJson {
  return {
    id: k.id,
    prefix: k.prefix,
    tenantId: k.tenantId,
    tenantName: k.tenantName,
    name: k.name,
    scopes: k.scopes,
    status: statusOf(k),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    createdAt: k.createdAt.toISOString(),
  };
}

function fromGraph(k: {
  id: string;
  prefix: string;
  name: string;
  tenantName: string;
  scopes: string[];
  status: string;
  expiresAt?: string | null;
  revokedAt?: string | null;
  lastUsedAt?: string | null;
  createdAt: string;
}): KeyJson {
  return {
    id: k.id,
    prefix: k.prefix,
    tenantName: k.tenantName,
    name: k.name,
    scopes: k.scopes,
    status: k.status.toLowerCase() as KeyJson["status"],
    expiresAt: k.expiresAt ?? null,
    revokedAt: k.revokedAt ?? null,
    lastUsedAt: k.lastUsedAt ?? null,
    createdAt: k.createdAt,
  };
}
