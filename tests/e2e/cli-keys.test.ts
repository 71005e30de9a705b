import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiKeys } from "@docfleet/pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.ts";
import { inProcessSystem } from "../helpers/system.ts";

describe("docfleet keys create | list | revoke", () => {
  let dir: string;
  const cli = (...args: string[]) => runCli(["keys", ...args, "--data-dir", dir]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-cli-keys-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates a key for a new tenant, lists it without its secret, revokes it by prefix", async () => {
    const created = await cli(
      "create",
      "--tenant",
      "acme",
      "--scopes",
      "read,upload",
      "--expires",
      "30d",
      "--json",
    );
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as {
      id: string;
      prefix: string;
      secret: string;
      tenantName: string;
      tenantCreated: boolean;
      scopes: string[];
      expiresAt: string;
    };
    expect(key.secret).toMatch(/^dfk_[A-Za-z0-9_-]{43}$/);
    expect(key).toMatchObject({ tenantName: "acme", tenantCreated: true, scopes: ["read", "upload"] });
    expect(created.stderr).toContain('created tenant "acme"');
    const days = (Date.parse(key.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29);
    expect(days).toBeLessThanOrEqual(30);

    // text mode: the secret alone on stdout (scriptable), the rest on stderr; the tenant is reused
    const plain = await cli("create", "--tenant", "acme", "--scopes", "admin", "--name", "ops");
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.trim()).toMatch(/^dfk_[A-Za-z0-9_-]{43}$/);
    expect(plain.stderr).not.toContain("created tenant");
    expect(plain.stderr).toContain("shown only this once");

    const list = await cli("list", "--tenant", "acme", "--json");
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).not.toContain(key.secret);
    expect(list.stdout).not.toContain(plain.stdout.trim());
    const listed = JSON.parse(list.stdout) as { id: string; status: string; scopes: string[] }[];
    expect(listed.map((k) => [k.id, k.status])).toContainEqual([key.id, "active"]);
    expect(listed).toHaveLength(2);
    const table = await cli("list");
    expect(table.stdout).toMatch(/^ID\s+PREFIX\s+TENANT/);
    expect(table.stdout).toContain(key.prefix);

    const revoked = await cli("revoke", key.prefix);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${key.prefix}`);
    const again = await cli("revoke", key.id, "--json");
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: key.id, status: "revoked" });
  }, 300_000); // six commands, each opening (the first creating) the PGlite folder

  it("refuses unknown scopes, bad expiries and unknown keys with exit code 2", async () => {
    const scopes = await cli("create", "--tenant", "acme", "--scopes", "read,write");
    expect(scopes.code).toBe(2);
    expect(scopes.stderr).toContain("unknown scopes: write");
    const expiry = await cli("create", "--tenant", "acme", "--scopes", "read", "--expires", "2001-01-01");
    expect(expiry.code).toBe(2);
    expect(expiry.stderr).toContain("in the past");
    const unknown = await cli("revoke", "dfk_nosuchkey");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("no API key");
  }, 60_000);
});

describe("the embedded mode's admin key", () => {
  it("is created at first start (mode 0600, admin scope), kept at later starts, replaced for a new database", async () => {
    const dir = await mkdtemp(join(tmpdir(), "docfleet-admin-key-"));
    const file = join(dir, "admin-key");
    const start = async () => {
      const system = await inProcessSystem(join(dir, "data"), {
        env: { DOCFLEET_LOG_LEVEL: "silent" },
        gateway: false,
        adminKeyFile: file,
      });
      return { deps: system.deps, system };
    };
    try {
      const first = await start();
      expect(first.system.adminKey).toEqual({ path: file, state: "created" });
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const secret = (await readFile(file, "utf8")).trim();
      const v = await new ApiKeys(first.deps.db).verify(`Bearer ${secret}`);
      expect(v.ok && v.principal.scopes).toEqual(["read", "upload", "admin"]);
      await first.system.stop();

      const second = await start();
      expect(second.system.adminKey).toEqual({ path: file, state: "kept" });
      expect((await readFile(file, "utf8")).trim()).toBe(secret);
      await second.system.stop();

      // a key this database never issued (another data folder) is replaced
      await writeFile(file, `dfk_${"x".repeat(43)}\n`);
      const third = await start();
      expect(third.system.adminKey).toEqual({ path: file, state: "created" });
      expect((await readFile(file, "utf8")).trim()).not.toContain("xxxx");
      await third.system.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
