import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toSchema } from "@docfleet/gateway";
import { ApiKeys, type Scope } from "@docfleet/pipeline";
import {
  GraphQLEnumType,
  type GraphQLField,
  GraphQLInputObjectType,
  type GraphQLInputType,
  GraphQLList,
  GraphQLNonNull,
  type GraphQLScalarType,
  getNamedType,
  isCompositeType,
} from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { sseMessages } from "../helpers/graphql.ts";
import { inProcessSystem, type System } from "../helpers/system.ts";

/**
 * API keys on every operation of the schema: missing, malformed, unknown, expired, revoked and
 * wrong-scope keys are refused with the right code, a key with the right scopes gets through, and a
 * key revoked (or expiring) under a live subscription ends it, over graphql-ws and SSE.
 */

/** The scopes each operation needs. Must name every root field: a new one fails the first test. */
const REQUIRED: Record<string, Scope[]> = {
  "Query.batch": ["read"],
  "Query.batches": ["read"],
  "Query.categories": ["read"],
  "Query.document": ["read"],
  "Query.documents": ["read"],
  "Query.quarantine": ["read"],
  "Query.queues": ["admin"],
  "Query.workers": ["admin"],
  "Query.search": ["read"],
  "Query.similar": ["read"],
  "Subscription.batchProgress": ["read"],
  "Subscription.documentProgress": ["read"],
  "Mutation.createBatch": ["upload"],
  "Mutation.requestUploads": ["upload"],
  "Mutation.completeUploads": ["upload"],
  "Mutation.startMultipartUpload": ["upload"],
  "Mutation.completeMultipartUpload": ["upload"],
  "Mutation.abortMultipartUpload": ["upload"],
  "Mutation.correctDocument": ["read", "upload"],
  "Mutation.defineCategory": ["admin"],
  "Mutation.updateCategory": ["admin"],
  "Mutation.reprocess": ["admin"],
  "Mutation.retryDocuments": ["admin"],
  "Mutation.retryBatch": ["admin"],
};

interface Op {
  name: string;
  subscription: boolean;
  query: string;
  variables: Record<string, unknown>;
}

/** Every root field of the schema as a minimal valid operation (required arguments only). */
function schemaOperations(): Op[] {
  const schema = toSchema();
  const roots = [
    ["query", schema.getQueryType()],
    ["mutation", schema.getMutationType()],
    ["subscription", schema.getSubscriptionType()],
  ] as const;
  return roots.flatMap(([kind, type]) =>
    Object.values(type?.getFields() ?? {}).map((f) => operation(kind, type!.name, f)),
  );
}

function operation(kind: string, typeName: string, field: GraphQLField<unknown, unknown>): Op {
  const variables: Record<string, unknown> = {};
  const defs: string[] = [];
  const args: string[] = [];
  for (const a of field.args) {
    if (!(a.type instanceof GraphQLNonNull) || a.defaultValue !== undefined) continue;
    variables[a.name] = sample(a.type);
    defs.push(`$${a.name}: ${a.type.toString()}`);
    args.push(`${a.name}: $${a.name}`);
  }
  const selection = isCompositeType(getNamedType(field.type)) ? " { __typename }" : "";
  return {
    name: `${typeName}.${field.name}`,
    subscription: kind === "subscription",
    query: `${kind}${defs.length ? `(${defs.join(", ")})` : ""} { ${field.name}${args.length ? `(${args.join(", ")})` : ""}${selection} }`,
    variables,
  };
}

function sample(t: GraphQLInputType): unknown {
  if (t instanceof GraphQLNonNull) return sample(t.ofType);
  if (t instanceof GraphQLList) return [sample(t.ofType)];
  if (t instanceof GraphQLEnumType) return t.getValues()[0]!.name;
  if (t instanceof GraphQLInputObjectType)
    return Object.fromEntries(
      Object.values(t.getFields())
        .filter((f) => f.type instanceof GraphQLNonNull)
        .map((f) => [f.name, sample(f.type)]),
    );
  const scalar: Record<string, unknown> = {
    ID: randomUUID(),
    String: "x",
    Int: 1,
    Float: 1,
    Boolean: true,
    DateTime: new Date().toISOString(),
    JSON: {},
  };
  const name = (t as GraphQLScalarType).name;
  if (!(name in scalar)) throw new Error(`no sample value for scalar ${name}: add one`);
  return scalar[name];
}

interface GqlError {
  message: string;
  extensions?: { code?: string; reason?: string; missingScopes?: string[] };
}

describe("API keys and scopes on every operation", () => {
  let dir: string;
  let url: string;
  let system: System;
  let keys: ApiKeys;
  let tenantId: string;
  const ops = schemaOperations();
  /** Bearer values by the scopes they hold. */
  const key: Record<"read" | "upload" | "readUpload" | "admin", string> = {} as never;
  /** Refused Authorization values (null: no header), by the reason the gateway must give. */
  const refused: Record<string, string | null> = {};

  async function newKey(scopes: Scope[], expiresAt?: Date) {
    const { secret, key } = await keys.create({ tenantId, name: scopes.join("+"), scopes, expiresAt });
    return { bearer: `Bearer ${secret}`, id: key.id };
  }

  /** Sends `op` over HTTP (SSE for subscriptions); answers the status and the first result's errors. */
  async function call(op: Op, authorization: string | null) {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: op.subscription ? "text/event-stream" : "application/json",
        ...(authorization !== null ? { authorization } : {}),
      },
      body: JSON.stringify({ query: op.query, variables: op.variables }),
    });
    let body: { errors?: GqlError[] } | undefined;
    if (op.subscription) {
      for await (const m of sseMessages<{ errors?: GqlError[] }>(res)) {
        body = m;
        break;
      }
    } else body = (await res.json()) as { errors?: GqlError[] };
    return { status: res.status, errors: body?.errors ?? [] };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-auth-"));
    const started = await inProcessSystem(dir, {
      env: { DOCFLEET_LOG_LEVEL: "silent", DOCFLEET_AUTH_RECHECK_MS: "200" },
      allowAnonymous: false,
    });
    system = started;
    url = started.url;
    const { deps } = started;
    keys = new ApiKeys(deps.db.prisma);
    tenantId = (await keys.tenantByName(`acme-${randomUUID()}`, { create: true }))!.id;
    key.read = (await newKey(["read"])).bearer;
    key.upload = (await newKey(["upload"])).bearer;
    key.readUpload = (await newKey(["read", "upload"])).bearer;
    key.admin = (await newKey(["admin"])).bearer;
    const expired = await newKey(["admin"], new Date(Date.now() + 3_600_000));
    await deps.db.prisma.apiKey.update({
      where: { id: expired.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const revoked = await newKey(["admin"]);
    await keys.revoke(revoked.id);
    refused.missing = null;
    refused.malformed = "Bearer not-a-docfleet-key";
    refused.unknown = `Bearer dfk_${randomBytes(32).toString("base64url")}`;
    refused.expired = expired.bearer;
    refused.revoked = revoked.bearer;
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("covers every operation of the schema, each with its scopes", () => {
    expect(ops.map((o) => o.name).sort()).toEqual(Object.keys(REQUIRED).sort());
  });

  for (const reason of ["missing", "malformed", "unknown", "expired", "revoked"]) {
    it(`refuses a ${reason} key on every operation: UNAUTHENTICATED, 401`, async () => {
      for (const op of ops) {
        const r = await call(op, refused[reason] ?? null);
        expect(
          { op: op.name, codes: r.errors.map((e) => [e.extensions?.code, e.extensions?.reason]) },
          op.query,
        ).toEqual({ op: op.name, codes: [["UNAUTHENTICATED", reason]] });
        expect(r.errors[0]!.message).toContain(reason === "missing" ? "required" : reason);
        expect(r.status, op.name).toBe(401);
      }
    });
  }

  it("refuses a key without the operation's scope on every operation: FORBIDDEN naming the scope, 403", async () => {
    const prisma = system.app.deps.db.prisma;
    const rows = async () => ({
      batches: await prisma.batch.count({ where: { tenantId } }),
      documents: await prisma.document.count({ where: { tenantId } }),
      categories: await prisma.category.count({ where: { tenantId } }),
    });
    const before = await rows();
    for (const op of ops) {
      const need = REQUIRED[op.name]!;
      // Each key that lacks one of the needed scopes (admin: one with every other scope).
      const wrong = need.includes("admin")
        ? [key.readUpload]
        : need.map((s) => (s === "read" ? key.upload : key.read));
      for (const bearer of wrong) {
        const r = await call(op, bearer);
        expect({ op: op.name, codes: r.errors.map((e) => e.extensions?.code) }).toEqual({
          op: op.name,
          codes: ["FORBIDDEN"],
        });
        const missing = r.errors[0]!.extensions?.missingScopes ?? [];
        expect(missing.length, op.name).toBeGreaterThan(0);
        for (const s of missing) {
          expect(need).toContain(s);
          expect(r.errors[0]!.message).toContain(`"${s}"`);
        }
        expect(r.status, op.name).toBe(403);
      }
    }
    // refused before any resolver ran: nothing was written
    expect(await rows()).toEqual(before);
  });

  /**
   * Requests a web page can send without a CORS preflight (issue 15): refused on every operation before
   * anything runs, even when they carry the admin key, so a page can never make a browser change or
   * read anything. A GET that carries a preflight-only header is a client's, not a page's: it runs.
   */
  const SIMPLE: {
    name: string;
    send: (op: Op, authorization: string) => Promise<Response>;
    status: (op: Op) => number;
  }[] = [
    {
      name: "a form-encoded POST",
      send: (op, authorization) =>
        fetch(`${url}/graphql`, {
          method: "POST",
          headers: { authorization, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ query: op.query, variables: JSON.stringify(op.variables) }),
        }),
      status: () => 415,
    },
    {
      name: "a multipart POST",
      send: (op, authorization) => {
        const form = new FormData();
        form.append("operations", JSON.stringify({ query: op.query, variables: op.variables }));
        form.append("map", "{}");
        return fetch(`${url}/graphql`, { method: "POST", headers: { authorization }, body: form });
      },
      status: () => 415,
    },
    {
      name: "a text/plain POST",
      send: (op, authorization) =>
        fetch(`${url}/graphql`, {
          method: "POST",
          headers: { authorization, "content-type": "text/plain" },
          body: JSON.stringify({ query: op.query, variables: op.variables }),
        }),
      status: () => 415,
    },
    {
      name: "a GET without a preflight header",
      send: (op, authorization) => fetch(getUrl(op), { headers: { authorization, accept: accept(op) } }),
      status: () => 403,
    },
    {
      name: "a GET with x-graphql-yoga-csrf",
      send: (op, authorization) =>
        fetch(getUrl(op), { headers: { authorization, accept: accept(op), "x-graphql-yoga-csrf": "1" } }),
      // Runs, but never a mutation over GET (yoga: 405).
      status: (op) => (op.query.startsWith("mutation") ? 405 : 200),
    },
  ];
  const getUrl = (op: Op) =>
    `${url}/graphql?${new URLSearchParams({ query: op.query, variables: JSON.stringify(op.variables) })}`;
  const accept = (op: Op) => (op.subscription ? "text/event-stream" : "application/json");

  for (const simple of SIMPLE) {
    it(`${simple.name} with the admin key, on every operation: ${simple.status(ops[0]!)}`, async () => {
      const prisma = system.app.deps.db.prisma;
      const rows = async () => ({
        batches: await prisma.batch.count({ where: { tenantId } }),
        categories: await prisma.category.count({ where: { tenantId } }),
      });
      const before = await rows();
      for (const op of ops) {
        const res = await simple.send(op, key.admin);
        await res.body?.cancel();
        expect({ op: op.name, status: res.status }).toEqual({ op: op.name, status: simple.status(op) });
      }
      // Refused before anything ran: nothing was written (a query that runs may seed the categories).
      if (simple.status(ops[0]!) >= 400) expect(await rows()).toEqual(before);
    });
  }

  it("lets a key with the operation's scopes through on every operation (admin: on all of them)", async () => {
    for (const op of ops) {
      const need = REQUIRED[op.name]!;
      const right = need.includes("admin")
        ? key.admin
        : need.length === 2
          ? key.readUpload
          : need[0] === "read"
            ? key.read
            : key.upload;
      for (const bearer of [right, key.admin]) {
        const r = await call(op, bearer);
        // It may still fail for its dummy arguments (NOT_FOUND, BAD_REQUEST), never for its key.
        const codes = r.errors.map((e) => e.extensions?.code);
        expect(codes, op.name).not.toContain("FORBIDDEN");
        expect(codes, op.name).not.toContain("UNAUTHENTICATED");
      }
    }
  });

  /** A raw graphql-transport-ws connection sending `authorization` in connection_init. */
  function wsConnection(authorization: string | null) {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    const inbox: { type: string; id?: string; payload?: unknown }[] = [];
    let wake: (() => void) | null = null;
    ws.on("message", (d) => {
      inbox.push(JSON.parse(String(d)));
      wake?.();
    });
    ws.once("open", () =>
      ws.send(JSON.stringify({ type: "connection_init", payload: authorization ? { authorization } : {} })),
    );
    /** The next message of `type` (rejects if the socket closes first). */
    const next = (type: string) =>
      new Promise<{ type: string; id?: string; payload?: unknown }>((resolve, reject) => {
        const check = () => {
          const i = inbox.findIndex((m) => m.type === type);
          if (i >= 0) {
            wake = null;
            resolve(inbox.splice(i, 1)[0]!);
          }
        };
        wake = check;
        check();
        void closed.then((c) => reject(new Error(`socket closed (${c.code} ${c.reason}) before ${type}`)));
      });
    const subscribe = (id: string, query: string, variables: Record<string, unknown>) =>
      ws.send(JSON.stringify({ id, type: "subscribe", payload: { query, variables } }));
    return { ws, closed, next, subscribe };
  }

  it("refuses a graphql-ws connection with a missing, malformed, unknown, expired or revoked key: close 4401", async () => {
    for (const [reason, authorization] of Object.entries(refused)) {
      const c = wsConnection(authorization);
      const { code, reason: text } = await c.closed;
      expect({ reason, code }).toEqual({ reason, code: 4401 });
      expect(text).toContain(reason === "missing" ? "required" : reason);
    }
  });

  it("answers FORBIDDEN to a graphql-ws subscription the key has no scope for", async () => {
    const c = wsConnection(key.upload);
    await c.next("connection_ack");
    c.subscribe("1", "subscription($id: ID!) { batchProgress(id: $id) { cursor } }", { id: randomUUID() });
    const m = await c.next("next");
    expect((m.payload as { errors: GqlError[] }).errors.map((e) => e.extensions?.code)).toEqual([
      "FORBIDDEN",
    ]);
    c.ws.close();
    await c.closed;
  });

  /** A batch with one registered document, so a subscription from 0 has a first message to replay. */
  async function batchWithOneEvent(): Promise<string> {
    const admin = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: key.admin },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data: Record<string, { id: string }>; errors?: unknown };
      expect(body.errors).toBeUndefined();
      return body.data;
    };
    const { createBatch } = await admin('mutation { createBatch(input: { name: "live" }) { id } }', {});
    const bytes = randomBytes(64);
    await admin(
      "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status } }",
      {
        b: createBatch!.id,
        f: [{ name: "a.txt", size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") }],
      },
    );
    return createBatch!.id;
  }

  const PROGRESS = "subscription($id: ID!) { batchProgress(id: $id) { cursor } }";

  it("closes a live graphql-ws subscription with 4403 once its key is revoked", async () => {
    const batchId = await batchWithOneEvent();
    const k = await newKey(["read"]);
    const c = wsConnection(k.bearer);
    await c.next("connection_ack");
    c.subscribe("1", PROGRESS, { id: batchId });
    const first = await c.next("next");
    expect(
      (first.payload as { data: { batchProgress: { cursor: number } } }).data.batchProgress.cursor,
    ).toBeGreaterThan(0);
    await keys.revoke(k.id);
    expect(await c.closed).toEqual({ code: 4403, reason: "key revoked" });
    // and the key no longer opens a connection
    expect((await wsConnection(k.bearer).closed).code).toBe(4401);
  });

  /** Opens an SSE subscription to the batch's progress and reads its first (replayed) message. */
  async function sseSubscription(bearer: string, batchId: string) {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: bearer },
      body: JSON.stringify({ query: PROGRESS, variables: { id: batchId } }),
    });
    expect(res.status).toBe(200);
    const messages = sseMessages<{ data?: { batchProgress: { cursor: number } }; errors?: GqlError[] }>(res);
    const first = await messages.next();
    expect(first.value?.data?.batchProgress.cursor).toBeGreaterThan(0);
    return messages;
  }

  it("ends a live SSE subscription with UNAUTHENTICATED once its key is revoked", async () => {
    const batchId = await batchWithOneEvent();
    const k = await newKey(["read"]);
    const messages = await sseSubscription(k.bearer, batchId);
    await keys.revoke(k.id);
    const last = await messages.next();
    expect(last.value?.errors?.map((e: GqlError) => [e.extensions?.code, e.extensions?.reason])).toEqual([
      ["UNAUTHENTICATED", "revoked"],
    ]);
    expect((await messages.next()).done).toBe(true);
  });

  it("ends a live SSE subscription with UNAUTHENTICATED once its key expires", async () => {
    const batchId = await batchWithOneEvent();
    const k = await newKey(["read"], new Date(Date.now() + 2000));
    const messages = await sseSubscription(k.bearer, batchId);
    const last = await messages.next();
    expect(last.value?.errors?.map((e: GqlError) => [e.extensions?.code, e.extensions?.reason])).toEqual([
      ["UNAUTHENTICATED", "expired"],
    ]);
    expect((await messages.next()).done).toBe(true);
  });
});
