import { DocumentError, FailureCode } from "../domain/errors.ts";
import type { Extracted, ParsedPage } from "./types.ts";
import type { OfficeOptions } from "./xlsx.ts";
import { childrenNamed, find, findAll, openZip, textOf, type XmlElement, xmlPart } from "./zip.ts";

/** Empty cells or rows repeated more than this are layout padding (to column XFD, row 1048576). */
const MAX_REPEAT = 1000;

/**
 * OpenDocument text, presentation and spreadsheet (content.xml): ODT gives one page, ODP one page per
 * slide (with its notes), ODS one page per table, opening with the table's name. Paragraphs and headings
 * are lines; table rows are lines of tab-separated cells.
 */
export function extractOdf(bytes: Uint8Array, opts: OfficeOptions): Extracted {
  const zip = openZip(bytes, opts.zipLimits);
  const content = xmlPart(zip, "content.xml");
  const body = content && find(content, "body");
  if (!body) throw new DocumentError(FailureCode.CORRUPT, "The OpenDocument file has no content.xml body");
  const meta = xmlPart(zip, "meta.xml");
  const titleEl = meta && find(meta, "title");
  const title = (titleEl && textOf(titleEl).trim()) || undefined;
  const kind = body.children.find((c): c is XmlElement => typeof c !== "string");
  if (!kind) return { pages: [{ number: 1, text: "" }], pageCount: 1, title };

  let units: XmlElement[];
  if (kind.name === "presentation" || kind.name === "drawing") units = childrenNamed(kind, "page");
  else if (kind.name === "spreadsheet") units = childrenNamed(kind, "table");
  else units = [kind];
  if (units.length > opts.maxPages) {
    const what = kind.name === "spreadsheet" ? "tables" : "pages";
    throw new DocumentError(
      FailureCode.TOO_LARGE,
      `The OpenDocument file has ${units.length} ${what} (limit ${opts.maxPages})`,
    );
  }
  const pages: ParsedPage[] = [];
  let chars = 0;
  for (const unit of units) {
    let text = "";
    if (chars <= opts.maxTextChars) {
      const lines: string[] = [];
      if (kind.name === "spreadsheet") {
        if (unit.attrs["table:name"]) lines.push(unit.attrs["table:name"]);
        tableLines(unit, lines);
      } else {
        blockLines(unit, lines);
      }
      text = lines.join("\n");
    }
    chars += text.length + 1;
    pages.push({ number: pages.length + 1, text });
  }
  return { pages, pageCount: pages.length, title };
}

/** Elements whose text is not content: declarations, change tracking, shape names. */
const SKIPPED = new Set([
  "sequence-decls",
  "variable-decls",
  "user-field-decls",
  "tracked-changes",
  "forms",
  "title",
  "desc",
  "scripts",
  "table-columns",
  "table-column",
  "note-citation",
]);

/** Appends the lines of block content below `el` (paragraphs, headings, lists, tables, frames). */
function blockLines(el: XmlElement, lines: string[]): void {
  for (const c of el.children) {
    if (typeof c === "string" || SKIPPED.has(c.name)) continue;
    if (c.name === "p" || c.name === "h") {
      const line = inline(c)
        .replace(/[ \t\u00a0]+/g, " ")
        .trim();
      if (line) lines.push(line);
      // Frames, notes and text boxes anchored in the paragraph hold blocks of their own.
      for (const nested of findAll(c, "text-box")) blockLines(nested, lines);
      for (const nested of findAll(c, "note-body")) blockLines(nested, lines);
    } else if (c.name === "table") {
      tableLines(c, lines);
    } else if (c.name === "notes") {
      const notes: string[] = [];
      // The notes page shows a thumbnail of the slide too: only text boxes are notes.
      for (const box of findAll(c, "text-box")) blockLines(box, notes);
      if (notes.length > 0) lines.push("Notes:", ...notes);
    } else {
      blockLines(c, lines);
    }
  }
}

/** Inline text of a paragraph: spans, links, `text:s` spaces, tabs and line breaks. */
function inline(el: XmlElement): string {
  let s = "";
  for (const c of el.children) {
    if (typeof c === "string") {
      s += c.replace(/[\r\n]+/g, " ");
      continue;
    }
    switch (c.name) {
      case "s":
        s += " ".repeat(Math.min(100, Number(c.attrs["text:c"] ?? 1) || 1));
        break;
      case "tab":
        s += "\t";
        break;
      case "line-break":
        s += " ";
        break;
      // Read as blocks by blockLines; an annotation is the reviewer's, not the author's, text.
      case "frame":
      case "note":
      case "annotation":
      case "annotation-end":
      case "bookmark-ref":
        if (c.name === "bookmark-ref") s += textOf(c);
        break;
      default:
        if (!SKIPPED.has(c.name)) s += inline(c);
    }
  }
  return s;
}

function tableLines(table: XmlElement, lines: string[]): void {
  for (const rowGroup of rowsOf(table)) {
    const { row, repeat } = rowGroup;
    const cells: string[] = [];
    let pendingEmpty = 0;
    for (const cell of row.children) {
      if (typeof cell === "string" || (cell.name !== "table-cell" && cell.name !== "covered-table-cell"))
        continue;
      const n = Math.max(1, Number(cell.attrs["table:number-columns-repeated"] ?? 1) || 1);
      const inner: string[] = [];
      blockLines(cell, inner);
      const value = inner.join(" ").replace(/\s+/g, " ").trim() || cellValueAttr(cell);
      if (value === "") {
        pendingEmpty += n;
        continue;
      }
      for (let i = 0; i < Math.min(pendingEmpty, MAX_REPEAT); i++) cells.push("");
      pendingEmpty = 0;
      for (let i = 0; i < Math.min(n, MAX_REPEAT); i++) cells.push(value);
    }
    if (cells.length === 0) continue;
    const line = cells.join("\t");
    for (let i = 0; i < Math.min(repeat, MAX_REPEAT); i++) lines.push(line);
  }
}

/** A spreadsheet cell with a value but no text paragraph (rare: most writers emit both). */
function cellValueAttr(cell: XmlElement): string {
  const a = cell.attrs;
  return (
    a["office:string-value"] ?? a["office:value"] ?? a["office:date-value"] ?? a["office:boolean-value"] ?? ""
  );
}

/** Rows of a table, through header-row and row groups, with their repeat counts. */
function rowsOf(el: XmlElement, out: { row: XmlElement; repeat: number }[] = []) {
  for (const c of el.children) {
    if (typeof c === "string") continue;
    if (c.name === "table-row") {
      out.push({ row: c, repeat: Math.max(1, Number(c.attrs["table:number-rows-repeated"] ?? 1) || 1) });
    } else if (c.name === "table-header-rows" || c.name === "table-rows" || c.name === "table-row-group") {
      rowsOf(c, out);
    }
  }
  return out;
}
