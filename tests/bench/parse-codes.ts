/**
 * Parse outcome of every corpus file, one line each, to compare two versions' codes file by file
 * (corpus-robustness.ts runs the whole of `serve`; this runs only what decides most codes, the parse,
 * in the same sandboxed threads serve uses, with serve's default limits and OCR).
 *
 *   node --import tsx tests/bench/parse-codes.ts [folders=pdfjs,formats] [budget ms per file=60000]
 *
 * Prints `file<TAB>name<TAB>OK|code<TAB>seconds<TAB>message`. The budget is a plain per-file timeout
 * (TIMEOUT), not the stage's progress-aware budget.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_SETTINGS } from "@docfleet/pipeline/domain/context";
import { createThreadParser } from "@docfleet/pipeline/parse/sandbox";

const corpus = fileURLToPath(new URL("../../../shared/corpus/", import.meta.url));
const folders = (process.argv[2] ?? "pdfjs,formats").split(",");
const budgetMs = Number(process.argv[3] ?? 60_000);

function walk(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return walk(path);
      return name.endsWith(".expected.md") || name === "README.md" ? [] : [path];
    });
}

const parser = createThreadParser({ threads: 1 });
const counts = new Map<string, number>();
for (const folder of folders) {
  for (const path of walk(join(corpus, folder))) {
    const name = path.slice(corpus.length);
    const started = performance.now();
    let outcome = "OK";
    let message = "";
    try {
      await parser.parse(
        readFileSync(path),
        {
          maxPages: DEFAULT_SETTINGS.maxPages,
          maxTextChars: DEFAULT_SETTINGS.maxTextChars,
          maxPixels: DEFAULT_SETTINGS.maxPixels,
          maxOcrPages: DEFAULT_SETTINGS.maxOcrPages,
          fileName: path.split("/").pop(),
        },
        AbortSignal.timeout(budgetMs),
      );
    } catch (err) {
      outcome = (err as { code?: string }).code ?? (err as Error).name ?? "ERROR";
      message = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, " ").slice(0, 160);
    }
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    console.log(
      `file\t${name}\t${outcome}\t${((performance.now() - started) / 1000).toFixed(1)}\t${message}`,
    );
  }
}
await parser.close();
console.log(JSON.stringify(Object.fromEntries(counts)));
