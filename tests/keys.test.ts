import { createHash, randomUUID } from "node:crypto";
import { ApiKeys, type Database, effectiveScopes, parseScopes, RequestError } from "@docfleet/pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestDatabase, testDatabases } from "./helpers/db.ts";

describe.each(testDatabases.map((make) => ({ make, name: make().name })))("API keys on $name", ({ make }) => {
  let tdb: TestDatabase;
  let db: Database;
  let now = new Date("2026-01-01T00:00:00Z");
  let keys: ApiKeys;
  let tenantId: string;
  let otherTenantId: string;

  beforeAll(async () => {
    tdb = make();
    db = await tdb.open();
    await db.migrate();
    keys = new ApiKeys(db, () => now);
    tenantId = (await keys.tenantByName("acme", { create: true }))!.id;
    otherTenantId = (await keys.tenantByName("globex", { create: true }))!.id;
  });

  afterAll(async () => {
    await db?.close();
    await tdb?.cleanup();
  });

  it("stores the sha256 of a key, never the key itself", async () => {
    const { secret, key } = await keys.create({ tenantId, name: "ci", scopes: ["read", "upload"] });
    expect(secret).toMatch(/^dfk_[A-Za-z0-9_-]{43}$/);
    const row = await db.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } });
    expect(row.hash).toBe(createHash("sha256").update(secret).digest("hex"));
    expect(row.prefix).toBe(secret.slice(0, 12));
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice(12));
    expect(key.scopes).toEqual(["read", "upload"]);
  });

  it("lists keys per tenant or all, never with a secret or a hash", async () => {
    await keys.create({ tenantId: otherTenantId, name: "other", scopes: ["read"] });
    const mine = await keys.list({ tenantId });
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((k) => k.tenantId === tenantId && k.tenantName === "acme")).toBe(true);
    const all = await keys.list();
    expect(all.some((k) => k.tenantId === otherTenantId)).toBe(true);
    for (const k of all) {
      expect(Object.keys(k)).not.toContain("hash");
      expect(Object.keys(k)).not.toContain("secret");
    }
  });

  it("verifies a key into its tenant and scopes, admin holding every scope", async () => {
    const { secret, key } = await keys.create({ tenantId, name: "admin", scopes: ["admin"] });
    expect(await keys.verify(`Bearer ${secret}`)).toEqual({
      ok: true,
      principal: { tenantId, keyId: key.id, scopes: ["read", "upload", "admin"] },
    });
    const upload = await keys.create({ tenantId, name: "upload", scopes: ["upload"] });
    const v = await keys.verify(`bearer ${upload.secret}`);
    expect(v.ok && v.principal.scopes).toEqual(["upload"]);
  });

  it("refuses with a reason: missing, malformed, unknown", async () => {
    expect(await keys.verify(null)).toEqual({ ok: false, reason: "missing" });
    expect(await keys.verify("  ")).toEqual({ ok: false, reason: "missing" });
    expect(await keys.verify("Basic dXNlcjpwYXNz")).toEqual({ ok: false, reason: "malformed" });
    expect(await keys.verify("Bearer dfk_short")).toEqual({ ok: false, reason: "malformed" });
    expect(await keys.verify(`Bearer dfk_${"A".repeat(43)}`)).toEqual({ ok: false, reason: "unknown" });
  });

  it("expires a key at its expiry", async () => {
    const { secret } = await keys.create({
      tenantId,
      name: "short",
      scopes: ["read"],
      expiresAt: new Date(now.getTime() + 3_600_000),
    });
    expect((await keys.verify(`Bearer ${secret}`)).ok).toBe(true);
    const before = now;
    now = new Date(before.getTime() + 3_600_000);
    try {
      expect(await keys.verify(`Bearer ${secret}`)).toEqual({ ok: false, reason: "expired" });
    } finally {
      now = before;
    }
    await expect(
      keys.create({ tenantId, name: "past", scopes: ["read"], expiresAt: new Date(now.getTime() - 1) }),
    ).rejects.toThrow(/future/);
  });

  it("revokes by id or prefix, idempotently", async () => {
    const { secret, key } = await keys.create({ tenantId, name: "gone", scopes: ["read"] });
    const first = await keys.revoke(key.prefix);
    expect(first.revokedAt).toEqual(now);
    expect(await keys.verify(`Bearer ${secret}`)).toEqual({ ok: false, reason: "revoked" });
    const before = now;
    now = new Date(before.getTime() + 60_000);
    try {
      const again = await keys.revoke(key.id);
      expect(again.revokedAt).toEqual(first.revokedAt);
    } finally {
      now = before;
    }
    await expect(keys.revoke("dfk_nosuchkey")).rejects.toThrow(RequestError);
    await expect(keys.revoke("00000000-0000-4000-8000-00000000dead")).rejects.toThrow(/no API key/);
  });

  it("answers the status of many keys in one call (what live connections re-check)", async () => {
    const live = await keys.create({ tenantId, name: "live", scopes: ["read"] });
    const dead = await keys.create({ tenantId, name: "dead", scopes: ["read"] });
    await keys.revoke(dead.key.id);
    const missing = "00000000-0000-4000-8000-00000000beef";
    const status = await keys.status([live.key.id, dead.key.id, missing]);
    expect([...status]).toEqual([
      [live.key.id, null],
      [dead.key.id, "revoked"],
      [missing, "unknown"],
    ]);
  });

  it("writes lastUsedAt at most once a minute", async () => {
    const { secret, key } = await keys.create({ tenantId, name: "busy", scopes: ["read"] });
    const used = async () => (await db.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } })).lastUsedAt;
    const t0 = now;
    try {
      await keys.verify(`Bearer ${secret}`);
      expect(await used()).toEqual(t0);
      now = new Date(t0.getTime() + 30_000);
      await keys.verify(`Bearer ${secret}`);
      expect(await used()).toEqual(t0);
      now = new Date(t0.getTime() + 61_000);
      await keys.verify(`Bearer ${secret}`);
      expect(await used()).toEqual(now);
    } finally {
      now = t0;
    }
  });

  it("ensures a tenant by id: created once, an existing one left as it is", async () => {
    const id = randomUUID();
    await keys.ensureTenant(id, "first");
    await keys.ensureTenant(id, "second");
    expect(await db.prisma.tenant.findMany({ where: { id }, select: { name: true } })).toEqual([
      { name: "first" },
    ]);
  });

  it("finds a tenant by name, creating it once", async () => {
    const a = await keys.tenantByName("initech", { create: true });
    const b = await keys.tenantByName("initech", { create: true });
    expect(a!.created).toBe(true);
    expect(b).toEqual({ ...a, created: false });
    expect(await keys.tenantByName("nobody", { create: false })).toBeNull();
  });
});

describe("scopes", () => {
  it("admin implies upload and read; upload and read are independent", () => {
    expect(effectiveScopes(["admin"])).toEqual(["read", "upload", "admin"]);
    expect(effectiveScopes(["upload"])).toEqual(["upload"]);
    expect(effectiveScopes(["read"])).toEqual(["read"]);
    expect(effectiveScopes(["bogus"])).toEqual([]);
  });

  it("parses a scope list, refusing unknown scopes and none", () => {
    expect(parseScopes("upload, read")).toEqual(["read", "upload"]);
    expect(() => parseScopes("read,write")).toThrow(/unknown scopes: write/);
    expect(() => parseScopes("")).toThrow(/at least one scope/);
  });
});
