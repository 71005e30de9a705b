import { createClient } from "graphql-ws";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { freePort, gql, type Served, startDocfleet } from "../helpers/cli.ts";
import { type DistributedEnv, distributedEnv } from "../helpers/distributed.ts";
import { completeUploads, sseMessages, uploadFiles, whenSubscribed } from "../helpers/graphql.ts";

interface Message {
  cursor: number;
  finished: boolean;
  events: { seq: number; type: string }[];
}
const QUERY = `subscription($id: ID!, $after: Int) { batchProgress(id: $id, after: $after) {
  cursor finished events { seq type } } }`;

/**
 * A subscriber's gateway dies mid-batch (SIGKILL); the client reconnects to another gateway with its
 * cursor and ends with exactly the batch's full event sequence: no gap, no duplicate. Over graphql-ws
 * and over SSE, on the distributed mode (events fanned out through RabbitMQ, log in PostgreSQL).
 */
describe("subscriptions survive the death of their gateway", () => {
  const procs: Served[] = [];
  let deployment: DistributedEnv;
  let survivor: Served;

  const startGateway = async () => {
    const port = await freePort();
    const p = await startDocfleet(["gateway", "--port", String(port)], deployment.env, { port });
    procs.push(p);
    return p;
  };

  beforeAll(async () => {
    deployment = await distributedEnv("subs");
    survivor = await startGateway();
    procs.push(
      await startDocfleet(["worker", "--roles", "all", "--concurrency", "2"], deployment.env, {
        readyLine: /docfleet worker consuming/,
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await deployment?.close();
  }, 60_000);

  /** A batch of `n` documents uploaded to S3 through `url`, not yet queued. */
  async function prepare(url: string, n: number) {
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      url,
      'mutation { createBatch(input: { name: "failover" }) { id } }',
    );
    const files = Array.from({ length: n }, (_, i) => ({
      name: `d${i}.txt`,
      bytes: Buffer.from(`Invoice ${i} of ${createBatch.id}\nTotal due: ${i}.50 EUR\nDear Ann, thanks.`),
    }));
    const ids = await uploadFiles(url, createBatch.id, files);
    return { batchId: createBatch.id, complete: () => completeUploads(url, ids) };
  }

  async function eventLog(batchId: string) {
    const c = new pg.Client({ connectionString: deployment.env.DATABASE_URL });
    await c.connect();
    try {
      const { rows } = await c.query<{ seq: number; type: string }>(
        "SELECT seq, type FROM event WHERE batch_id = $1 ORDER BY seq",
        [batchId],
      );
      return rows;
    } finally {
      await c.end();
    }
  }

  /**
   * Subscribes over graphql-ws and collects messages until `finished`, or until `kill` (when given)
   * is called after `killAfter` events and the connection drops. Returns what it received. Calls
   * `first` on each message.
   */
  function wsCollect(
    url: string,
    batchId: string,
    after: number,
    kill?: { afterEvents: number; fn: () => void },
    first = () => {},
  ) {
    const client = createClient({
      url: `${url.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    const got: Message[] = [];
    let killed = false;
    return new Promise<{ messages: Message[]; dropped: boolean }>((resolve, reject) => {
      client.subscribe<{ batchProgress: Message }>(
        { query: QUERY, variables: { id: batchId, after } },
        {
          next: ({ data, errors }) => {
            if (errors) return reject(new Error(JSON.stringify(errors)));
            got.push(data!.batchProgress);
            first();
            const n = got.reduce((a, m) => a + m.events.length, 0);
            if (data!.batchProgress.finished) resolve({ messages: got, dropped: false });
            else if (kill && !killed && n >= kill.afterEvents) {
              killed = true;
              kill.fn();
            }
          },
          error: () => resolve({ messages: got, dropped: true }),
          complete: () => resolve({ messages: got, dropped: killed }),
        },
      );
    }).finally(() => client.dispose());
  }

  /** The same over SSE: reads `text/event-stream` until `finished`, or until the stream breaks. */
  async function sseCollect(
    url: string,
    batchId: string,
    after: number,
    kill?: { afterEvents: number; fn: () => void },
    first = () => {},
  ) {
    const got: Message[] = [];
    let killed = false;
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: QUERY, variables: { id: batchId, after } }),
    });
    try {
      for await (const msg of sseMessages<{ data?: { batchProgress: Message } }>(res)) {
        if (!msg.data) continue;
        got.push(msg.data.batchProgress);
        first();
        if (msg.data.batchProgress.finished) return { messages: got, dropped: false };
        const n = got.reduce((a, m) => a + m.events.length, 0);
        if (kill && !killed && n >= kill.afterEvents) {
          killed = true;
          kill.fn();
        }
      }
      return { messages: got, dropped: true }; // the stream ended: the gateway is gone
    } catch {
      return { messages: got, dropped: true }; // the connection broke: the gateway is gone
    }
  }

  const flat = (ms: Message[]) => ms.flatMap((m) => m.events.map((e) => ({ seq: e.seq, type: e.type })));

  for (const transport of ["graphql-ws", "SSE"] as const) {
    it(`${transport}: reconnecting to another gateway with the cursor loses and repeats nothing`, async () => {
      const doomed = await startGateway();
      const b = await prepare(survivor.url, 150);
      const collect = transport === "SSE" ? sseCollect : wsCollect;
      const first = whenSubscribed((seen) =>
        collect(doomed.url, b.batchId, 0, { afterEvents: 120, fn: () => void doomed.kill() }, seen),
      );
      await first.subscribed; // live on the doomed gateway before the work starts
      await b.complete();
      const before = await first.result;
      expect(before.dropped).toBe(true);
      const cursor = before.messages.at(-1)?.cursor ?? 0;
      expect(cursor).toBeGreaterThan(0);
      const after = await collect(survivor.url, b.batchId, cursor);
      expect(after.dropped).toBe(false);
      const seen = [...flat(before.messages), ...flat(after.messages)];
      const log = await eventLog(b.batchId);
      expect(seen).toEqual(log);
      expect(new Set(seen.map((e) => e.seq)).size).toBe(seen.length);
      expect(log.filter((e) => e.type === "document.completed")).toHaveLength(150);
    }, 180_000);
  }
});
