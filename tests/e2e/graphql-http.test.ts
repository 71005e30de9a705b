import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gql, ROOT } from "../helpers/cli.ts";
import { test } from "../helpers/fixtures.ts";
import { followBatch } from "../helpers/graphql.ts";
import type { System } from "../helpers/system.ts";

const EXAMPLES = join(ROOT, "apps/cli/examples");

/** The whole flow a frontend runs, over HTTP, without the CLI. */
describe("GraphQL over HTTP: batch → uploads → processing → search", () => {
  let system: System;
  // This file's embedded system (`docfleet serve` in process), stopped after its last test.
  test.beforeAll(({ embedded }) => {
    system = embedded;
  });

  it("processes the bundled examples and searches them", async () => {
    const url = system.url;
    const names = (await readdir(EXAMPLES)).sort();
    const files = await Promise.all(
      names.map(async (name) => {
        const bytes = await readFile(join(EXAMPLES, name));
        return { name, bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
      }),
    );
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      url,
      'mutation { createBatch(input: { name: "examples" }) { id } }',
    );
    const { requestUploads } = await gql<{
      requestUploads: {
        status: string;
        documentId: string;
        target: { url: string; fields: { name: string; value: string }[] };
      }[];
    }>(
      url,
      `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
        status documentId target { url fields { name value } expiresAt } } }`,
      { b: createBatch.id, f: files.map((f) => ({ name: f.name, size: f.bytes.length, sha256: f.sha256 })) },
    );
    expect(requestUploads.map((r) => r.status)).toEqual(files.map(() => "UPLOAD"));

    // completing before uploading queues nothing
    const early = await gql<{ completeUploads: { status: string }[] }>(
      url,
      "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }",
      {
        ids: [requestUploads[0]!.documentId],
      },
    );
    expect(early.completeUploads[0]!.status).toBe("NOT_UPLOADED");

    for (const [i, r] of requestUploads.entries()) {
      const form = new FormData();
      for (const f of r.target.fields) form.append(f.name, f.value);
      form.append("file", new Blob([files[i]!.bytes]), files[i]!.name);
      const res = await fetch(r.target.url, { method: "POST", body: form });
      expect(res.status).toBe(204);
    }
    const ids = requestUploads.map((r) => r.documentId);
    const done = await gql<{ completeUploads: { status: string }[] }>(
      url,
      "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }",
      { ids },
    );
    expect(done.completeUploads.every((c) => c.status === "QUEUED")).toBe(true);
    const again = await gql<{ completeUploads: { status: string }[] }>(
      url,
      "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }",
      { ids },
    );
    expect(again.completeUploads.every((c) => c.status === "ALREADY_QUEUED")).toBe(true);

    await followBatch(url, createBatch.id, "the batch finished", (m) => m.finished);
    const { batch } = await gql<{
      batch: { finished: boolean; counts: { total: number; completed: number; failed: number } };
    }>(url, "query($id: ID!) { batch(id: $id) { finished counts { total completed failed } } }", {
      id: createBatch.id,
    });
    expect(batch.counts).toEqual({ total: files.length, completed: files.length, failed: 0 });

    const { document } = await gql<{
      document: {
        status: string;
        category: string;
        detectedType: string;
        fields: { name: string; value: string }[];
        text: string;
      };
    }>(
      url,
      "query($id: ID!) { document(id: $id) { status category detectedType text fields { name value } } }",
      { id: requestUploads[names.indexOf("invoice-acme.html")]!.documentId },
    );
    expect(document).toMatchObject({ status: "COMPLETED", category: "invoice", detectedType: "html" });
    expect(document.text).toContain("INV-2024-0042");
    expect(document.fields).toContainEqual(expect.objectContaining({ name: "total", value: "336.00" }));

    for (const mode of ["KEYWORD", "VECTOR", "HYBRID"]) {
      const { search } = await gql<{
        search: { hits: { score: number; highlight: string | null; document: { name: string } }[] };
      }>(
        url,
        "query($q: String!, $m: SearchMode) { search(query: $q, mode: $m, first: 3) { hits { score highlight document { name } } } }",
        { q: "termination of the service agreement", m: mode },
      );
      expect(search.hits[0]?.document.name, mode).toBe("service-agreement.md");
    }
    const { search } = await gql<{ search: { hits: { document: { name: string } }[] } }>(
      url,
      'query { search(query: "total", mode: KEYWORD, filter: { category: ["receipt"] }) { hits { document { name } } } }',
    );
    expect(search.hits.map((h) => h.document.name)).toEqual(["receipt-cafe.txt"]);

    // the same content again is a duplicate of the existing document
    const dup = await gql<{ requestUploads: { status: string; documentId: string }[] }>(
      url,
      "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status documentId } }",
      {
        b: createBatch.id,
        f: [{ name: "copy.html", size: files[0]!.bytes.length, sha256: files[0]!.sha256 }],
      },
    );
    expect(dup.requestUploads[0]).toEqual({ status: "DUPLICATE", documentId: requestUploads[0]!.documentId });
  });

  it("answers bad input with codes, not crashes", async () => {
    const res = await fetch(`${system.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: 'mutation { requestUploads(batchId: "nope", files: []) { status } }' }),
    });
    const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe("NOT_FOUND");
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      system.url,
      'mutation { createBatch(input: { name: "bad" }) { id } }',
    );
    const r = await gql<{ requestUploads: { status: string; code: string }[] }>(
      system.url,
      'mutation($b: ID!) { requestUploads(batchId: $b, files: [{ name: "x", size: 1, sha256: "zz" }, { name: "big", size: 2000000000, sha256: "' +
        "a".repeat(64) +
        '" }]) { status code } }',
      { b: createBatch.id },
    );
    expect(r.requestUploads).toEqual([
      { status: "REJECTED", code: "BAD_REQUEST" },
      { status: "REJECTED", code: "TOO_LARGE" },
    ]);
    const { document } = await gql<{ document: null }>(
      system.url,
      'query { document(id: "not-a-uuid") { id } }',
    );
    expect(document).toBeNull();
    expect((await fetch(`${system.url}/health`)).status).toBe(200);
  });
});
