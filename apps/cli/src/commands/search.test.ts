import { describe, expect, it } from "vitest";
import { formatHits } from "./search.ts";

describe("formatHits", () => {
  const hit = (highlight: string) => ({
    score: 0.5,
    highlight,
    document: { id: "d", name: "a.md", category: "contract", status: "COMPLETED" },
  });

  it("shows a highlight's text, not its HTML escapes, and bolds marks only on a terminal", () => {
    const h = hit("the &quot;Agreement&quot; &amp; <mark>termination</mark> &lt;notice&gt; it&#39;s");
    expect(formatHits("q", [h], false)).toBe(
      `1. a.md [contract] score 0.5000\n   the "Agreement" & termination <notice> it's\n`,
    );
    expect(formatHits("q", [h], true)).toContain("\x1b[1mtermination\x1b[0m");
  });

  it("says so when nothing matched", () => {
    expect(formatHits("duck", [], false)).toBe('no results for "duck"\n');
  });
});
