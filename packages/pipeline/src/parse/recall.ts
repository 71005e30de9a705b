/**
 * Token recall of extracted text against a markdown ground truth (the corpus's `.expected.md` files):
 * shared by the recall tests and `tests/bench/text-recall.ts`.
 */

/** The corpus compares text, not markup: link targets, image placeholders and entities are not words. */
export function expectedText(markdown: string): string {
  return markdown
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/\]\([^)]*\)/g, "]")
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(
      /&(amp|lt|gt|quot);/g,
      (_, name: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"' })[name] ?? "",
    );
}

/** Lower-cased runs of letters and digits. */
export const tokens = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/** Share of the expected word tokens (with multiplicity) found in the extracted text; 1 when none. */
export function tokenRecall(expectedMarkdown: string, actual: string): number {
  const want = tokens(expectedText(expectedMarkdown));
  const have = new Map<string, number>();
  for (const t of tokens(actual)) have.set(t, (have.get(t) ?? 0) + 1);
  let found = 0;
  for (const t of want) {
    const n = have.get(t) ?? 0;
    if (n > 0) {
      found++;
      have.set(t, n - 1);
    }
  }
  return want.length === 0 ? 1 : found / want.length;
}
