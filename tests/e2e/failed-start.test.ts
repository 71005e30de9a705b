import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AMQP_URL } from "../helpers/amqp.ts";
import { runCli } from "../helpers/cli.ts";
import { TEST_DATABASE_URL } from "../helpers/db.ts";
import { within } from "../helpers/wait.ts";

/**
 * A process whose start fails ends with a non-zero exit code (issue 15: the gateway's migration
 * failed and the process stayed up without serving, its pool and broker connection still open).
 * The failure here: a database whose applied migration was changed since (MigrationError).
 */
describe("a gateway or worker that fails its start exits non-zero", () => {
  const name = `docfleet_failstart_${randomBytes(5).toString("hex")}`;
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  const admin = async (database: string, sql: string) => {
    const u = new URL(TEST_DATABASE_URL);
    u.pathname = `/${database}`;
    const c = new pg.Client({ connectionString: u.toString() });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    await admin(new URL(TEST_DATABASE_URL).pathname.slice(1), `CREATE DATABASE ${name}`);
    await admin(
      name,
      `CREATE TABLE _docfleet_migrations (name text PRIMARY KEY, checksum text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now());
       INSERT INTO _docfleet_migrations (name, checksum) VALUES ('0001_init.sql', 'changed since');`,
    );
  });
  afterAll(() =>
    admin(new URL(TEST_DATABASE_URL).pathname.slice(1), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  );

  for (const args of [
    ["gateway", "--port", "0"],
    ["worker", "--roles", "parse", "--metrics-port", "0"],
  ]) {
    it(`docfleet ${args[0]}: the error, then the process ends with a non-zero code`, async () => {
      const run = runCli(args, {
        DATABASE_URL: url.toString(),
        AMQP_URL,
        DOCFLEET_LOG_LEVEL: "warn",
      });
      const r = await within(60_000, `docfleet ${args[0]} to exit after its failed start`, run);
      expect(r.stderr).toContain("migration 0001_init.sql was changed after it was applied");
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
    }, 90_000);
  }
});
