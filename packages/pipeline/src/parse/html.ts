import { convert, type DomNode, type FormatCallback } from "html-to-text";

const headings = ["h1", "h2", "h3", "h4", "h5", "h6"].map((selector) => ({
  selector,
  format: "heading",
  // Keep the author's casing: later stages match and embed the words as written.
  options: { uppercase: false, leadingLineBreaks: 2, trailingLineBreaks: 1 },
}));

const skipped = ["script", "style", "noscript", "template", "svg", "img", "iframe", "object"].map(
  (selector) => ({
    selector,
    format: "skip",
  }),
);

/** A merged cell is repeated over at most this many grid cells (colspan × rowspan); larger, shown once. */
const MAX_MERGED_CELLS = 1_000;

/** Visible text of an HTML document: headings, paragraphs, lists and tables, without markup or URLs. */
export function extractHtml(html: string): string {
  return convert(html, {
    wordwrap: false,
    formatters: { spannedTable },
    selectors: [
      ...skipped,
      ...headings,
      { selector: "a", options: { ignoreHref: true } },
      {
        selector: "table",
        format: "spannedTable",
        options: { uppercaseHeaderCells: false, maxColumnWidth: 120, colSpacing: 2 },
      },
    ],
  }).trim();
}

const tag = (node: DomNode, ...names: string[]) => node.type === "tag" && names.includes(node.name ?? "");

/**
 * A table as displayed: a cell merged over rows or columns (rowspan, colspan) has its text in each grid
 * cell it covers, as a table reader announces it and as spreadsheets repeat a merged range, so every row
 * reads whole. The grid is laid out as HTML does (cells move right past cells spanning from rows above),
 * then html-to-text's dataTable lays out the text.
 */
const spannedTable: FormatCallback = (elem, walk, builder, formatOptions) => {
  const rows: DomNode[] = [];
  const collect = (node: DomNode) => {
    for (const child of node.children ?? []) {
      if (tag(child, "thead", "tbody", "tfoot", "center")) collect(child);
      else if (tag(child, "tr")) rows.push(child);
    }
  };
  collect(elem);
  // Grid cells still covered by a cell of an earlier row: column -> the cell and the rows it still covers.
  const below: ({ cell: DomNode; rows: number } | undefined)[] = [];
  const gridRows: DomNode[] = rows.map((row, r) => {
    const out: DomNode[] = [];
    const cells = (row.children ?? []).filter((c) => tag(c, "td", "th"));
    let col = 0;
    let next = 0;
    const fromAbove = () => {
      const held = below[col];
      if (!held || held.rows <= 0) return false;
      out.push(single(held.cell));
      held.rows--;
      col++;
      return true;
    };
    while (next < cells.length || below.slice(col).some((held) => held && held.rows > 0)) {
      if (fromAbove()) continue;
      const cell = cells[next++];
      if (!cell) {
        col++;
        continue;
      }
      const colspan = span(cell.attribs?.colspan, 1_000);
      // rowspan="0" covers the rest of the table.
      const rowspan =
        cell.attribs?.rowspan === "0" ? rows.length - r : span(cell.attribs?.rowspan, rows.length - r);
      if (colspan * rowspan > MAX_MERGED_CELLS) {
        out.push(cell);
        col += colspan;
        continue;
      }
      for (let k = 0; k < colspan; k++) {
        out.push(single(cell));
        if (rowspan > 1) below[col] = { cell, rows: rowspan - 1 };
        col++;
      }
    }
    return { type: "tag", name: "tr", attribs: {}, children: out };
  });
  const table: DomNode = { type: "tag", name: "table", attribs: {}, children: gridRows };
  builder.options.formatters.dataTable?.(table, walk, builder, formatOptions);
};

/** The cell's content in one grid cell (its spans dropped: the grid repeats it instead). */
function single(cell: DomNode): DomNode {
  const { colspan: _c, rowspan: _r, ...attribs } = cell.attribs ?? {};
  return { type: "tag", name: cell.name, attribs, children: cell.children };
}

function span(value: string | undefined, max: number): number {
  const n = Number.parseInt(value ?? "1", 10);
  return Number.isFinite(n) && n >= 1 ? Math.min(n, Math.max(1, max)) : 1;
}
