import { createHash, randomBytes } from "node:crypto";
import { createGateway, type Gateway } from "@docfleet/gateway";
import { createClient } from "graphql-ws";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { gql } from "../helpers/cli.ts";
import { test } from "../helpers/fixtures.ts";
import { completeUploads, sseMessages, uploadFiles, whenSubscribed } from "../helpers/graphql.ts";
import type { System } from "../helpers/system.ts";
import { within } from "../helpers/wait.ts";

interface Message {
  cursor: number;
  finished: boolean;
  counts: { total: number; completed: number; failed: number };
  events: { seq: number; type: string; documentId: string | null; code: string | null }[];
}

const BATCH_PROGRESS = `subscription($id: ID!, $after: Int) { batchProgress(id: $id, after: $after) {
  cursor finished documentsPerMinute etaSeconds counts { total completed failed }
  events { seq type documentId code } } }`;

/** Live progress over graphql-ws and SSE on the embedded server: replay + live, no gap, no duplicate. */
describe("subscriptions: batchProgress and documentProgress", () => {
  let system: System;
  let url: string;
  // This file's embedded system (`docfleet serve` in process), stopped after its last test.
  test.beforeAll(({ embedded }) => {
    system = embedded;
    url = system.url;
  });

  /** A batch of `n` small documents (one binary: it fails), uploaded but not yet queued. */
  async function prepare(
    n: number,
  ): Promise<{ batchId: string; complete: () => Promise<void>; ids: string[] }> {
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      url,
      'mutation { createBatch(input: { name: "subs" }) { id } }',
    );
    const files = Array.from({ length: n }, (_, i) => ({
      name: `f${i}.txt`,
      // The first is binary garbage (unique per batch, so never a duplicate): it fails.
      bytes:
        i === 0
          ? Buffer.concat([Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]), Buffer.from(createBatch.id)])
          : Buffer.from(`Letter ${i} of batch ${createBatch.id}. Dear Ann, thank you.`),
    }));
    const ids = await uploadFiles(url, createBatch.id, files);
    return { batchId: createBatch.id, ids, complete: () => completeUploads(url, ids) };
  }

  /** Collects batchProgress messages over graphql-ws until `finished`; calls `first` on each message. */
  function viaWebSocket(batchId: string, after: number, first = () => {}): Promise<Message[]> {
    const client = createClient({ url: `${url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket });
    const got: Message[] = [];
    return new Promise<Message[]>((resolve, reject) => {
      const stop = client.subscribe<{ batchProgress: Message }>(
        { query: BATCH_PROGRESS, variables: { id: batchId, after } },
        {
          next: ({ data, errors }) => {
            if (errors) return reject(new Error(JSON.stringify(errors)));
            got.push(data!.batchProgress);
            first();
            if (data!.batchProgress.finished) {
              stop();
              resolve(got);
            }
          },
          error: reject,
          complete: () => resolve(got),
        },
      );
    }).finally(() => client.dispose());
  }

  /** Collects batchProgress messages over SSE (GraphQL over SSE, distinct connections mode) until `finished`. */
  async function viaSse(batchId: string, after: number, first = () => {}): Promise<Message[]> {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: BATCH_PROGRESS, variables: { id: batchId, after } }),
    });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const got: Message[] = [];
    for await (const msg of sseMessages<{ data?: { batchProgress: Message }; errors?: unknown }>(res)) {
      if (msg.errors) throw new Error(JSON.stringify(msg.errors));
      if (msg.data) {
        got.push(msg.data.batchProgress);
        first();
        if (msg.data.batchProgress.finished) return got;
      }
    }
    return got;
  }

  async function eventLog(batchId: string): Promise<{ seq: number; type: string }[]> {
    const rows = await system.app.deps.db.prisma.event.findMany({
      where: { batchId },
      orderBy: { seq: "asc" },
      select: { seq: true, type: true },
    });
    return rows;
  }

  const flat = (messages: Message[]) =>
    messages.flatMap((m) => m.events.map((e) => ({ seq: e.seq, type: e.type })));

  it("streams every event of a batch over graphql-ws, coalesced, with no gap and no duplicate", async () => {
    const b = await prepare(25);
    const live = whenSubscribed((first) => viaWebSocket(b.batchId, 0, first));
    await live.subscribed; // subscribed before the work starts: the live path
    await b.complete();
    const messages = await live.result;
    const last = messages.at(-1)!;
    expect(last.counts).toEqual({ total: 25, completed: 24, failed: 1 });
    expect(flat(messages)).toEqual(await eventLog(b.batchId));
    expect(messages.every((m) => m.cursor === m.events.at(-1)!.seq)).toBe(true);
    expect(messages.length).toBeLessThan(flat(messages).length); // coalesced
    const failed = messages.flatMap((m) => m.events).filter((e) => e.type === "document.failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.code).toMatch(/^[A-Z_]+$/);

    // A client resuming from a cursor gets exactly what came after it.
    const mid = messages[Math.floor(messages.length / 2)]!.cursor;
    const resumed = await viaWebSocket(b.batchId, mid);
    expect(flat(resumed)).toEqual((await eventLog(b.batchId)).filter((e) => e.seq > mid));
  }, 120_000);

  it("streams the same over SSE, and resumes from a cursor", async () => {
    const b = await prepare(12);
    const live = whenSubscribed((first) => viaSse(b.batchId, 0, first));
    await live.subscribed;
    await b.complete();
    const messages = await live.result;
    expect(messages.at(-1)!.counts).toEqual({ total: 12, completed: 11, failed: 1 });
    expect(flat(messages)).toEqual(await eventLog(b.batchId));
    const resumed = await viaSse(b.batchId, 3);
    expect(flat(resumed)).toEqual((await eventLog(b.batchId)).filter((e) => e.seq > 3));
  }, 120_000);

  it("follows one document and re-resolves it", async () => {
    const b = await prepare(3);
    const client = createClient({ url: `${url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket });
    const seen: { cursor: number; event: { type: string }; document: { status: string } }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const stop = client.subscribe<{ documentProgress: (typeof seen)[number] }>(
        {
          query: `subscription($id: ID!) { documentProgress(id: $id) { cursor event { type } document { status } } }`,
          variables: { id: b.ids[1] },
        },
        {
          next: ({ data }) => {
            seen.push(data!.documentProgress);
            if (data!.documentProgress.event.type === "document.completed") {
              stop();
              resolve();
            }
          },
          error: reject,
          complete: resolve,
        },
      );
    });
    await b.complete();
    await done;
    await client.dispose();
    const log = (
      await system.app.deps.db.prisma.event.findMany({
        where: { documentId: b.ids[1] },
        orderBy: { seq: "asc" },
      })
    ).map((e) => e.type);
    expect(seen.map((s) => s.event.type)).toEqual(log.slice(0, seen.length));
    expect(seen.at(-1)!.document.status).toBe("COMPLETED");
  }, 120_000);

  it("refuses an unknown batch with NOT_FOUND", async () => {
    const client = createClient({ url: `${url.replace(/^http/, "ws")}/graphql`, webSocketImpl: WebSocket });
    const err = await new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: BATCH_PROGRESS, variables: { id: "00000000-0000-4000-8000-00000000dead", after: 0 } },
        { next: (r) => resolve(r.errors), error: resolve, complete: () => resolve(null) },
      );
    });
    await client.dispose();
    expect(JSON.stringify(err)).toMatch(/NOT_FOUND/);
  });
});

/**
 * Limits on live subscriptions (issue 15): one socket opened 5,000 subscriptions (91 s to set up, 430
 * MB never freed after it closed), and a client that stops reading made the gateway buffer its events
 * without bound. A gateway of its own over the embedded application, with small limits.
 */
describe("subscription limits: per connection, per slow subscriber", () => {
  let system: System;
  let gateway: Gateway;
  let url: string;
  test.beforeAll(async ({ embedded }) => {
    system = embedded;
    gateway = createGateway({
      app: system.app,
      log: system.deps.log,
      allowAnonymous: true,
      hardening: { profile: "development" },
      rateLimiters: {},
      subscriptions: { perConnection: 3, maxBufferedEvents: 2 },
    });
    url = (await gateway.listen(0)).url;
  });
  afterAll(() => gateway?.close());

  /** A batch with one registered file: its event log starts with seq 1, so a subscription gets a first message. */
  async function batchWithOneEvent(): Promise<string> {
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      url,
      'mutation { createBatch(input: { name: "limits" }) { id } }',
    );
    await register(createBatch.id);
    return createBatch.id;
  }
  /** One more `documents.requested` event in the batch. */
  async function register(batchId: string) {
    const bytes = randomBytes(32);
    await gql(
      url,
      "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status } }",
      {
        b: batchId,
        f: [{ name: "a.bin", size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") }],
      },
    );
  }

  /** A raw graphql-transport-ws connection (anonymous: the local tenant), acknowledged. */
  async function wsConnection() {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
    const inbox: { type: string; id?: string; payload?: unknown }[] = [];
    let wake: (() => void) | null = null;
    ws.on("message", (d) => {
      inbox.push(JSON.parse(String(d)));
      wake?.();
    });
    const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
    await new Promise((resolve) => ws.once("open", resolve));
    ws.send(JSON.stringify({ type: "connection_init", payload: {} }));
    /** The next message for `id` (or of `type` when no id), as it arrives. */
    const next = (match: { id?: string; type?: string }) =>
      within(
        30_000,
        `a ${match.type ?? "message"} for ${match.id ?? "the connection"}`,
        new Promise<{ type: string; id?: string; payload?: unknown }>((resolve) => {
          const check = () => {
            const i = inbox.findIndex(
              (m) => (!match.id || m.id === match.id) && (!match.type || m.type === match.type),
            );
            if (i < 0) return;
            wake = null;
            resolve(inbox.splice(i, 1)[0]!);
          };
          wake = check;
          check();
        }),
      );
    await next({ type: "connection_ack" });
    const send = (m: object) => ws.send(JSON.stringify(m));
    return { ws, next, send, closed };
  }

  it("refuses a graphql-ws subscription past the per-connection limit, keeps the others, and frees every listener when the socket closes", async () => {
    const batchId = await batchWithOneEvent();
    const c = await wsConnection();
    const subscribe = (id: string) =>
      c.send({
        id,
        type: "subscribe",
        payload: { query: BATCH_PROGRESS, variables: { id: batchId, after: 0 } },
      });
    for (const id of ["1", "2", "3"]) {
      subscribe(id);
      expect((await c.next({ id })).type).toBe("next"); // replayed: live from now on
    }
    expect(gateway.progress.listeners()).toBe(3);
    subscribe("4");
    const refused = await c.next({ id: "4" });
    expect(refused.type).toBe("error");
    expect(refused.payload).toEqual([
      expect.objectContaining({ extensions: { code: "TOO_MANY_SUBSCRIPTIONS", limit: 3 } }),
    ]);
    expect(gateway.progress.listeners()).toBe(3);
    // Completing one makes room for another, on the same socket.
    c.send({ id: "1", type: "complete" });
    subscribe("5");
    expect((await c.next({ id: "5" })).type).toBe("next");
    // The batch is quiet: no event will come. Closing the socket must still release every listener.
    c.ws.close();
    await c.closed;
    await within(30_000, "every listener released after the socket closed", gateway.progress.whenIdle(), {
      detail: () => gateway.progress.listeners(),
    });
  });

  it("drops a subscriber that stops reading with SUBSCRIBER_TOO_SLOW and a cursor that resumes without a gap", async () => {
    const batchId = await batchWithOneEvent();
    const sse = (after: number) =>
      gateway.yoga.fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream" },
        body: JSON.stringify({ query: BATCH_PROGRESS, variables: { id: batchId, after } }),
      });
    type Result = {
      data?: { batchProgress: Message } | null;
      errors?: { extensions?: Record<string, unknown> }[];
    };
    const messages = sseMessages<Result>(await sse(0));
    expect((await messages.next()).value?.data?.batchProgress.cursor).toBe(1);
    // The client reads nothing more: once the response's buffer is full the gateway stops pulling, and
    // the events that keep coming pile up for it until it is dropped (its listener released).
    let registered = 1;
    while (gateway.progress.listeners() > 0) {
      if (registered > 2000) throw new Error("2,000 events and the subscriber was never dropped");
      await register(batchId);
      registered++;
    }
    // Now it reads: what was sent before the drop, then the error with the cursor, then the end.
    const got: Result[] = [];
    for await (const m of messages) got.push(m);
    const last = got.at(-1)!;
    expect(last.errors?.map((e) => e.extensions?.code)).toEqual(["SUBSCRIBER_TOO_SLOW"]);
    expect(last.errors![0]!.extensions!.limit).toBe(2);
    const before = got.slice(0, -1).map((m) => m.data!.batchProgress);
    const cursor = last.errors![0]!.extensions!.cursor as number;
    expect(cursor).toBe(before.at(-1)?.cursor ?? 1);
    expect(cursor).toBeLessThan(registered);
    // Resuming from the cursor replays the rest from the event table: every event once, no gap.
    const resumed: Message[] = [];
    for await (const m of sseMessages<Result>(await sse(cursor))) {
      resumed.push(m.data!.batchProgress);
      if (resumed.at(-1)!.cursor === registered) break;
    }
    const seqs = [
      1,
      ...before.flatMap((m) => m.events.map((e) => e.seq)),
      ...resumed.flatMap((m) => m.events.map((e) => e.seq)),
    ];
    expect(seqs).toEqual(Array.from({ length: registered }, (_, i) => i + 1));
  });
});
