import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyWebhookSignature, type WebhookAttempt } from "@docfleet/pipeline";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gql } from "../helpers/cli.ts";
import { TEST_DATABASE_URL } from "../helpers/db.ts";
import { completeUploads, uploadFiles } from "../helpers/graphql.ts";
import { inProcessSystem, type System } from "../helpers/system.ts";
import { deferred, within } from "../helpers/wait.ts";

/**
 * Webhooks end to end (issue 20) on the machine's PostgreSQL: events of real uploads (documents.requested,
 * document.queued: no worker, so no parse time under load decides the waits) fanned out from
 * the outbox into deliveries, POSTed signed to local receivers that fail on purpose (500 twice then
 * 200; 503 always, then a redelivery once it is back), one delivery id per (endpoint, event) on every
 * attempt, two tenants that never see each other's endpoints, deliveries or events, and a secret
 * stored only encrypted. Backoff is 20 ms doubling to 100 ms, 3 attempts: waits are on the
 * dispatcher's `attempt` events and the receivers' requests, never on time.
 */

/** Map.groupBy (Node 21+), for Node 20. */
function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const t of items) m.set(key(t), [...(m.get(key(t)) ?? []), t]);
  return m;
}

interface Received {
  receiver: string;
  headers: IncomingHttpHeaders;
  body: string;
  answered: number;
}

/** A local HTTP receiver; `answer` decides each request's status from what it has seen. */
async function receiver(name: string, log: Received[], answer: (r: Received, seen: Received[]) => number) {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r: Received = {
        receiver: name,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        answered: 0,
      };
      r.answered = answer(
        r,
        log.filter((x) => x.receiver === name),
      );
      log.push(r);
      res
        .writeHead(r.answered, { "content-type": "text/plain" })
        .end(r.answered < 300 ? "ok" : "failing on purpose");
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/${name}`;
  return { url, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}

const ALL = `id url description events enabled secretPrefix createdAt updatedAt`;
const DELIVERY = `id webhookId eventId eventType status attempts nextAttemptAt lastAttemptAt lastStatusCode lastError deliveredAt body createdAt`;

describe("webhooks: signed deliveries from the outbox, retries, redelivery, tenants", {
  timeout: 180_000,
}, () => {
  let dir: string;
  let dbName: string;
  let dbUrl: string;
  let system: System;
  const received: Received[] = [];
  const attempts: WebhookAttempt[] = [];
  let waiters: { check: () => boolean; done: () => void }[] = [];
  const receivers: { url: string; close(): Promise<void> }[] = [];
  let flaky: { url: string };
  let dead: { url: string };
  let other: { url: string };
  let deadDown = true;
  // Holds every request until `releaseSlow`, then answers 200 at once.
  const slowHeld: { r: Received; answer: () => void }[] = [];
  let slowOpen = 0;
  let slowMaxOpen = 0;
  let slowReleased = false;
  const slowTwoOpen = deferred();
  let slowUrl = "";
  const releaseSlow = () => {
    slowReleased = true;
    for (const h of slowHeld.splice(0)) h.answer();
  };
  let later: { url: string };
  let laterDown = true;
  let keyB: string;

  /** docfleet on the test database (no worker: uploads stop at QUEUED), its attempts recorded. */
  const start = async () => {
    const sys = await inProcessSystem(join(dir, "data"), {
      env: {
        DATABASE_URL: dbUrl,
        // the receivers listen on 127.0.0.1: refused by default where the database is PostgreSQL
        DOCFLEET_WEBHOOK_ALLOW_PRIVATE: "true",
        DOCFLEET_WEBHOOK_BASE_DELAY_MS: "20",
        DOCFLEET_WEBHOOK_MAX_DELAY_MS: "100",
        DOCFLEET_WEBHOOK_MAX_ATTEMPTS: "3",
        DOCFLEET_WEBHOOK_TIMEOUT_MS: "60000",
      },
    });
    sys.app.webhooks!.events.on("attempt", (a) => {
      attempts.push(a);
      waiters = waiters.filter((w) => {
        if (!w.check()) return true;
        w.done();
        return false;
      });
    });
    return sys;
  };

  /** Resolves when `check` holds after some attempt was recorded (or at once). */
  const whenAttempts = (what: string, check: () => boolean) => {
    const d = deferred();
    if (check()) d.resolve();
    else waiters.push({ check, done: d.resolve });
    return within(150_000, what, d.promise, {
      detail: () => ({ attempts: attempts.slice(-5), received: received.length }),
    });
  };

  /** Attempts recorded since index `from` that DELIVERED the flaky endpoint an event of `batchId`. */
  const flakyDelivered = (from: number, batchId: string) =>
    attempts
      .slice(from)
      .filter(
        (a) => a.endpointId === flakyHook.id && a.status === "DELIVERED" && a.eventId.startsWith(batchId),
      ).length;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-webhooks-"));
    dbName = `docfleet_webhooks_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const u = new URL(TEST_DATABASE_URL);
    u.pathname = `/${dbName}`;
    dbUrl = u.toString();
    // 500 for a delivery's first two attempts, then 200.
    flaky = await receiver("flaky", received, (r, seen) =>
      seen.filter((x) => x.headers["docfleet-webhook-id"] === r.headers["docfleet-webhook-id"]).length < 2
        ? 500
        : 200,
    );
    dead = await receiver("dead", received, () => (deadDown ? 503 : 200));
    other = await receiver("other", received, () => 200);
    later = await receiver("later", received, () => (laterDown ? 503 : 200));
    receivers.push(flaky as never, dead as never, other as never, later as never);
    const slowServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const r: Received = {
          receiver: "slow",
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          answered: 200,
        };
        const answer = () => {
          slowOpen--;
          received.push(r);
          res.writeHead(200).end("ok");
        };
        slowOpen++;
        slowMaxOpen = Math.max(slowMaxOpen, slowOpen);
        if (slowOpen === 2) slowTwoOpen.resolve();
        if (slowReleased) answer();
        else slowHeld.push({ r, answer });
      });
    });
    await new Promise<void>((ok) => slowServer.listen(0, "127.0.0.1", ok));
    slowUrl = `http://127.0.0.1:${(slowServer.address() as AddressInfo).port}/hook/slow`;
    receivers.push({ url: slowUrl, close: () => new Promise<void>((ok) => slowServer.close(() => ok())) });
    system = await start();
    const tenantB = await system.app.services.keys.tenantByName("webhooks B", { create: true });
    keyB = (await system.app.services.keys.create({ tenantId: tenantB!.id, name: "b", scopes: ["admin"] }))
      .secret;
  }, 120_000);

  afterAll(async () => {
    await system?.stop();
    for (const r of receivers) await r.close();
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  });

  const create = (input: Record<string, unknown>, key?: string) =>
    gql<{
      createWebhook: { secret: string; webhook: { id: string; secretPrefix: string; events: string[] } };
    }>(
      system.url,
      `mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { ${ALL} } } }`,
      { i: input },
      key,
    ).then((r) => r.createWebhook);

  const deliveries = (vars: Record<string, unknown>, key?: string) =>
    gql<{ webhookDeliveries: Record<string, unknown>[] }>(
      system.url,
      `query($w: ID, $s: WebhookDeliveryStatus) { webhookDeliveries(webhookId: $w, status: $s, first: 200) { ${DELIVERY} } }`,
      vars,
      key,
    ).then((r) => r.webhookDeliveries);

  async function uploadTexts(n: number, tag: string): Promise<{ batchId: string; ids: string[] }> {
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      system.url,
      "mutation($n: String!) { createBatch(input: { name: $n }) { id } }",
      { n: tag },
    );
    const files = Array.from({ length: n }, (_, i) => ({
      name: `${tag}-${i}.txt`,
      bytes: Buffer.from(`${tag} document ${i} ${randomBytes(8).toString("hex")}: invoice total 12.50\n`),
    }));
    const ids = await uploadFiles(system.url, createBatch.id, files);
    await completeUploads(system.url, ids);
    return { batchId: createBatch.id, ids };
  }

  let flakyHook: { id: string; secret: string };
  let deadHook: { id: string; secret: string };

  it("rejects a URL that is not http(s), and one with credentials, before storing anything", async () => {
    for (const url of [
      "file:///etc/passwd",
      "gopher://127.0.0.1:25/",
      "ftp://example.com/x",
      "http://u:p@example.com/",
    ]) {
      await expect(create({ url })).rejects.toThrow(/BAD_REQUEST/);
    }
    await expect(create({ url: flaky.url, events: [], secret: "short" })).rejects.toThrow(/BAD_REQUEST/);
    expect((await gql<{ webhooks: unknown[] }>(system.url, "{ webhooks { id } }")).webhooks).toEqual([]);
  });

  it("retries a receiver that fails twice (500, 500, then 200): one delivery id per event, every attempt signed", async () => {
    const c = await create({
      url: flaky.url,
      events: ["DOCUMENT_QUEUED", "DOCUMENTS_REQUESTED"],
      description: "flaky",
    });
    flakyHook = { id: c.webhook.id, secret: c.secret };
    expect(c.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(c.webhook.secretPrefix).toBe(c.secret.slice(0, 12));
    const { batchId, ids } = await uploadTexts(2, "flaky");
    // documents.requested (1) + document.queued (2), each delivered on its third attempt
    await whenAttempts(
      "3 deliveries to the flaky receiver",
      () => attempts.filter((a) => a.endpointId === flakyHook.id && a.status === "DELIVERED").length >= 3,
    );
    const mine = received.filter((r) => r.receiver === "flaky");
    const byDelivery = groupBy(mine, (r) => r.headers["docfleet-webhook-id"] as string);
    expect(byDelivery.size).toBe(3);
    const events = new Set<string>();
    for (const [id, reqs] of byDelivery) {
      expect(reqs.map((r) => r.answered)).toEqual([500, 500, 200]);
      expect(reqs.map((r) => r.headers["docfleet-attempt"])).toEqual(["1", "2", "3"]);
      // the same body on every attempt, each attempt signed afresh over its own timestamp
      expect(new Set(reqs.map((r) => r.body)).size).toBe(1);
      for (const r of reqs) {
        const v = verifyWebhookSignature({
          secret: flakyHook.secret,
          body: r.body,
          header: r.headers["docfleet-signature"] as string,
        });
        expect(v, `signature of ${id}`).toMatchObject({ ok: true });
        if (v.ok) expect(Math.abs(v.timestamp - Date.now() / 1000)).toBeLessThan(300);
        // a wrong secret or a changed body fails
        expect(
          verifyWebhookSignature({
            secret: "whsec_wrong",
            body: r.body,
            header: r.headers["docfleet-signature"] as string,
          }).ok,
        ).toBe(false);
        expect(
          verifyWebhookSignature({
            secret: flakyHook.secret,
            body: `${r.body} `,
            header: r.headers["docfleet-signature"] as string,
          }).ok,
        ).toBe(false);
      }
      const body = JSON.parse(reqs[0]!.body) as {
        id: string;
        type: string;
        batchId: string;
        documentId: string | null;
      };
      expect(body.id).toBe(reqs[0]!.headers["docfleet-event-id"]);
      expect(body.batchId).toBe(batchId);
      events.add(`${body.type}:${body.documentId}`);
    }
    expect([...events].sort()).toEqual(
      ["documents.requested:null", ...ids.map((d) => `document.queued:${d}`)].sort(),
    );
    // the log says so
    const log = await deliveries({ w: flakyHook.id });
    expect(log).toHaveLength(3);
    for (const d of log)
      expect(d).toMatchObject({
        status: "DELIVERED",
        attempts: 3,
        lastStatusCode: 200,
        lastError: null,
        nextAttemptAt: null,
      });
    expect(log.every((d) => typeof d.deliveredAt === "string")).toBe(true);
  });

  it("marks an always-failing endpoint's delivery FAILED after the max attempts, while others deliver; redelivery then succeeds", async () => {
    const c = await create({ url: dead.url, events: ["DOCUMENT_QUEUED"] });
    deadHook = { id: c.webhook.id, secret: c.secret };
    const before = attempts.length;
    const { batchId, ids } = await uploadTexts(1, "dead");
    await whenAttempts("the dead endpoint's delivery FAILED and the flaky one's DELIVERED", () => {
      const now = attempts.slice(before);
      return (
        now.some((a) => a.endpointId === deadHook.id && a.status === "FAILED") &&
        flakyDelivered(before, batchId) === 2
      );
    });
    const [failed] = await deliveries({ w: deadHook.id, s: "FAILED" });
    expect(failed).toMatchObject({
      status: "FAILED",
      attempts: 3,
      lastStatusCode: 503,
      lastError: "HTTP 503",
      nextAttemptAt: null,
      deliveredAt: null,
      eventType: "document.queued",
    });
    expect(JSON.parse(failed!.body as string)).toMatchObject({ documentId: ids[0] });
    const deadReqs = received.filter((r) => r.receiver === "dead");
    expect(deadReqs.map((r) => r.answered)).toEqual([503, 503, 503]);
    expect(new Set(deadReqs.map((r) => r.headers["docfleet-webhook-id"]))).toEqual(new Set([failed!.id]));

    deadDown = false;
    const n = attempts.length;
    const { redeliverWebhookDelivery } = await gql<{
      redeliverWebhookDelivery: { id: string; status: string; attempts: number };
    }>(system.url, "mutation($id: ID!) { redeliverWebhookDelivery(id: $id) { id status attempts } }", {
      id: failed!.id,
    });
    expect(redeliverWebhookDelivery).toEqual({ id: failed!.id, status: "PENDING", attempts: 0 });
    await whenAttempts("the redelivery", () =>
      attempts.slice(n).some((a) => a.deliveryId === failed!.id && a.status === "DELIVERED"),
    );
    const last = received.filter((r) => r.receiver === "dead").at(-1)!;
    expect(last).toMatchObject({ answered: 200 });
    expect(last.headers["docfleet-webhook-id"]).toBe(failed!.id);
    expect(last.headers["docfleet-attempt"]).toBe("1");
    expect(
      verifyWebhookSignature({
        secret: deadHook.secret,
        body: last.body,
        header: last.headers["docfleet-signature"] as string,
      }).ok,
    ).toBe(true);
    const [after] = await deliveries({ w: deadHook.id });
    expect(after).toMatchObject({
      id: failed!.id,
      status: "DELIVERED",
      attempts: 1,
      lastStatusCode: 200,
      lastError: null,
    });
  });

  it("disabled endpoints get nothing until enabled", async () => {
    const { updateWebhook } = await gql<{ updateWebhook: { enabled: boolean } }>(
      system.url,
      "mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false }) { enabled } }",
      { id: deadHook.id },
    );
    expect(updateWebhook.enabled).toBe(false);
    const before = received.filter((r) => r.receiver === "dead").length;
    const n = attempts.length;
    const { batchId } = await uploadTexts(1, "paused");
    // the flaky endpoint's deliveries of the same batch (requested, queued) prove the events went out
    await whenAttempts(
      "the flaky endpoint's deliveries of the paused batch",
      () => flakyDelivered(n, batchId) === 2,
    );
    expect(received.filter((r) => r.receiver === "dead").length).toBe(before);
  });

  it("a slow endpoint holds at most DOCFLEET_WEBHOOK_PER_ENDPOINT (2) requests and holds up no other endpoint", async () => {
    const c = await create({ url: slowUrl, events: ["DOCUMENTS_REQUESTED", "DOCUMENT_QUEUED"] });
    const n = attempts.length;
    const { batchId } = await uploadTexts(3, "slow");
    // 4 events (requested, 3 queued) for each endpoint: the flaky one's go through, 3 attempts each,
    // while the slow one holds its first two requests unanswered
    await within(150_000, "two requests held by the slow endpoint", slowTwoOpen.promise);
    await whenAttempts(
      "the flaky endpoint's deliveries of the batch",
      () => flakyDelivered(n, batchId) === 4,
    );
    expect(slowOpen).toBe(2);
    expect(attempts.slice(n).some((a) => a.endpointId === c.webhook.id)).toBe(false);
    releaseSlow();
    await whenAttempts(
      "the slow endpoint's deliveries",
      () =>
        attempts.slice(n).filter((a) => a.endpointId === c.webhook.id && a.status === "DELIVERED").length ===
        4,
    );
    expect(slowMaxOpen).toBe(2);
  });

  it("keeps tenants apart: endpoints, deliveries, events and every mutation on the other's ids", async () => {
    const b = await create({ url: other.url, events: ["DOCUMENTS_REQUESTED", "DOCUMENT_QUEUED"] }, keyB);
    const listA = (await gql<{ webhooks: { id: string }[] }>(system.url, "{ webhooks { id } }")).webhooks.map(
      (w) => w.id,
    );
    const listB = (
      await gql<{ webhooks: { id: string }[] }>(system.url, "{ webhooks { id } }", {}, keyB)
    ).webhooks.map((w) => w.id);
    expect(listB).toEqual([b.webhook.id]);
    expect(listA).not.toContain(b.webhook.id);
    expect(listA).toEqual(expect.arrayContaining([flakyHook.id, deadHook.id]));

    // an event of B's reaches only B's endpoint
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      system.url,
      'mutation { createBatch(input: { name: "b" }) { id } }',
      {},
      keyB,
    );
    await gql(
      system.url,
      "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status } }",
      { b: createBatch.id, f: [{ name: "b.txt", size: 3, sha256: "a".repeat(64) }] },
      keyB,
    );
    await whenAttempts("B's delivery", () =>
      attempts.some((a) => a.endpointId === b.webhook.id && a.status === "DELIVERED"),
    );
    const otherReqs = received.filter((r) => r.receiver === "other");
    expect(otherReqs).toHaveLength(1);
    expect(JSON.parse(otherReqs[0]!.body)).toMatchObject({
      type: "documents.requested",
      batchId: createBatch.id,
    });
    expect(received.filter((r) => r.receiver !== "other" && r.body.includes(createBatch.id))).toEqual([]);
    expect(
      verifyWebhookSignature({
        secret: b.secret,
        body: otherReqs[0]!.body,
        header: otherReqs[0]!.headers["docfleet-signature"] as string,
      }).ok,
    ).toBe(true);

    // deliveries: each tenant sees only its own
    const logA = await deliveries({});
    const logB = await deliveries({}, keyB);
    expect(logB.map((d) => d.webhookId)).toEqual([b.webhook.id]);
    expect(logA.some((d) => d.webhookId === b.webhook.id)).toBe(false);
    expect(await deliveries({ w: flakyHook.id }, keyB)).toEqual([]);

    // B on A's ids (and A on B's): NOT_FOUND, and nothing changed
    const aDelivery = logA[0]!.id as string;
    const bDelivery = logB[0]!.id as string;
    for (const [q, v, key] of [
      [
        "mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: false }) { id } }",
        { id: flakyHook.id },
        keyB,
      ],
      ["mutation($id: ID!) { deleteWebhook(id: $id) }", { id: flakyHook.id }, keyB],
      ["mutation($id: ID!) { redeliverWebhookDelivery(id: $id) { id } }", { id: aDelivery }, keyB],
      ["mutation($id: ID!) { deleteWebhook(id: $id) }", { id: b.webhook.id }, undefined],
      ["mutation($id: ID!) { redeliverWebhookDelivery(id: $id) { id } }", { id: bDelivery }, undefined],
    ] as const)
      await expect(gql(system.url, q, v, key)).rejects.toThrow(/NOT_FOUND/);
    const still = (
      await gql<{ webhooks: { id: string; enabled: boolean }[] }>(system.url, "{ webhooks { id enabled } }")
    ).webhooks;
    expect(still.find((w) => w.id === flakyHook.id)?.enabled).toBe(true);
    expect((await deliveries({}, keyB)).map((d) => d.status)).toEqual(["DELIVERED"]);
  });

  it("delivers each event once per endpoint: one delivery id per (endpoint, event), one 2xx per delivery", async () => {
    const byId = groupBy(received, (r) => r.headers["docfleet-webhook-id"] as string);
    const pairs = new Set<string>();
    for (const [id, reqs] of byId) {
      const targets = new Set(reqs.map((r) => `${r.receiver} ${r.headers["docfleet-event-id"]}`));
      expect(targets.size, `delivery ${id} went to one endpoint, for one event`).toBe(1);
      const pair = [...targets][0]!;
      expect(pairs.has(pair), `${pair} has a single delivery id`).toBe(false);
      pairs.add(pair);
      expect(
        reqs.filter((r) => r.answered < 300),
        `delivery ${id}`,
      ).toHaveLength(1);
    }
    const rows = await new pg.Client({ connectionString: dbUrl });
    await rows.connect();
    try {
      const { rows: dup } = await rows.query(
        "SELECT endpoint_id, event_id, count(*) FROM webhook_delivery GROUP BY 1, 2 HAVING count(*) > 1",
      );
      expect(dup).toEqual([]);
      // every delivery of an enabled endpoint was delivered (nothing left pending or failed)
      const { rows: open } = await rows.query(
        `SELECT d.status, count(*)::int AS n FROM webhook_delivery d JOIN webhook_endpoint w ON w.id = d.endpoint_id
         WHERE w.enabled AND d.status <> 'DELIVERED' GROUP BY 1`,
      );
      expect(open).toEqual([]);
    } finally {
      await rows.end();
    }
  });

  it("stores secrets only encrypted and never answers them again", async () => {
    const own = "my-own-webhook-secret-0123456789";
    const c = await create({ url: `${other.url}/own`, secret: own, enabled: false });
    expect(c.secret).toBe(own);
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT * FROM webhook_endpoint");
      expect(rows.length).toBeGreaterThanOrEqual(4);
      const raw = JSON.stringify(rows);
      for (const s of [own, flakyHook.secret, deadHook.secret]) {
        expect(raw).not.toContain(s);
        expect(raw).not.toContain(s.slice(12)); // not even the part after the listed prefix
      }
      for (const r of rows)
        expect(r.secret_ciphertext).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      // the deliveries hold bodies and outcomes, no secret either
      const { rows: d } = await client.query("SELECT * FROM webhook_delivery");
      expect(JSON.stringify(d)).not.toContain(flakyHook.secret.slice(12));
    } finally {
      await client.end();
    }
    const listed = JSON.stringify(await gql(system.url, `{ webhooks { ${ALL} } }`));
    expect(listed).not.toContain(own.slice(12));
    expect(listed).not.toContain(flakyHook.secret.slice(12));
  });
  it("deleting a document or a batch deletes its deliveries and its unsent webhook rows", async () => {
    const n = attempts.length;
    const { batchId, ids } = await uploadTexts(2, "deleted");
    await whenAttempts(
      "the flaky endpoint's deliveries of the batch",
      () => flakyDelivered(n, batchId) === 3,
    );
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const docsWithDeliveries = async () =>
        (
          await client.query<{ d: string | null }>(
            "SELECT DISTINCT document_id::text AS d FROM webhook_delivery WHERE batch_id = $1",
            [batchId],
          )
        ).rows.map((r) => r.d);
      expect((await docsWithDeliveries()).sort()).toEqual([...ids, null].sort());
      await gql(system.url, "mutation($ids: [ID!]!) { deleteDocuments(ids: $ids) { deleted } }", {
        ids: [ids[0]],
      });
      expect((await docsWithDeliveries()).sort()).toEqual([ids[1], null].sort());
      await gql(system.url, "mutation($b: ID!) { deleteBatch(id: $b) }", { b: batchId });
      expect(await docsWithDeliveries()).toEqual([]);
      const { rows } = await client.query(
        "SELECT count(*)::int AS n FROM webhook_delivery WHERE body LIKE $1 OR document_id = ANY($2::uuid[])",
        [`%${batchId}%`, ids],
      );
      expect(rows[0]).toEqual({ n: 0 });
      const { rows: outbox } = await client.query("SELECT count(*)::int AS n FROM outbox WHERE key = $1", [
        batchId,
      ]);
      expect(outbox[0]).toEqual({ n: 0 });
    } finally {
      await client.end();
    }
  });

  it("keeps a delivery's retry schedule in the database across a restart", async () => {
    // This endpoint's retry waits an hour: the schedule is in next_attempt_at, not in a timer.
    system.deps.settings.webhooks.baseDelayMs = 3_600_000;
    system.deps.settings.webhooks.maxDelayMs = 3_600_000;
    const c = await create({ url: later.url, events: ["DOCUMENTS_REQUESTED"] });
    const n = attempts.length;
    const { batchId } = await uploadTexts(1, "restart");
    await whenAttempts("the first, failed attempt", () =>
      attempts.slice(n).some((a) => a.endpointId === c.webhook.id && a.status === "PENDING"),
    );
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    try {
      const due = async () =>
        (
          await client.query<{ id: string; attempts: number; wait: number }>(
            `SELECT id, attempts, extract(epoch FROM next_attempt_at - now())::float8 AS wait
             FROM webhook_delivery WHERE endpoint_id = $1`,
            [c.webhook.id],
          )
        ).rows;
      const [row] = await due();
      expect(row).toMatchObject({ attempts: 1 });
      expect(row!.wait).toBeGreaterThan(60); // half an hour at least (jitter), not a few ms
      await system.stop();
      laterDown = false;
      system = await start(); // a new process: short backoff again, nothing in memory
      expect((await due())[0]).toMatchObject({ id: row!.id, attempts: 1 });
      const m = attempts.length;
      // the hour passes (in the database)
      await client.query("UPDATE webhook_delivery SET next_attempt_at = now() WHERE id = $1", [row!.id]);
      await whenAttempts("the retry after the restart", () =>
        attempts.slice(m).some((a) => a.deliveryId === row!.id && a.status === "DELIVERED"),
      );
      const reqs = received.filter((r) => r.receiver === "later");
      expect(
        reqs.map((r) => [r.answered, r.headers["docfleet-attempt"], r.headers["docfleet-webhook-id"]]),
      ).toEqual([
        [503, "1", row!.id],
        [200, "2", row!.id],
      ]);
      expect(JSON.parse(reqs[1]!.body)).toMatchObject({ type: "documents.requested", batchId });
    } finally {
      await client.end();
    }
  });
});
