import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CORPUS, gql } from "../helpers/cli.ts";
import { test } from "../helpers/fixtures.ts";
import { completeUploads, followBatch, uploadFiles } from "../helpers/graphql.ts";
import type { System } from "../helpers/system.ts";

interface Field {
  name: string;
  value: string;
  confidence: number;
  box: number[] | null;
  source: string;
}

/** A scanned receipt through GraphQL over HTTP: OCR, fields with boxes, a thumbnail, corrections, reprocess. */
describe("GraphQL over HTTP: understanding a scanned receipt", () => {
  let system: System;
  let url: string;
  let documentId: string;
  // This file's embedded system (`docfleet serve` in process), stopped after its last test.
  test.beforeAll(({ embedded }) => {
    system = embedded;
    url = system.url;
  });

  /** GraphQL errors' codes instead of a throw. */
  async function codes(query: string, variables?: Record<string, unknown>): Promise<string[]> {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
    return (body.errors ?? []).map((e) => e.extensions?.code ?? "NONE");
  }

  it("OCRs a photographed receipt into the receipt category's fields, with boxes and a thumbnail", async () => {
    const { categories } = await gql<{
      categories: { name: string; fields: { properties: object }; version: number }[];
    }>(url, "{ categories { name fields version } }");
    const receipt = categories.find((c) => c.name === "receipt")!;
    expect(Object.keys(receipt.fields.properties).sort()).toEqual(["address", "company", "date", "total"]);

    const bytes = await readFile(join(CORPUS, "sroie/img/000.jpg"));
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      url,
      'mutation { createBatch(input: { name: "receipts", categories: ["receipt", "invoice", "letter"] }) { id } }',
    );
    // The name lies about the type: detection reads the bytes.
    documentId = (await uploadFiles(url, createBatch.id, [{ name: "scan.pdf", bytes }]))[0]!;
    await completeUploads(url, [documentId]);
    await followBatch(url, createBatch.id, "the batch finished", (m) => m.finished, { timeoutMs: 100_000 });
    const { document } = await gql<{
      document: {
        status: string;
        detectedType: string;
        category: string;
        categoryVersion: number;
        fields: Field[];
        thumbnailUrl: string;
        provenance: Record<string, Record<string, unknown>>;
        text: string;
      };
    }>(
      url,
      `query($id: ID!) { document(id: $id) { status detectedType category categoryVersion text thumbnailUrl provenance
        fields { name value confidence box source } } }`,
      { id: documentId },
    );
    expect(document).toMatchObject({
      status: "COMPLETED",
      detectedType: "jpg",
      category: "receipt",
      categoryVersion: 1,
    });
    expect(document.text.toUpperCase()).toContain("TAMAN DAYA");
    expect(document.provenance.PARSE).toMatchObject({ ocrPages: [1], words: true });
    const date = document.fields.find((f) => f.name === "date");
    // The receipt says 25/12/2018; OCR of a photo may misread a digit, the field's shape must hold.
    expect(date).toMatchObject({ value: expect.stringMatching(/^2018-12-\d\d$/), source: "MODEL" });
    expect(date!.box).toHaveLength(4);
    const thumb = await fetch(document.thumbnailUrl);
    expect(thumb.status).toBe(200);
    const webp = Buffer.from(await thumb.arrayBuffer());
    expect(webp.subarray(0, 4).toString("latin1")).toBe("RIFF");
    expect(webp.subarray(8, 12).toString("latin1")).toBe("WEBP");
  }, 120_000);

  it("takes a person's correction, lists documents needing review, and reprocesses on request", async () => {
    const { correctDocument } = await gql<{ correctDocument: { needsReview: boolean; fields: Field[] } }>(
      url,
      `mutation($id: ID!) { correctDocument(id: $id, fields: [{ name: "total", value: "9.00", currency: "MYR" }]) {
        needsReview fields { name value confidence source } } }`,
      { id: documentId },
    );
    expect(correctDocument.needsReview).toBe(false);
    expect(correctDocument.fields.find((f) => f.name === "total")).toMatchObject({
      value: "9.00",
      confidence: 1,
      source: "HUMAN",
    });
    expect(
      await codes(
        `mutation($id: ID!) { correctDocument(id: $id, fields: [{ name: "total", value: "nine" }]) { id } }`,
        {
          id: documentId,
        },
      ),
    ).toEqual(["BAD_REQUEST"]);

    const { documents } = await gql<{ documents: { edges: { node: { id: string } }[] } }>(
      url,
      "{ documents(filter: { needsReview: false }) { edges { node { id } } } }",
    );
    expect(documents.edges.map((e) => e.node.id)).toContain(documentId);

    const { reprocess } = await gql<{ reprocess: { queued: number; upToDate: number } }>(
      url,
      `mutation($id: ID!) { reprocess(filter: { ids: [$id] }, stages: [UNDERSTAND]) { queued upToDate } }`,
      { id: documentId },
    );
    expect(reprocess).toEqual({ queued: 0, upToDate: 1 });
  });

  it("defines and changes categories, with codes for mistakes", async () => {
    const { defineCategory } = await gql<{ defineCategory: { name: string; version: number } }>(
      url,
      `mutation { defineCategory(input: { name: "parking_ticket", description: "A fine for parking",
        fields: { type: "object", properties: { plate: { type: "string" }, fine: { type: "string", format: "money" } } } }) {
        name version } }`,
    );
    expect(defineCategory).toEqual({ name: "parking_ticket", version: 1 });
    const { updateCategory } = await gql<{ updateCategory: { version: number } }>(
      url,
      `mutation { updateCategory(name: "parking_ticket", change: { keywords: ["parking", "fine", "penalty notice"] }) { version } }`,
    );
    expect(updateCategory.version).toBe(2);
    expect(
      await codes(
        `mutation { defineCategory(input: { name: "parking_ticket", description: "again" }) { name } }`,
      ),
    ).toEqual(["CONFLICT"]);
    expect(
      await codes(
        `mutation { defineCategory(input: { name: "x", description: "y", fields: { type: "object", properties: { a: { type: "blob" } } } }) { name } }`,
      ),
    ).toEqual(["BAD_REQUEST"]);
  });

  it("searches with filters and facets, and finds similar documents", async () => {
    type Res = {
      search: {
        totalCount: number;
        hits: { highlights: string[]; matchingChunk: { text: string }; document: { id: string } }[];
        facets: { field: string; buckets: { value: string; count: number }[] }[];
      };
    };
    const q = `query($q: String!, $mode: SearchMode, $f: SearchFilter, $facets: [String!]) {
      search(query: $q, mode: $mode, filter: $f, facets: $facets) {
        totalCount hits { highlights matchingChunk { text } document { id } } facets { field buckets { value count } } } }`;
    const all = await gql<Res>(url, q, {
      q: "taman daya",
      mode: "KEYWORD",
      facets: ["category", "field:total"],
    });
    expect(all.search.hits.map((h) => h.document.id)).toEqual([documentId]);
    expect(all.search.hits[0]!.highlights.join(" ")).toMatch(/<mark>/i);
    expect(all.search.facets[0]).toEqual({ field: "category", buckets: [{ value: "receipt", count: 1 }] });
    // The person's correction of the total is what search filters on.
    expect(all.search.facets[1]).toEqual({ field: "field:total", buckets: [{ value: "9.00", count: 1 }] });
    for (const [f, n] of [
      [{ fields: [{ name: "total", op: "GTE", value: "5" }] }, 1],
      [{ fields: [{ name: "total", op: "GT", value: "9" }] }, 0],
      [{ dateFrom: "2019-01-01" }, 0],
      [{ category: ["invoice"] }, 0],
    ] as const) {
      for (const mode of ["KEYWORD", "HYBRID"]) {
        const res = await gql<Res>(url, q, { q: "taman daya", mode, f });
        expect({ f, mode, n: res.search.hits.length }).toEqual({ f, mode, n });
      }
    }
    expect(await codes(`{ search(query: "x", facets: ["colour"]) { totalCount } }`)).toEqual(["BAD_REQUEST"]);
    expect(await codes(`{ search(query: "x", filter: { dateFrom: "yesterday" }) { totalCount } }`)).toEqual([
      "BAD_REQUEST",
    ]);
    const { similar } = await gql<{ similar: { hits: { document: { id: string } }[] } }>(
      url,
      "query($id: ID!) { similar(documentId: $id) { hits { document { id } } } }",
      { id: documentId },
    );
    expect(similar.hits.map((h) => h.document.id)).not.toContain(documentId);
  });
});
