import { createHash, randomBytes } from "node:crypto";
import type { PrismaClient } from "@docfleet/schema";
import { RequestError } from "../domain/errors.ts";
import { isUuid } from "../domain/ids.ts";
import * as keys from "../repositories/keys.ts";
import * as tenants from "../repositories/tenants.ts";
import type { SqlQuery } from "../repositories/transition.ts";

/**
 * API keys: `dfk_` + 32 random bytes in base64url. Only the sha256 of a key is stored (with its first
 * characters, to tell keys apart in listings); the secret is shown once, at creation.
 *
 * Scopes: `read` (every query and subscription), `upload` (batches, uploads, corrections), `admin`
 * (categories, reprocessing, operators' mutations). `admin` implies `upload` and `read`; `upload` and
 * `read` are independent, so an ingestion-only key cannot read the archive back.
 */
export const SCOPES = ["read", "upload", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/** Why a key was refused; each is an UNAUTHENTICATED error at the gateway. */
export type KeyFailure = "missing" | "malformed" | "unknown" | "expired" | "revoked";

/** Who a verified key speaks for. `scopes` are the key's scopes with what `admin` implies. */
export interface Principal {
  tenantId: string;
  keyId: string;
  scopes: Scope[];
}

export type Verification = { ok: true; principal: Principal } | { ok: false; reason: KeyFailure };

/** A key as listed: never its secret nor its hash. */
export interface KeyInfo {
  id: string;
  tenantId: string;
  tenantName: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
}

/** The embedded mode's tenant: requests without a key (where allowed) and `serve`'s admin key act for it. */
export const LOCAL_TENANT_ID = "00000000-0000-4000-8000-000000000001";

export const KEY_PREFIX = "dfk_";
const SECRET_BYTES = 32;
/** 32 bytes are 43 base64url characters; longer keys are accepted for a later, larger format. */
const KEY_RE = /^dfk_[A-Za-z0-9_-]{43,128}$/;
/** `dfk_` and 8 characters (48 bits): enough to tell keys apart and to revoke by. */
const PREFIX_LENGTH = 12;
/** lastUsedAt is written at most once per this many ms per key. */
const TOUCH_EVERY_MS = 60_000;

export function hashKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** The scopes a key holds, with what `admin` implies, in the order of SCOPES. */
export function effectiveScopes(scopes: readonly string[]): Scope[] {
  const held = new Set(scopes);
  if (held.has("admin")) return [...SCOPES];
  return SCOPES.filter((s) => held.has(s));
}

/** Parses a comma list of scopes ("read,upload"); throws BAD_REQUEST on an unknown one or none. */
export function parseScopes(list: string | readonly string[]): Scope[] {
  const names = (typeof list === "string" ? list.split(",") : [...list]).map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (bad.length)
    throw new RequestError("BAD_REQUEST", `unknown scopes: ${bad.join(", ")} (known: ${SCOPES.join(", ")})`);
  if (names.length === 0)
    throw new RequestError("BAD_REQUEST", `a key needs at least one scope (${SCOPES.join(", ")})`);
  return SCOPES.filter((s) => names.includes(s));
}

/** The secret of an `Authorization` header value (`Bearer <key>`), or why there is none. */
export function bearerSecret(authorization: string | null | undefined): string | { reason: KeyFailure } {
  if (authorization == null || authorization.trim() === "") return { reason: "missing" };
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization.trim());
  if (!m || !KEY_RE.test(m[1]!)) return { reason: "malformed" };
  return m[1]!;
}

/**
 * Creates, lists, revokes and verifies API keys. Works on the unscoped client: a key is looked up
 * before anyone knows its tenant. `verify` and `ensureTenant` run raw statements (`db.query`), not
 * Prisma's: every request checks a key, and `serve` checks its admin key before it answers, where
 * Prisma's first query would initialise its client.
 */
export class ApiKeys {
  private readonly prisma: PrismaClient;

  constructor(
    private readonly db: SqlQuery & { readonly prisma: PrismaClient },
    private readonly now: () => Date = () => new Date(),
  ) {
    this.prisma = db.prisma;
  }

  /**
   * A new key for an existing tenant; answers its secret (shown once, never stored) and its listing.
   * Throws BAD_REQUEST for no or unknown scopes, an empty name or an expiry in the past; NOT_FOUND for
   * an unknown tenant.
   */
  async create(input: {
    tenantId: string;
    name: string;
    scopes: readonly string[];
    expiresAt?: Date | null;
  }): Promise<{ secret: string; key: KeyInfo }> {
    const scopes = parseScopes(input.scopes);
    const name = input.name.trim();
    if (!name || name.length > 200)
      throw new RequestError("BAD_REQUEST", "a key name must have 1 to 200 characters");
    if (input.expiresAt && input.expiresAt.getTime() <= this.now().getTime())
      throw new RequestError("BAD_REQUEST", "the expiry must be in the future");
    const tenant = await tenants.findById(this.prisma, input.tenantId);
    if (!tenant) throw new RequestError("NOT_FOUND", `tenant ${input.tenantId} not found`);
    const secret = KEY_PREFIX + randomBytes(SECRET_BYTES).toString("base64url");
    const row = await keys.insert(this.prisma, {
      tenantId: tenant.id,
      name,
      hash: hashKey(secret),
      prefix: secret.slice(0, PREFIX_LENGTH),
      scopes,
      expiresAt: input.expiresAt ?? null,
    });
    return { secret, key: info(row, tenant.name) };
  }

  /** The keys of one tenant (or of every tenant), oldest first; revoked and expired ones included. */
  async list(opts: { tenantId?: string } = {}): Promise<KeyInfo[]> {
    const rows = await keys.listWithTenant(this.prisma, opts.tenantId);
    return rows.map((r) => info(r, r.tenant.name));
  }

  /**
   * Revokes a key by id, by its listed prefix (or the start of it) or by the key itself. Idempotent: revoking a revoked key changes nothing
   * and answers it with its first revocation time. Throws NOT_FOUND, or CONFLICT when a prefix names
   * several keys. With `tenantId`, only that tenant's keys are found (a tenant's admin revoking).
   */
  async revoke(idOrPrefix: string, opts: { tenantId?: string } = {}): Promise<KeyInfo> {
    const ref = idOrPrefix.trim();
    // An id, a listed prefix (or its start), or the key itself.
    const where = isUuid(ref)
      ? { id: ref.toLowerCase() }
      : KEY_RE.test(ref)
        ? { hash: hashKey(ref) }
        : ref.startsWith(KEY_PREFIX) && ref.length > KEY_PREFIX.length && ref.length <= PREFIX_LENGTH
          ? { prefixStart: ref }
          : null;
    const rows = where
      ? (await keys.findForRevoke(this.prisma, where))
          .filter((r) => r.id === ref.toLowerCase() || r.prefix.startsWith(ref) || r.hash === hashKey(ref)) // LIKE's `_` matches any character
          .filter((r) => opts.tenantId === undefined || r.tenantId === opts.tenantId)
      : [];
    if (rows.length === 0) throw new RequestError("NOT_FOUND", `no API key ${JSON.stringify(ref)}`);
    if (rows.length > 1)
      throw new RequestError("CONFLICT", `several API keys start with ${JSON.stringify(ref)}: use the id`);
    const row = rows[0]!;
    await keys.revoke(this.prisma, row.id, this.now());
    const after = await keys.getById(this.prisma, row.id);
    return info(after, row.tenant.name);
  }

  /**
   * Checks an `Authorization` header value (`Bearer dfk_...`). The key is found by its hash through
   * a unique index, never compared character by character. Updates the key's lastUsedAt at most once
   * a minute.
   */
  async verify(authorization: string | null | undefined): Promise<Verification> {
    const secret = bearerSecret(authorization);
    if (typeof secret !== "string") return { ok: false, reason: secret.reason };
    const row = await keys.findByHash(this.db, hashKey(secret));
    if (!row) return { ok: false, reason: "unknown" };
    const now = this.now();
    const failure = refusal(row, now);
    if (failure) return { ok: false, reason: failure };
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= TOUCH_EVERY_MS) {
      // Guarded: of concurrent requests, one writes.
      await keys.touch(this.db, row.id, now, TOUCH_EVERY_MS);
    }
    return {
      ok: true,
      principal: { tenantId: row.tenantId, keyId: row.id, scopes: effectiveScopes(row.scopes) },
    };
  }

  /**
   * Why each of these keys would be refused now (`null`: still valid), in one query: what live
   * connections re-check. A deleted key reads `unknown`.
   */
  async status(keyIds: readonly string[]): Promise<Map<string, KeyFailure | null>> {
    const rows = keyIds.length ? await keys.validity(this.prisma, keyIds) : [];
    const now = this.now();
    const byId = new Map(rows.map((r) => [r.id, r]));
    return new Map(
      keyIds.map((id) => {
        const r = byId.get(id);
        return [id, r ? refusal(r, now) : "unknown"];
      }),
    );
  }

  /** The tenant with this id, created with `name` when missing. */
  async ensureTenant(id: string, name: string): Promise<void> {
    await tenants.ensure(this.db, id, name);
  }

  /**
   * The tenant of this name, created when there is none (`created` says so). Tenant names are not
   * unique in the database: with several, the oldest is used.
   */
  async tenantByName(
    name: string,
    opts: { create: boolean },
  ): Promise<{ id: string; name: string; created: boolean } | null> {
    const n = name.trim();
    if (!n || n.length > 200)
      throw new RequestError("BAD_REQUEST", "a tenant name must have 1 to 200 characters");
    const found = await tenants.findOldestByName(this.prisma, n);
    if (found) return { id: found.id, name: found.name, created: false };
    if (!opts.create) return null;
    const t = await tenants.create(this.prisma, n);
    return { id: t.id, name: t.name, created: true };
  }
}

function refusal(row: { expiresAt: Date | null; revokedAt: Date | null }, now: Date): KeyFailure | null {
  if (row.revokedAt) return "revoked";
  if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) return "expired";
  return null;
}

function info(row: keys.KeyRow, tenantName: string): KeyInfo {
  return {
    id: row.id,
    tenantId: row.tenantId,
    tenantName,
    name: row.name,
    prefix: row.prefix,
    scopes: SCOPES.filter((s) => row.scopes.includes(s)),
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    lastUsedAt: row.lastUsedAt,
    createdAt: row.createdAt,
  };
}
