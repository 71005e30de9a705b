import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CORPUS, gql, runCli, type Served, startServe, withKey } from "../helpers/cli.ts";

// `docfleet serve` as a real process, the whole formats corpus through `docfleet upload`.
describe("docfleet serve + upload over ../shared/corpus/formats", () => {
  let dir: string;
  let served: Served;
  let summary: {
    batchId: string;
    files: number;
    uploaded: number;
    duplicates: number;
    rejected: unknown[];
    uploadFailed: unknown[];
    completed: number;
    failed: number;
    failuresByCode: Record<string, number>;
    seconds: number;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-e2e-"));
    served = await startServe(join(dir, "data"));
    const res = await runCli(
      ["upload", join(CORPUS, "formats"), "--endpoint", served.url, "--json", "--name", "formats"],
      withKey(served),
    );
    expect(res.stderr).not.toMatch(/unexpected error/);
    summary = JSON.parse(res.stdout);
  }, 300_000);

  afterAll(async () => {
    const code = await served?.stop();
    expect(code).toBe(0);
    await rm(dir, { recursive: true, force: true });
  });

  it("ends every document COMPLETED or FAILED with a code, none stuck", async () => {
    expect(summary.rejected).toEqual([]);
    expect(summary.uploadFailed).toEqual([]);
    expect(summary.uploaded + summary.duplicates).toBe(summary.files);
    expect(summary.completed + summary.failed).toBe(summary.uploaded);
    expect(summary.completed).toBeGreaterThan(summary.uploaded / 2);
    const failedWithCode = Object.values(summary.failuresByCode).reduce((a, b) => a + b, 0);
    expect(failedWithCode).toBe(summary.failed);
    expect(Object.keys(summary.failuresByCode)).not.toContain("UNKNOWN");
    expect(Object.keys(summary.failuresByCode)).not.toContain("INTERNAL");
    const { batch } = await gql<{
      batch: { finished: boolean; counts: Record<string, number>; stages: Record<string, number> };
    }>(
      served.url,
      "query($id: ID!) { batch(id: $id) { finished counts { queued processing pendingUpload } stages { parse understand embed index } } }",
      { id: summary.batchId },
      served.apiKey,
    );
    expect(batch.finished).toBe(true);
    expect(batch.counts).toEqual({ queued: 0, processing: 0, pendingUpload: 0 });
    expect(batch.stages).toEqual({ parse: 0, understand: 0, embed: 0, index: 0 });
    console.log(
      `formats corpus: ${summary.files} files, ${summary.uploaded} uploaded, ${summary.duplicates} duplicates, ` +
        `${summary.completed} completed, ${summary.failed} failed ${JSON.stringify(summary.failuresByCode)} in ${summary.seconds.toFixed(1)} s`,
    );
  });

  it("finds an expected document by keyword and by hybrid search through the CLI", async () => {
    for (const mode of ["KEYWORD", "HYBRID"]) {
      const res = await runCli(
        [
          "search",
          "duck waterfowl species",
          "--mode",
          mode,
          "--endpoint",
          served.url,
          "--json",
          "--limit",
          "5",
        ],
        withKey(served),
      );
      expect(res.code).toBe(0);
      const { hits } = JSON.parse(res.stdout) as { hits: { document: { id: string; name: string } }[] };
      expect(hits.every((h) => typeof h.document.id === "string")).toBe(true);
      expect(hits.slice(0, 3).map((h) => h.document.name)).toContain("html/wiki_duck.html");
    }
  });

  it("uploading the same folder again yields only duplicates", async () => {
    const res = await runCli(
      ["upload", join(CORPUS, "formats", "csv"), "--endpoint", served.url, "--json"],
      withKey(served),
    );
    expect(res.code).toBe(0);
    const again = JSON.parse(res.stdout);
    expect(again.uploaded).toBe(0);
    expect(again.duplicates).toBe(again.files);
  });
});
