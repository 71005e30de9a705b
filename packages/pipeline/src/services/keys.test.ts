import { randomBytes, randomUUID } from "node:crypto";
import { describe, expect } from "vitest";
import { RequestError } from "../domain/errors.ts";
import { ApiKeys, hashKey } from "./keys.ts";
import { serviceTest } from "./test-resources.ts";

/** API keys on a clock the test moves. */
const test = serviceTest.extend("keys", async ({ env }) => {
  const clock = { now: new Date("2030-01-01T00:00:00Z") };
  const keys = new ApiKeys(env.deps.db, () => clock.now);
  const advance = (ms: number) => {
    clock.now = new Date(clock.now.getTime() + ms);
  };
  return { keys, clock, advance };
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (e: unknown) => (e instanceof RequestError ? e.code : `not a RequestError: ${String(e)}`),
  );
}

const bearer = (secret: string) => `Bearer ${secret}`;

describe("ApiKeys", () => {
  test("creates a key whose secret is shown once and stored only as its hash", async ({
    env,
    tenantId,
    keys,
  }) => {
    const { secret, key } = await keys.keys.create({ tenantId, name: " ci ", scopes: ["upload", "read"] });
    expect(secret).toMatch(/^dfk_[A-Za-z0-9_-]{43}$/);
    expect(key).toMatchObject({
      tenantId,
      tenantName: "service test",
      name: "ci",
      prefix: secret.slice(0, 12),
      scopes: ["read", "upload"],
      expiresAt: null,
      revokedAt: null,
      lastUsedAt: null,
    });
    const row = await env.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } });
    expect(row.hash).toBe(hashKey(secret));
    expect(JSON.stringify(row)).not.toContain(secret);
    expect(await keys.keys.list({ tenantId })).toEqual([key]);
  });

  test("refuses no or unknown scopes, an empty name, a past expiry (BAD_REQUEST) and an unknown tenant (NOT_FOUND)", async ({
    env,
    tenantId,
    keys,
  }) => {
    const base = { tenantId, name: "k", scopes: ["read"] };
    expect(await codeOf(keys.keys.create({ ...base, scopes: [] }))).toBe("BAD_REQUEST");
    expect(await codeOf(keys.keys.create({ ...base, scopes: ["read", "root"] }))).toBe("BAD_REQUEST");
    expect(await codeOf(keys.keys.create({ ...base, name: "  " }))).toBe("BAD_REQUEST");
    expect(await codeOf(keys.keys.create({ ...base, expiresAt: keys.clock.now }))).toBe("BAD_REQUEST");
    expect(await codeOf(keys.keys.create({ ...base, tenantId: randomUUID() }))).toBe("NOT_FOUND");
    expect(await env.prisma.apiKey.count({ where: { tenantId } })).toBe(0);
  });

  test("verifies a key into its tenant and scopes, or answers why not", async ({ tenantId, keys }) => {
    const { secret, key } = await keys.keys.create({ tenantId, name: "admin", scopes: ["admin"] });
    expect(await keys.keys.verify(bearer(secret))).toEqual({
      ok: true,
      principal: { tenantId, keyId: key.id, scopes: ["read", "upload", "admin"] },
    });
    expect(await keys.keys.verify(`bearer   ${secret}  `)).toMatchObject({ ok: true });
    expect(await keys.keys.verify(undefined)).toEqual({ ok: false, reason: "missing" });
    expect(await keys.keys.verify("  ")).toEqual({ ok: false, reason: "missing" });
    expect(await keys.keys.verify(secret)).toEqual({ ok: false, reason: "malformed" });
    expect(await keys.keys.verify("Bearer dfk_short")).toEqual({ ok: false, reason: "malformed" });
    const unknown = `dfk_${randomBytes(32).toString("base64url")}`;
    expect(await keys.keys.verify(bearer(unknown))).toEqual({ ok: false, reason: "unknown" });
  });

  test("writes lastUsedAt at most once a minute, and refuses a key past its expiry", async ({
    env,
    tenantId,
    keys,
  }) => {
    const { secret, key } = await keys.keys.create({
      tenantId,
      name: "short",
      scopes: ["read"],
      expiresAt: new Date(keys.clock.now.getTime() + 3_600_000),
    });
    const lastUsed = async () =>
      (await env.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } })).lastUsedAt;
    const first = keys.clock.now;
    await keys.keys.verify(bearer(secret));
    expect(await lastUsed()).toEqual(first);
    keys.advance(30_000);
    await keys.keys.verify(bearer(secret));
    expect(await lastUsed()).toEqual(first);
    keys.advance(30_000);
    await keys.keys.verify(bearer(secret));
    expect(await lastUsed()).toEqual(keys.clock.now);

    keys.advance(3_600_000);
    expect(await keys.keys.verify(bearer(secret))).toEqual({ ok: false, reason: "expired" });
    const gone = randomUUID();
    expect(await keys.keys.status([key.id, gone])).toEqual(
      new Map([
        [key.id, "expired"],
        [gone, "unknown"],
      ]),
    );
  });

  test("revokes by prefix, id or the key itself, idempotently; a revoked key is refused", async ({
    tenantId,
    keys,
  }) => {
    const a = await keys.keys.create({ tenantId, name: "a", scopes: ["read"] });
    const b = await keys.keys.create({ tenantId, name: "b", scopes: ["read"] });
    const c = await keys.keys.create({ tenantId, name: "c", scopes: ["read"] });

    const revoked = await keys.keys.revoke(a.key.prefix);
    expect(revoked).toMatchObject({ id: a.key.id, revokedAt: keys.clock.now });
    expect(await keys.keys.verify(bearer(a.secret))).toEqual({ ok: false, reason: "revoked" });
    expect(await keys.keys.verify(bearer(b.secret))).toMatchObject({ ok: true });
    // Again, later: the first revocation time stays.
    const at = keys.clock.now;
    keys.advance(5_000);
    expect((await keys.keys.revoke(a.key.id)).revokedAt).toEqual(at);

    expect((await keys.keys.revoke(b.key.id.toUpperCase())).id).toBe(b.key.id);
    expect((await keys.keys.revoke(` ${c.secret} `)).id).toBe(c.key.id);
    expect(await keys.keys.status([a.key.id, b.key.id, c.key.id])).toEqual(
      new Map([
        [a.key.id, "revoked"],
        [b.key.id, "revoked"],
        [c.key.id, "revoked"],
      ]),
    );
    for (const ref of [randomUUID(), "dfk_", "nothing", `dfk_${randomBytes(32).toString("base64url")}`])
      expect(await codeOf(keys.keys.revoke(ref)), ref).toBe("NOT_FOUND");
  });

  test("a prefix start naming several keys is a CONFLICT; `_` in it is a character, not a wildcard", async ({
    env,
    tenantId,
    keys,
  }) => {
    // Listed prefixes chosen by hand (unique to this test), as created keys would carry them.
    const tag = randomBytes(3).toString("hex").slice(0, 5);
    const row = (prefix: string) =>
      env.prisma.apiKey.create({
        data: {
          tenantId,
          name: prefix,
          prefix,
          hash: hashKey(`${prefix}-${randomUUID()}`),
          scopes: ["read"],
        },
      });
    const one = await row(`dfk_${tag}a1b`);
    await row(`dfk_${tag}a2b`);
    const underscore = await row(`dfk_${tag}_9z`);

    expect(await codeOf(keys.keys.revoke(`dfk_${tag}a`))).toBe("CONFLICT");
    expect((await keys.keys.revoke(`dfk_${tag}a1`)).id).toBe(one.id);
    // `dfk_<tag>_` would match every key of the tag in SQL LIKE; it names only the one with a `_`.
    expect((await keys.keys.revoke(`dfk_${tag}_`)).id).toBe(underscore.id);
  });

  test("finds a tenant by name, creating it once when asked", async ({ keys }) => {
    const name = `tenant ${randomUUID()}`;
    expect(await keys.keys.tenantByName(name, { create: false })).toBeNull();
    const made = await keys.keys.tenantByName(`  ${name}  `, { create: true });
    expect(made).toMatchObject({ name, created: true });
    expect(await keys.keys.tenantByName(name, { create: true })).toEqual({ ...made, created: false });
    expect(await codeOf(keys.keys.tenantByName(" ", { create: true }))).toBe("BAD_REQUEST");
  });
});
