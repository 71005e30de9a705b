/**
 * Search latency of the embedded index (PGlite + pgvector, data in a temporary folder) at scale:
 * generates N synthetic documents, bulk upserts them 500 per call (prints the time and documents/s),
 * then runs 200 queries per mode (KEYWORD, VECTOR, HYBRID; a quarter plain, a quarter filtered, a
 * quarter with facets, a quarter both) and prints p50 and p99 latency per mode and per variant, and
 * the p50/p95/p99 of the CPU time this process spent per search (PGlite runs in-process, so that is
 * the search's own cost, which a busy machine does not inflate the way it does wall-clock latency).
 *
 *   npm run bench -- tests/bench/search-latency.ts [docs=100000] [queries=200] [--analyze] [--data=DIR]
 *
 * --data=DIR keeps the data folder in DIR (made on the first run) and reuses it when it already holds
 * the N documents, so a 100K index is built once (building it takes tens of minutes on a busy 2-core
 * machine). Queries are generated after the documents from the same PRNG either way (the generator is
 * replayed, embeddings skipped), so a reused folder gets the same queries. The adapter's setup() runs
 * on the reused folder, so indexes a newer adapter adds are built there (and timed).
 *
 * --baseline=DIR (with SEARCH_BASELINE_ADAPTER=<module path>, and --data): a baseline build of the
 * adapter over DIR, a copy of the built data folder; every query runs on both, in alternating order,
 * and the baseline's table and the current/baseline ratios follow, with how many answers differed
 * (hit ids, total or facets).
 *
 * --bulk (a fresh folder only) drops the GIN and HNSW indexes before loading and has setup() build
 * them again after it (maintenance_work_mem 1 GB): the same folder in a fraction of the time, since
 * one index build is much cheaper than 100K incremental HNSW inserts. The upsert rate printed is then
 * not the production one.
 *
 * SEARCH_SHARED_BUFFERS_MB / SEARCH_BASELINE_SHARED_BUFFERS_MB (env): PGlite shared_buffers of the
 * current side (default: what `serve` picks when DOCFLEET_PGLITE_SHARED_BUFFERS_MB is unset, from the
 * folder's size) and of the baseline
 * (default 128, PGlite's own: what the embedded database ran with before the setting existed).
 *
 * EXPLAIN_MS=<ms> (env): a current-side search slower than that has each of its statements run again
 * under EXPLAIN (ANALYZE, BUFFERS), and the plans are printed (at most EXPLAIN_MAX=5 searches per mode).
 *
 * RECALL=1 (env): for each VECTOR query, the exact answer (the current adapter's statements with index
 * scans off, so the vectors are compared by brute force) and each side's recall@10 of its documents
 * against it: the HNSW walk is approximate, so "answers differ" alone cannot say which side is better.
 * The hash embedder's query vectors are sparse and many chunks tie at one distance, so it also prints
 * recall counting a document tied with the exact page's 10th as found, and how many pages differ in
 * their hit scores (not just ids) from the baseline's. HYBRID too: its exact answer fuses the same
 * keyword list with the exact vector list.
 *
 * --analyze runs ANALYZE after loading. PGlite has no autovacuum, so without it the planner has no
 * statistics (that is what the embedded mode gets today). A variant whose query takes longer than
 * 10 s stops there for that mode (printed as ">10s" with how many ran), so a pathological plan
 * cannot stall the run.
 *
 * The documents are deterministic (mulberry32 PRNG): 1–3 chunks of 120–200 words drawn from a
 * 20,000-word made-up vocabulary with Zipf frequencies (s = 1.07), a quarter of each chunk's words
 * from its category's topic words (so categories differ as real ones do), 8 categories, a document
 * date over 2020–2025 and two extracted fields (`total` money, `vendor` string of 300). Vectors come
 * from the built-in hash embedder (256 dimensions) over the chunk text, as the pipeline makes them;
 * queries are 1–3 words (from outside the 100 most frequent), embedded the same way.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { autoSharedBuffersMb, openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { createBuiltinModels } from "@docfleet/pipeline/adapters/models/builtin/index";
import type { IndexDocument, SearchMode, SearchQuery } from "@docfleet/pipeline/ports/search";
import { mulberry32 as prng } from "../helpers/random.ts";

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const N = Number(args[0] ?? 100_000);
const QUERIES = Number(args[1] ?? 200);
const ANALYZE = process.argv.includes("--analyze");
type AdapterModule = typeof import("@docfleet/pipeline/adapters/search/postgres");
// SEARCH_ADAPTER=<module> (env): another build of the adapter on the current side (as for the
// baseline below), e.g. to EXPLAIN an older build's statements on an old-layout folder.
const { PostgresSearchIndex } = (await import(
  process.env.SEARCH_ADAPTER ?? "@docfleet/pipeline/adapters/search/postgres"
)) as AdapterModule;
// --baseline=DIR with SEARCH_BASELINE_ADAPTER=<module>: another build of the adapter (`git show
// REV:<path>` saved with its relative imports made package imports) over a copy of the data folder,
// asked every query too, interleaved with the current one (so a busy machine slows both alike).
const BASELINE = process.argv.find((a) => a.startsWith("--baseline="))?.slice("--baseline=".length);
const BULK = process.argv.includes("--bulk");
const DATA = process.argv.find((a) => a.startsWith("--data="))?.slice("--data=".length);
const GIVE_UP_MS = 10_000;
const BATCH = 500;
const VOCABULARY = 20_000;
const ZIPF_S = 1.07;
const CATEGORIES = ["invoice", "receipt", "contract", "letter", "report", "manual", "minutes", "statement"];
const TENANT = "00000000-0000-4000-8000-000000000001";
const MODES: SearchMode[] = ["KEYWORD", "VECTOR", "HYBRID"];
const VARIANTS = ["plain", "filter", "facets", "filter+facets"] as const;

const rand = prng(20260101);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

// Pronounceable made-up words, so no English stop word or stemming accident skews either index.
const vocabulary: string[] = [];
{
  const onsets = [
    "b",
    "d",
    "f",
    "g",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "st",
    "tr",
    "pl",
    "gr",
    "sk",
  ];
  const vowels = ["a", "e", "i", "o", "u", "ai", "ou"];
  const codas = ["", "", "n", "r", "s", "l", "m", "k", "nd", "st"];
  const seen = new Set<string>();
  while (vocabulary.length < VOCABULARY) {
    let w = "";
    for (let s = int(1, 4); s > 0; s--) w += pick(onsets) + pick(vowels);
    w += pick(codas);
    if (w.length >= 3 && !seen.has(w)) {
      seen.add(w);
      vocabulary.push(w);
    }
  }
}
const cumulative = new Float64Array(VOCABULARY);
{
  let sum = 0;
  for (let r = 0; r < VOCABULARY; r++) cumulative[r] = sum += 1 / (r + 1) ** ZIPF_S;
  for (let r = 0; r < VOCABULARY; r++) cumulative[r]! /= sum;
}
/** A word rank drawn from the Zipf distribution (binary search of the cumulative weights). */
function zipfRank(): number {
  const x = rand();
  let lo = 0;
  let hi = VOCABULARY - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const topics = CATEGORIES.map(() => Array.from({ length: 300 }, () => int(200, VOCABULARY - 1)));
const vendors = Array.from(
  { length: 300 },
  () => `${pick(vocabulary)} ${pick(["Ltd", "GmbH", "Inc", "SA"])}`,
);

function chunkOf(topic: readonly number[]): string {
  const sentences: string[] = [];
  for (let words = int(120, 200); words > 0; ) {
    const len = Math.min(words, int(6, 18));
    const s = Array.from({ length: len }, () => vocabulary[rand() < 0.25 ? pick(topic) : zipfRank()]!);
    s[0] = s[0]!.charAt(0).toUpperCase() + s[0]!.slice(1);
    sentences.push(`${s.join(" ")}.`);
    words -= len;
  }
  return sentences.join(" ");
}

function dateIn(fromYear: number, toYear: number): string {
  const from = Date.UTC(fromYear, 0, 1);
  const to = Date.UTC(toYear, 11, 31);
  return new Date(from + Math.floor(rand() * ((to - from) / 86_400_000 + 1)) * 86_400_000)
    .toISOString()
    .slice(0, 10);
}

const models = createBuiltinModels();
const batchIds = Array.from(
  { length: 10 },
  (_, i) => `00000000-0000-4000-8000-0000000001${String(i).padStart(2, "0")}`,
);

async function makeBatch(start: number, count: number, embed = true): Promise<IndexDocument[]> {
  const docs: IndexDocument[] = [];
  for (let i = start; i < start + count; i++) {
    const c = int(0, CATEGORIES.length - 1);
    const date = dateIn(2020, 2025);
    const texts = Array.from({ length: int(1, 3) }, () => chunkOf(topics[c]!));
    const vectors = embed ? await models.embed(texts) : [];
    docs.push({
      documentId: `00000000-0000-4000-a000-${i.toString(16).padStart(12, "0")}`,
      tenantId: TENANT,
      batchId: pick(batchIds),
      name: `${CATEGORIES[c]}-${i}.pdf`,
      category: CATEGORIES[c]!,
      createdAt: `${dateIn(2025, 2025)}T12:00:00.000Z`,
      date,
      fields: [
        { name: "date", kind: "date", value: date },
        { name: "total", kind: "money", value: (int(100, 500_000) / 100).toFixed(2) },
        { name: "vendor", kind: "string", value: pick(vendors) },
      ],
      chunks: texts.map((text, k) => ({ chunk: k, text, embedding: vectors[k] ?? [] })),
    });
  }
  return docs;
}

const dir = DATA ?? mkdtempSync(join(tmpdir(), "docfleet-search-latency-"));
// SEARCH_SHARED_BUFFERS_MB (env): the current side's PGlite shared_buffers (default: serve's);
// the baseline's is SEARCH_BASELINE_SHARED_BUFFERS_MB, default 128 (PGlite's own, what the embedded
// database ran with before it was configurable), so a baseline run measures the code that was.
const sharedMb = (v: string | undefined) => (v ? Number(v) : undefined);
const db = await openPgliteDatabase(join(dir, "data"), {
  sharedBuffersMb: sharedMb(process.env.SEARCH_SHARED_BUFFERS_MB) ?? autoSharedBuffersMb(join(dir, "data")),
});
// The statements of the current side's last search (EXPLAIN_MS), recorded by a wrapper around the database.
const EXPLAIN_MS = process.env.EXPLAIN_MS ? Number(process.env.EXPLAIN_MS) : undefined;
const statements: { sql: string; params?: unknown[] }[] = [];
const recording: typeof db =
  EXPLAIN_MS === undefined
    ? db
    : new Proxy(db, {
        get(target, key, receiver) {
          if (key === "query")
            return (sql: string, params?: unknown[], opts?: unknown) => {
              statements.push({ sql, params });
              return target.query(sql, params, opts as never);
            };
          const v = Reflect.get(target, key, receiver);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
try {
  const search = new PostgresSearchIndex(recording, { dimensions: models.embeddingDimensions });
  const tSetup = performance.now();
  await search.setup();
  console.log(`setup ${((performance.now() - tSetup) / 1000).toFixed(1)} s`);
  // CURRENT_SET="hnsw.ef_search = 100; ..." (env): session settings for the current side only (experiments)
  if (process.env.CURRENT_SET) await db.exec(`SET ${process.env.CURRENT_SET.split(";").join("; SET ")}`);
  const reuse = DATA !== undefined && (await search.stats(TENANT)).documents === N;
  if (reuse) {
    // replay the generator so the queries below are the same as on the run that built the folder
    for (let i = 0; i < N; i += BATCH) await makeBatch(i, Math.min(BATCH, N - i), false);
    console.log(`reusing ${dir}: ${N} documents already indexed`);
  }

  if (BULK && !reuse) await db.exec("DROP INDEX IF EXISTS search_chunk_embedding_idx, search_chunk_tsv_idx");
  let genMs = 0;
  let upsertMs = 0;
  const t0 = performance.now();
  for (let i = 0; reuse ? false : i < N; i += BATCH) {
    let t = performance.now();
    const docs = await makeBatch(i, Math.min(BATCH, N - i));
    genMs += performance.now() - t;
    t = performance.now();
    await search.upsert(docs);
    upsertMs += performance.now() - t;
    const done = i + docs.length;
    if (done % Math.max(BATCH, Math.min(10_000, N / 10)) === 0 || done === N) {
      const rss = (process.memoryUsage().rss / 2 ** 30).toFixed(1);
      console.log(
        `  ${done} docs: upsert ${(upsertMs / 1000).toFixed(0)} s (${((done / upsertMs) * 1000).toFixed(0)} docs/s), generate+embed ${(genMs / 1000).toFixed(0)} s, rss ${rss} GiB`,
      );
    }
  }
  if (BULK && !reuse) {
    const t = performance.now();
    await db.exec("SET maintenance_work_mem = '1GB'");
    await search.setup();
    await db.exec("RESET maintenance_work_mem");
    console.log(`indexes built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  if (ANALYZE && !reuse) {
    const t = performance.now();
    await db.exec("ANALYZE");
    console.log(`ANALYZE took ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const stats = await search.stats(TENANT);
  if (!reuse)
    console.log(
      `indexed ${stats.documents} documents (${stats.chunks} chunks) in ${(upsertMs / 1000).toFixed(1)} s of upserts: ` +
        `${((N / upsertMs) * 1000).toFixed(0)} docs/s (${((stats.chunks / upsertMs) * 1000).toFixed(0)} chunks/s); ` +
        `generating and embedding took ${(genMs / 1000).toFixed(1)} s more, ${((performance.now() - t0) / 1000).toFixed(1)} s in all`,
    );

  // Query words from outside the 100 most frequent: nobody searches for the commonest words.
  const queries: { text: string; variant: (typeof VARIANTS)[number]; q: Omit<SearchQuery, "mode"> }[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const words: string[] = [];
    for (let n = int(1, 3); words.length < n; ) {
      const r = rand() < 0.5 ? zipfRank() : pick(topics[int(0, CATEGORIES.length - 1)]!);
      if (r >= 100) words.push(vocabulary[r]!);
    }
    const text = words.join(" ");
    const variant = VARIANTS[i % VARIANTS.length]!;
    const filtered = variant === "filter" || variant === "filter+facets";
    const from = dateIn(2020, 2024);
    queries.push({
      text,
      variant,
      q: {
        tenantId: TENANT,
        text,
        embedding: (await models.embed([text]))[0],
        limit: 10,
        filter: filtered
          ? i % 8 < 4
            ? {
                categories: [pick(CATEGORIES), pick(CATEGORIES)],
                dateFrom: from,
                dateTo: `${Number(from.slice(0, 4)) + 1}${from.slice(4)}`,
              }
            : { fields: [{ name: "total", op: "gte", value: String(int(100, 2000)) }] }
          : undefined,
        facets: variant.includes("facets")
          ? [{ field: "category" }, { field: "field:vendor", size: 5 }]
          : undefined,
      },
    });
  }

  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
  };
  const fmt = (ms: number) => `${ms.toFixed(1)}`.padStart(7);
  console.log(
    `\n${N} docs, ${QUERIES} queries per mode (${QUERIES / VARIANTS.length} per variant), latency in ms:`,
  );
  console.log(
    `${BASELINE ? "side      " : ""}mode        p50     p95     p99  | p50/p99 ${VARIANTS.join(" | ")}   mean hits`,
  );
  const sides: {
    name: string;
    search: Pick<InstanceType<AdapterModule["PostgresSearchIndex"]>, "search">;
  }[] = [{ name: "current", search }];
  let baseDb: Awaited<ReturnType<typeof openPgliteDatabase>> | undefined;
  if (BASELINE) {
    const mod = (await import(process.env.SEARCH_BASELINE_ADAPTER!)) as AdapterModule;
    baseDb = await openPgliteDatabase(join(BASELINE, "data"), {
      sharedBuffersMb: sharedMb(process.env.SEARCH_BASELINE_SHARED_BUFFERS_MB) ?? 128,
    });
    const base = new mod.PostgresSearchIndex(baseDb, { dimensions: models.embeddingDimensions });
    await base.setup();
    sides.push({ name: "baseline", search: base });
  }
  const summary = (res: Awaited<ReturnType<typeof search.search>>) =>
    JSON.stringify([res.hits.map((h) => [h.documentId, h.chunk]), res.total, res.facets]);
  const rows = new Map<string, number[]>();
  for (const mode of MODES) {
    for (const side of sides)
      for (const { q } of queries.slice(0, 10)) await side.search.search({ ...q, mode }); // warm-up
    const times = sides.map(() => [] as number[]);
    const cpuTimes = sides.map(() => [] as number[]);
    const byVariant = sides.map(() => new Map<string, number[]>(VARIANTS.map((v) => [v, []])));
    let hits = 0;
    let differ = 0;
    let explained = 0;
    const recall = sides.map(() => [] as number[]);
    const recallTies = sides.map(() => [] as number[]);
    const pageScores: number[][] = [];
    let scoresDiffer = 0;
    const slowest = sides.map(() => ({ ms: 0, what: "" }));
    const gaveUp = new Set<string>();
    for (const [qi, { q, variant }] of queries.entries()) {
      if (gaveUp.has(variant)) continue;
      const answers: string[] = [];
      for (let k = 0; k < sides.length; k++) {
        const i = (qi + k) % sides.length; // alternate which side goes first
        statements.length = 0;
        const cpu0 = process.cpuUsage();
        const t = performance.now();
        const res = await sides[i]!.search.search({ ...q, mode });
        const ms = performance.now() - t;
        const cpu = process.cpuUsage(cpu0);
        cpuTimes[i]!.push((cpu.user + cpu.system) / 1000);
        if (
          i === 0 &&
          EXPLAIN_MS !== undefined &&
          ms > EXPLAIN_MS &&
          explained++ < Number(process.env.EXPLAIN_MAX ?? 5)
        ) {
          console.log(
            `    EXPLAIN ${mode} ${ms.toFixed(0)} ms: ${variant} ${JSON.stringify(q.text)} ${JSON.stringify(q.filter ?? {})} total ${res.total}`,
          );
          for (const st of [...statements]) {
            const plan = await db.query<{ "QUERY PLAN": string }>(
              `EXPLAIN (ANALYZE, BUFFERS) ${st.sql}`,
              st.params,
            );
            console.log(plan.map((r) => `      ${r["QUERY PLAN"]}`).join("\n"));
          }
        }
        if (ms > slowest[i]!.ms)
          slowest[i] = { ms, what: `${variant} ${JSON.stringify(q.text)} ${JSON.stringify(q.filter ?? {})}` };
        if (process.env.SLOW_MS && ms > Number(process.env.SLOW_MS))
          console.log(
            `    ${sides[i]!.name} ${mode} ${ms.toFixed(0)} ms: ${variant} ${JSON.stringify(q.text)} ${JSON.stringify(q.filter ?? {})} total ${res.total}`,
          );
        times[i]!.push(ms);
        byVariant[i]!.get(variant)!.push(ms);
        if (ms > GIVE_UP_MS) gaveUp.add(variant);
        if (i === 0) hits += res.hits.length;
        answers[i] = summary(res);
        pageScores[i] = res.hits.map((h) => h.score);
      }
      if (process.env.RECALL && mode !== "KEYWORD") {
        await db.exec("SET enable_indexscan = off");
        const exact = await search.search({ ...q, mode });
        await db.exec("RESET enable_indexscan");
        const want = new Set(exact.hits.map((h) => h.documentId));
        // the hash embedder's query vectors are sparse, so many chunks tie at one distance: a
        // document tied with the exact page's last one is as near, whichever of them a walk met
        const last = Math.min(...exact.hits.map((h) => h.score)) - 1e-6;
        answers.forEach((a, i) => {
          const got = (JSON.parse(a) as [[string, number][]])[0].map(([d]) => d);
          recall[i]!.push(want.size ? got.filter((d) => want.has(d)).length / want.size : 1);
          const near = pageScores[i]!.filter((x) => x >= last).length;
          recallTies[i]!.push(want.size ? Math.min(near, want.size) / want.size : 1);
        });
      }
      if (
        answers.length > 1 &&
        pageScores[1]!.map((x) => x.toFixed(5)).join() !== pageScores[0]!.map((x) => x.toFixed(5)).join()
      )
        scoresDiffer++;
      if (answers.length > 1 && answers[1] !== answers[0]) {
        differ++;
        if (process.env.SHOW_DIFF)
          console.log(
            `    differs: ${mode} ${variant} ${JSON.stringify(q.text)} ${JSON.stringify(q.filter ?? {})}\n      current  ${answers[0]}\n      baseline ${answers[1]}`,
          );
      }
    }
    sides.forEach((side, i) => {
      const variants = VARIANTS.map((v) => {
        const xs = byVariant[i]!.get(v)!;
        if (gaveUp.has(v)) return `>${GIVE_UP_MS / 1000}s (stopped after ${xs.length})`;
        return `${pct(xs, 50).toFixed(1)}/${pct(xs, 99).toFixed(1)}`;
      });
      const ts = times[i]!;
      const cs = cpuTimes[i]!;
      rows.set(`${side.name} ${mode}`, [
        pct(ts, 50),
        pct(ts, 95),
        pct(ts, 99),
        pct(cs, 50),
        pct(cs, 95),
        pct(cs, 99),
      ]);
      const line = `${mode.padEnd(8)} ${fmt(pct(ts, 50))} ${fmt(pct(ts, 95))} ${fmt(pct(ts, 99))}${gaveUp.size ? " (incomplete)" : ""}  | ${variants.join(" | ")}   ${(hits / ts.length).toFixed(1)}`;
      console.log(`${sides.length > 1 ? `${side.name.padEnd(9)}` : ""}${line}`);
      console.log(
        `         cpu ${fmt(pct(cs, 50))} ${fmt(pct(cs, 95))} ${fmt(pct(cs, 99))}  (ms of this process's CPU per search)`,
      );
      console.log(`         slowest ${slowest[i]!.ms.toFixed(0)} ms: ${slowest[i]!.what}`);
      if (recall[i]!.length)
        console.log(
          `         recall@10 against exact: ${(recall[i]!.reduce((a, b) => a + b, 0) / recall[i]!.length).toFixed(3)} (${recall[i]!.filter((r) => r === 1).length} of ${recall[i]!.length} pages exact); counting documents tied with the exact 10th: ${(recallTies[i]!.reduce((a, b) => a + b, 0) / recallTies[i]!.length).toFixed(3)}`,
        );
    });
    if (sides.length > 1)
      console.log(
        `         answers differing from the baseline: ${differ} of ${times[0]!.length} (pages whose hit scores differ: ${scoresDiffer})`,
      );
  }
  if (sides.length > 1) {
    console.log("\ncurrent / baseline (p50 p95 p99 of latency, then of CPU ms per search):");
    for (const mode of MODES) {
      const c = rows.get(`current ${mode}`)!;
      const b = rows.get(`baseline ${mode}`)!;
      console.log(`${mode.padEnd(8)} ${c.map((x, k) => (x / b[k]!).toFixed(2).padStart(6)).join(" ")}`);
    }
  }
  await baseDb?.close();
} finally {
  await db.close();
  if (DATA === undefined) rmSync(dir, { recursive: true, force: true });
}
