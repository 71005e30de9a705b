/**
 * Search relevance on the labelled development set tests/bench/relevance/queries.json: builds a fresh
 * embedded index (PGlite + pgvector, in memory) from every corpus file the set names plus every other
 * file of ../shared/corpus/formats and pdfjs that parses to some text (the distractors), each parsed,
 * chunked and embedded as the pipeline does (parseDocument, chunkText, the built-in hash embedder),
 * then runs every query in KEYWORD, VECTOR and HYBRID mode and prints, per mode, the mean over
 * queries of nDCG@10 (gain 2^grade - 1), recall@10 and MRR (first relevant document of any grade),
 * overall and per kind of query.
 *
 *   npm run bench -- tests/bench/relevance.ts [--queries]   (--queries: one line per query too)
 *
 * A benchmark, not a test: it asserts nothing; it reports whether HYBRID is at least as good as the
 * better of KEYWORD and VECTOR.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openPgliteDatabase } from "@docfleet/pipeline/adapters/database/pglite";
import { createBuiltinModels } from "@docfleet/pipeline/adapters/models/builtin/index";
import { PostgresSearchIndex } from "@docfleet/pipeline/adapters/search/postgres";
import { chunkText } from "@docfleet/pipeline/chunk";
import { isDocumentError } from "@docfleet/pipeline/domain/errors";
import { parseDocument } from "@docfleet/pipeline/parse/index";
import type { IndexDocument, SearchMode } from "@docfleet/pipeline/ports/search";

interface Judgement {
  file: string;
  grade: 1 | 2;
}
interface Query {
  id: string;
  kind: string;
  query: string;
  relevant: Judgement[];
}

const corpus = fileURLToPath(new URL("../../../shared/corpus/", import.meta.url));
const queries = JSON.parse(
  readFileSync(fileURLToPath(new URL("./relevance/queries.json", import.meta.url)), "utf8"),
) as Query[];
const perQuery = process.argv.includes("--queries");
const MODES: SearchMode[] = ["KEYWORD", "VECTOR", "HYBRID"];
const K = 10;
const TENANT = uuidOf("tenant");
const BATCH = uuidOf("batch");
const parseOpts = { maxPages: 200, maxTextChars: 2_000_000 };

/** A stable UUID for a corpus path, so runs are comparable (ties break by document id). */
function uuidOf(s: string): string {
  const h = createHash("sha1").update(s).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const files = [
  ...readdirSync(join(corpus, "formats")).flatMap((d) =>
    readdirSync(join(corpus, "formats", d))
      .filter((f) => !f.endsWith(".expected.md"))
      .map((f) => `formats/${d}/${f}`),
  ),
  ...readdirSync(join(corpus, "pdfjs")).map((f) => `pdfjs/${f}`),
].sort();
const named = new Set(queries.flatMap((q) => q.relevant.map((r) => r.file)));
for (const f of named) if (!files.includes(f)) throw new Error(`queries.json names ${f}, not in the corpus`);

const models = createBuiltinModels();
const docs: IndexDocument[] = [];
const skipped = new Map<string, number>();
const idToFile = new Map<string, string>();
let t = performance.now();
for (const file of files) {
  let text: string;
  try {
    const parsed = await parseDocument(readFileSync(join(corpus, file)), {
      ...parseOpts,
      fileName: basename(file),
      signal: AbortSignal.timeout(30_000),
    });
    text = parsed.text;
  } catch (err) {
    const code = isDocumentError(err) ? err.code : "CRASH";
    skipped.set(code, (skipped.get(code) ?? 0) + 1);
    if (named.has(file)) throw new Error(`${file} is judged relevant but failed to parse: ${code}`);
    continue;
  }
  const chunks = chunkText(text);
  if (chunks.length === 0) {
    skipped.set("NO_TEXT", (skipped.get("NO_TEXT") ?? 0) + 1);
    if (named.has(file)) throw new Error(`${file} is judged relevant but has no text`);
    continue;
  }
  const vectors = await models.embed(chunks.map((c) => c.text));
  const documentId = uuidOf(file);
  idToFile.set(documentId, file);
  docs.push({
    documentId,
    tenantId: TENANT,
    batchId: BATCH,
    name: basename(file),
    // The classifier's category is left out: it adds words to the keyword index that the labels ignore.
    category: null,
    createdAt: "2026-01-01T00:00:00.000Z",
    date: null,
    fields: [],
    chunks: chunks.map((c, i) => ({ chunk: c.chunk, text: c.text, embedding: vectors[i]! })),
  });
}
const parseSeconds = (performance.now() - t) / 1000;
const chunkCount = docs.reduce((n, d) => n + d.chunks.length, 0);
const skippedText = [...skipped].map(([c, n]) => `${c}×${n}`).join(", ") || "none";
console.log(
  `corpus: ${files.length} files, ${docs.length} indexed (${chunkCount} chunks), skipped ${skippedText}; parse+embed ${parseSeconds.toFixed(1)} s`,
);

const db = await openPgliteDatabase(undefined);
const search = new PostgresSearchIndex(db, { dimensions: models.embeddingDimensions });
await search.setup();
t = performance.now();
for (let i = 0; i < docs.length; i += 100) await search.upsert(docs.slice(i, i + 100));
console.log(`indexed in ${((performance.now() - t) / 1000).toFixed(1)} s`);

interface Scores {
  ndcg: number;
  recall: number;
  rr: number;
  /** 1-based rank of the first relevant document in the top K, or 0. */
  first: number;
}

function score(q: Query, ranked: readonly string[]): Scores {
  const grade = new Map(q.relevant.map((r) => [r.file, r.grade]));
  const gain = (g: number) => 2 ** g - 1;
  let dcg = 0;
  let found = 0;
  let first = 0;
  ranked.slice(0, K).forEach((file, i) => {
    const g = grade.get(file);
    if (g === undefined) return;
    dcg += gain(g) / Math.log2(i + 2);
    found++;
    if (first === 0) first = i + 1;
  });
  const ideal = [...grade.values()]
    .sort((a, b) => b - a)
    .slice(0, K)
    .reduce((s, g, i) => s + gain(g) / Math.log2(i + 2), 0);
  return { ndcg: dcg / ideal, recall: found / grade.size, rr: first ? 1 / first : 0, first };
}

const results = new Map<SearchMode, Scores[]>(MODES.map((m) => [m, []]));
t = performance.now();
for (const q of queries) {
  const [embedding] = await models.embed([q.query]);
  const row: string[] = [];
  for (const mode of MODES) {
    const res = await search.search({ tenantId: TENANT, text: q.query, embedding, mode, limit: K });
    const ranked = res.hits.map((h) => idToFile.get(h.documentId) ?? h.documentId);
    const s = score(q, ranked);
    results.get(mode)!.push(s);
    row.push(`${s.ndcg.toFixed(2).padStart(5)} ${(s.first ? `@${s.first}` : "-").padEnd(3)}`);
  }
  if (perQuery) console.log(`${q.id} ${q.kind.padEnd(8)} ${row.join("  ")}  ${q.query}`);
}
const searchMs = performance.now() - t;
if (perQuery)
  console.log("(columns: KEYWORD, VECTOR, HYBRID — nDCG@10 and the rank of the first relevant hit)");

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const kinds = [...new Set(queries.map((q) => q.kind))];
console.log(
  `\n${queries.length} queries, ${docs.length} documents; ${(searchMs / (queries.length * MODES.length)).toFixed(1)} ms per search`,
);
console.log(`mode      nDCG@${K}  recall@${K}   MRR   | nDCG@${K} by kind: ${kinds.join(", ")}`);
const ndcgOf = new Map<SearchMode, number>();
for (const mode of MODES) {
  const s = results.get(mode)!;
  const byKind = kinds.map((k) => mean(s.filter((_, i) => queries[i]!.kind === k).map((x) => x.ndcg)));
  ndcgOf.set(mode, mean(s.map((x) => x.ndcg)));
  console.log(
    `${mode.padEnd(8)}  ${ndcgOf.get(mode)!.toFixed(3).padStart(7)}  ${mean(s.map((x) => x.recall))
      .toFixed(3)
      .padStart(9)}  ${mean(s.map((x) => x.rr))
      .toFixed(3)
      .padStart(5)}   | ${byKind.map((x) => x.toFixed(3)).join("  ")}`,
  );
}
const best = Math.max(ndcgOf.get("KEYWORD")!, ndcgOf.get("VECTOR")!);
const hybrid = ndcgOf.get("HYBRID")!;
console.log(
  hybrid >= best
    ? `HYBRID nDCG@${K} ${hybrid.toFixed(3)} is no worse than the better single mode (${best.toFixed(3)})`
    : `HYBRID nDCG@${K} ${hybrid.toFixed(3)} is WORSE than the better single mode (${best.toFixed(3)}) by ${(best - hybrid).toFixed(3)}`,
);
await db.close();
