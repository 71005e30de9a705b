import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { toSchema } from "@docfleet/gateway";
import { ApiKeys } from "@docfleet/pipeline";
import { createClient } from "graphql-ws";
import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { CORPUS } from "../helpers/cli.ts";
import { test } from "../helpers/fixtures.ts";
import { sseMessages } from "../helpers/graphql.ts";
import { mulberry32 } from "../helpers/random.ts";
import type { System } from "../helpers/system.ts";

/**
 * Two tenants on one embedded system (workers running, so documents are parsed, understood, embedded
 * and indexed), with overlapping content: the same words everywhere, two byte-identical files (dedupe
 * is per tenant, so each tenant gets its own document), a file name both use. Then a seeded random
 * walk: a random tenant sends a random request through every Query, Mutation and Subscription field
 * of the schema (enumerated from it, so a new field fails this test until it is covered here), every
 * search mode, own and the other tenant's ids, both subscription transports, and every kind of signed
 * URL (fetched, and with its key edited to the other tenant's). Every answer is scanned for anything
 * that belongs only to the other tenant (ids, names, batch names, category names, words of its
 * documents): 0 leaks. Cross-tenant ids answer NOT_FOUND (or null / NOT_FOUND per item), never
 * FORBIDDEN, which would confirm that they exist.
 */

const ROUNDS = Number(process.env.TENANT_ISOLATION_ROUNDS ?? 200);
const SEED = Number(process.env.TENANT_ISOLATION_SEED ?? Date.now() % 2 ** 31);

interface Tenant {
  label: "A" | "B";
  id: string;
  key: string;
  /** The walk key's id and listed prefix (revokeApiKey takes either, or the key itself). */
  keyId: string;
  keyPrefix: string;
  tag: string;
  batchId: string;
  /** Where uploads that are never sent go (so the main batch finishes). */
  pendingBatchId: string;
  pendingDocId: string;
  /** Documents of the main batch, with their bytes. */
  docs: Map<string, { name: string; bytes: Buffer }>;
  /** Every document id the tenant has (grows as the walk registers files). */
  docIds: Set<string>;
  batchIds: Set<string>;
  /** The tenant's own category (not one of the defaults both have). */
  category: string;
  /** Words only this tenant's documents hold. */
  secrets: string[];
  /** Strings that belong to this tenant only: none may ever reach the other. */
  owned: Set<string>;
  pdfDocId: string;
  /** sha256 of a file only this tenant has. */
  uniqueSha: { sha256: string; size: number };
}

interface Reply<T = Record<string, unknown>> {
  status: number;
  data: T | null | undefined;
  errors: { message: string; extensions?: { code?: string } }[];
  codes: (string | undefined)[];
  text: string;
}

const SHARED_WORDS = ["invoice", "harbour", "container", "payment", "delivery", "quarterly", "total"];
const DOC = `id name sha256 size status category errorCode needsReview batch { id name }
  thumbnailUrl downloadUrl text fields { name value } provenance`;

describe("tenant isolation: two tenants, randomized access through every field", () => {
  let system: System;
  let url: string;
  let A: Tenant;
  let B: Tenant;
  const leaks: { round: number; kind: string; tenant: string; found: string; where: string }[] = [];
  const counts = new Map<string, number>();
  const subscriptionErrors: string[] = [];
  let round = 0;

  const count = (kind: string) => counts.set(kind, (counts.get(kind) ?? 0) + 1);
  const other = (t: Tenant) => (t === A ? B : A);

  /**
   * Records every string of the other tenant found in `text`, but those the request itself sent (an
   * error message may echo the id asked for: that tells nothing the caller did not know).
   */
  function scan(t: Tenant, kind: string, text: string, sent = "") {
    const o = other(t) as Tenant | undefined; // undefined while the first tenant is set up
    for (const s of o?.owned ?? []) {
      if (!t.owned.has(s) && !sent.includes(s) && text.includes(s))
        leaks.push({ round, kind, tenant: t.label, found: s, where: text.slice(0, 300) });
    }
  }

  async function call<T = Record<string, unknown>>(
    t: Tenant,
    kind: string,
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<Reply<T>> {
    count(kind);
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.key}` },
      body: JSON.stringify({ query, variables }),
    });
    const text = await res.text();
    scan(t, kind, text, JSON.stringify(variables ?? {}));
    const body = JSON.parse(text) as { data?: T | null; errors?: Reply["errors"] };
    const errors = body.errors ?? [];
    const codes = errors.map((e) => e.extensions?.code);
    expect(codes, `${kind}: never FORBIDDEN`).not.toContain("FORBIDDEN");
    return { status: res.status, data: body.data, errors, codes, text };
  }

  async function ok<T = Record<string, unknown>>(
    t: Tenant,
    kind: string,
    query: string,
    variables?: Record<string, unknown>,
  ): Promise<T> {
    const r = await call<T>(t, kind, query, variables);
    if (r.errors.length) throw new Error(`${kind}: ${JSON.stringify(r.errors)}`);
    return r.data!;
  }

  function notFound(r: Reply, kind: string) {
    expect(r.codes, `${kind} of the other tenant's id`).toEqual(["NOT_FOUND"]);
  }

  /** The first message of a subscription (or its errors' codes), over graphql-ws or SSE; then it is closed. */
  async function firstMessage(
    t: Tenant,
    transport: "ws" | "sse",
    query: string,
    variables: Record<string, unknown>,
  ): Promise<{ data?: Record<string, unknown>; codes: (string | undefined)[] }> {
    if (transport === "sse") {
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          authorization: `Bearer ${t.key}`,
        },
        body: JSON.stringify({ query, variables }),
      });
      if (!res.headers.get("content-type")?.includes("text/event-stream")) {
        const text = await res.text();
        scan(t, "subscription", text, JSON.stringify(variables));
        const body = JSON.parse(text) as { data?: Record<string, unknown>; errors?: Reply["errors"] };
        return { data: body.data ?? undefined, codes: (body.errors ?? []).map((e) => e.extensions?.code) };
      }
      for await (const msg of sseMessages<{ data?: Record<string, unknown>; errors?: Reply["errors"] }>(
        res,
      )) {
        scan(t, "subscription", JSON.stringify(msg), JSON.stringify(variables));
        return { data: msg.data ?? undefined, codes: (msg.errors ?? []).map((e) => e.extensions?.code) };
      }
      return { codes: [] };
    }
    const client = createClient({
      url: `${url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${t.key}` },
      retryAttempts: 0,
    });
    try {
      return await new Promise((resolve, reject) => {
        const stop = client.subscribe<Record<string, unknown>>(
          { query, variables },
          {
            next: (msg) => {
              scan(t, "subscription", JSON.stringify(msg), JSON.stringify(variables));
              stop();
              resolve({
                data: msg.data ?? undefined,
                codes: (msg.errors ?? []).map(
                  (e) => (e as { extensions?: { code?: string } }).extensions?.code,
                ),
              });
            },
            error: (err) => {
              scan(t, "subscription", JSON.stringify(err), JSON.stringify(variables));
              const list = Array.isArray(err) ? err : [err];
              resolve({ codes: list.map((e) => (e as { extensions?: { code?: string } }).extensions?.code) });
            },
            complete: () => resolve({ codes: [] }),
          },
        );
        setTimeout(() => reject(new Error("no subscription message within 20 s")), 20_000).unref();
      });
    } finally {
      await client.dispose();
    }
  }

  /** Registers files in a batch and POSTs each to its target; answers their document ids. */
  async function upload(t: Tenant, batchId: string, files: { name: string; bytes: Buffer }[]) {
    const { requestUploads } = await ok<{
      requestUploads: {
        status: string;
        documentId: string;
        target: { url: string; fields: { name: string; value: string }[] } | null;
      }[];
    }>(
      t,
      "setup",
      `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
        status documentId target { url fields { name value } } } }`,
      { b: batchId, f: files.map((f) => ({ name: f.name, size: f.bytes.length, sha256: sha(f.bytes) })) },
    );
    expect(requestUploads.map((r) => r.status)).toEqual(files.map(() => "UPLOAD"));
    for (const [i, r] of requestUploads.entries()) {
      const res = await postTarget(r.target!, files[i]!.bytes);
      expect(res.status).toBe(204);
    }
    return requestUploads.map((r) => r.documentId);
  }

  /** Waits for the batch's `finished` message on its own subscription (no polling). */
  async function finished(t: Tenant, batchId: string) {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "text/event-stream",
        authorization: `Bearer ${t.key}`,
      },
      body: JSON.stringify({
        query: "subscription($id: ID!) { batchProgress(id: $id) { finished } }",
        variables: { id: batchId },
      }),
    });
    for await (const msg of sseMessages<{
      data?: { batchProgress: { finished: boolean } };
      errors?: unknown;
    }>(res)) {
      if (msg.errors) throw new Error(JSON.stringify(msg.errors));
      if (msg.data?.batchProgress.finished) return;
    }
    throw new Error(`batch ${batchId} never finished`);
  }

  async function makeTenant(label: "A" | "B", pdf: Buffer, shared: Buffer): Promise<Tenant> {
    const id = randomUUID();
    const tag = randomBytes(4).toString("hex");
    await system.app.services.intake.ensureTenant(id, `tenant ${label} ${tag}`);
    const { secret: key, key: info } = await new ApiKeys(system.app.deps.db).create({
      tenantId: id,
      name: `${label} ${tag}`,
      scopes: ["read", "upload", "admin"],
    });
    const secrets = [0, 1, 2].map((i) => `${label.toLowerCase()}secret${tag}w${i}`);
    const t: Tenant = {
      label,
      id,
      key,
      keyId: info.id,
      keyPrefix: info.prefix,
      tag,
      batchId: "",
      pendingBatchId: "",
      pendingDocId: "",
      docs: new Map(),
      docIds: new Set(),
      batchIds: new Set(),
      category: `${label.toLowerCase()}_only_${tag}`,
      secrets,
      owned: new Set([
        id,
        `tenant ${label} ${tag}`,
        ...secrets,
        key,
        info.id,
        info.prefix,
        `${label} ${tag}`,
      ]),
      pdfDocId: "",
      uniqueSha: { sha256: "", size: 0 },
    };
    await ok(t, "setup", "mutation($i: CategoryInput!) { defineCategory(input: $i) { name } }", {
      i: { name: t.category, description: `Papers of ${secrets[0]}`, keywords: [secrets[0]] },
    });
    t.owned.add(t.category);
    const batchName = `${label} batch ${tag}`;
    const { createBatch } = await ok<{ createBatch: { id: string } }>(
      t,
      "setup",
      "mutation($n: String!) { createBatch(input: { name: $n }) { id } }",
      { n: batchName },
    );
    t.batchId = createBatch.id;
    const pending = await ok<{ createBatch: { id: string } }>(
      t,
      "setup",
      "mutation($n: String!) { createBatch(input: { name: $n }) { id } }",
      { n: `${label} pending ${tag}` },
    );
    t.pendingBatchId = pending.createBatch.id;
    for (const s of [t.batchId, t.pendingBatchId, batchName, `${label} pending ${tag}`]) t.owned.add(s);
    t.batchIds.add(t.batchId).add(t.pendingBatchId);

    const unique = (i: number) =>
      Buffer.from(
        `Invoice ${i} of ${secrets[i % 3]}. The harbour container delivery is due; quarterly payment total ` +
          `${100 + i}.00 EUR. Reference ${secrets[(i + 1) % 3]} for the ${label} account.\n`,
      );
    const files = [
      ...[0, 1, 2].map((i) => ({ name: `${label.toLowerCase()}-only-${tag}-${i}.txt`, bytes: unique(i) })),
      // Both tenants have a notes.txt, each with its own words.
      {
        name: "notes.txt",
        bytes: Buffer.from(`Notes on the harbour delivery of ${secrets[2]} and the invoice total.\n`),
      },
      // Byte-identical in both tenants: each gets its own document.
      { name: "shared.txt", bytes: shared },
      { name: "bookmark_sample.pdf", bytes: pdf },
      // Fails (binary garbage): quarantine has something to show.
      {
        name: `${label.toLowerCase()}-broken-${tag}.bin`,
        bytes: Buffer.concat([Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]), Buffer.from(tag)]),
      },
    ];
    const ids = await upload(t, t.batchId, files);
    for (const [i, docId] of ids.entries()) {
      t.docs.set(docId, files[i]!);
      t.docIds.add(docId);
      t.owned.add(docId);
      if (files[i]!.name.includes(tag)) t.owned.add(files[i]!.name);
      if (files[i]!.name === "bookmark_sample.pdf") t.pdfDocId = docId;
    }
    for (const f of files.slice(0, 3)) t.owned.add(sha(f.bytes));
    t.uniqueSha = { sha256: sha(files[0]!.bytes), size: files[0]!.bytes.length };
    await ok(t, "setup", "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }", { ids });

    // A document that is registered but never uploaded: the multipart and completeUploads targets.
    const pendingName = `${label.toLowerCase()}-pending-${tag}.bin`;
    const reg = await ok<{ requestUploads: { status: string; documentId: string }[] }>(
      t,
      "setup",
      "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status documentId } }",
      {
        b: t.pendingBatchId,
        f: [{ name: pendingName, size: 16, sha256: sha(Buffer.from(`pending ${tag}`)) }],
      },
    );
    t.pendingDocId = reg.requestUploads[0]!.documentId;
    t.docIds.add(t.pendingDocId);
    t.owned.add(t.pendingDocId).add(pendingName);
    return t;
  }

  // This file's embedded system (`docfleet serve` in process), stopped after its last test.
  test.beforeAll(async ({ embedded }) => {
    system = embedded;
    url = system.url;
    const pdf = await readFile(join(CORPUS, "formats/pdf/bookmark_sample.pdf"));
    const shared = Buffer.from(
      "Quarterly report on harbour logistics: every container, every delivery, every invoice total.\n",
    );
    A = await makeTenant("A", pdf, shared);
    B = await makeTenant("B", pdf, shared);
    await Promise.all([finished(A, A.batchId), finished(B, B.batchId)]);
  }, 180_000);

  it("keeps identical content apart: each tenant has its own document, its own objects", async () => {
    const prisma = system.app.deps.db.prisma;
    for (const t of [A, B]) {
      const docs = await prisma.document.findMany({ where: { batchId: t.batchId } });
      expect(docs).toHaveLength(7);
      expect(docs.every((d) => d.tenantId === t.id && d.objectKey.startsWith(`${t.id}/${d.id}/`))).toBe(true);
      expect(docs.find((d) => d.name === "bookmark_sample.pdf")?.thumbnailKey).toMatch(
        new RegExp(`^${t.id}/`),
      );
    }
    const shared = await prisma.document.findMany({
      where: { name: { in: ["shared.txt", "bookmark_sample.pdf"] } },
    });
    expect(shared).toHaveLength(4); // same sha256 twice per name, one document per tenant
    expect(new Set(shared.map((d) => d.sha256)).size).toBe(2);
  });

  it(`answers 0 leaks over ${ROUNDS} random requests (seed printed)`, async () => {
    console.log(`tenant isolation: seed ${SEED} (TENANT_ISOLATION_SEED=${SEED} repeats this walk)`);
    const rnd = mulberry32(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const chance = (p: number) => rnd() < p;
    const otherIds = (t: Tenant) => [...other(t).docIds];
    /** An id for `t` to ask about: its own, the other tenant's, or one nobody has. */
    const docId = (t: Tenant): { id: string; own: boolean } => {
      const r = rnd();
      if (r < 0.45) return { id: pick([...t.docIds]), own: true };
      if (r < 0.9) return { id: pick(otherIds(t)), own: false };
      return { id: chance(0.5) ? randomUUID() : "not-a-uuid", own: false };
    };
    const batchId = (t: Tenant): { id: string; own: boolean } => {
      const r = rnd();
      if (r < 0.45) return { id: pick([...t.batchIds]), own: true };
      if (r < 0.9) return { id: pick([...other(t).batchIds]), own: false };
      return { id: randomUUID(), own: false };
    };
    const words = (t: Tenant) => [...SHARED_WORDS, ...t.secrets, ...other(t).secrets];
    const ownDocs = (t: Tenant, nodes: ({ id: string } | null | undefined)[], kind: string) => {
      for (const n of nodes) if (n) expect(t.docIds.has(n.id), `${kind}: ${n.id} is the caller's`).toBe(true);
    };

    // Long-lived subscriptions across the walk: live events reach only their own tenant.
    const live = await Promise.all([
      follow(A, "ws", A.batchId),
      follow(B, "sse", B.batchId),
      follow(A, "sse", A.batchId),
      follow(B, "ws", B.batchId),
    ]);

    const QUERY: Record<string, (t: Tenant) => Promise<void>> = {
      batch: async (t) => {
        const b = batchId(t);
        const r = await call<{
          batch: { id: string; documents: { edges: { node: { id: string } }[] } } | null;
        }>(
          t,
          `query.batch${b.own ? "" : " (other)"}`,
          `query($id: ID!) { batch(id: $id) { id name counts { total completed failed } lastEventSeq
            documents(first: 10) { totalCount edges { node { id name status } } } } }`,
          { id: b.id },
        );
        expect(r.errors).toEqual([]);
        if (b.own) {
          expect(r.data?.batch?.id).toBe(b.id);
          ownDocs(
            t,
            r.data!.batch!.documents.edges.map((e) => e.node),
            "batch.documents",
          );
        } else expect(r.data?.batch).toBeNull();
      },
      batches: async (t) => {
        const d = await ok<{ batches: { edges: { node: { id: string } }[] } }>(
          t,
          "query.batches",
          "query($n: Int) { batches(first: $n) { edges { cursor node { id name counts { total } } } } }",
          { n: 1 + Math.floor(rnd() * 20) },
        );
        for (const e of d.batches.edges) expect(t.batchIds.has(e.node.id)).toBe(true);
      },
      categories: async (t) => {
        const d = await ok<{ categories: { name: string }[] }>(
          t,
          "query.categories",
          "{ categories { name description keywords fields version } }",
        );
        expect(d.categories.map((c) => c.name)).toContain(t.category);
      },
      document: async (t) => {
        const d = docId(t);
        const r = await call<{ document: { id: string } | null }>(
          t,
          `query.document${d.own ? "" : " (other)"}`,
          `query($id: ID!) { document(id: $id) { ${DOC} } }`,
          { id: d.id },
        );
        expect(r.errors).toEqual([]);
        if (d.own) expect(r.data?.document?.id).toBe(d.id);
        else expect(r.data?.document).toBeNull();
      },
      node: async (t) => {
        const wantDoc = chance(0.5);
        const target = wantDoc ? docId(t) : batchId(t);
        const r = await call<{ node: { __typename: string; id: string } | null }>(
          t,
          `query.node${target.own ? "" : " (other)"}`,
          `query($id: ID!) { node(id: $id) { __typename id
            ... on Document { ${DOC} } ... on Batch { name counts { total } } } }`,
          { id: target.id },
        );
        expect(r.errors).toEqual([]);
        if (target.own) {
          expect(r.data?.node?.id).toBe(target.id);
          expect(r.data?.node?.__typename).toBe(wantDoc ? "Document" : "Batch");
        } else expect(r.data?.node).toBeNull();
      },
      documents: async (t) => {
        const b = chance(0.7) ? batchId(t) : null;
        const r = await ok<{ documents: { totalCount: number; edges: { node: { id: string } }[] } }>(
          t,
          `query.documents${b && !b.own ? " (other)" : ""}`,
          `query($f: DocumentFilter, $n: Int) { documents(filter: $f, first: $n) {
            totalCount edges { cursor node { ${DOC} } } pageInfo { hasNextPage endCursor } } }`,
          { f: b ? { batchId: b.id } : null, n: 1 + Math.floor(rnd() * 10) },
        );
        ownDocs(
          t,
          r.documents.edges.map((e) => e.node),
          "documents",
        );
        if (b && !b.own) expect(r.documents.totalCount).toBe(0);
      },
      apiKeys: async (t) => {
        const r = await ok<{ apiKeys: { id: string; tenantName: string }[] }>(
          t,
          "query.apiKeys",
          "{ apiKeys { id prefix name tenantName scopes status expiresAt revokedAt lastUsedAt createdAt } }",
        );
        const ids = r.apiKeys.map((k) => k.id);
        expect(ids).toContain(t.keyId);
        const rows = await system.app.deps.db.prisma.apiKey.findMany({
          where: { id: { in: ids } },
          select: { tenantId: true },
        });
        expect(rows.map((k) => k.tenantId)).toEqual(ids.map(() => t.id));
        for (const k of r.apiKeys) expect(k.tenantName).toBe(`tenant ${t.label} ${t.tag}`);
      },
      quarantine: async (t) => {
        const b = chance(0.6) ? batchId(t) : null;
        const r = await ok<{ quarantine: { code: string; documents: { id: string }[] }[] }>(
          t,
          `query.quarantine${b && !b.own ? " (other)" : ""}`,
          "query($b: ID) { quarantine(batchId: $b) { code count documents { id name errorCode errorMessage } } }",
          { b: b?.id ?? null },
        );
        ownDocs(
          t,
          r.quarantine.flatMap((g) => g.documents),
          "quarantine",
        );
        if (b && !b.own) expect(r.quarantine).toEqual([]);
      },
      queues: async (t) => {
        // Counted from the caller's documents only; the answer holds no ids, and is scanned like all.
        const r = await ok<{ queues: { stage: string; depth: number; quarantined: number }[] }>(
          t,
          "query.queues",
          "{ queues { stage depth oldestAgeSeconds processing quarantined } }",
        );
        expect(r.queues.map((q) => q.stage)).toEqual(["PARSE", "UNDERSTAND", "EMBED", "INDEX"]);
      },
      workers: async (t) => {
        // Deployment-wide (processes, no tenant data): scanned for the other tenant's content like all.
        const r = await ok<{ workers: { id: string; roles: string[] }[] }>(
          t,
          "query.workers",
          "{ workers { id hostname pid roles concurrency startedAt lastHeartbeat inFlight } }",
        );
        for (const w of r.workers) expect(w.roles.length).toBeGreaterThan(0);
      },
      search: async (t) => {
        const mode = pick(["KEYWORD", "VECTOR", "HYBRID"] as const);
        const q = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(words(t))).join(" ");
        const b = chance(0.3) ? batchId(t) : null;
        const filter = {
          ...(b ? { batchId: [b.id] } : {}),
          ...(chance(0.2) ? { category: [pick([t.category, other(t).category, "invoice", "letter"])] } : {}),
        };
        const r = await ok<{
          search: {
            totalCount: number;
            edges: { node: { document: { id: string } | null } }[];
            facets: { field: string; buckets: { value: string }[] }[];
          };
        }>(
          t,
          `query.search ${mode}${b && !b.own ? " (other batch)" : ""}`,
          `query($q: String!, $m: SearchMode, $f: SearchFilter, $facets: [String!]) {
            search(query: $q, mode: $m, filter: $f, facets: $facets, first: 20) {
              totalCount hasNextPage facets { field buckets { value count } }
              edges { node { score chunk highlights highlight matchingChunk { index text } document { id name thumbnailUrl } } } } }`,
          { q, m: mode, f: filter, facets: chance(0.6) ? ["category", "batch"] : [] },
        );
        ownDocs(
          t,
          r.search.edges.map((e) => e.node.document),
          "search",
        );
        // Every hit resolves to one of the caller's documents (none is dropped as another tenant's).
        expect(r.search.edges.every((e) => e.node.document !== null)).toBe(true);
        for (const f of r.search.facets.filter((x) => x.field === "batch"))
          for (const bucket of f.buckets) expect(t.batchIds.has(bucket.value)).toBe(true);
        if (b && !b.own) expect(r.search.totalCount).toBe(0);
        if (mode === "KEYWORD" && q.split(" ").every((w) => other(t).secrets.includes(w)))
          expect(r.search.totalCount).toBe(0);
      },
      similar: async (t) => {
        const d = chance(0.5) ? { id: pick([...t.docs.keys()]), own: true } : docId(t);
        const r = await call<{ similar: { edges: { node: { document: { id: string } | null } }[] } }>(
          t,
          `query.similar${d.own ? "" : " (other)"}`,
          `query($d: ID!, $f: SearchFilter) { similar(documentId: $d, filter: $f, first: 10) {
            totalCount edges { node { score highlights matchingChunk { text } document { id name } } } } }`,
          { d: d.id, f: chance(0.3) ? { batchId: [batchId(t).id] } : null },
        );
        if (d.own) {
          expect(r.errors).toEqual([]);
          ownDocs(
            t,
            r.data!.similar.edges.map((e) => e.node.document),
            "similar",
          );
        } else notFound(r, "similar");
      },
      webhooks: async (t) => {
        const r = await ok<{ webhooks: { id: string }[] }>(
          t,
          "query.webhooks",
          "{ webhooks { id url description events enabled secretPrefix createdAt updatedAt } }",
        );
        const rows = await system.app.deps.db.prisma.webhookEndpoint.findMany({
          where: { id: { in: r.webhooks.map((w) => w.id) } },
          select: { tenantId: true },
        });
        expect(rows.map((w) => w.tenantId)).toEqual(r.webhooks.map(() => t.id));
      },
      webhookDeliveries: async (t) => {
        const theirs = chance(0.4)
          ? await system.app.deps.db.prisma.webhookEndpoint.findFirst({ where: { tenantId: other(t).id } })
          : null;
        const r = await ok<{ webhookDeliveries: { id: string }[] }>(
          t,
          `query.webhookDeliveries${theirs ? " (other)" : ""}`,
          `query($w: ID) { webhookDeliveries(webhookId: $w) {
            id webhookId eventId eventType status attempts lastStatusCode lastError deliveredAt body createdAt } }`,
          { w: theirs?.id ?? null },
        );
        if (theirs) expect(r.webhookDeliveries).toEqual([]);
        const rows = await system.app.deps.db.prisma.webhookDelivery.findMany({
          where: { id: { in: r.webhookDeliveries.map((d) => d.id) } },
          select: { tenantId: true },
        });
        expect(rows.map((d) => d.tenantId)).toEqual(r.webhookDeliveries.map(() => t.id));
      },
    };

    const prisma = system.app.deps.db.prisma;
    /** A new batch of the caller's own, for a generator that deletes or cancels it (never a walked one). */
    const doomedBatch = async (t: Tenant) => {
      const name = `${t.label} doomed ${t.tag} ${round}`;
      const d = await ok<{ createBatch: { id: string } }>(
        t,
        "setup",
        "mutation($n: String!) { createBatch(input: { name: $n }) { id } }",
        { n: name },
      );
      t.owned.add(d.createBatch.id).add(name);
      return d.createBatch.id;
    };
    /** A document registered (never uploaded) in `batch`, kept out of the walk's ids: it is deleted or cancelled. */
    const doomedDoc = async (t: Tenant, batch: string) => {
      const name = `${t.label.toLowerCase()}-doomed-${t.tag}-${round}.bin`;
      const bytes = randomBytes(16);
      const r = await ok<{ requestUploads: { status: string; documentId: string }[] }>(
        t,
        "setup",
        "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status documentId } }",
        { b: batch, f: [{ name, size: bytes.length, sha256: sha(bytes) }] },
      );
      expect(r.requestUploads[0]!.status).toBe("UPLOAD");
      const id = r.requestUploads[0]!.documentId;
      t.owned.add(id).add(name);
      return id;
    };
    const REVOKE =
      "mutation($k: String!) { revokeApiKey(key: $k) { id prefix name tenantName status revokedAt } }";

    const MUTATION: Record<string, (t: Tenant) => Promise<void>> = {
      cancelBatch: async (t) => {
        const own = chance(0.4);
        const o = other(t);
        if (own) {
          const b = await doomedBatch(t);
          const d = await doomedDoc(t, b);
          const r = await ok<{ cancelBatch: number }>(
            t,
            "mutation.cancelBatch",
            "mutation($b: ID!) { cancelBatch(id: $b) }",
            {
              b,
            },
          );
          expect(r.cancelBatch).toBe(1);
          expect(await prisma.document.findUniqueOrThrow({ where: { id: d } })).toMatchObject({
            status: "FAILED",
            errorCode: "CANCELLED",
          });
          // gone again, so that the walk's batch lists hold only the batches it knows
          await ok(t, "setup", "mutation($b: ID!) { deleteBatch(id: $b) }", { b });
          return;
        }
        const b = chance(0.8) ? pick([...o.batchIds]) : randomUUID();
        notFound(
          await call(t, "mutation.cancelBatch (other)", "mutation($b: ID!) { cancelBatch(id: $b) }", { b }),
          "cancelBatch",
        );
        expect(await prisma.document.count({ where: { tenantId: o.id, errorCode: "CANCELLED" } })).toBe(0);
      },
      createApiKey: async (t) => {
        const name = `${t.label} walk key ${t.tag} ${round}`;
        const r = await ok<{
          createApiKey: { secret: string; key: { id: string; prefix: string; tenantName: string } };
        }>(
          t,
          "mutation.createApiKey",
          `mutation($n: String!, $s: [String!]!) { createApiKey(name: $n, scopes: $s) {
            secret key { id prefix name tenantName scopes status expiresAt } } }`,
          { n: name, s: [pick(["read", "upload", "admin"])] },
        );
        const { secret, key } = r.createApiKey;
        t.owned.add(secret).add(key.id).add(key.prefix).add(name);
        expect(key.tenantName).toBe(`tenant ${t.label} ${t.tag}`);
        expect((await prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } })).tenantId).toBe(t.id);
      },
      deleteBatch: async (t) => {
        const own = chance(0.4);
        const o = other(t);
        if (own) {
          const b = await doomedBatch(t);
          const d = await doomedDoc(t, b);
          const r = await ok<{ deleteBatch: number }>(
            t,
            "mutation.deleteBatch",
            "mutation($b: ID!) { deleteBatch(id: $b) }",
            {
              b,
            },
          );
          expect(r.deleteBatch).toBe(1);
          expect(await prisma.batch.count({ where: { id: b } })).toBe(0);
          expect(await prisma.document.count({ where: { id: d } })).toBe(0);
          return;
        }
        const b = chance(0.8) ? pick([...o.batchIds]) : randomUUID();
        notFound(
          await call(t, "mutation.deleteBatch (other)", "mutation($b: ID!) { deleteBatch(id: $b) }", { b }),
          "deleteBatch",
        );
        if (o.batchIds.has(b)) expect(await prisma.batch.count({ where: { id: b } })).toBe(1);
      },
      deleteDocuments: async (t) => {
        const own = chance(0.4);
        const picked = otherIds(t).filter(() => chance(0.3));
        const theirs = picked.length || own ? picked : [pick(otherIds(t))];
        const mine = own ? [await doomedDoc(t, t.pendingBatchId)] : [];
        const ids = [...mine, ...theirs];
        const r = await ok<{ deleteDocuments: { deleted: string[]; notFound: string[] } }>(
          t,
          `mutation.deleteDocuments${mine.length ? " own" : ""}${theirs.length ? " (other)" : ""}`,
          "mutation($ids: [ID!]!) { deleteDocuments(ids: $ids) { deleted notFound } }",
          { ids },
        );
        expect(r.deleteDocuments.deleted).toEqual(mine);
        expect([...r.deleteDocuments.notFound].sort()).toEqual([...theirs].sort());
        expect(await prisma.document.count({ where: { id: { in: ids } } })).toBe(theirs.length);
      },
      createWebhook: async (t) => {
        // Nothing listens there: deliveries fail and wait for their retry (the walk ends first).
        const u = `http://127.0.0.1:9/${t.label.toLowerCase()}-hook-${t.tag}-${round}`;
        const r = await ok<{
          createWebhook: { secret: string; webhook: { id: string; secretPrefix: string } };
        }>(
          t,
          "mutation.createWebhook",
          `mutation($u: String!) { createWebhook(input: { url: $u, events: [DOCUMENTS_REQUESTED, DOCUMENT_QUEUED] }) {
            secret webhook { id url events enabled secretPrefix } } }`,
          { u },
        );
        const { secret, webhook } = r.createWebhook;
        t.owned.add(secret).add(webhook.id).add(u).add(webhook.secretPrefix);
        expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: webhook.id } })).tenantId).toBe(
          t.id,
        );
      },
      updateWebhook: async (t) => {
        const mine = await prisma.webhookEndpoint.findFirst({ where: { tenantId: t.id } });
        const theirs = await prisma.webhookEndpoint.findFirst({ where: { tenantId: other(t).id } });
        if (mine && (chance(0.4) || !theirs)) {
          const r = await ok<{ updateWebhook: { id: string; enabled: boolean } }>(
            t,
            "mutation.updateWebhook",
            "mutation($id: ID!, $e: Boolean) { updateWebhook(id: $id, input: { enabled: $e }) { id enabled } }",
            { id: mine.id, e: !mine.enabled },
          );
          expect(r.updateWebhook).toEqual({ id: mine.id, enabled: !mine.enabled });
          return;
        }
        notFound(
          await call(
            t,
            "mutation.updateWebhook (other)",
            "mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false }) { id } }",
            { id: theirs?.id ?? randomUUID() },
          ),
          "updateWebhook",
        );
        if (theirs)
          expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: theirs.id } })).enabled).toBe(
            theirs.enabled,
          );
      },
      deleteWebhook: async (t) => {
        if (chance(0.4)) {
          // a webhook made for this, never the walk's others
          const { webhook } = await system.app.services.webhooks.create(t.id, {
            url: "http://127.0.0.1:9/doomed",
          });
          t.owned.add(webhook.id).add(webhook.secretPrefix);
          expect(
            await ok(t, "mutation.deleteWebhook", "mutation($id: ID!) { deleteWebhook(id: $id) }", {
              id: webhook.id,
            }),
          ).toEqual({ deleteWebhook: true });
          expect(await prisma.webhookEndpoint.count({ where: { id: webhook.id } })).toBe(0);
          return;
        }
        const theirs = await prisma.webhookEndpoint.findFirst({ where: { tenantId: other(t).id } });
        notFound(
          await call(t, "mutation.deleteWebhook (other)", "mutation($id: ID!) { deleteWebhook(id: $id) }", {
            id: theirs?.id ?? randomUUID(),
          }),
          "deleteWebhook",
        );
        if (theirs) expect(await prisma.webhookEndpoint.count({ where: { id: theirs.id } })).toBe(1);
      },
      redeliverWebhookDelivery: async (t) => {
        const REDELIVER =
          "mutation($id: ID!) { redeliverWebhookDelivery(id: $id) { id webhookId status attempts } }";
        const mine = await prisma.webhookDelivery.findFirst({ where: { tenantId: t.id } });
        const theirs = await prisma.webhookDelivery.findFirst({ where: { tenantId: other(t).id } });
        if (mine && (chance(0.4) || !theirs)) {
          const r = await ok<{ redeliverWebhookDelivery: { id: string; status: string } }>(
            t,
            "mutation.redeliverWebhookDelivery",
            REDELIVER,
            { id: mine.id },
          );
          expect(r.redeliverWebhookDelivery).toMatchObject({ id: mine.id, status: "PENDING" });
          return;
        }
        notFound(
          await call(t, "mutation.redeliverWebhookDelivery (other)", REDELIVER, {
            id: theirs?.id ?? randomUUID(),
          }),
          "redeliverWebhookDelivery",
        );
        if (theirs)
          expect(
            (await prisma.webhookDelivery.findUniqueOrThrow({ where: { id: theirs.id } })).tenantId,
          ).toBe(other(t).id);
      },
      revokeApiKey: async (t) => {
        if (chance(0.4)) {
          // A key made for this (never the walk's own), revoked by its id, prefix or itself.
          const { secret, key } = await new ApiKeys(system.app.deps.db).create({
            tenantId: t.id,
            name: `${t.label} revoked ${t.tag} ${round}`,
            scopes: ["read"],
          });
          t.owned.add(secret).add(key.id).add(key.prefix).add(key.name);
          const r = await ok<{ revokeApiKey: { id: string; status: string } }>(
            t,
            "mutation.revokeApiKey",
            REVOKE,
            {
              k: pick([key.id, key.prefix, secret]),
            },
          );
          expect(r.revokeApiKey).toMatchObject({ id: key.id, status: "REVOKED" });
          return;
        }
        const o = other(t);
        notFound(
          await call(t, "mutation.revokeApiKey (other)", REVOKE, { k: pick([o.keyId, o.keyPrefix, o.key]) }),
          "revokeApiKey",
        );
        expect((await prisma.apiKey.findUniqueOrThrow({ where: { id: o.keyId } })).revokedAt).toBeNull();
      },
      abortMultipartUpload: async (t) => {
        const own = chance(0.3);
        const r = await call(
          t,
          `mutation.abortMultipartUpload${own ? "" : " (other)"}`,
          "mutation($d: ID!, $u: String!) { abortMultipartUpload(documentId: $d, uploadId: $u) }",
          { d: own ? t.pendingDocId : other(t).pendingDocId, u: randomBytes(16).toString("hex") },
        );
        if (own) expect(r.errors).toEqual([]);
        else notFound(r, "abortMultipartUpload");
      },
      completeMultipartUpload: async (t) => {
        const r = await call(
          t,
          "mutation.completeMultipartUpload (other)",
          "mutation($d: ID!, $u: String!, $p: [PartInput!]!) { completeMultipartUpload(documentId: $d, uploadId: $u, parts: $p) }",
          { d: other(t).pendingDocId, u: randomBytes(16).toString("hex"), p: [{ partNumber: 1, etag: "x" }] },
        );
        notFound(r, "completeMultipartUpload");
      },
      completeUploads: async (t) => {
        const d = docId(t);
        const r = await ok<{ completeUploads: { documentId: string; status: string }[] }>(
          t,
          `mutation.completeUploads${d.own ? "" : " (other)"}`,
          "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { documentId status message } }",
          { ids: [d.id] },
        );
        if (d.own) expect(r.completeUploads[0]!.status).not.toBe("NOT_FOUND");
        else expect(r.completeUploads[0]!.status).toBe("NOT_FOUND");
      },
      correctDocument: async (t) => {
        const d = docId(t);
        const r = await call<{ correctDocument: { id: string } }>(
          t,
          `mutation.correctDocument${d.own ? "" : " (other)"}`,
          `mutation($id: ID!, $c: String) { correctDocument(id: $id, category: $c) { ${DOC} } }`,
          { id: d.id, c: pick(["letter", "invoice", t.category]) },
        );
        if (d.own) expect(r.codes.every((c) => c === "BAD_REQUEST")).toBe(true);
        else notFound(r, "correctDocument");
      },
      createBatch: async (t) => {
        const name = `${t.label} walk ${t.tag} ${round}`;
        const d = await ok<{ createBatch: { id: string } }>(
          t,
          "mutation.createBatch",
          "mutation($n: String!) { createBatch(input: { name: $n }) { id name counts { total } } }",
          { n: name },
        );
        t.batchIds.add(d.createBatch.id);
        t.owned.add(d.createBatch.id).add(name);
      },
      defineCategory: async (t) => {
        const name = `${t.label.toLowerCase()}_walk_${t.tag}_${round}`;
        await ok(
          t,
          "mutation.defineCategory",
          "mutation($i: CategoryInput!) { defineCategory(input: $i) { name version } }",
          {
            i: { name, description: `walk category of ${t.secrets[0]}` },
          },
        );
        t.owned.add(name);
      },
      reprocess: async (t) => {
        const own = chance(0.4);
        const filter = own
          ? { ids: [pick([...t.docs.keys()])] }
          : chance(0.5)
            ? { ids: otherIds(t).slice(0, 5) }
            : { batchId: other(t).batchId };
        const r = await ok<{ reprocess: { queued: number; documentIds: string[] } }>(
          t,
          `mutation.reprocess${own ? "" : " (other)"}`,
          "mutation($f: ReprocessFilter!) { reprocess(filter: $f, stages: [INDEX], force: true) { queued upToDate inFlight documentIds } }",
          { f: filter },
        );
        ownDocs(
          t,
          r.reprocess.documentIds.map((id) => ({ id })),
          "reprocess",
        );
        if (!own) expect(r.reprocess.queued).toBe(0);
      },
      requestUploads: async (t) => {
        const own = chance(0.5);
        // The other tenant's exact content: a new document of the caller's own, never a DUPLICATE of theirs.
        const { sha256, size } = other(t).uniqueSha;
        if (own) t.owned.add(sha256); // from now on the caller holds this content too
        const r = await call<{ requestUploads: { status: string; documentId: string; batchId: string }[] }>(
          t,
          `mutation.requestUploads${own ? "" : " (other)"}`,
          `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
            status documentId batchId documentName document { id name } target { url fields { name value } } } }`,
          {
            b: own ? t.pendingBatchId : other(t).pendingBatchId,
            f: [{ name: `copy-${round}.txt`, size, sha256 }],
          },
        );
        if (!own) return notFound(r, "requestUploads");
        expect(r.errors).toEqual([]);
        const res = r.data!.requestUploads[0]!;
        expect(res.status).toBe("UPLOAD");
        expect(res.batchId).toBe(t.pendingBatchId);
        t.docIds.add(res.documentId);
        t.owned.add(res.documentId);
      },
      retryBatch: async (t) => {
        const b = batchId(t);
        const r = await call(
          t,
          `mutation.retryBatch${b.own ? "" : " (other)"}`,
          "mutation($b: ID!) { retryBatch(batchId: $b) }",
          { b: b.id },
        );
        if (b.own) expect(r.errors).toEqual([]);
        else notFound(r, "retryBatch");
      },
      retryDocuments: async (t) => {
        const d = docId(t);
        const r = await ok<{ retryDocuments: { status: string }[] }>(
          t,
          `mutation.retryDocuments${d.own ? "" : " (other)"}`,
          "mutation($ids: [ID!]!) { retryDocuments(ids: $ids) { documentId status message } }",
          { ids: [d.id] },
        );
        if (!d.own) expect(r.retryDocuments[0]!.status).toBe("NOT_FOUND");
      },
      startMultipartUpload: async (t) => {
        const own = chance(0.4);
        const r = await call<{ startMultipartUpload: { uploadId: string; parts: { url: string }[] } }>(
          t,
          `mutation.startMultipartUpload${own ? "" : " (other)"}`,
          "mutation($d: ID!) { startMultipartUpload(documentId: $d) { uploadId partSize parts { partNumber url } expiresAt } }",
          { d: own ? t.pendingDocId : other(t).pendingDocId },
        );
        if (!own) return notFound(r, "startMultipartUpload");
        expect(r.errors).toEqual([]);
        // Its part URL, edited to the other tenant's pending document's key, fails the signature.
        const part = new URL(r.data!.startMultipartUpload.parts[0]!.url);
        part.searchParams.set("key", `${other(t).id}/${other(t).pendingDocId}/original`);
        count("url.part (key edited to other)");
        const put = await fetch(part, { method: "PUT", body: new Uint8Array(16) });
        expect(put.status).toBe(403);
        // The upload id in the other tenant's hands, on its own pending document: not found there, and
        // aborting it there leaves ours alone (an upload is bound to its key).
        const uploadId = r.data!.startMultipartUpload.uploadId;
        const o = other(t);
        const RESUME =
          "mutation($d: ID!, $u: String) { startMultipartUpload(documentId: $d, uploadId: $u) { uploadId } }";
        const ABORT = "mutation($d: ID!, $u: String!) { abortMultipartUpload(documentId: $d, uploadId: $u) }";
        notFound(
          await call(o, "mutation.startMultipartUpload (other's uploadId)", RESUME, {
            d: o.pendingDocId,
            u: uploadId,
          }),
          "startMultipartUpload with another tenant's upload id",
        );
        await ok(o, "mutation.abortMultipartUpload (other's uploadId)", ABORT, {
          d: o.pendingDocId,
          u: uploadId,
        });
        await ok(t, "setup", RESUME, { d: t.pendingDocId, u: uploadId });
        await ok(t, "setup", ABORT, { d: t.pendingDocId, u: uploadId });
      },
      updateCategory: async (t) => {
        const own = chance(0.4);
        const r = await call(
          t,
          `mutation.updateCategory${own ? "" : " (other)"}`,
          "mutation($n: String!, $c: CategoryChange!) { updateCategory(name: $n, change: $c) { name description version } }",
          {
            n: own ? t.category : other(t).category,
            c: { description: `changed in round ${round} by ${t.secrets[1]}` },
          },
        );
        if (own) expect(r.errors).toEqual([]);
        else notFound(r, "updateCategory");
      },
    };

    const BATCH_SUB = `subscription($id: ID!) { batchProgress(id: $id) {
      batchId cursor finished counts { total completed failed } events { seq type documentId code message }
      batch { id name } } }`;
    const DOC_SUB = `subscription($id: ID!) { documentProgress(id: $id) {
      cursor event { seq type documentId code message } document { id name status } } }`;
    const SUBSCRIPTION: Record<string, (t: Tenant) => Promise<void>> = {
      batchProgress: async (t) => {
        // Own batches with events (a batch nobody used yet would wait for its first event forever).
        const b = chance(0.45) ? { id: pick([t.batchId, t.pendingBatchId]), own: true } : batchId(t);
        b.own = t.batchIds.has(b.id);
        if (b.own && b.id !== t.batchId && b.id !== t.pendingBatchId) b.id = t.batchId;
        const transport = pick(["ws", "sse"] as const);
        count(`subscription.batchProgress ${transport}${b.own ? "" : " (other)"}`);
        const m = await firstMessage(t, transport, BATCH_SUB, { id: b.id });
        if (!b.own) return expect(m.codes).toEqual(["NOT_FOUND"]);
        expect(m.codes).toEqual([]);
        const msg = m.data!.batchProgress as { events: { documentId: string | null }[] };
        ownDocs(
          t,
          msg.events.map((e) => (e.documentId ? { id: e.documentId } : null)),
          "batchProgress",
        );
      },
      documentProgress: async (t) => {
        // Own documents with events (one never uploaded has none yet); the other's; unknown ids.
        const r = rnd();
        const id =
          r < 0.45
            ? pick([...t.docs.keys()])
            : r < 0.9
              ? pick(otherIds(t))
              : pick([randomUUID(), "not-a-uuid"]);
        const d = { id, own: t.docs.has(id) };
        const transport = pick(["ws", "sse"] as const);
        count(`subscription.documentProgress ${transport}${d.own ? "" : " (other)"}`);
        const m = await firstMessage(t, transport, DOC_SUB, { id: d.id });
        if (!d.own) return expect(m.codes).toEqual(["NOT_FOUND"]);
        expect(m.codes).toEqual([]);
        const msg = m.data!.documentProgress as { event: { documentId: string } };
        expect(msg.event.documentId).toBe(d.id);
      },
    };

    /** Signed URLs: fetched by their tenant, and edited to the other tenant's keys. */
    const URLS: Record<string, (t: Tenant) => Promise<void>> = {
      download: async (t) => {
        const id = pick([...t.docs.keys()]);
        const o = other(t);
        const oid = pick([...o.docs.keys()]);
        const { document } = await ok<{ document: { downloadUrl: string; thumbnailUrl: string | null } }>(
          t,
          "setup",
          "query($id: ID!) { document(id: $id) { downloadUrl thumbnailUrl } }",
          { id },
        );
        count("url.download");
        const res = await fetch(document.downloadUrl);
        expect(res.status).toBe(200);
        expect(Buffer.from(await res.arrayBuffer()).equals(t.docs.get(id)!.bytes)).toBe(true);
        count("url.download (path edited to other)");
        const edited = document.downloadUrl.replace(`/objects/${t.id}/${id}/`, `/objects/${o.id}/${oid}/`);
        expect(edited).not.toBe(document.downloadUrl);
        expect((await fetch(edited)).status).toBe(403);
      },
      thumbnail: async (t) => {
        const o = other(t);
        const { document } = await ok<{ document: { thumbnailUrl: string | null } }>(
          t,
          "setup",
          "query($id: ID!) { document(id: $id) { thumbnailUrl } }",
          { id: t.pdfDocId },
        );
        count("url.thumbnail");
        const res = await fetch(document.thumbnailUrl!);
        expect(res.status).toBe(200);
        count("url.thumbnail (path edited to other)");
        const edited = document.thumbnailUrl!.replace(
          `/objects/${t.id}/${t.pdfDocId}/`,
          `/objects/${o.id}/${o.pdfDocId}/`,
        );
        expect(edited).not.toBe(document.thumbnailUrl);
        expect((await fetch(edited)).status).toBe(403);
      },
      uploadTarget: async (t) => {
        const o = other(t);
        const bytes = Buffer.from(`overwrite attempt ${round} ${randomBytes(8).toString("hex")}`);
        const { requestUploads } = await ok<{
          requestUploads: {
            documentId: string;
            target: { url: string; fields: { name: string; value: string }[] };
          }[];
        }>(
          t,
          "setup",
          `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
            documentId target { url fields { name value } } } }`,
          {
            b: t.pendingBatchId,
            f: [{ name: `target-${round}.txt`, size: bytes.length, sha256: sha(bytes) }],
          },
        );
        const r = requestUploads[0]!;
        t.docIds.add(r.documentId);
        t.owned.add(r.documentId);
        count("url.upload (key edited to other)");
        const edited = {
          ...r.target,
          fields: r.target.fields.map((f) =>
            f.name === "key" ? { name: "key", value: `${o.id}/${o.pendingDocId}/original` } : f,
          ),
        };
        expect((await postTarget(edited, bytes)).status).toBe(403);
        // The other tenant's document is still waiting for its bytes.
        const check = await ok<{ completeUploads: { status: string }[] }>(
          o,
          "setup",
          "mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }",
          { ids: [o.pendingDocId] },
        );
        expect(check.completeUploads[0]!.status).toBe("NOT_UPLOADED");
        count("url.upload");
        expect((await postTarget(r.target, bytes)).status).toBe(204);
      },
    };

    // Every root field of the schema has a generator here, and every generator a field.
    const schema = toSchema();
    const fields = (type: { getFields(): Record<string, unknown> } | null | undefined) =>
      Object.keys(type?.getFields() ?? {}).sort();
    expect(fields(schema.getQueryType()), "Query fields covered by the cross-tenant walk").toEqual(
      Object.keys(QUERY).sort(),
    );
    expect(fields(schema.getMutationType()), "Mutation fields covered by the cross-tenant walk").toEqual(
      Object.keys(MUTATION).sort(),
    );
    expect(
      fields(schema.getSubscriptionType()),
      "Subscription fields covered by the cross-tenant walk",
    ).toEqual(Object.keys(SUBSCRIPTION).sort());

    const kinds: [number, Record<string, (t: Tenant) => Promise<void>>][] = [
      [0.45, QUERY],
      [0.3, MUTATION],
      [0.12, SUBSCRIPTION],
      [0.13, URLS],
    ];
    // Each field once for each tenant first (so none is left to chance), then the random walk.
    const plan: [Tenant, (t: Tenant) => Promise<void>][] = [];
    for (const [, group] of kinds) for (const fn of Object.values(group)) plan.push([A, fn], [B, fn]);
    for (let i = 0; i < ROUNDS; i++) {
      const r = rnd();
      let sum = 0;
      const group =
        kinds.find(([w]) => {
          sum += w;
          return r < sum;
        })?.[1] ?? QUERY;
      plan.push([chance(0.5) ? A : B, pick(Object.values(group))]);
    }
    for (const [t, fn] of plan) {
      round++;
      await fn(t);
    }

    // A change of each tenant's own document while the long-lived subscriptions listen: each sees its
    // own live event, and nothing of the other tenant's.
    for (const t of [A, B]) {
      await ok(
        t,
        "setup",
        "mutation($f: ReprocessFilter!) { reprocess(filter: $f, stages: [INDEX], force: true) { queued } }",
        {
          f: { ids: [t.pdfDocId] },
        },
      );
    }
    await Promise.race([
      Promise.all(live.map((l) => l.sawLive)),
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("a held subscription saw no live event in 60 s")), 60_000).unref(),
      ),
    ]);
    for (const l of live) await l.close();
    expect(subscriptionErrors).toEqual([]);
    for (const l of live) {
      for (const e of l.events) if (e.documentId) expect(l.tenant.docIds.has(e.documentId)).toBe(true);
      expect(l.events.every((e) => e.batchId === l.tenant.batchId)).toBe(true);
    }

    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const table = [...counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => `  ${String(n).padStart(5)}  ${k}`)
      .join("\n");
    console.log(
      `tenant isolation: seed ${SEED}, ${plan.length} rounds, ${total} requests by kind:\n${table}\n` +
        `  live subscription messages: ${live.map((l) => `${l.tenant.label}/${l.transport} ${l.messages}`).join(", ")}\n` +
        `${leaks.length} leaks`,
    );
    expect(leaks).toEqual([]);
  }, 600_000);

  /**
   * A subscription held open through the walk, collecting its events; `sawLive` resolves once an
   * event newer than the ones replayed at the start arrives.
   */
  async function follow(t: Tenant, transport: "ws" | "sse", batchId: string) {
    const query = `subscription($id: ID!) { batchProgress(id: $id) { batchId cursor events { seq documentId } } }`;
    const events: { seq: number; documentId: string | null; batchId: string }[] = [];
    let messages = 0;
    const start = (
      await system.app.deps.db.prisma.batch.findUniqueOrThrow({
        where: { id: batchId },
        select: { eventSeq: true },
      })
    ).eventSeq;
    let resolveLive!: () => void;
    const sawLive = new Promise<void>((r) => {
      resolveLive = r;
    });
    const onMessage = (msg: {
      data?: { batchProgress?: { batchId: string; events: { seq: number; documentId: string | null }[] } };
    }) => {
      scan(t, `live ${transport}`, JSON.stringify(msg));
      const m = msg.data?.batchProgress;
      if (!m) return;
      messages++;
      for (const e of m.events) events.push({ ...e, batchId: m.batchId });
      if (m.events.some((e) => e.seq > start)) resolveLive();
    };
    let close: () => Promise<void>;
    let ready: Promise<void>;
    if (transport === "ws") {
      const client = createClient({
        url: `${url.replace(/^http/, "ws")}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${t.key}` },
      });
      let first!: () => void;
      ready = new Promise((r) => {
        first = r;
      });
      const stop = client.subscribe(
        { query, variables: { id: batchId } },
        {
          next: (msg) => {
            onMessage(msg as never);
            first();
          },
          error: (err) => subscriptionErrors.push(`${t.label} ws: ${JSON.stringify(err)}`),
          complete: () => {},
        },
      );
      close = async () => {
        stop();
        await client.dispose();
      };
    } else {
      const controller = new AbortController();
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          authorization: `Bearer ${t.key}`,
        },
        body: JSON.stringify({ query, variables: { id: batchId } }),
        signal: controller.signal,
      });
      let first!: () => void;
      ready = new Promise((r) => {
        first = r;
      });
      const reading = (async () => {
        try {
          for await (const msg of sseMessages<never>(res)) {
            onMessage(msg);
            first();
          }
        } catch {
          // aborted at close
        }
      })();
      close = async () => {
        controller.abort();
        await reading;
      };
    }
    count(`subscription.batchProgress ${transport} (held open)`);
    await ready; // the replay arrived: the subscription is registered for live events
    return {
      tenant: t,
      transport,
      events,
      sawLive,
      close: () => close(),
      get messages() {
        return messages;
      },
    };
  }
});

function sha(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** POSTs `bytes` to an upload target as the browser form would. */
function postTarget(target: { url: string; fields: { name: string; value: string }[] }, bytes: Buffer) {
  const form = new FormData();
  for (const f of target.fields) form.append(f.name, f.value);
  form.append("file", new Blob([new Uint8Array(bytes)]), "file");
  return fetch(target.url, { method: "POST", body: form });
}
