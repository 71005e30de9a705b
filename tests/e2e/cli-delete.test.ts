import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, runCli, type Served, startServe, withKey } from "../helpers/cli.ts";

// `docfleet delete` and `docfleet cancel` (issue 20) against one real `docfleet serve`: a processed
// batch deleted leaves no file of it in the data folder's object store and no row the API can read.

const EXAMPLES = join(ROOT, "examples", "documents");

/** Every file under `dir` (relative paths), none when it does not exist. */
async function files(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
  } catch {
    return [];
  }
}

describe("docfleet delete and cancel", () => {
  let dir: string;
  let served: Served;
  let dataDir: string;
  const api = () => ["--endpoint", served.url];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-cli-delete-"));
    dataDir = join(dir, "data");
    served = await startServe(dataDir, {}, { readyMs: 240_000 });
  }, 260_000);

  afterAll(async () => {
    await served?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("uploads and processes a batch, deletes one document then the batch: nothing of it is left", async () => {
    const up = await runCli(
      ["upload", EXAMPLES, ...api(), "--new-batch", "--name", "gone", "--json"],
      withKey(served),
    );
    expect(up.code, up.stderr).toBe(0);
    const { batchId } = JSON.parse(up.stdout) as { batchId: string };
    const docs = await runCli(["documents", "--batch", batchId, ...api(), "--json"], withKey(served));
    const ids = (JSON.parse(docs.stdout) as { documents: { id: string }[] }).documents.map((d) => d.id);
    expect(ids.length).toBeGreaterThan(1);
    const objectFiles = async () =>
      (await files(join(dataDir, "objects"))).filter((f) => ids.some((id) => f.includes(id)));
    expect((await objectFiles()).length).toBeGreaterThan(0);

    const before = await runCli(["search", "lorem ipsum", ...api(), "--json"], withKey(served));
    expect(before.stdout).toMatch(new RegExp(ids.join("|"))); // the index held the batch

    const one = await runCli(
      ["delete", ids[0]!, "00000000-0000-4000-8000-000000000000", ...api(), "--json"],
      withKey(served),
    );
    expect(one.code).toBe(4); // PARTIAL: one id was not found
    expect(JSON.parse(one.stdout)).toEqual({
      deleted: 1,
      notFound: ["00000000-0000-4000-8000-000000000000"],
    });
    expect((await objectFiles()).filter((f) => f.includes(ids[0]!))).toEqual([]);

    const cancel = await runCli(["cancel", batchId, ...api(), "--json"], withKey(served));
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(JSON.parse(cancel.stdout)).toEqual({ batchId, cancelled: 0 }); // every document had finished

    const all = await runCli(["delete", "--batch", batchId, ...api(), "--json"], withKey(served));
    expect(all.code, all.stderr).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual({ batchId, deleted: ids.length - 1, notFound: [] });
    expect(await objectFiles()).toEqual([]);
    const after = await runCli(["search", "lorem ipsum", ...api(), "--json"], withKey(served));
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).not.toMatch(new RegExp(ids.join("|")));
    const again = await runCli(["delete", "--batch", batchId, ...api()], withKey(served));
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain("NOT_FOUND");
  }, 600_000);
});
