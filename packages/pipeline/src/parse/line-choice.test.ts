import { describe, expect, it } from "vitest";
import fixtures from "./line-choice.fixtures.json" with { type: "json" };
import { type ChoiceLine, chooseLines, wordLikeness } from "./line-choice.ts";
import type { PageWord } from "./types.ts";

/**
 * Real OCR output: the letterhead bands (letterheadBand) of SROIE tuning receipts (ids as in
 * tests/bench/sroie.ts) in three reads of the OCR pool: the page as read by default, and the whole page
 * read in PSM 4 and with Sauvola thresholding, cut at the band; each word [text, bbox, confidence].
 */
type Fixture = [string, [number, number, number, number], number][][][];
const reads = (id: keyof typeof fixtures): ChoiceLine[][] =>
  (fixtures[id] as Fixture).map((read) =>
    read.map((line) => ({
      words: line.map(([text, bbox, confidence]): PageWord => ({ text, page: 1, bbox, confidence })),
    })),
  );
const text = (lines: ChoiceLine[]) => lines.map((l) => l.words.map((w) => w.text).join(" "));

describe("wordLikeness", () => {
  it("counts words, known letterhead words and numbers for, junk and odd case against", () => {
    expect(wordLikeness("ABC HO TRADING")).toBeGreaterThan(wordLikeness("ABC HO TRAD|NG"));
    expect(wordLikeness("SDN BHD")).toBeGreaterThan(wordLikeness("SQN BQH"));
    expect(wordLikeness("JOHOR BAHRU JOHOR")).toBeGreaterThan(wordLikeness("JOHOR BAHRU.JOHOR"));
    expect(wordLikeness("MaNIS")).toBeLessThan(0);
    expect(wordLikeness("| ‘ «")).toBeLessThan(0);
    expect(wordLikeness("DATE: 15/06/2017")).toBe(4 + 8);
    // a code mixing letters and digits is neither for nor against
    expect(wordLikeness("CSPO393921")).toBe(0);
  });
});

describe("chooseLines on real receipt letterheads", () => {
  it("keeps a name line only a re-read holds when it is word-like (013)", () => {
    const [first] = reads("013");
    expect(text(first!).join("\n")).not.toContain("RESTORAN HASSANBISTRO");
    const chosen = text(chooseLines(reads("013")));
    expect(chosen[0]).toBe("RESTORAN HASSANBISTRO");
    // every other line once, from one read or another: nothing doubled
    expect(chosen).toHaveLength(first!.length + 1);
    expect(chosen).toContain("TAX INVOICE");
  });

  it("takes the reading two reads agree on over the first read's (052: PAGCH -> PAGOH)", () => {
    const [first] = reads("052");
    expect(text(first!)).toContain("PAGCH REST AND SERVICE AREA");
    const chosen = text(chooseLines(reads("052")));
    expect(chosen).toContain("PAGOH REST AND SERVICE AREA");
    expect(chosen).not.toContain("PAGCH REST AND SERVICE AREA");
  });

  it("keeps a line with a date and a receipt number over word-like noise (011)", () => {
    const chosen = text(chooseLines(reads("011")));
    expect(chosen.some((l) => l.includes("DATE: 15/06/2017"))).toBe(true);
    expect(chosen.join("\n")).toContain("ALAM) SDN BHD");
  });

  it("answers the first read as it is when it is the only one", () => {
    const [first] = reads("010");
    expect(chooseLines([first!])).toEqual(first);
  });
});
