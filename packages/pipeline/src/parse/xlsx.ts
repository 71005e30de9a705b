import { DocumentError, FailureCode } from "../domain/errors.ts";
import type { Extracted, ParsedPage } from "./types.ts";
import {
  childrenNamed,
  find,
  findAll,
  openZip,
  type Relationship,
  relationships,
  relId,
  relKind,
  textOf,
  type XmlElement,
  xmlPart,
  type ZipArchive,
  type ZipLimits,
} from "./zip.ts";

export interface OfficeOptions {
  /** More sheets or slides fail with TOO_LARGE. */
  maxPages: number;
  /** Reading stops once this much text is gathered (the caller truncates). */
  maxTextChars: number;
  zipLimits?: ZipLimits;
}

/**
 * XLSX/XLSM: one page per sheet, in workbook order. A page opens with the sheet name, then one line per
 * non-empty row, cells separated by tabs (as CSV is), then the sheet's charts and comments. Chart sheets
 * give their charts' text only.
 */
export function extractXlsx(bytes: Uint8Array, opts: OfficeOptions): Extracted {
  const zip = openZip(bytes, opts.zipLimits);
  const wbPath = officeDocument(zip, "xl/workbook.xml");
  const workbook = xmlPart(zip, wbPath);
  if (!workbook) throw new DocumentError(FailureCode.CORRUPT, "The spreadsheet has no workbook part");
  const rels = relationships(zip, wbPath);
  const byId = new Map(rels.map((r) => [r.id, r]));
  const ofKind = (kind: string) => rels.find((r) => relKind(r) === kind && !r.external);
  const strings = sharedStrings(zip, ofKind("sharedStrings"));
  const dateStyles = dateStyleIndexes(zip, ofKind("styles"));
  const date1904 = ["1", "true"].includes(find(workbook, "workbookPr")?.attrs.date1904 ?? "");
  const persons = personNames(zip, ofKind("person"));
  const sheets = findAll(workbook, "sheet");
  if (sheets.length > opts.maxPages) {
    throw new DocumentError(
      FailureCode.TOO_LARGE,
      `The spreadsheet has ${sheets.length} sheets (limit ${opts.maxPages})`,
    );
  }
  const pages: ParsedPage[] = [];
  let chars = 0;
  for (const sheet of sheets) {
    const name = sheet.attrs.name ?? `Sheet ${pages.length + 1}`;
    const lines = [name];
    const rel = byId.get(relId(sheet) ?? "");
    if (rel && !rel.external && chars <= opts.maxTextChars) {
      const part = xmlPart(zip, rel.target);
      if (part && relKind(rel) === "worksheet") {
        const budget = opts.maxTextChars - chars;
        lines.push(...sheetRows(part, { strings, dateStyles, date1904 }, budget));
      }
      // Chart sheets, dialog and macro sheets hold no cells: only their charts (if any) are read.
      const sheetRels = part ? relationships(zip, rel.target) : [];
      lines.push(...drawingCharts(zip, sheetRels));
      lines.push(...sheetComments(zip, sheetRels, persons));
    }
    const text = lines.join("\n");
    chars += text.length + 1;
    pages.push({ number: pages.length + 1, text });
  }
  return { pages, pageCount: pages.length, title: coreTitle(zip) };
}

/** The main part named by the package relationships, with the usual path as a fallback. */
export function officeDocument(zip: ZipArchive, fallback: string): string {
  const rel = relationships(zip, "").find((r) => relKind(r) === "officeDocument" && !r.external);
  return rel && zip.has(rel.target) ? rel.target : fallback;
}

/** The title in the package's core properties (docProps/core.xml), when set. */
export function coreTitle(zip: ZipArchive): string | undefined {
  const rel = relationships(zip, "").find((r) => relKind(r) === "core-properties" && !r.external);
  const core = rel ? xmlPart(zip, rel.target) : undefined;
  const title = core ? find(core, "title") : undefined;
  return (title && textOf(title).trim()) || undefined;
}

/** Text of a rich-text run container (`si`, comment `text`), leaving phonetic guides (`rPh`) out. */
function richText(el: XmlElement): string {
  let s = "";
  for (const c of el.children) {
    if (typeof c === "string") continue;
    if (c.name === "t") s += textOf(c);
    else if (c.name === "r") s += richText(c);
  }
  return s;
}

function sharedStrings(zip: ZipArchive, rel: Relationship | undefined): string[] {
  const part = rel ? xmlPart(zip, rel.target) : undefined;
  return part ? findAll(part, "si").map(richText) : [];
}

const BUILTIN_DATE_FORMATS = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 27, 30, 36, 45, 46, 47, 50, 57]);
/** Built-in formats that show a time of day (h:mm, h:mm:ss, m/d/yy h:mm, mm:ss). */
const BUILTIN_TIME_FORMATS = new Set([18, 19, 20, 21, 22, 45, 46, 47]);

/**
 * Indexes into cellXfs whose number format shows a date or time, mapped to whether it shows a time of
 * day: a date-time is written "YYYY-MM-DD HH:MM:SS" as displayed, even at midnight.
 */
function dateStyleIndexes(zip: ZipArchive, rel: Relationship | undefined): Map<number, boolean> {
  const styles = rel ? xmlPart(zip, rel.target) : undefined;
  const out = new Map<number, boolean>();
  if (!styles) return out;
  const custom = new Map<number, string>();
  for (const f of findAll(styles, "numFmt")) custom.set(Number(f.attrs.numFmtId), f.attrs.formatCode ?? "");
  const xfs = find(styles, "cellXfs");
  if (!xfs) return out;
  childrenNamed(xfs, "xf").forEach((xf, i) => {
    const id = Number(xf.attrs.numFmtId ?? 0);
    const code = custom.get(id);
    if (code !== undefined ? isDateFormat(code) : BUILTIN_DATE_FORMATS.has(id)) {
      out.set(i, code !== undefined ? showsTime(code) : BUILTIN_TIME_FORMATS.has(id));
    }
  });
  return out;
}

/** A format code shows a time of day when, outside quotes, brackets and escapes, it has h or s. */
function showsTime(code: string): boolean {
  return /[hs]/i.test(code.replace(/"[^"]*"|\\.|\[[^\]]*\]/g, ""));
}

/** A format code is a date when, outside quotes, brackets and escapes, it has y, m, d, h or s. */
function isDateFormat(code: string): boolean {
  const bare = code.replace(/"[^"]*"|\\.|\[[^\]]*\]/g, "");
  return /[ymdhs]/i.test(bare) && !/^general$/i.test(bare.trim());
}

interface CellContext {
  strings: string[];
  dateStyles: Map<number, boolean>;
  date1904: boolean;
}

function sheetRows(sheet: XmlElement, ctx: CellContext, budget: number): string[] {
  const data = find(sheet, "sheetData");
  if (!data) return [];
  const lines: string[] = [];
  const merges = mergedRanges(sheet);
  // The value of each merged range's top-left cell, shown across the whole range.
  const mergedValues = new Map<MergedRange, string>();
  let chars = 0;
  let rowIndex = -1;
  for (const row of childrenNamed(data, "row")) {
    rowIndex = row.attrs.r ? Number(row.attrs.r) - 1 : rowIndex + 1;
    const cells: string[] = [];
    for (const c of childrenNamed(row, "c")) {
      const col = c.attrs.r ? columnIndex(c.attrs.r) : cells.length;
      const value = cellValue(c, ctx);
      if (value === "") continue;
      while (cells.length < col) cells.push("");
      cells[col] = value.replace(/\s+/g, " ").trim();
    }
    for (const m of merges) {
      if (rowIndex < m.top || rowIndex > m.bottom) continue;
      if (rowIndex === m.top && cells[m.left]) mergedValues.set(m, cells[m.left]!);
      const value = mergedValues.get(m);
      if (!value) continue;
      for (let col = m.left; col <= m.right; col++) {
        while (cells.length < col) cells.push("");
        if (!cells[col]) cells[col] = value;
      }
    }
    if (cells.length === 0) continue;
    const line = cells.join("\t");
    lines.push(line);
    chars += line.length + 1;
    if (chars > budget) break;
  }
  return lines;
}

interface MergedRange {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/** Cells a merged range covers beyond this are layout, not a value shown many times. */
const MAX_MERGED_CELLS = 1000;

/** The sheet's merged ranges (0-based, inclusive), small enough to repeat a value across. */
function mergedRanges(sheet: XmlElement): MergedRange[] {
  const out: MergedRange[] = [];
  for (const m of findAll(sheet, "mergeCell")) {
    const match = /^([A-Z]+)(\d+):([A-Z]+)(\d+)$/i.exec(m.attrs.ref ?? "");
    if (!match) continue;
    const range = {
      top: Number(match[2]) - 1,
      bottom: Number(match[4]) - 1,
      left: columnIndex(match[1]!),
      right: columnIndex(match[3]!),
    };
    const cells = (range.bottom - range.top + 1) * (range.right - range.left + 1);
    if (cells > 1 && cells <= MAX_MERGED_CELLS && range.bottom >= range.top && range.right >= range.left)
      out.push(range);
    if (out.length >= 10_000) break;
  }
  return out;
}

/** "BC12" → 54 (0-based column). */
function columnIndex(ref: string): number {
  let n = 0;
  for (const ch of ref.toUpperCase()) {
    const code = ch.charCodeAt(0);
    if (code < 65 || code > 90) break;
    n = n * 26 + (code - 64);
  }
  return Math.max(0, n - 1);
}

function cellValue(c: XmlElement, ctx: CellContext): string {
  const type = c.attrs.t ?? "n";
  if (type === "inlineStr") {
    const is = find(c, "is");
    return is ? richText(is) : "";
  }
  const v = find(c, "v");
  const raw = v ? textOf(v) : "";
  if (raw === "") return "";
  switch (type) {
    case "s":
      return ctx.strings[Number(raw)] ?? "";
    case "b":
      return raw === "1" ? "TRUE" : "FALSE";
    case "str":
    case "e":
      return raw;
    case "d":
      return raw.replace("T", " ").replace(/\.\d+$|Z$/, "");
    default: {
      const n = Number(raw);
      if (!Number.isFinite(n)) return raw;
      const style = ctx.dateStyles.get(Number(c.attrs.s ?? 0));
      if (style !== undefined) return serialDate(n, ctx.date1904, style) ?? formatNumber(n);
      return formatNumber(n);
    }
  }
}

/** Fifteen significant digits, as Excel shows them: 0.1+0.2 is 0.3. */
export function formatNumber(n: number): string {
  return String(Number(n.toPrecision(15)));
}

/** An Excel serial date as ISO text: the date alone when there is no time of day. */
function serialDate(serial: number, date1904: boolean, showTime = false): string | undefined {
  if (serial < 0 || serial > 2_958_465) return undefined;
  // Serial 60 is the 29 February 1900 that Lotus believed in; the epoch makes later days come out right.
  const epoch = date1904 ? Date.UTC(1904, 0, 1) : Date.UTC(1899, 11, 30);
  const ms = Math.round((serial * 86_400_000) / 1000) * 1000;
  const iso = new Date(epoch + ms).toISOString();
  const time = iso.slice(11, 19);
  if (serial < 1) return time;
  return time === "00:00:00" && !showTime ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${time}`;
}

/** Text of the charts in a sheet's (or slide's) drawing parts. */
export function drawingCharts(zip: ZipArchive, rels: Relationship[]): string[] {
  const lines: string[] = [];
  for (const drawing of rels.filter((r) => relKind(r) === "drawing" && !r.external)) {
    for (const chart of relationships(zip, drawing.target)) {
      if (relKind(chart) !== "chart" || chart.external) continue;
      const part = xmlPart(zip, chart.target);
      if (part) lines.push(...chartText(part));
    }
  }
  return lines;
}

/**
 * A chart's title, then its cached data as a table: a header of series names, one line per category.
 * The cache is what the chart shows, so it is read even where the source cells are elsewhere.
 */
export function chartText(chart: XmlElement): string[] {
  const lines: string[] = [];
  const plot = find(chart, "plotArea");
  const title = find(chart, "title");
  const titleText = title ? paragraphsText(title) : "";
  if (titleText) lines.push(titleText);
  if (!plot) return lines;
  const kinds = [
    ...new Set(
      plot.children.flatMap((c) =>
        typeof c !== "string" && /Chart$/.test(c.name) ? [chartKind(c.name)] : [],
      ),
    ),
  ];
  // The chart's kind, as a reader names it ("Bar chart"): what it shows is searchable too.
  if (kinds.length > 0)
    lines.push(kinds.length === 1 ? `${kinds[0]} chart` : `Combination chart (${kinds.join(", ")})`);
  const series = findAll(plot, "ser").map((ser) => ({
    name: cachedPoints(childrenNamed(ser, "tx")[0]).join(" "),
    categories: cachedPoints(childrenNamed(ser, "cat")[0] ?? childrenNamed(ser, "xVal")[0]),
    values: cachedPoints(childrenNamed(ser, "val")[0] ?? childrenNamed(ser, "yVal")[0]),
  }));
  if (series.length === 0) return lines;
  const categories = series.find((s) => s.categories.length > 0)?.categories ?? [];
  const rows = Math.max(categories.length, ...series.map((s) => s.values.length));
  lines.push(["", ...series.map((s) => s.name)].join("\t").trim());
  for (let i = 0; i < rows; i++) {
    lines.push([categories[i] ?? "", ...series.map((s) => s.values[i] ?? "")].join("\t"));
  }
  return lines.filter((l) => l.trim() !== "");
}

/** "barChart", "bar3DChart" -> "Bar"; "ofPieChart" -> "Pie of pie". */
function chartKind(name: string): string {
  const base = name.replace(/Chart$/, "").replace(/3D$/, "");
  if (base === "ofPie") return "Pie of pie";
  if (base === "doughnut") return "Doughnut";
  return base.charAt(0).toUpperCase() + base.slice(1);
}

/** Points of a chart data reference's cache (`strCache`, `numCache`, or a literal), in index order. */
function cachedPoints(ref: XmlElement | undefined): string[] {
  if (!ref) return [];
  const out: string[] = [];
  for (const pt of findAll(ref, "pt")) {
    const v = find(pt, "v");
    if (!v) continue;
    const raw = textOf(v);
    const n = Number(raw);
    const value = raw.trim() !== "" && Number.isFinite(n) ? formatNumber(n) : raw;
    out[Number(pt.attrs.idx ?? out.length)] = value;
  }
  if (out.length === 0) {
    const v = find(ref, "v");
    if (v) out.push(textOf(v));
  }
  return Array.from(out, (v) => v ?? "");
}

/** DrawingML text (`a:p` paragraphs of `a:t` runs) as lines. */
export function paragraphsText(el: XmlElement): string {
  const paragraphs = findAll(el, "p");
  if (paragraphs.length === 0) return textOf(el).trim();
  return paragraphs
    .map((p) =>
      findAll(p, "t")
        .map(textOf)
        .join("")
        .replace(/[ \t]+/g, " ")
        .trim(),
    )
    .filter(Boolean)
    .join("\n");
}

function personNames(zip: ZipArchive, rel: Relationship | undefined): Map<string, string> {
  const part = rel ? xmlPart(zip, rel.target) : undefined;
  const out = new Map<string, string>();
  for (const p of part ? findAll(part, "person") : []) out.set(p.attrs.id ?? "", p.attrs.displayName ?? "");
  return out;
}

/** Comments as lines "Comment by Author (A1): text"; threaded comments replace their legacy copies. */
function sheetComments(zip: ZipArchive, rels: Relationship[], persons: Map<string, string>): string[] {
  const lines: string[] = [];
  const threadedRefs = new Set<string>();
  for (const rel of rels.filter((r) => relKind(r) === "threadedComment" && !r.external)) {
    const part = xmlPart(zip, rel.target);
    for (const c of part ? findAll(part, "threadedComment") : []) {
      const ref = c.attrs.ref ?? "";
      threadedRefs.add(ref);
      const author = persons.get(c.attrs.personId ?? "");
      const text = textOf(find(c, "text") ?? c).trim();
      if (text) lines.push(`Comment${author ? ` by ${author}` : ""} (${ref}): ${text}`);
    }
  }
  for (const rel of rels.filter((r) => relKind(r) === "comments" && !r.external)) {
    const part = xmlPart(zip, rel.target);
    if (!part) continue;
    const authors = findAll(part, "author").map(textOf);
    for (const c of findAll(part, "comment")) {
      const ref = c.attrs.ref ?? "";
      if (threadedRefs.has(ref)) continue;
      const author = authors[Number(c.attrs.authorId)] ?? "";
      const text = richText(find(c, "text") ?? c).trim();
      const by = author && !author.startsWith("tc=") ? ` by ${author}` : "";
      if (text) lines.push(`Comment${by} (${ref}): ${text.replace(/\s+/g, " ")}`);
    }
  }
  return lines;
}
