import { describe, expect, it } from "vitest";
import { extractHtml } from "./html.ts";

const lines = (html: string) =>
  extractHtml(html)
    .split("\n")
    .map((line) => line.trim().split(/\s{2,}/));

describe("extractHtml tables", () => {
  it("repeats a cell merged over rows in each row it covers", () => {
    const html = `<table><tr><th>Region</th><th>Q1</th><th>Q2</th></tr>
      <tr><td rowspan="2">North</td><td>1</td><td>2</td></tr>
      <tr><td>3</td><td>4</td></tr>
      <tr><td>South</td><td>5</td><td>6</td></tr></table>`;
    expect(lines(html)).toEqual([
      ["Region", "Q1", "Q2"],
      ["North", "1", "2"],
      ["North", "3", "4"],
      ["South", "5", "6"],
    ]);
  });

  it("repeats a cell merged over columns in each column, and lays out rows around both spans", () => {
    const html = `<table><thead><tr><th colspan="2">Name</th><th rowspan="3">Notes</th></tr></thead>
      <tbody><tr><td>first</td><td>last</td></tr>
      <tr><td colspan="2">Ada Lovelace</td></tr>
      <tr><td>a</td><td>b</td><td>c</td></tr></tbody></table>`;
    expect(lines(html)).toEqual([
      ["Name", "Name", "Notes"],
      ["first", "last", "Notes"],
      ["Ada Lovelace", "Ada Lovelace", "Notes"],
      ["a", "b", "c"],
    ]);
  });

  it("covers the rest of the table with rowspan=0 and shows a huge merged cell once", () => {
    expect(lines(`<table><tr><td rowspan="0">All</td><td>1</td></tr><tr><td>2</td></tr></table>`)).toEqual([
      ["All", "1"],
      ["All", "2"],
    ]);
    const huge = extractHtml(
      `<table><tr><td colspan="999" rowspan="999">Once</td></tr><tr><td>x</td></tr></table>`,
    );
    expect(huge.match(/Once/g)).toHaveLength(1);
  });

  it("keeps the cells' own markup (links without targets, nested tables)", () => {
    const text = extractHtml(
      `<table><tr><td rowspan="2"><a href="https://example.com/x">link text</a></td><td>1</td></tr><tr><td><table><tr><td>inner</td></tr></table></td></tr></table>`,
    );
    expect(text.match(/link text/g)).toHaveLength(2);
    expect(text).toContain("inner");
    expect(text).not.toContain("example.com");
  });
});
