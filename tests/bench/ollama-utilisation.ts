/**
 * How busy docfleet keeps a GPU's Ollama slots: the embedded system (PGlite, in-process queue, local
 * store) with the Ollama adapter pointed at the Ollama DOUBLE (tests/ollama-double), which plays one
 * GPU with 4 parallel slots and a latency model from FIGURES.md, scaled by TIME_SCALE so the run
 * takes minutes. The double is not Ollama: these figures measure docfleet's scheduling against a
 * modelled GPU, not a real GPU's throughput.
 *
 *   npm run bench -- tests/bench/ollama-utilisation.ts [documents=2000] [understand concurrency=8] [timeScale=1]
 *
 * The double runs in its own process (tests/ollama-double/main.ts) so that its timers do not queue
 * behind this process's CPU work (PGlite, parsing, indexing), which would inflate its busy time.
 *
 * Prints documents/s, the understand phase's slot utilisation (busy slot-seconds / (4 × the phase's
 * wall seconds)), the double's ideal documents/s (4 slots / mean service time) and the ratio.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOCAL_TENANT_ID } from "@docfleet/gateway";
import { inProcessSystem } from "../helpers/system.ts";
import { TEST_CATEGORIES } from "../ollama-double/fixtures.ts";
import type { DoubleStats } from "../ollama-double/index.ts";

const N = Number(process.argv[2] ?? 2000);
const UNDERSTAND_CONCURRENCY = Number(process.argv[3] ?? 8);
const SLOTS = 4;
/** Scales the double's modelled service times; chosen so that the double stays the bottleneck. */
const TIME_SCALE = Number(process.argv[4] ?? 1);

const child = spawn(
  process.execPath,
  ["--import", "tsx", new URL("../ollama-double/main.ts", import.meta.url).pathname],
  {
    env: {
      ...process.env,
      OLLAMA_DOUBLE_OPTIONS: JSON.stringify({ parallel: SLOTS, timeScale: TIME_SCALE }),
    },
    stdio: ["ignore", "pipe", "inherit"],
  },
);
const [first] = (await once(child.stdout!, "data")) as [Buffer];
const double = {
  url: (JSON.parse(first.toString().split("\n")[0]!) as { url: string }).url,
  stats: async () => (await (await fetch(`${double.url}/_double/stats`)).json()) as DoubleStats,
};
const dir = await mkdtemp(join(tmpdir(), "docfleet-ollama-bench-"));
const system = await inProcessSystem(dir, {
  env: { DOCFLEET_LOG_LEVEL: "warn", OLLAMA_URL: double.url, DOCFLEET_STAGE_TIMEOUT_MS: "600000" },
  publicUrl: "http://127.0.0.1:0",
  prepare: (built) => ({ ...built, categories: TEST_CATEGORIES }),
  gateway: false,
  requeueOnStart: false,
  relayPollMs: 200,
  worker: {
    roles: ["PARSE", "UNDERSTAND", "EMBED", "INDEX"],
    concurrency: { PARSE: 4, UNDERSTAND: UNDERSTAND_CONCURRENCY, EMBED: 4, INDEX: 4 },
  },
});
const { deps } = system;
const pipeline = system.app.services.intake;

// ------------------------------------------------------------------------------------------ documents
const VENDORS = ["ACME Tools GmbH", "Globex Ltd", "Initech Inc", "Umbrella SA", "Hooli LLC"];
const month = (i: number) => ["January", "March", "May", "July", "September", "November"][i % 6]!;
const TEMPLATES = [
  (i: number) =>
    `${VENDORS[i % 5]}\nINVOICE\nInvoice number: INV-${10000 + i}\nDate: ${1 + (i % 28)} ${month(i)} 2024\nDue date: 2024-12-${String(1 + (i % 28)).padStart(2, "0")}\nItems: ${1 + (i % 9)}\nSubtotal ${(i % 900) + 100}.00\nVAT ${((i % 900) + 100) * 0.2}\nTotal due: €${(i % 900) + 100},${String(i % 100).padStart(2, "0")}\nPayment terms: net 30, bank transfer.`,
  (i: number) =>
    `CAFE ${VENDORS[i % 5]!.toUpperCase()}\nRECEIPT #${i}\n2 x Coffee 7.00\n1 x Cake ${(3 + (i % 5)).toFixed(2)}\nTOTAL ${(10 + (i % 5)).toFixed(2)} EUR\nPaid by card\nThank you, please come again!`,
  (i: number) =>
    `${VENDORS[i % 5]}\n${1 + (i % 28)} ${month(i)} 2024\n\nDear customer ${i},\n\nThank you for your letter about order ${i}. We will send the parts next week.\n\nKind regards, sincerely,\nAnn Smith`,
];
const docs = Array.from({ length: N }, (_, i) => Buffer.from(TEMPLATES[i % TEMPLATES.length]!(i)));

const started = performance.now();
const batch = await pipeline.createBatch(LOCAL_TENANT_ID, { name: `ollama bench ${N}` });
const ids: string[] = [];
for (let at = 0; at < N; at += 500) {
  const slice = docs.slice(at, at + 500);
  const outcomes = await pipeline.requestUploads(
    LOCAL_TENANT_ID,
    batch.id,
    slice.map((b, k) => ({
      name: `doc-${at + k}.txt`,
      size: b.length,
      sha256: createHash("sha256").update(b).digest("hex"),
      contentType: "text/plain",
    })),
  );
  await Promise.all(
    outcomes.map(async (o, k) => {
      if (o.status !== "UPLOAD") throw new Error(`upload ${at + k}: ${o.status}`);
      await deps.store.put(o.document.objectKey, slice[k]!, "text/plain");
      ids.push(o.document.id);
    }),
  );
}
for (let at = 0; at < ids.length; at += 500)
  await pipeline.completeUploads(LOCAL_TENANT_ID, ids.slice(at, at + 500));

// A benchmark, not a test: polling for the end is fine here.
const prisma = deps.db.prisma;
let done = 0;
let failed = 0;
let lastPrint = 0;
while (done + failed < N) {
  await new Promise((r) => setTimeout(r, 500));
  const rows = await prisma.document.groupBy({ by: ["status"], where: { batchId: batch.id }, _count: true });
  const count = (s: string) => rows.find((r: { status: string }) => r.status === s)?._count ?? 0;
  done = count("COMPLETED");
  failed = count("FAILED");
  if (performance.now() - lastPrint > 10_000) {
    lastPrint = performance.now();
    console.error(
      `… ${done} completed, ${failed} failed, ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  }
}
const wallS = (performance.now() - started) / 1000;
const stats = await double.stats();
const chat = stats.models["qwen2.5:7b-instruct"]!;
const embed = stats.models["nomic-embed-text"];
const phaseS = (chat.lastReleaseAt - chat.firstSlotAt) / 1000;
const utilisation = chat.busySlotMs / 1000 / (SLOTS * phaseS);
const meanServiceS = chat.serviceMs / 1000 / chat.requests;
const ideal = SLOTS / meanServiceS;
const failures = failed
  ? await prisma.document.groupBy({
      by: ["errorCode"],
      where: { batchId: batch.id, status: "FAILED" },
      _count: true,
    })
  : [];

await system.stop();
child.kill("SIGTERM");
await rm(dir, { recursive: true, force: true });

const f = (x: number, d = 1) => x.toFixed(d);
console.log(
  `\n${N} documents, embedded system + Ollama adapter → Ollama DOUBLE (${SLOTS} slots, timeScale ${TIME_SCALE}), ${new Date().toISOString()}`,
);
console.log(
  `understand concurrency ${UNDERSTAND_CONCURRENCY}; completed ${done}, failed ${failed}${failed ? ` ${JSON.stringify(failures)}` : ""}`,
);
console.log(`documents/s (upload → indexed):          ${f(N / wallS, 2)}   (${f(wallS)} s)`);
console.log(
  `understand phase:                        ${f(phaseS)} s, ${chat.requests} chat calls, mean service ${f(meanServiceS * 1000, 0)} ms`,
);
console.log(`slot utilisation (understand phase):     ${f(utilisation * 100)} %`);
console.log(`double's ideal documents/s (4 / mean):   ${f(ideal, 2)}`);
console.log(
  `understand-phase documents/s:            ${f(chat.requests / phaseS, 2)}   ratio to ideal ${f(chat.requests / phaseS / ideal, 3)}`,
);
console.log(`end-to-end ratio to ideal:               ${f(N / wallS / ideal, 3)}`);
if (embed)
  console.log(
    `embed: ${embed.requests} requests, ${embed.embedInputs} texts, busy ${f(embed.busySlotMs / 1000)} slot-s`,
  );
console.log(
  `double: rejected ${stats.rejected}, errors ${JSON.stringify(stats.errors)}, max queued ${stats.maxQueued}`,
);
