import { createHash, randomUUID } from "node:crypto";
import type { Scope } from "@docfleet/pipeline";
import { describe, expect } from "vitest";
import { test } from "../helpers/fixtures.ts";
import { followBatch, sseMessages } from "../helpers/graphql.ts";

// Issue 18's schema: Relay object identification (`node(id)`, tenant-scoped and scope-checked like
// every read), Relay `pageInfo` on search with cursors that page through everything exactly once, page
// caps refused with a code instead of cut silently, and progress events typed by an enum whose
// `stage` is the stage that finished. Two tenants on one embedded system (workers running).

interface Gql<T> {
  status: number;
  data?: T | null;
  errors?: {
    message: string;
    extensions?: { code?: string; maxPageSize?: number; missingScopes?: string[] };
  }[];
}

const WORD = "harbourmaster";
const DOCS_A = 12;

describe("GraphQL schema: node(id), pageInfo, page caps, progress event kinds", () => {
  let url: string;
  const key = {} as Record<"aRead" | "aUpload" | "aAdmin" | "bRead" | "bAdmin", string>;
  const A = { batchId: "", docIds: [] as string[] };
  const B = { batchId: "", docIds: [] as string[] };

  async function gql<T>(bearer: string, query: string, variables?: Record<string, unknown>): Promise<Gql<T>> {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...((await res.json()) as Omit<Gql<T>, "status">) };
  }

  async function ok<T>(bearer: string, query: string, variables?: Record<string, unknown>): Promise<T> {
    const r = await gql<T>(bearer, query, variables);
    expect(r.errors ?? []).toEqual([]);
    return r.data!;
  }

  /** A batch of text files uploaded by `bearer`'s tenant, processed to the end. */
  async function uploadBatch(bearer: string, files: { name: string; text: string }[]) {
    const { createBatch } = await ok<{ createBatch: { id: string } }>(
      bearer,
      "mutation($n: String!) { createBatch(input: { name: $n }) { id } }",
      { n: `schema-${randomUUID()}` },
    );
    const bytes = files.map((f) => Buffer.from(f.text));
    const { requestUploads } = await ok<{
      requestUploads: {
        status: string;
        documentId: string;
        target: { url: string; fields: { name: string; value: string }[] };
      }[];
    }>(
      bearer,
      `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
        status documentId target { url fields { name value } } } }`,
      {
        b: createBatch.id,
        f: files.map((f, i) => ({
          name: f.name,
          size: bytes[i]!.length,
          sha256: createHash("sha256").update(bytes[i]!).digest("hex"),
          contentType: "text/plain",
        })),
      },
    );
    expect(requestUploads.map((r) => r.status)).toEqual(files.map(() => "UPLOAD"));
    await Promise.all(
      requestUploads.map(async (r, i) => {
        const form = new FormData();
        for (const f of r.target.fields) form.append(f.name, f.value);
        form.append("file", new Blob([new Uint8Array(bytes[i]!)]), files[i]!.name);
        const res = await fetch(r.target.url, { method: "POST", body: form });
        expect(res.status).toBeLessThan(300);
      }),
    );
    const ids = requestUploads.map((r) => r.documentId);
    await ok(bearer, "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }", { ids });
    const done = await followBatch(url, createBatch.id, "the batch finished", (m) => m.finished, {
      headers: { authorization: `Bearer ${bearer}` },
    });
    expect(done.counts.completed).toBe(files.length);
    return { batchId: createBatch.id, docIds: ids };
  }

  test.beforeAll(async ({ embedded }) => {
    url = embedded.url;
    const keys = embedded.app.services.keys;
    const tenant = async (name: string) => (await keys.tenantByName(name, { create: true }))!.id;
    const a = await tenant(`schema-a-${randomUUID()}`);
    const b = await tenant(`schema-b-${randomUUID()}`);
    const make = async (tenantId: string, scopes: Scope[]) =>
      (await keys.create({ tenantId, name: scopes.join("+"), scopes })).secret;
    key.aRead = await make(a, ["read"]);
    key.aUpload = await make(a, ["upload"]);
    key.aAdmin = await make(a, ["admin"]);
    key.bRead = await make(b, ["read"]);
    key.bAdmin = await make(b, ["admin"]);
    Object.assign(
      A,
      await uploadBatch(
        key.aAdmin,
        Array.from({ length: DOCS_A }, (_, i) => ({
          name: `note-${i}.txt`,
          text: `Note ${i}: the ${WORD} logged vessel number ${i * 7919} arriving at the quay.`,
        })),
      ),
    );
    Object.assign(B, await uploadBatch(key.bAdmin, [{ name: "b.txt", text: `The ${WORD} of tenant B.` }]));
  }, 120_000);

  const NODE = `query($id: ID!) { node(id: $id) { __typename id
    ... on Document { name status batch { id } }
    ... on Batch { name counts { total completed } } } }`;

  test("node(id) finds a document and a batch by the ids every other field uses", async () => {
    type Node = {
      __typename: string;
      id: string;
      name: string;
      batch?: { id: string };
      counts?: { total: number };
    };
    const doc = await ok<{ node: Node }>(key.aRead, NODE, { id: A.docIds[0] });
    expect(doc.node).toMatchObject({
      __typename: "Document",
      id: A.docIds[0],
      name: "note-0.txt",
      status: "COMPLETED",
    });
    expect(doc.node.batch?.id).toBe(A.batchId);
    const batch = await ok<{ node: Node }>(key.aRead, NODE, { id: A.batchId });
    expect(batch.node).toMatchObject({
      __typename: "Batch",
      id: A.batchId,
      counts: { total: DOCS_A, completed: DOCS_A },
    });
    // The same object as document(id) answers, field for field.
    const direct = await ok<{ document: { id: string; name: string } }>(
      key.aRead,
      "query($id: ID!) { document(id: $id) { id name } }",
      { id: A.docIds[0] },
    );
    expect(direct.document).toEqual({ id: doc.node.id, name: doc.node.name });
  });

  test("node(id) is tenant-scoped: another tenant's ids, unknown and malformed ids are null, not errors", async () => {
    for (const id of [A.docIds[1], A.batchId]) {
      const r = await ok<{ node: unknown }>(key.bRead, NODE, { id });
      expect(r.node, `tenant B asking for A's ${id}`).toBeNull();
    }
    const own = await ok<{ node: { id: string } }>(key.bRead, NODE, { id: B.docIds[0] });
    expect(own.node.id).toBe(B.docIds[0]);
    for (const id of [randomUUID(), "not-a-uuid", ""]) {
      const r = await ok<{ node: unknown }>(key.aRead, NODE, { id });
      expect(r.node, JSON.stringify(id)).toBeNull();
    }
  });

  test("node(id) needs the read scope", async () => {
    const r = await gql<{ node: unknown }>(key.aUpload, NODE, { id: A.docIds[0] });
    expect(r.data?.node ?? null).toBeNull();
    expect(r.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    expect(r.errors?.[0]?.extensions?.missingScopes).toEqual(["read"]);
  });

  test("search pages through every match exactly once with pageInfo cursors", async () => {
    type Page = {
      search: {
        totalCount: number;
        edges: { cursor: string; node: { document: { id: string } } }[];
        pageInfo: {
          hasNextPage: boolean;
          hasPreviousPage: boolean;
          startCursor: string | null;
          endCursor: string | null;
        };
        hasNextPage: boolean;
        endCursor: string | null;
      };
    };
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { search }: Page = await ok<Page>(
        key.aRead,
        `query($q: String!, $after: String) { search(query: $q, mode: KEYWORD, first: 5, after: $after) {
          totalCount edges { cursor node { document { id } } }
          pageInfo { hasNextPage hasPreviousPage startCursor endCursor } hasNextPage endCursor } }`,
        { q: WORD, after },
      );
      pages++;
      expect(search.totalCount).toBe(DOCS_A);
      expect(search.pageInfo.hasPreviousPage).toBe(pages > 1);
      expect(search.pageInfo.startCursor).toBe(search.edges[0]?.cursor ?? null);
      expect(search.pageInfo.endCursor).toBe(search.edges.at(-1)?.cursor ?? null);
      // The deprecated top-level fields say the same for one more release.
      expect({ hasNextPage: search.hasNextPage, endCursor: search.endCursor }).toEqual({
        hasNextPage: search.pageInfo.hasNextPage,
        endCursor: search.pageInfo.endCursor,
      });
      seen.push(...search.edges.map((e) => e.node.document.id));
      if (!search.pageInfo.hasNextPage) break;
      after = search.pageInfo.endCursor;
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(DOCS_A);
    expect(new Set(seen)).toEqual(new Set(A.docIds)); // tenant B's match never shows
  });

  test("similar answers pageInfo too", async () => {
    const r = await ok<{
      similar: { edges: unknown[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean } };
    }>(
      key.aRead,
      "query($id: ID!) { similar(documentId: $id, first: 3) { edges { cursor } pageInfo { hasNextPage hasPreviousPage } } }",
      { id: A.docIds[0] },
    );
    expect(r.similar.edges).toHaveLength(3);
    expect(r.similar.pageInfo).toEqual({ hasNextPage: true, hasPreviousPage: false });
  });

  test("pages over the cap are refused with BAD_REQUEST, never cut silently", async () => {
    const refused = {
      "documents(first: 500)": "{ documents(first: 500) { edges { cursor } } }",
      "documents(last: 101)": "{ documents(last: 101) { edges { cursor } } }",
      "batches(first: 101)": "{ batches(first: 101) { edges { cursor } } }",
      "batch.documents(first: 101)": `{ batch(id: "${A.batchId}") { documents(first: 101) { totalCount } } }`,
      "search(first: 101)": `{ search(query: "${WORD}", first: 101) { totalCount } }`,
      "quarantine(sample: 101)": "{ quarantine(sample: 101) { code } }",
    };
    for (const [what, query] of Object.entries(refused)) {
      const r = await gql(key.aRead, query);
      expect(
        r.errors?.map((e) => e.extensions?.code),
        what,
      ).toEqual(["BAD_REQUEST"]);
      expect(r.errors?.[0]?.message, what).toMatch(/at most 100|1\.\.100/);
    }
    const capped = await gql(key.aRead, "{ documents(first: 500) { edges { cursor } } }");
    expect(capped.errors?.[0]?.extensions?.maxPageSize).toBe(100);
    // At the cap: answered whole.
    const full = await ok<{ documents: { totalCount: number; edges: unknown[] } }>(
      key.aRead,
      "{ documents(first: 100) { totalCount edges { cursor } } }",
    );
    expect(full.documents.edges).toHaveLength(full.documents.totalCount);
  });

  test("progress events carry a kind from the enum, and a completion names the stage that finished", async () => {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        authorization: `Bearer ${key.aRead}`,
      },
      body: JSON.stringify({
        query: `subscription($id: ID!) { batchProgress(id: $id, after: 0) {
          finished events { seq kind type documentId stage nextStage status } } }`,
        variables: { id: A.batchId },
      }),
    });
    type Event = {
      seq: number;
      kind: string;
      type: string;
      documentId: string | null;
      stage: string | null;
      nextStage: string | null;
      status: string | null;
    };
    const events: Event[] = [];
    for await (const m of sseMessages<{ data?: { batchProgress: { finished: boolean; events: Event[] } } }>(
      res,
    )) {
      events.push(...(m.data?.batchProgress.events ?? []));
      // The replay of the finished batch's log: done at its last completion.
      if (events.filter((e) => e.kind === "DOCUMENT_COMPLETED").length === DOCS_A) break;
    }
    // The deprecated dotted `type` is the kind's old spelling.
    for (const e of events) expect(e.type.replace(/\./g, "_").toUpperCase()).toBe(e.kind);
    expect(events[0]!.kind).toBe("DOCUMENTS_REQUESTED");
    const perDoc = new Map<string, Event[]>();
    for (const e of events)
      if (e.documentId) perDoc.set(e.documentId, [...(perDoc.get(e.documentId) ?? []), e]);
    expect([...perDoc.keys()].sort()).toEqual([...A.docIds].sort());
    for (const [id, list] of perDoc) {
      const finished = list
        .filter((e) => e.kind === "STAGE_COMPLETED" || e.kind === "DOCUMENT_COMPLETED")
        .map((e) => `${e.kind} ${e.stage}->${e.nextStage ?? "-"} ${e.status}`);
      expect(finished, id).toEqual([
        "STAGE_COMPLETED PARSE->UNDERSTAND QUEUED",
        "STAGE_COMPLETED UNDERSTAND->EMBED QUEUED",
        "STAGE_COMPLETED EMBED->INDEX QUEUED",
        "DOCUMENT_COMPLETED INDEX->- COMPLETED",
      ]);
      const started = list.filter((e) => e.kind === "STAGE_STARTED").map((e) => e.stage);
      expect(started, id).toEqual(["PARSE", "UNDERSTAND", "EMBED", "INDEX"]);
      expect(list[0]).toMatchObject({ kind: "DOCUMENT_QUEUED", stage: "PARSE" });
    }
  });
});
