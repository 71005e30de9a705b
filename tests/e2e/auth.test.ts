import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toSchema } from "@docfleet/gateway";
import { ApiKeys, effectiveScopes, type Scope, STAGES } from "@docfleet/pipeline";
import {
  GraphQLEnumType,
  type GraphQLField,
  GraphQLInputObjectType,
  type GraphQLInputType,
  GraphQLList,
  type GraphQLNamedType,
  GraphQLNonNull,
  type GraphQLOutputType,
  type GraphQLScalarType,
  getNamedType,
  isAbstractType,
  isCompositeType,
  isNonNullType,
  isObjectType,
} from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { followBatch, sseMessages } from "../helpers/graphql.ts";
import { inProcessSystem, perStage, type System } from "../helpers/system.ts";

/**
 * API keys on every operation of the schema: missing, malformed, unknown, expired, revoked and
 * wrong-scope keys are refused with the right code, a key with the right scopes gets through, and a
 * key revoked (or expiring) under a live subscription ends it, over graphql-ws and SSE.
 */

/** The scopes each operation needs. Must name every root field: a new one fails the first test. */
const REQUIRED: Record<string, Scope[]> = {
  "Query.node": ["read"],
  "Query.apiKeys": ["admin"],
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
  "Mutation.deleteDocuments": ["admin"],
  "Mutation.deleteBatch": ["admin"],
  "Mutation.cancelBatch": ["admin"],
  "Mutation.createApiKey": ["admin"],
  "Mutation.revokeApiKey": ["admin"],
  "Query.webhooks": ["admin"],
  "Query.webhookDeliveries": ["admin"],
  "Mutation.createWebhook": ["admin"],
  "Mutation.updateWebhook": ["admin"],
  "Mutation.deleteWebhook": ["admin"],
  "Mutation.redeliverWebhookDelivery": ["admin"],
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
    keys = new ApiKeys(deps.db);
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

/**
 * What a mutation's answer lets each key read (issue 15, hole 3: `requestUploads { document { batch {
 * documents { ... text downloadUrl } } } }` gave an upload-only key the whole archive). Every scope
 * combination × every field reachable from every mutation's answer, walked from the schema: a field or
 * type added tomorrow is probed the day it exists, and is refused to a key without "read" unless
 * WITHOUT_READ names it.
 */
/** All a key without "read" may see of a mutation's answer: ids and statuses of what it sent. */
const WITHOUT_READ = new Set([
  "Batch.id",
  "Document.id",
  "Document.status",
  ...["name", "status", "documentId", "batchId", "documentName", "document", "target", "code", "message"].map(
    (f) => `UploadResult.${f}`,
  ),
  "UploadTarget.url",
  "UploadTarget.fields",
  "UploadTarget.expiresAt",
  "FormField.name",
  "FormField.value",
  "CompleteResult.documentId",
  "CompleteResult.status",
  "CompleteResult.message",
  "MultipartTarget.uploadId",
  "MultipartTarget.partSize",
  "MultipartTarget.parts",
  "MultipartTarget.expiresAt",
  "MultipartPart.partNumber",
  "MultipartPart.url",
]);

/** A refused probe: the selection that reaches one field a key may not read, and that field's path. */
interface Probe {
  path: string[];
  selection: string;
}

/**
 * The selection of everything `canSee` allows below `type` (each object type expanded once, at its
 * shortest path; later visits select `__typename`), and a probe per field it refuses (not expanded:
 * nothing below a refused field can be reached).
 */
function walk(
  root: GraphQLOutputType,
  canSee: (coordinate: string) => boolean,
): { allowed: string; refused: Probe[] } {
  const refused: Probe[] = [];
  const expanded = new Set<string>();
  // Breadth first, so that a type is expanded at its shortest path (parents are non-null there).
  type Selection = (string | Selection)[];
  type Node = { type: GraphQLNamedType; path: string[]; wrap: (inner: string) => string; out: Selection };
  const top: Selection = [];
  const queue: Node[] = [{ type: getNamedType(root), path: [], wrap: (s) => s, out: top }];
  while (queue.length) {
    const { type, path, wrap, out } = queue.shift()!;
    if (isAbstractType(type)) throw new Error(`${type.name}: an interface or union; walk its possible types`);
    if (!isObjectType(type)) continue;
    if (expanded.has(type.name)) {
      out.push("__typename");
      continue;
    }
    expanded.add(type.name);
    for (const field of Object.values(type.getFields())) {
      const coordinate = `${type.name}.${field.name}`;
      if (field.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined))
        throw new Error(`${coordinate} has a required argument: give the walk a value for it`);
      const fieldPath = [...path, field.name];
      if (!canSee(coordinate)) {
        const leaf = isCompositeType(getNamedType(field.type)) ? `${field.name} { __typename }` : field.name;
        refused.push({ path: fieldPath, selection: wrap(leaf) });
        continue;
      }
      if (!isCompositeType(getNamedType(field.type))) {
        out.push(field.name);
        continue;
      }
      const inner: Selection = [];
      out.push(field.name, "{", inner, "}");
      queue.push({
        type: getNamedType(field.type),
        path: fieldPath,
        wrap: (s) => wrap(`${field.name} { ${s} }`),
        out: inner,
      });
    }
  }
  const render = (parts: Selection): string => parts.map((p) => (Array.isArray(p) ? render(p) : p)).join(" ");
  return { allowed: render(top), refused };
}

describe("what a mutation's answer lets each key read", () => {
  const schema = toSchema();
  /**
   * The scopes a root field's authScopes name ({ upload: true }, { $all: { read: true, upload: true } }),
   * read from the schema itself so that a mutation added elsewhere is walked without a table entry here.
   */
  const needs = (f: GraphQLField<unknown, unknown>): Scope[] => {
    const flatten = (o: Record<string, unknown>): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        k.startsWith("$") ? flatten(v as Record<string, unknown>) : [k],
      );
    const options = f.extensions?.pothosOptions as { authScopes?: Record<string, unknown> } | undefined;
    const scopes = options?.authScopes ?? {};
    return flatten(scopes) as Scope[];
  };
  // Only a key with "admin" calls an admin mutation, and it reads everything: the walk covers the
  // mutations whose answers reach keys without "read".
  const mutations = Object.values(schema.getMutationType()!.getFields()).filter(
    (f) => isCompositeType(getNamedType(f.type)) && !needs(f).includes("admin"),
  );
  /** Every combination of scopes a key can be made with. */
  const COMBOS: Scope[][] = [
    ["read"],
    ["upload"],
    ["admin"],
    ["read", "upload"],
    ["read", "admin"],
    ["upload", "admin"],
    ["read", "upload", "admin"],
  ];
  let dir: string;
  let system: System;
  let url: string;
  let tenantId: string;
  const bearer = new Map<string, string>();
  /** The data each mutation is called on: a completed document, its batch, a document without bytes. */
  let fixture: {
    batchId: string;
    documentId: string;
    category: string;
    file: { name: string; size: number; sha256: string };
    pendingId: string;
  };
  let n = 0;
  /** Valid arguments for every mutation with an object answer (a new one fails the first test). */
  const ARGS: Record<string, () => Record<string, unknown>> = {
    createBatch: () => ({ input: { name: `walk ${++n}` } }),
    // The same content again in its own batch: DUPLICATE with `document` set, for every key.
    requestUploads: () => ({ batchId: fixture.batchId, files: [fixture.file] }),
    completeUploads: () => ({ documentIds: [fixture.documentId] }),
    startMultipartUpload: () => ({ documentId: fixture.pendingId }),
    correctDocument: () => ({ id: fixture.documentId, category: fixture.category }),
  };

  async function post(key: string, query: string, variables: Record<string, unknown>) {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: key },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as {
      data?: Record<string, unknown> | null;
      errors?: (GqlError & { path?: (string | number)[] })[];
    };
  }

  /** `mutation(<its arguments>) { <field>(...) { selection } }` */
  function mutation(field: GraphQLField<unknown, unknown>, selection: string) {
    const variables = ARGS[field.name]!();
    const used = field.args.filter((a) => a.name in variables);
    const defs = used.map((a) => `$${a.name}: ${a.type.toString()}`).join(", ");
    const args = used.map((a) => `${a.name}: $${a.name}`).join(", ");
    return {
      query: `mutation${defs ? `(${defs})` : ""} { ${field.name}${args ? `(${args})` : ""} { ${selection} } }`,
      variables,
    };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-reach-"));
    system = await inProcessSystem(dir, {
      env: { DOCFLEET_LOG_LEVEL: "silent" },
      allowAnonymous: false,
      worker: { roles: STAGES, concurrency: perStage(1) },
      // The walk's whole-answer selections are large on purpose: scopes are what is tested here.
      gateway: { hardening: { limits: { maxTokens: 100_000, maxCost: 1e12, maxDepth: 50 } } },
    });
    url = system.url;
    const keys = new ApiKeys(system.deps.db);
    tenantId = (await keys.tenantByName(`reach-${randomUUID()}`, { create: true }))!.id;
    for (const scopes of COMBOS) {
      const { secret } = await keys.create({ tenantId, name: scopes.join("+"), scopes });
      bearer.set(scopes.join("+"), `Bearer ${secret}`);
    }
    const admin = bearer.get("admin")!;
    const ok = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
      const r = await post(admin, query, variables);
      expect(r.errors, query).toBeUndefined();
      return r.data as T;
    };
    const { createBatch } = await ok<{ createBatch: { id: string } }>(
      'mutation { createBatch(input: { name: "archive" }) { id } }',
    );
    const batchId = createBatch.id;
    const bytes = Buffer.from(
      "INVOICE\nInvoice number: INV-1\nTotal due: 12.50 EUR\nThe archive's private text.\n",
    );
    const file = {
      name: "invoice.txt",
      size: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("hex"),
    };
    const { requestUploads } = await ok<{
      requestUploads: {
        documentId: string;
        target: { url: string; fields: { name: string; value: string }[] };
      }[];
    }>(
      `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
        documentId target { url fields { name value } } } }`,
      // the second is never uploaded: startMultipartUpload's document
      { b: batchId, f: [file, { name: "later.bin", size: 10, sha256: "0".repeat(64) }] },
    );
    const [answer, later] = requestUploads;
    const form = new FormData();
    for (const f of answer!.target.fields) form.append(f.name, f.value);
    form.append("file", new Blob([new Uint8Array(bytes)]), file.name);
    expect((await fetch(answer!.target.url, { method: "POST", body: form })).status).toBeLessThan(300);
    await ok("mutation($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }", {
      ids: [answer!.documentId],
    });
    await followBatch(url, batchId, "the document completed", (m) => m.counts.completed === 1, {
      headers: { authorization: admin },
    });
    const { document } = await ok<{ document: { category: string } }>(
      "query($id: ID!) { document(id: $id) { category } }",
      { id: answer!.documentId },
    );
    fixture = {
      batchId,
      documentId: answer!.documentId,
      category: document.category,
      file,
      pendingId: later!.documentId,
    };
  }, 180_000);

  afterAll(async () => {
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("has arguments for every mutation that answers an object to a key without admin", () => {
    expect(mutations.map((m) => m.name).sort()).toEqual(Object.keys(ARGS).sort());
  });

  for (const scopes of COMBOS) {
    it(`a key with ${scopes.join(" + ")}: every field of every mutation's answer, refused or allowed as its scopes say`, async () => {
      const key = bearer.get(scopes.join("+"))!;
      const held = effectiveScopes(scopes);
      const reads = held.includes("read");
      const report: string[] = [];
      for (const field of mutations) {
        if (!needs(field).every((s) => held.includes(s))) {
          const r = await post(
            key,
            mutation(field, "__typename").query,
            mutation(field, "__typename").variables,
          );
          if (r.errors?.[0]?.extensions?.code !== "FORBIDDEN") report.push(`${field.name}: not refused`);
          continue;
        }
        const { allowed, refused } = walk(field.type, (c) => reads || WITHOUT_READ.has(c));
        const all = mutation(field, allowed);
        const r = await post(key, all.query, all.variables);
        if (r.errors?.length) report.push(`${field.name} (allowed part): ${JSON.stringify(r.errors)}`);
        else if (r.data?.[field.name] == null) report.push(`${field.name}: answered nothing to walk`);
        for (const probe of refused) {
          const p = mutation(field, probe.selection);
          const got = await post(key, p.query, p.variables);
          const want = [field.name, ...probe.path].join(".");
          const at = got.errors?.find((e) => e.path?.filter((s) => typeof s === "string").join(".") === want);
          if (!at) report.push(`${want}: not refused (${JSON.stringify(got.errors ?? got.data)})`);
          else if (at.extensions?.code !== "FORBIDDEN" || !at.message.includes('"read"'))
            report.push(`${want}: ${at.extensions?.code} ${at.message}`);
        }
        // A non-read key must have met refusals (Document, Batch) wherever they are reachable.
        if (!reads && field.name === "requestUploads")
          expect(refused.map((p) => p.path.join("."))).toContain("document.text");
      }
      expect(report).toEqual([]);
    }, 120_000);
  }

  it('answers a DUPLICATE held by another batch with nothing a key without "read" may not read', async () => {
    const upload = bearer.get("upload")!;
    const own = await post(upload, 'mutation { createBatch(input: { name: "mine" }) { id } }', {});
    const batchId = (own.data!.createBatch as { id: string }).id;
    const q = `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
      status documentId batchId documentName message document { id status } } }`;
    const dup = await post(upload, q, { b: batchId, f: [fixture.file] });
    expect(dup.errors).toBeUndefined();
    expect(dup.data!.requestUploads).toEqual([
      {
        status: "DUPLICATE",
        documentId: null,
        batchId: null,
        documentName: null,
        message: "the tenant already holds this content in another batch",
        document: null,
      },
    ]);
    // A key that reads the archive is told where the content is.
    const read = await post(bearer.get("read+upload")!, q, { b: batchId, f: [fixture.file] });
    expect(read.data!.requestUploads).toEqual([
      expect.objectContaining({
        status: "DUPLICATE",
        documentId: fixture.documentId,
        batchId: fixture.batchId,
        documentName: fixture.file.name,
        document: { id: fixture.documentId, status: "COMPLETED" },
      }),
    ]);
    // In its own batch, the upload key still tells its earlier upload by batch and name (the CLI's resume).
    const same = await post(upload, q, { b: fixture.batchId, f: [fixture.file] });
    expect(same.data!.requestUploads).toEqual([
      expect.objectContaining({
        status: "DUPLICATE",
        documentId: fixture.documentId,
        batchId: fixture.batchId,
        documentName: fixture.file.name,
      }),
    ]);
  });
});
