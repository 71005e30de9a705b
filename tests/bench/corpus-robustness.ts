/**
 * Robustness over real documents: every file of ../shared/corpus/pdfjs and ../shared/corpus/formats
 * goes through `docfleet serve` (parse in sandboxed threads with OCR, understand, embed, index) and
 * must end COMPLETED or FAILED with a code: no crash, no hang (each stage has a time budget). Prints
 * counts by outcome and code, by folder, the slowest documents and the serve process's peak memory.
 *
 *   npm run bench -- tests/bench/corpus-robustness.ts [folders=pdfjs,formats] [stage budget ms=60000] [--files]
 *
 * --files: one line per document too (name, outcome, code, seconds, message), sorted by name, to compare
 * two runs' codes file by file.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CORPUS, gql, runCli, startServe } from "../helpers/cli.ts";

const args = process.argv.slice(2).filter((a) => a !== "--files");
const perFile = process.argv.includes("--files");
const folders = (args[0] ?? "pdfjs,formats").split(",");
const budgetMs = Number(args[1] ?? 60_000);

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(path)));
    else if (!e.name.endsWith(".expected.md") && e.name !== "README.md") out.push(path);
  }
  return out.sort();
}

const dir = await mkdtemp(join(tmpdir(), "docfleet-robust-"));
const files: { folder: string; path: string; link: string }[] = [];
for (const folder of folders) {
  for (const path of await walk(join(CORPUS, folder))) {
    const link = join(dir, "in", folder, path.slice(join(CORPUS, folder).length + 1).replaceAll("/", "__"));
    files.push({ folder, path, link });
  }
}
for (const folder of folders) await mkdir(join(dir, "in", folder), { recursive: true });
for (const f of files) await copyFile(f.path, f.link);

// Requests without a key by explicit opt-in (serve refuses them by default), as the runs this bench
// was first measured with.
const serve = await startServe(join(dir, "data"), {
  DOCFLEET_ALLOW_ANONYMOUS: "true",
  DOCFLEET_LOG_LEVEL: "error",
  DOCFLEET_STAGE_TIMEOUT_MS: String(budgetMs),
});
const started = performance.now();
const up = await runCli(["upload", join(dir, "in"), "--endpoint", serve.url, "--json", "--concurrency", "8"]);
const seconds = (performance.now() - started) / 1000;
const status = await readFile(`/proc/${serve.child.pid}/status`, "utf8");
const peakMb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;

type Doc = {
  name: string;
  status: string;
  errorCode: string | null;
  errorMessage: string | null;
  timings: Record<string, number>;
};
const docs: Doc[] = [];
let after: string | null = null;
for (;;) {
  const page: {
    documents: { edges: { node: Doc }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
  } = await gql(
    serve.url,
    `query($after: String) { documents(first: 100, after: $after) {
      edges { node { name status errorCode errorMessage timings } } pageInfo { hasNextPage endCursor } } }`,
    { after },
  );
  docs.push(...page.documents.edges.map((e) => e.node));
  if (!page.documents.pageInfo.hasNextPage) break;
  after = page.documents.pageInfo.endCursor;
}
await serve.stop();
await rm(dir, { recursive: true, force: true });

const upload = JSON.parse(up.stdout || "{}") as Record<string, unknown>;
console.log(
  `\n${files.length} files from ${folders.join(", ")}; ${docs.length} documents (duplicates by sha256 are one), ${seconds.toFixed(0)} s, ${new Date().toISOString()}`,
);
console.log(`upload exit code ${up.code}; upload summary ${JSON.stringify(upload)}`);
function count(xs: string[]): [string, number][] {
  const m = new Map<string, number>();
  for (const k of xs) m.set(k, (m.get(k) ?? 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1]);
}
console.log("by outcome:", Object.fromEntries(count(docs.map((d) => d.status))));
console.log(
  "failed by code:",
  Object.fromEntries(count(docs.filter((d) => d.status === "FAILED").map((d) => d.errorCode ?? "NO CODE"))),
);
for (const folder of folders) {
  const mine = docs.filter(
    (d) =>
      d.name.startsWith(`${folder}/`) ||
      files.some((f) => f.folder === folder && f.link.endsWith(`/${d.name}`)),
  );
  console.log(
    `  ${folder}: ${Object.entries(
      Object.fromEntries(
        count(mine.map((d) => (d.status === "FAILED" ? `FAILED ${d.errorCode}` : d.status))),
      ),
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
}
const unfinished = docs.filter((d) => d.status !== "COMPLETED" && d.status !== "FAILED");
const noCode = docs.filter((d) => d.status === "FAILED" && !d.errorCode);
console.log(`not finished (hang or crash): ${unfinished.length}; failed without a code: ${noCode.length}`);
const total = (d: Doc) => Object.values(d.timings ?? {}).reduce((a, b) => a + b, 0);
console.log(
  "slowest:",
  docs
    .sort((a, b) => total(b) - total(a))
    .slice(0, 5)
    .map((d) => `${d.name} ${(total(d) / 1000).toFixed(1)} s`)
    .join("; "),
);
console.log(`serve process peak RSS: ${peakMb.toFixed(0)} MiB (parse threads' heap limit: 1024 MiB each)`);
if (perFile) {
  for (const d of [...docs].sort((a, b) => a.name.localeCompare(b.name))) {
    const code = d.status === "FAILED" ? (d.errorCode ?? "NO CODE") : d.status;
    const message = (d.errorMessage ?? "").replace(/\s+/g, " ").slice(0, 160);
    console.log(`file\t${d.name}\t${code}\t${(total(d) / 1000).toFixed(1)}\t${message}`);
  }
}
