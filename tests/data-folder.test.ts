import { createHash } from "node:crypto";
import { chmod, lstat, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createLogger } from "@docfleet/pipeline";
import { afterAll, describe, expect, it } from "vitest";
import { inProcessSystem } from "./helpers/system.ts";

/**
 * The embedded data folder is its owner's only (issue 15, hole 7: the folder was 0755, 968 of 1,053
 * database files 0666, stored originals 0644, beside the admin key and the signing secret): a start
 * creates everything 0700/0600, and one on a folder an earlier version left open closes it, with a
 * warning. The folder holds real PGlite files, a stored original, the admin key and the signing secret.
 */
describe("the embedded data folder's permissions", () => {
  let root: string;
  afterAll(() => rm(root, { recursive: true, force: true }));

  /** Every path under `dir` whose mode lets group or others in, with that mode. */
  async function open(dir: string): Promise<string[]> {
    const found: string[] = [];
    const walk = async (path: string) => {
      const st = await lstat(path);
      if (st.isSymbolicLink()) return;
      if ((st.mode & 0o077) !== 0) found.push(`${path} ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const n of await readdir(path)) await walk(join(path, n));
    };
    await walk(dir);
    return found;
  }
  /** Every file under `dir`. */
  async function files(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
      if (e.isFile()) out.push(join(e.parentPath, e.name));
    return out;
  }

  /** Starts docfleet on `data` with its warnings captured, stores one original, stops. */
  async function runOnce(data: string) {
    const warnings: { msg: string; fixed?: number }[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split("\n")) if (line) warnings.push(JSON.parse(line));
        done();
      },
    });
    const system = await inProcessSystem(data, {
      overrides: { log: createLogger("warn", "docfleet", sink) },
      adminKeyFile: join(data, "admin-key"),
    });
    try {
      const post = async (query: string, variables: Record<string, unknown> = {}) => {
        const res = await fetch(`${system.url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query, variables }),
        });
        return ((await res.json()) as { data: Record<string, unknown> }).data;
      };
      const { createBatch } = await post('mutation { createBatch(input: { name: "perm" }) { id } }');
      const bytes = Buffer.from(`a private letter ${Math.random()}`);
      const { requestUploads } = await post(
        "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { target { url fields { name value } } } }",
        {
          b: (createBatch as { id: string }).id,
          f: [
            {
              name: "letter.txt",
              size: bytes.length,
              sha256: createHash("sha256").update(bytes).digest("hex"),
            },
          ],
        },
      );
      const target = (
        requestUploads as { target: { url: string; fields: { name: string; value: string }[] } }[]
      )[0]!.target;
      const form = new FormData();
      for (const f of target.fields) form.append(f.name, f.value);
      form.append("file", new Blob([new Uint8Array(bytes)]), "letter.txt");
      expect((await fetch(target.url, { method: "POST", body: form })).status).toBeLessThan(300);
    } finally {
      await system.stop();
    }
    return warnings;
  }

  it("creates the folder 0700 and every file in it 0600: database, stored original, admin key, signing secret", async () => {
    root = await mkdtemp(join(tmpdir(), "docfleet-perm-"));
    const data = join(root, "data");
    process.umask(0o022); // what a shell gives: the start must not depend on it
    expect(await runOnce(data)).toEqual([]);
    expect((await stat(data)).mode & 0o777).toBe(0o700);
    const all = await files(data);
    for (const must of ["admin-key", "signing-secret"]) expect(all).toContain(join(data, must));
    expect(all.some((f) => f.startsWith(join(data, "db")))).toBe(true);
    expect(all.filter((f) => f.startsWith(join(data, "objects"))).length).toBeGreaterThan(0);
    expect(await open(data)).toEqual([]);
  }, 120_000);

  it("closes a folder an earlier version left open, and says so", async () => {
    const data = join(root, "data");
    // What the earlier version left: folders 0755, database files 0666, everything else 0644.
    for (const f of await files(data)) await chmod(f, f.startsWith(join(data, "db")) ? 0o666 : 0o644);
    for (const e of await readdir(data, { withFileTypes: true, recursive: true }))
      if (e.isDirectory()) await chmod(join(e.parentPath, e.name), 0o755);
    await chmod(data, 0o755);
    const before = (await open(data)).length;
    expect(before).toBeGreaterThan(10);
    process.umask(0o022);
    const warnings = await runOnce(data);
    const warning = warnings.find((w) => w.msg.includes("open to other local users"));
    expect(warning?.fixed).toBe(before);
    expect(await open(data)).toEqual([]);
  }, 120_000);
});
