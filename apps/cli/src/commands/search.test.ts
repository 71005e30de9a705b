import { describe, expect, it } from "vitest";
import { formatHits, parseFieldCondition } from "./search.ts";

describe("parseFieldCondition", () => {
  it("reads comparisons, any-of lists and existence", () => {
    expect(parseFieldCondition("total>=100")).toEqual({ name: "total", op: "GTE", value: "100" });
    expect(parseFieldCondition("date<2024-01-01")).toEqual({ name: "date", op: "LT", value: "2024-01-01" });
    expect(parseFieldCondition("currency=EUR|USD")).toEqual({
      name: "currency",
      op: "IN",
      values: ["EUR", "USD"],
    });
    expect(parseFieldCondition("iban?")).toEqual({ name: "iban", op: "EXISTS" });
    expect(() => parseFieldCondition("total")).toThrow(/--field must be/);
  });
});

describe("formatHits", () => {
  const hit = (highlight: string) => ({
    score: 0.5,
    highlight,
    document: { id: "d", name: "a.md", category: "contract", status: "COMPLETED" },
  });

  it("shows a highlight's text, not its HTML escapes, and bolds marks only on a terminal", () => {
    const h = hit("the &quot;Agreement&quot; &amp; <mark>termination</mark> &lt;notice&gt; it&#39;s");
    expect(formatHits("q", [h], false)).toBe(
      `1. a.md [contract] score 0.5000\n   id d\n   the "Agreement" & termination <notice> it's\n`,
    );
    expect(formatHits("q", [h], true)).toContain("\x1b[1mtermination\x1b[22m");
  });

  it("shows the start of the matching chunk for a vector hit, which has no highlight", () => {
    const h = { ...hit(""), highlight: null, matchingChunk: { text: "Invoice  no. 42\nfrom ACME" } };
    expect(formatHits("q", [h], false)).toContain("   id d\n   Invoice no. 42 from ACME\n");
  });

  it("says so when nothing matched", () => {
    expect(formatHits("duck", [], false)).toBe('no results for "duck"\n');
  });
});
