import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gql, ROOT, runCli, type Served, startServe, withKey } from "../helpers/cli.ts";
import { deferred } from "../helpers/wait.ts";

// The CLI as an operator meets it, against one real `docfleet serve` (issue 20's friction points):
// admin commands while serve holds the embedded database, start-up errors before any slow work, an
// upload-only key, the operator's commands, Ctrl-C on watch, the batch's own time.

const BIN = `${ROOT}apps/cli/bin/docfleet.mjs`;
const EXAMPLES = join(ROOT, "examples", "documents");

/** The non-empty lines of a command's stderr. */
const lines = (s: string) => s.split("\n").filter((l) => l.trim());

describe("docfleet as an operator uses it, while serve runs", () => {
  let dir: string;
  let served: Served;
  let dataDir: string;
  const api = () => ["--endpoint", served.url];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-cli-operator-"));
    dataDir = join(dir, "data");
    // info: the start-up lines (serving, metrics) are logged too
    served = await startServe(dataDir, { DOCFLEET_LOG_LEVEL: "info" }, { readyMs: 240_000 });
  }, 260_000);

  afterAll(async () => {
    await served?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("prints its version", async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, "apps/cli/package.json"), "utf8")) as {
      version: string;
    };
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it("refuses bad options in one line, exit 2, before opening any database", async () => {
    const fresh = join(dir, "never-created");
    for (const args of [
      ["keys", "create", "--tenant", "acme", "--scopes", "read,write", "--data-dir", fresh],
      ["keys", "create", "--tenant", "acme", "--scopes", "read", "--expires", "soon", "--data-dir", fresh],
      ["upload", EXAMPLES, "--multipart-threshold", "12 mibs"],
      ["search", "x", "--limit", "1000"],
      ["search", "x", "--field", "total"],
      ["documents", "--status", "BROKEN"],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(lines(r.stderr), args.join(" ")).toHaveLength(1);
    }
    expect(existsSync(fresh)).toBe(false);
  });

  it("a second serve on the same port or the same data folder stops at once: one line, exit 2", async () => {
    const port = new URL(served.url).port;
    const other = join(dir, "other-data");
    const samePort = await runCli(["serve", "--port", port, "--data-dir", other]);
    expect(samePort.code).toBe(2);
    expect(lines(samePort.stderr)).toEqual([
      `docfleet: port ${port} on 127.0.0.1 is in use (another docfleet serve?); pick another with --port or PORT`,
    ]);
    expect(existsSync(other)).toBe(false);

    const sameData = await runCli(["serve", "--port", "0", "--data-dir", dataDir]);
    expect(sameData.code).toBe(2);
    expect(lines(sameData.stderr)).toEqual([
      `docfleet: the data folder ${dataDir} is in use by docfleet serve (pid ${served.child.pid}, ${served.url}); stop it first, or give this one another --data-dir`,
    ]);
    const migrate = await runCli(["migrate", "--data-dir", dataDir]);
    expect(migrate.code).toBe(2);
    expect(lines(migrate.stderr)).toHaveLength(1);
    expect(migrate.stderr).toContain(`is in use by docfleet serve (pid ${served.child.pid}`);
  }, 120_000);

  it("keys of the local tenant are made, listed and revoked through the running serve; the key works at once", async () => {
    const keys = (...a: string[]) => runCli(["keys", ...a, "--data-dir", dataDir]);
    const created = await keys(
      "create",
      "--tenant",
      "local",
      "--scopes",
      "read",
      "--name",
      "reader",
      "--json",
    );
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as {
      id: string;
      prefix: string;
      secret: string;
      scopes: string[];
    };
    expect(key.scopes).toEqual(["read"]);
    // the key works while serve runs (it used to be written to a second copy of the database)
    const batches = await gql<{ batches: { edges: unknown[] } }>(
      served.url,
      "{ batches(first: 1) { edges { cursor } } }",
      {},
      key.secret,
    );
    expect(batches.batches.edges).toBeDefined();

    const list = await keys("list", "--json");
    expect(list.code, list.stderr).toBe(0);
    const listed = JSON.parse(list.stdout) as { id: string; status: string }[];
    expect(listed.map((k) => [k.id, k.status])).toContainEqual([key.id, "active"]);
    expect(list.stdout).not.toContain(key.secret);

    const revoked = await keys("revoke", key.prefix);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${key.prefix}`);
    await expect(
      gql(served.url, "{ batches(first: 1) { edges { cursor } } }", {}, key.secret),
    ).rejects.toThrow(/UNAUTHENTICATED/);

    // another tenant's keys would need the database serve holds: said at once, in one line
    const acme = await keys("create", "--tenant", "acme", "--scopes", "read");
    expect(acme.code).toBe(2);
    expect(lines(acme.stderr)).toHaveLength(1);
    expect(acme.stderr).toContain(`is in use by docfleet serve (pid ${served.child.pid}`);
    expect(acme.stderr).toContain('keys of tenant "acme"');
  }, 120_000);

  it("batches, documents, search with ids and facets, retry, watch with the batch's own time: all with --json", async () => {
    const up = await runCli(
      ["upload", EXAMPLES, ...api(), "--new-batch", "--name", "ops", "--json"],
      withKey(served),
    );
    expect(up.code, up.stderr).toBe(0);
    const { batchId } = JSON.parse(up.stdout) as { batchId: string };

    const batches = await runCli(["batches", ...api(), "--json"], withKey(served));
    expect(batches.code, batches.stderr).toBe(0);
    const b = (
      JSON.parse(batches.stdout) as {
        id: string;
        name: string;
        finished: boolean;
        counts: { total: number };
      }[]
    ).find((x) => x.id === batchId);
    expect(b).toMatchObject({ name: "ops", finished: true });
    const table = await runCli(["batches", ...api()], withKey(served));
    expect(table.stdout).toMatch(/^ID\s+NAME\s+CREATED\s+DOCS/);
    expect(table.stdout).toContain(batchId);

    const docs = await runCli(["documents", "--batch", batchId, ...api(), "--json"], withKey(served));
    expect(docs.code, docs.stderr).toBe(0);
    const d = JSON.parse(docs.stdout) as { total: number; documents: { id: string; status: string }[] };
    expect(d.total).toBe(b!.counts.total);
    const failed = await runCli(
      ["documents", "--status", "FAILED", "--batch", batchId, ...api(), "--json"],
      withKey(served),
    );
    const f = JSON.parse(failed.stdout) as { documents: { status: string }[] };
    expect(f.documents.every((x) => x.status === "FAILED")).toBe(true);

    const found = await runCli(
      ["search", "duck", ...api(), "--facet", "category", "--json"],
      withKey(served),
    );
    expect(found.code, found.stderr).toBe(0);
    const s = JSON.parse(found.stdout) as {
      hits: { document: { id: string; name: string } }[];
      facets: { field: string }[];
    };
    expect(s.hits.map((h) => h.document.name)).toContain("mixed.md");
    expect(s.facets.map((x) => x.field)).toEqual(["category"]);
    const text = await runCli(
      ["search", "duck", ...api(), "--mode", "VECTOR", "--limit", "3"],
      withKey(served),
    );
    // a vector hit has no highlight: its snippet is the start of its best chunk, never blank
    const blocks = text.stdout.split(/\n(?=\d+\. )/);
    for (const block of blocks) {
      const [, id, snippet] = block.split("\n");
      expect(id).toMatch(/^ {3}id [0-9a-f-]{36}$/);
      expect(snippet?.trim()).not.toBe("");
    }
    const narrowed = await runCli(
      ["search", "duck", ...api(), "--batch", "00000000-0000-4000-8000-00000000dead", "--json"],
      withKey(served),
    );
    expect((JSON.parse(narrowed.stdout) as { hits: unknown[] }).hits).toEqual([]);

    const retried = await runCli(
      ["retry", "00000000-0000-4000-8000-00000000dead", ...api(), "--json"],
      withKey(served),
    );
    expect(retried.code).toBe(4);
    expect(JSON.parse(retried.stdout)).toMatchObject({ queued: 0, results: [{ status: "NOT_FOUND" }] });
    const again = await runCli(["retry", "--batch", batchId, ...api(), "--json"], withKey(served));
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ queued: f.documents.length });

    // watch of a finished batch reports the batch's time (creation to last event), not its own
    const w = await runCli(["watch", batchId, ...api(), "--json"], withKey(served));
    expect(w.code, w.stderr).toBe(0);
    const r = JSON.parse(w.stdout) as { seconds: number; watchedSeconds: number };
    const created = await gql<{
      batch: { createdAt: string; documents: { edges: { node: { completedAt: string | null } }[] } };
    }>(
      served.url,
      "query($id: ID!) { batch(id: $id) { createdAt documents(first: 100) { edges { node { completedAt } } } } }",
      { id: batchId },
      served.apiKey,
    );
    const lastDone = Math.max(
      ...created.batch.documents.edges.map((e) => Date.parse(e.node.completedAt ?? created.batch.createdAt)),
    );
    expect(r.seconds).toBeGreaterThanOrEqual((lastDone - Date.parse(created.batch.createdAt)) / 1000 - 0.001);
    expect(typeof r.watchedSeconds).toBe("number");
  }, 300_000);

  it("an upload-only key uploads (exit 0) and says it cannot follow progress without read", async () => {
    const made = await runCli([
      "keys",
      "create",
      "--tenant",
      "local",
      "--scopes",
      "upload",
      "--name",
      "ingest",
      "--data-dir",
      dataDir,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const env = { DOCFLEET_API_KEY: made.stdout.trim() };
    for (const extra of [[], ["--no-wait", "--new-batch"], ["--watch", "--new-batch"]]) {
      const r = await runCli(["upload", EXAMPLES, ...api(), ...extra], env);
      expect(r.code, `${extra.join(" ")}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain('this API key has no "read" scope');
      expect(r.stdout).toMatch(/^batch [0-9a-f-]{36}: 7 files/);
    }
  }, 240_000);

  it("Ctrl-C stops a watch at once: exit 130, one line, no stack", async () => {
    // a batch that never finishes: one document registered, its bytes never sent
    const key = served.apiKey;
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      served.url,
      'mutation { createBatch(input: { name: "never finishes" }) { id } }',
      {},
      key,
    );
    await gql(
      served.url,
      'mutation($b: ID!) { requestUploads(batchId: $b, files: [{ name: "x.txt", size: 3, sha256: "' +
        "ab".repeat(32) +
        '" }]) { status } }',
      { b: createBatch.id },
      key,
    );
    const child = spawn(process.execPath, [BIN, "watch", createBatch.id, ...api()], {
      env: { ...process.env, DOCFLEET_API_KEY: key, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    const following = deferred();
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => {
      stderr += d;
      if (stderr.includes(`batch ${createBatch.id}: 0/0 done`)) following.resolve();
    });
    const exited = new Promise<number | null>((r) => child.once("close", (code) => r(code)));
    await following.promise;
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stdout).toBe("");
    expect(lines(stderr).at(-1)).toBe(
      `docfleet: interrupted: stopped watching batch ${createBatch.id} (it goes on processing)`,
    );
    expect(stderr).not.toMatch(/^\s+at /m);
  }, 60_000);

  it("serve's log (JSON off a terminal) names its endpoint and carries no redacted url", () => {
    const out = served.output();
    expect(out).toMatch(/^docfleet serving at http:\/\/127\.0\.0\.1:\d+\/graphql/m);
    const logged = out
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { msg: string; endpoint?: string });
    expect(logged.find((l) => l.msg === "docfleet gateway is serving")?.endpoint).toBe(
      `${served.url}/graphql`,
    );
    expect(out).not.toContain("[redacted]");
  });
});
