import {
  ApiKeys,
  adapterConfig,
  baseEnvSchema,
  createDatabase,
  type Database,
  type KeyInfo,
  LOCAL_TENANT_ID,
  parseEnv,
  RequestError,
} from "@docfleet/pipeline";
import { CliError, ExitCode } from "../exit-codes.ts";

// `docfleet keys create|list|revoke`: server-side administration, straight on the database (PGlite
// data folder or DATABASE_URL), like `docfleet migrate`. Loaded only by these commands.

interface Out {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

const STD: Out = { stdout: process.stdout, stderr: process.stderr };

/** Runs `fn` on a migrated database with the local tenant in place; domain errors become usage errors. */
async function withKeys<T>(dataDir: string | undefined, fn: (keys: ApiKeys) => Promise<T>): Promise<T> {
  const env = { ...process.env, ...(dataDir ? { DOCFLEET_DATA_DIR: dataDir } : {}) };
  const db: Database = await createDatabase(adapterConfig(parseEnv(baseEnvSchema, env)).database);
  try {
    await db.migrate();
    // So that `--tenant local` before the first `serve` names the tenant serve will use.
    const keys = new ApiKeys(db.prisma);
    await keys.ensureTenant(LOCAL_TENANT_ID, "local");
    return await fn(keys);
  } catch (err) {
    if (err instanceof RequestError) throw new CliError(err.message, ExitCode.USAGE);
    throw err;
  } finally {
    await db.close();
  }
}

/**
 * When a key stops working: `30d`, `12h`, `90m`, `2w` from now, or a date (`2027-01-01`, midnight
 * UTC) or an ISO date and time.
 */
export function parseExpiry(v: string, now = new Date()): Date {
  const rel = /^(\d+)\s*([mhdw])$/i.exec(v.trim());
  if (rel) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[
      rel[2]!.toLowerCase() as "m" | "h" | "d" | "w"
    ];
    const n = Number(rel[1]);
    if (n > 0) return new Date(now.getTime() + n * unit);
  }
  const abs = /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(v.trim()) ? new Date(v.trim()) : null;
  if (abs && !Number.isNaN(abs.getTime())) {
    if (abs.getTime() <= now.getTime()) throw new CliError(`--expires ${v} is in the past`, ExitCode.USAGE);
    return abs;
  }
  throw new CliError(
    `--expires must be a duration (30d, 12h, 90m, 2w) or a date (2027-01-01), got ${JSON.stringify(v)}`,
    ExitCode.USAGE,
  );
}

export async function createKey(
  o: { tenant: string; scopes: string; name?: string; expires?: string; dataDir?: string; json?: boolean },
  out: Out = STD,
): Promise<void> {
  const expiresAt = o.expires ? parseExpiry(o.expires) : null;
  await withKeys(o.dataDir, async (keys) => {
    const tenant = (await keys.tenantByName(o.tenant, { create: true }))!;
    const { secret, key } = await keys.create({
      tenantId: tenant.id,
      name: o.name ?? `${o.tenant} key`,
      scopes: o.scopes.split(","),
      expiresAt,
    });
    if (tenant.created) out.stderr.write(`created tenant "${tenant.name}" (${tenant.id})\n`);
    if (o.json) {
      out.stdout.write(
        `${JSON.stringify({ ...json(key), tenantCreated: tenant.created, secret }, null, 2)}\n`,
      );
      return;
    }
    out.stderr.write(
      `API key ${key.id} for tenant "${key.tenantName}": scopes ${key.scopes.join(", ")}, ` +
        `${key.expiresAt ? `expires ${key.expiresAt.toISOString()}` : "no expiry"}. ` +
        "It is shown only this once; use it as Authorization: Bearer <key> or DOCFLEET_API_KEY:\n",
    );
    out.stdout.write(`${secret}\n`);
  });
}

export async function listKeys(
  o: { tenant?: string; dataDir?: string; json?: boolean },
  out: Out = STD,
): Promise<void> {
  await withKeys(o.dataDir, async (keys) => {
    let tenantId: string | undefined;
    if (o.tenant) {
      const t = await keys.tenantByName(o.tenant, { create: false });
      if (!t) throw new CliError(`no tenant named ${JSON.stringify(o.tenant)}`, ExitCode.USAGE);
      tenantId = t.id;
    }
    const list = await keys.list({ tenantId });
    if (o.json) {
      out.stdout.write(`${JSON.stringify(list.map(json), null, 2)}\n`);
      return;
    }
    if (list.length === 0) {
      out.stderr.write("no API keys\n");
      return;
    }
    const now = Date.now();
    const rows = list.map((k) => [
      k.id,
      k.prefix,
      k.tenantName,
      k.name,
      k.scopes.join(","),
      status(k, now),
      k.expiresAt?.toISOString() ?? "-",
      k.lastUsedAt?.toISOString() ?? "-",
    ]);
    const head = ["ID", "PREFIX", "TENANT", "NAME", "SCOPES", "STATUS", "EXPIRES", "LAST USED"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    for (const r of [head, ...rows])
      out.stdout.write(
        `${r
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd()}\n`,
      );
  });
}

export async function revokeKey(
  o: { key: string; dataDir?: string; json?: boolean },
  out: Out = STD,
): Promise<void> {
  await withKeys(o.dataDir, async (keys) => {
    const k = await keys.revoke(o.key);
    if (o.json) out.stdout.write(`${JSON.stringify(json(k), null, 2)}\n`);
    else
      out.stdout.write(
        `revoked ${k.prefix}… (${k.id}) of tenant "${k.tenantName}" at ${k.revokedAt!.toISOString()}\n`,
      );
  });
}

function status(k: KeyInfo, now: number): string {
  if (k.revokedAt) return "revoked";
  if (k.expiresAt && k.expiresAt.getTime() <= now) return "expired";
  return "active";
}

function json(k: KeyInfo) {
  return {
    id: k.id,
    prefix: k.prefix,
    tenantId: k.tenantId,
    tenantName: k.tenantName,
    name: k.name,
    scopes: k.scopes,
    status: status(k, Date.now()),
    expiresAt: k.expiresAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    createdAt: k.createdAt.toISOString(),
  };
}
