import { DocumentError, FailureCode } from "../domain/errors.ts";
import { formatNumber } from "./docx.ts";
import { mathmlText } from "./mathml.ts";
import type { Extracted, ParsedPage } from "./types.ts";
import type { OfficeOptions } from "./xlsx.ts";
import {
  childrenNamed,
  find,
  findAll,
  openZip,
  textOf,
  type XmlElement,
  xmlPart,
  type ZipArchive,
} from "./zip.ts";

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
  const styles = new OdfStyles(content, xmlPart(zip, "styles.xml"));
  const objects = (href: string): string[] => embeddedObject(zip, href);
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
  const ctx: Ctx = { styles, objects, comments: [], lists: new Map(), lastList: undefined };
  let chars = 0;
  for (const unit of units) {
    let text = "";
    if (chars <= opts.maxTextChars) {
      const lines: string[] = [];
      if (kind.name === "spreadsheet") {
        if (unit.attrs["table:name"]) lines.push(unit.attrs["table:name"]);
        tableLines(unit, lines, ctx);
      } else {
        blockLines(unit, lines, ctx);
      }
      if (ctx.comments.length > 0) lines.push(...ctx.comments.splice(0));
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
function blockLines(el: XmlElement, lines: string[], ctx: Ctx, label = ""): void {
  for (const c of el.children) {
    if (typeof c === "string" || SKIPPED.has(c.name)) continue;
    if (c.name === "p" || c.name === "h") {
      const line = inline(c, ctx)
        .replace(/[ \t\u00a0]+/g, " ")
        .trim();
      if (line) lines.push(label ? `${label} ${line}` : line);
      label = "";
      // Frames, notes and text boxes anchored in the paragraph hold blocks of their own.
      for (const frame of findAll(c, "frame")) frameLines(frame, lines, ctx);
      for (const nested of findAll(c, "note-body")) blockLines(nested, lines, ctx);
      for (const note of findAll(c, "annotation")) annotation(note, ctx);
    } else if (c.name === "list") {
      listLines(c, lines, ctx, 0, c.attrs["text:style-name"]);
    } else if (c.name === "table") {
      tableLines(c, lines, ctx);
    } else if (c.name === "frame") {
      frameLines(c, lines, ctx);
    } else if (c.name === "annotation") {
      annotation(c, ctx);
    } else if (c.name === "notes") {
      const notes: string[] = [];
      // The notes page shows a thumbnail of the slide too: only text boxes are notes.
      for (const box of findAll(c, "text-box")) blockLines(box, notes, ctx);
      if (notes.length > 0) lines.push("Notes:", ...notes);
    } else {
      blockLines(c, lines, ctx);
    }
  }
}

interface Ctx {
  styles: OdfStyles;
  /** Lines of an embedded object (formula, chart) by its href. */
  objects: (href: string) => string[];
  /** Comments (annotations) of the current page, written after its content. */
  comments: string[];
  /** Counters of the lists by xml:id, for lists that continue another. */
  lists: Map<string, number[]>;
  lastList: number[] | undefined;
  inCell?: boolean;
}

/** A list: each item's first paragraph opens with its number or bullet as displayed. */
function listLines(
  list: XmlElement,
  lines: string[],
  ctx: Ctx,
  depth: number,
  styleName: string | undefined,
  counters?: number[],
): void {
  const style = styleName ?? list.attrs["text:style-name"];
  let own = counters;
  if (!own) {
    const continues = list.attrs["text:continue-list"];
    own =
      (continues ? ctx.lists.get(continues) : undefined) ??
      (list.attrs["text:continue-numbering"] === "true" && ctx.lastList ? ctx.lastList : []);
    const id = list.attrs["xml:id"];
    if (id) ctx.lists.set(id, own);
    ctx.lastList = own;
  }
  const level = ctx.styles.listLevel(style, depth + 1);
  for (const item of list.children) {
    if (typeof item === "string") continue;
    if (item.name !== "list-item" && item.name !== "list-header") continue;
    let label = "";
    const hasParagraph = item.children.some(
      (x) => typeof x !== "string" && (x.name === "p" || x.name === "h"),
    );
    if (item.name === "list-item" && hasParagraph) {
      const start = Number(item.attrs["text:start-value"]);
      own[depth] = Number.isFinite(start) ? start : own[depth] === undefined ? level.start : own[depth] + 1;
      own.length = depth + 1;
      label = level.label(own, (d) => ctx.styles.listLevel(style, d));
      // A bullet in a table cell is decoration; a number there still says something.
      if (ctx.inCell && label === "•") label = "";
    }
    for (const c of item.children) {
      if (typeof c === "string") continue;
      if (c.name === "list") listLines(c, lines, ctx, depth + 1, c.attrs["text:style-name"] ?? style, own);
      else {
        const before = lines.length;
        blockLines({ name: "#item", attrs: {}, children: [c] }, lines, ctx, label);
        if (lines.length > before) label = "";
      }
    }
  }
}

/** A frame: its text box, or the embedded object it shows (a formula, a chart), read from the package. */
function frameLines(frame: XmlElement, lines: string[], ctx: Ctx): void {
  for (const c of frame.children) {
    if (typeof c === "string") continue;
    const href = c.name === "object" ? c.attrs["xlink:href"] : undefined;
    if (href) lines.push(...ctx.objects(href));
    else if (c.name !== "image" && c.name !== "thumbnail")
      blockLines({ name: "#frame", attrs: {}, children: [c] }, lines, ctx);
  }
}

/** A reviewer's comment: kept apart from the author's text, as "Comment by Author: text". */
function annotation(note: XmlElement, ctx: Ctx): void {
  const creator = find(note, "creator");
  const author = creator ? textOf(creator).trim() : "";
  const body: string[] = [];
  for (const c of note.children) {
    if (typeof c !== "string" && (c.name === "p" || c.name === "list"))
      blockLines({ name: "#a", attrs: {}, children: [c] }, body, ctx);
  }
  const text = body.join(" ").replace(/\s+/g, " ").trim();
  if (text) ctx.comments.push(`Comment${author ? ` by ${author}` : ""}: ${text}`);
}

/** Inline text of a paragraph: spans, links, `text:s` spaces, tabs and line breaks. */
function inline(el: XmlElement, ctx: Ctx): string {
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
      case "span": {
        const text = inline(c, ctx);
        const position = ctx.styles.textPosition(c.attrs["text:style-name"]);
        s += position && text.trim() ? `${position}${text}` : text;
        break;
      }
      default:
        if (!SKIPPED.has(c.name)) s += inline(c, ctx);
    }
  }
  return s;
}

function tableLines(table: XmlElement, lines: string[], ctx: Ctx): void {
  for (const rowGroup of rowsOf(table)) {
    const { row, repeat } = rowGroup;
    const cells: string[] = [];
    let pendingEmpty = 0;
    for (const cell of row.children) {
      if (typeof cell === "string" || (cell.name !== "table-cell" && cell.name !== "covered-table-cell"))
        continue;
      const n = Math.max(1, Number(cell.attrs["table:number-columns-repeated"] ?? 1) || 1);
      const inner: string[] = [];
      blockLines(cell, inner, { ...ctx, inCell: true });
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

interface ListLevel {
  start: number;
  label(counters: number[], level: (depth: number) => ListLevel): string;
  format: string;
}

const BULLET: ListLevel = { start: 1, format: "", label: () => "•" };

/** The styles that change how text reads: list numbering, and superscript/subscript text positions. */
class OdfStyles {
  private readonly listStyles = new Map<string, XmlElement>();
  private readonly positions = new Map<string, string>();

  constructor(...parts: (XmlElement | undefined)[]) {
    for (const part of parts) {
      if (!part) continue;
      for (const ls of findAll(part, "list-style")) {
        const name = ls.attrs["style:name"];
        if (name && !this.listStyles.has(name)) this.listStyles.set(name, ls);
      }
      for (const st of findAll(part, "style")) {
        const name = st.attrs["style:name"];
        const props = childrenNamed(st, "text-properties")[0];
        const position = props?.attrs["style:text-position"]?.trim();
        if (!name || !position) continue;
        const first = position.split(/\s+/)[0] ?? "";
        const offset = first === "super" ? 1 : first === "sub" ? -1 : Number.parseFloat(first);
        // content.xml's automatic styles come first and win over styles.xml's of the same name.
        if (this.positions.has(name)) continue;
        if (offset > 0) this.positions.set(name, "^");
        else if (offset < 0) this.positions.set(name, "_");
      }
    }
  }

  /** "^" or "_" when a text style raises or lowers its text (x², H₂O), else "". */
  textPosition(styleName: string | undefined): string {
    return (styleName && this.positions.get(styleName)) || "";
  }

  listLevel(styleName: string | undefined, level: number): ListLevel {
    const style = styleName ? this.listStyles.get(styleName) : undefined;
    if (!style) return BULLET;
    const el = style.children.find(
      (c): c is XmlElement => typeof c !== "string" && Number(c.attrs["text:level"]) === level,
    );
    if (el?.name !== "list-level-style-number") return BULLET;
    const format = el.attrs["style:num-format"] ?? "1";
    const prefix = el.attrs["style:num-prefix"] ?? "";
    const suffix = el.attrs["style:num-suffix"] ?? "";
    const shown = Math.max(1, Math.min(level, Number(el.attrs["text:display-levels"] ?? 1) || 1));
    const start = Number(el.attrs["text:start-value"] ?? 1) || 1;
    return {
      start,
      format,
      label(counters, levelOf) {
        if (format === "") return `${prefix}${suffix}`.trim();
        const parts: string[] = [];
        for (let d = level - shown + 1; d <= level; d++) {
          const f = d === level ? format : levelOf(d).format || "1";
          parts.push(odfNumber(counters[d - 1] ?? 1, f));
        }
        return `${prefix}${parts.join(".")}${suffix}`.trim();
      },
    };
  }
}

/** A counter in an ODF number format: "1", "a", "A", "i", "I" (others as digits). */
function odfNumber(n: number, format: string): string {
  switch (format) {
    case "a":
      return formatNumber(n, "lowerLetter");
    case "A":
      return formatNumber(n, "upperLetter");
    case "i":
      return formatNumber(n, "lowerRoman");
    case "I":
      return formatNumber(n, "upperRoman");
    default:
      return String(n);
  }
}

/**
 * An embedded object of the package (`./Object 1`): a formula (MathML) as LaTeX-like text, a chart as its
 * title, subtitle, axis titles and its data table (series names, categories, values).
 */
function embeddedObject(zip: ZipArchive, href: string): string[] {
  const dir = href.replace(/^\.\//, "").replace(/\/$/, "");
  if (dir.includes("..") || /^[a-z]+:/i.test(dir)) return [];
  const content = xmlPart(zip, `${dir}/content.xml`);
  if (!content) return [];
  const math = find(content, "math");
  if (math) {
    const text = mathmlText(math);
    return text ? [text] : [];
  }
  // office:chart holds chart:chart: both are "chart" without their prefixes.
  let chart = find(content, "chart");
  while (chart && !chart.attrs["chart:class"] && childrenNamed(chart, "chart")[0])
    chart = childrenNamed(chart, "chart")[0];
  if (!chart) return [];
  const lines: string[] = [];
  for (const name of ["title", "subtitle"]) {
    const el = childrenNamed(chart, name)[0];
    const text = el ? textOf(el).trim() : "";
    if (text) lines.push(text);
  }
  const plot = childrenNamed(chart, "plot-area")[0];
  for (const axis of plot ? childrenNamed(plot, "axis") : []) {
    const title = childrenNamed(axis, "title")[0];
    const text = title ? textOf(title).trim() : "";
    if (text) lines.push(text);
  }
  const kind = chart.attrs["chart:class"]?.replace(/^chart:/, "");
  if (kind) lines.push(`${kind.charAt(0).toUpperCase()}${kind.slice(1)} chart`);
  const table = find(chart, "table");
  if (table) {
    const ctx: Ctx = {
      styles: new OdfStyles(),
      objects: () => [],
      comments: [],
      lists: new Map(),
      lastList: undefined,
    };
    tableLines(table, lines, ctx);
  }
  return lines;
}
