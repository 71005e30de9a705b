/**
 * Issue 15's query attacks rerun against the embedded gateway (PGlite + memory adapters, the search
 * index filled with synthetic documents, requests through yoga.fetch): field-condition floods (250,
 * 1,000, 10,000), the worst search the bounds allow (every list at its bound), a NUL character, and
 * the variable-`first` cost attack (five aliases of batch → documents → batch → documents). For each:
 * the answer, its time, the longest event-loop stall while it ran, the process's RSS after, and the
 * latency of another tenant's small search sent at the same moment.
 *
 *   npm run bench -- tests/bench/search-attacks.ts [docs=1000]
 *
 * Timings depend on the machine's load: they go here, never into a test's assertions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGateway, LOCAL_TENANT_ID } from "@docfleet/gateway";
import { ApiKeys, SEARCH_LIMITS } from "@docfleet/pipeline";
import type { IndexDocument } from "@docfleet/pipeline/ports/search";
import pino from "pino";
import { mulberry32 } from "../helpers/random.ts";
import { inProcessSystem } from "../helpers/system.ts";

const N = Number(process.argv[2] ?? 1000);
const rand = mulberry32(15);
const WORDS = [
  "invoice",
  "receipt",
  "total",
  "vendor",
  "acme",
  "globex",
  "paper",
  "toner",
  "rent",
  "lease",
  "due",
];
const sentence = (n: number) =>
  Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(" ");

const dir = mkdtempSync(join(tmpdir(), "docfleet-search-attacks-"));
const system = await inProcessSystem(dir, {
  env: { DOCFLEET_LOG_LEVEL: "error" },
  publicUrl: "http://127.0.0.1:9",
  gateway: false,
  requeueOnStart: false,
  relay: false,
});
const g = createGateway({
  app: system.app,
  log: pino({ level: "silent" }),
  allowAnonymous: true,
  hardening: {},
  rateLimiters: {},
});
const other = await system.deps.db.prisma.tenant.create({ data: { name: "the other tenant" } });
const otherKey = (
  await new ApiKeys(system.deps.db).create({ tenantId: other.id, name: "b", scopes: ["read"] })
).secret;

// Both tenants' documents in the index: chunks, and five fields each (two of them numbers).
const t0 = performance.now();
for (let start = 0; start < N; start += 250) {
  const docs: IndexDocument[] = [];
  for (let i = start; i < Math.min(N, start + 250); i++) {
    const texts = [sentence(150), sentence(150)];
    const vectors = await system.deps.models.embed(texts);
    for (const tenantId of [LOCAL_TENANT_ID, other.id])
      docs.push({
        documentId: crypto.randomUUID(),
        tenantId,
        batchId: crypto.randomUUID(),
        name: `doc-${i}.pdf`,
        category: i % 2 ? "invoice" : "receipt",
        createdAt: new Date().toISOString(),
        date: null,
        fields: [
          { name: "total", kind: "money", value: String(i) },
          { name: "vendor", kind: "string", value: `vendor ${i % 40}` },
          { name: "item", kind: "string", value: WORDS[i % WORDS.length]! },
          { name: "pages", kind: "number", value: String(i % 9) },
          { name: "due", kind: "date", value: `2024-0${(i % 9) + 1}-1${i % 9}` },
        ],
        chunks: texts.map((text, k) => ({ chunk: k, text, embedding: vectors[k]! })),
      });
  }
  await system.deps.search.upsert(docs);
}
console.log(
  `indexed ${N} documents per tenant (2 chunks, 5 fields each) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

const SEARCH = `query($q: String!, $f: SearchFilter, $facets: [String!], $n: Int, $m: SearchMode) {
  search(query: $q, filter: $f, facets: $facets, first: $n, mode: $m) {
    totalCount hits { score highlights document { name } } facets { field buckets { value count } } } }`;

async function post(body: object, key?: string) {
  const res = await g.yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, bytes: text.length };
}

const conditions = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    i % 2 ? { name: "total", op: "GTE", value: String(i) } : { name: "vendor", op: "EXISTS" },
  );

const ATTACKS: { name: string; body: object }[] = [
  {
    name: "250 field conditions",
    body: { query: SEARCH, variables: { q: "invoice", f: { fields: conditions(250) } } },
  },
  {
    name: "1,000 field conditions",
    body: { query: SEARCH, variables: { q: "invoice", f: { fields: conditions(1000) } } },
  },
  {
    name: "10,000 field conditions",
    body: { query: SEARCH, variables: { q: "invoice", f: { fields: conditions(10_000) } } },
  },
  {
    name: "worst allowed search (every list at its bound, HYBRID, 100 hits, 10 facets)",
    body: {
      query: SEARCH,
      variables: {
        q: sentence(SEARCH_LIMITS.queryWords),
        m: "HYBRID",
        n: 100,
        facets: Array.from(
          { length: SEARCH_LIMITS.facets },
          (_, i) => ["category", "batch", "field:vendor", "field:item", "field:total"][i % 5],
        ),
        f: {
          category: Array.from({ length: SEARCH_LIMITS.categories }, (_, i) =>
            i < 2 ? ["invoice", "receipt"][i] : `c${i}`,
          ),
          fields: Array.from({ length: SEARCH_LIMITS.fieldConditions }, (_, i) =>
            i % 2
              ? { name: "total", op: "GTE", value: "0" }
              : {
                  name: "vendor",
                  op: "IN",
                  values: Array.from({ length: SEARCH_LIMITS.valuesPerCondition }, (_, k) =>
                    k < 40 ? `vendor ${k}` : `v${k}`.padEnd(SEARCH_LIMITS.valueChars, "x"),
                  ),
                },
          ),
        },
      },
    },
  },
  { name: "a NUL character in the search text", body: { query: SEARCH, variables: { q: "in\u0000voice" } } },
  {
    name: "a NUL character in a HYBRID search with 20 field conditions (the issue's hang)",
    body: { query: SEARCH, variables: { q: "in\u0000voice", f: { fields: conditions(20) } } },
  },
  {
    name: "cost attack: 5 aliases of batch → documents → batch → documents, first: $n = 30",
    body: {
      query: `query($b: ID!, $n: Int) { ${[1, 2, 3, 4, 5]
        .map(
          (i) =>
            `a${i}: batch(id: $b) { documents(first: $n) { edges { node { name text batch { documents(first: $n) { edges { node { name text } } } } } } } }`,
        )
        .join(" ")} }`,
      variables: { b: crypto.randomUUID(), n: 30 },
    },
  },
];

const rows: string[] = [
  "| attack | answer | time ms | longest event-loop stall ms | RSS after MiB | other tenant's search ms |",
  "|---|---|---|---|---|---|",
];
// warm up (first search compiles plans and loads the model)
await post({ query: SEARCH, variables: { q: "invoice" } });
await post({ query: SEARCH, variables: { q: "invoice" } }, otherKey);
for (const attack of ATTACKS) {
  // the longest gap between ticks of a 10 ms timer: how long the event loop was held
  let stall = 0;
  let tick = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - tick - 10);
    tick = now;
  }, 10);
  const t = performance.now();
  const [answer, otherMs] = await Promise.all([
    post(attack.body).then((a) => ({ ...a, ms: performance.now() - t })),
    post({ query: SEARCH, variables: { q: "receipt total", n: 10 } }, otherKey).then(
      () => performance.now() - t,
    ),
  ]);
  clearInterval(timer);
  const parsed = JSON.parse(answer.text) as {
    data?: { search?: { totalCount: number } };
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  const said = parsed.errors?.length
    ? `${answer.status} ${parsed.errors[0]?.extensions?.code}: ${parsed.errors[0]?.message.slice(0, 90)}`
    : `${answer.status} ok, ${parsed.data?.search?.totalCount ?? "?"} matches, ${(answer.bytes / 1024).toFixed(0)} KiB`;
  const rss = process.memoryUsage().rss / 2 ** 20;
  rows.push(
    `| ${attack.name} | ${said} | ${answer.ms.toFixed(0)} | ${Math.max(0, stall).toFixed(0)} | ${rss.toFixed(0)} | ${otherMs.toFixed(0)} |`,
  );
  console.log(rows.at(-1));
}
console.log(`\n${rows.join("\n")}`);
await g.close();
await system.stop();
rmSync(dir, { recursive: true, force: true });
