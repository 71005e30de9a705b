/**
 * Live progress under load: `subscribers` graphql-ws clients subscribe to one batch on one embedded
 * gateway (`docfleet serve`) while `documents` documents go through the pipeline. Prints the delivery
 * latency of messages (receipt time − the creation time of the newest event they carry; includes the
 * ≤ 250 ms coalescing by design) p50/p99, messages and events per client, whether every client saw
 * the full event sequence, and the serve process's CPU (it runs the gateway AND the workers).
 *
 *   npm run bench -- tests/bench/subscriptions.ts [subscribers=1000] [documents=5000]
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { gql, startServe } from "../helpers/cli.ts";
import { completeUploads, uploadFiles } from "../helpers/graphql.ts";

const SUBSCRIBERS = Number(process.argv[2] ?? 1000);
const DOCUMENTS = Number(process.argv[3] ?? 5000);
const TICKS = 100; // USER_HZ on Linux

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / TICKS;
}

const dir = await mkdtemp(join(tmpdir(), "docfleet-subs-bench-"));
// Requests without a key by explicit opt-in (serve refuses them by default).
const serve = await startServe(join(dir, "data"), {
  DOCFLEET_LOG_LEVEL: "error",
  DOCFLEET_ALLOW_ANONYMOUS: "true",
});
const url = serve.url;
const { createBatch } = await gql<{ createBatch: { id: string } }>(
  url,
  'mutation { createBatch(input: { name: "subscription load" }) { id } }',
);
const batchId = createBatch.id;

// Register the documents (in chunks), upload them, but queue them only once everyone listens.
const ids: string[] = [];
for (let i = 0; i < DOCUMENTS; i += 500) {
  const files = Array.from({ length: Math.min(500, DOCUMENTS - i) }, (_, k) => ({
    name: `d${i + k}.txt`,
    bytes: Buffer.from(`Letter ${i + k} for ${batchId}. Dear Ann, thank you for the invoice of 12.50 EUR.`),
  }));
  ids.push(...(await uploadFiles(url, batchId, files)));
}

interface Client {
  seqs: number[];
  messages: number;
  done: Promise<void>;
}
const latencies: number[] = [];
/** When the documents were queued (0 before): latencies count from then on. */
let started = 0;
const clients: Client[] = [];
const wsClients: ReturnType<typeof createClient>[] = [];
let connected = 0;
for (let i = 0; i < SUBSCRIBERS; i++) {
  const ws = createClient({
    url: `${url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    lazy: false,
  });
  wsClients.push(ws);
  const c: Client = { seqs: [], messages: 0, done: Promise.resolve() };
  c.done = new Promise<void>((resolve, reject) => {
    let first = true;
    ws.subscribe<{ batchProgress: { finished: boolean; events: { seq: number; createdAt: string }[] } }>(
      {
        query: `subscription($id: ID!) { batchProgress(id: $id) { finished events { seq createdAt } } }`,
        variables: { id: batchId },
      },
      {
        next: ({ data }) => {
          const m = data!.batchProgress;
          if (first) {
            first = false;
            connected++;
          }
          c.messages++;
          for (const e of m.events) c.seqs.push(e.seq);
          const newest = m.events.at(-1);
          if (newest && started > 0) latencies.push(Date.now() - Date.parse(newest.createdAt));
          if (m.finished) resolve();
        },
        error: reject,
        complete: resolve,
      },
    );
  });
  clients.push(c);
}
// Every subscriber has received the replay (the batch's creation events) before the work starts.
while (connected < SUBSCRIBERS) await new Promise((r) => setTimeout(r, 100));
const cpu0 = await cpuSeconds(serve.child.pid!);
started = Date.now();
for (let i = 0; i < ids.length; i += 500) {
  await completeUploads(url, ids.slice(i, i + 500));
}
await Promise.all(clients.map((c) => c.done));
const seconds = (Date.now() - started) / 1000;
const cpu = (await cpuSeconds(serve.child.pid!)) - cpu0;
const status = await readFile(`/proc/${serve.child.pid}/status`, "utf8");
const rssMb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
const { batch } = await gql<{ batch: { lastEventSeq: number } }>(
  url,
  "query($id: ID!) { batch(id: $id) { lastEventSeq } }",
  {
    id: batchId,
  },
);
await Promise.all(wsClients.map((w) => w.dispose()));
await serve.stop();
await rm(dir, { recursive: true, force: true });

const complete = clients.filter(
  (c) => c.seqs.length === batch.lastEventSeq && c.seqs.every((s, i) => s === i + 1),
).length;
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
console.log(
  `\n${SUBSCRIBERS} subscribers × 1 batch of ${DOCUMENTS} documents on one embedded gateway, ${new Date().toISOString()}`,
);
console.log(
  `processing: ${seconds.toFixed(1)} s (${(DOCUMENTS / seconds).toFixed(1)} docs/s), ${batch.lastEventSeq} events`,
);
console.log(`clients with the full, gap-free, duplicate-free sequence: ${complete}/${SUBSCRIBERS}`);
console.log(
  `messages per client: ${mean(clients.map((c) => c.messages)).toFixed(0)} (${(mean(clients.map((c) => c.messages)) / seconds).toFixed(1)}/s)`,
);
console.log(
  `delivery latency (receipt − newest event's creation): p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${latencies.at(-1)} ms`,
);
console.log(
  `serve process (gateway + workers) CPU: ${cpu.toFixed(1)} s over ${seconds.toFixed(1)} s (${((cpu / seconds) * 100).toFixed(0)} % of one core); peak RSS ${rssMb.toFixed(0)} MiB`,
);
