import { DocumentError, FailureCode } from "../domain/errors.ts";
import { ommlText } from "./omml.ts";
import { chartText, officeDocument } from "./xlsx.ts";
import {
  childrenNamed,
  find,
  findAll,
  openZip,
  relationships,
  relKind,
  type XmlElement,
  xmlPart,
  type ZipLimits,
} from "./zip.ts";

/**
 * Text of a DOCX as Word displays it, read from the package's XML (Transitional and Strict OOXML alike):
 * - paragraphs separated by blank lines, with their list and heading numbers as displayed ("1.", "1.1.",
 *   "a)", "iv.", bullets as "•"), computed from numbering.xml and the paragraph styles;
 * - tables one row a line, cells separated by tabs, a merged cell's text repeated in every cell it spans;
 * - equations (Office Math) as LaTeX-like linear text (`\frac{a}{b}`, `{x}^{2}`);
 * - check boxes (content controls and legacy form fields) as "[x]" and "[ ]", text boxes, content
 *   controls, inserted text; deleted text, field codes and hidden page furniture (headers, footers) left out;
 * - then footnotes, endnotes, comments ("Comment by Author: ..."), and the text of the charts.
 * The package is opened within the zip limits (a zip bomb fails TOO_LARGE); a broken one throws CORRUPT.
 */
export async function extractDocx(bytes: Buffer, limits?: ZipLimits): Promise<string> {
  const zip = openZip(bytes, limits);
  const documentPath = officeDocument(zip, "word/document.xml");
  const document = xmlPart(zip, documentPath);
  const body = document ? find(document, "body") : undefined;
  if (!body) throw new DocumentError(FailureCode.CORRUPT, "DOCX cannot be read: the document has no body");
  const rels = relationships(zip, documentPath);
  const part = (kind: string): XmlElement | undefined => {
    const rel = rels.find((r) => relKind(r) === kind && !r.external);
    return rel ? xmlPart(zip, rel.target) : undefined;
  };
  const numbering = new Numbering(part("numbering"), part("styles"));
  const blocks = new Writer(numbering).blocks(body);

  const notes = (kind: string, element: string, label: string): string[] => {
    const root = part(kind);
    if (!root) return [];
    return findAll(root, element)
      .filter(
        (n) => !["separator", "continuationSeparator", "continuationNotice"].includes(n.attrs.type ?? ""),
      )
      .map((n) => new Writer(numbering).blocks(n).join(" ").trim())
      .filter(Boolean)
      .map((t) => `${label}: ${t}`);
  };
  const comments = (() => {
    const root = part("comments");
    if (!root) return [];
    return findAll(root, "comment")
      .map((c) => {
        const text = new Writer(numbering).blocks(c).join(" ").trim();
        const author = c.attrs.author?.trim();
        return text ? `Comment${author ? ` by ${author}` : ""}: ${text}` : "";
      })
      .filter(Boolean);
  })();
  const charts = rels
    .filter((r) => relKind(r) === "chart" && !r.external)
    .flatMap((r) => {
      const chart = xmlPart(zip, r.target);
      return chart ? [chartText(chart).join("\n")] : [];
    })
    .filter(Boolean);
  return [
    ...blocks,
    ...notes("footnotes", "footnote", "Footnote"),
    ...notes("endnotes", "endnote", "Endnote"),
    ...comments,
    ...charts,
  ]
    .join("\n\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** Renders block content (body, cell, note, text box) to paragraphs of text. */
class Writer {
  constructor(private readonly numbering: Numbering) {}

  blocks(el: XmlElement): string[] {
    const out: string[] = [];
    for (const c of el.children) {
      if (typeof c === "string") continue;
      switch (c.name) {
        case "p": {
          const text = this.paragraph(c);
          if (text) out.push(text);
          break;
        }
        case "tbl":
          out.push(this.table(c).join("\n"));
          break;
        case "sdt": {
          const content = childrenNamed(c, "sdtContent")[0];
          if (content) out.push(...this.blocks(content));
          break;
        }
        case "sectPr":
        case "tblPr":
        case "tcPr":
          break;
        default:
          // customXml, ins, AlternateContent at block level...: their block children.
          out.push(...this.blocks(c));
      }
    }
    return out;
  }

  private paragraph(p: XmlElement): string {
    const pPr = childrenNamed(p, "pPr")[0];
    const label = this.numbering.label(pPr);
    const text = this.inline(p)
      .replace(/[ \u00a0]+/g, " ")
      .replace(/ *\n */g, "\n")
      .trim();
    if (!text) return "";
    return label ? `${label} ${text}` : text;
  }

  /** Text of the runs below `el`, in order. */
  private inline(el: XmlElement): string {
    let s = "";
    for (const c of el.children) {
      if (typeof c === "string") continue;
      s += this.run(c);
    }
    return s;
  }

  private run(c: XmlElement): string {
    switch (c.name) {
      case "t":
        return c.children.filter((x): x is string => typeof x === "string").join("");
      case "tab":
      case "ptab":
        return "\t";
      case "br":
      case "cr":
        return "\n";
      case "noBreakHyphen":
        return "-";
      case "sym": {
        const code = Number.parseInt(c.attrs.char ?? "", 16);
        // Symbol-font characters live in the private use area (F0xx): they are glyphs, not text.
        return Number.isFinite(code) && code > 0 && (code < 0xe000 || code > 0xf8ff)
          ? String.fromCodePoint(code)
          : "";
      }
      case "oMath":
      case "oMathPara": {
        const math = ommlText(c);
        return math ? ` ${math} ` : "";
      }
      case "sdt":
        return this.inlineSdt(c);
      case "r": {
        // Raised and lowered text reads as a power or an index (x², H₂O), not glued to its base.
        const rPr = childrenNamed(c, "rPr")[0];
        const align = rPr ? childrenNamed(rPr, "vertAlign")[0]?.attrs.val : undefined;
        const text = this.inline(c);
        if (align === "superscript" && text.trim()) return `^${text}`;
        if (align === "subscript" && text.trim()) return `_${text}`;
        return text;
      }
      case "fldChar": {
        const box = find(c, "checkBox");
        if (!box) return "";
        const checked = childrenNamed(box, "checked")[0] ?? childrenNamed(box, "default")[0];
        return checkMark(checked);
      }
      case "txbxContent":
        return `\n${this.blocks(c).join("\n")}\n`;
      case "AlternateContent": {
        // Choice and Fallback hold the same content twice: the first choice is enough.
        const choice = c.children.find((x): x is XmlElement => typeof x !== "string");
        return choice ? this.inline(choice) : "";
      }
      case "p":
        // A paragraph inside a run container (text boxes in VML shapes).
        return `\n${this.paragraph(c)}\n`;
      case "tbl":
        return `\n${this.table(c).join("\n")}\n`;
      case "delText":
      case "instrText":
      case "delInstrText":
      case "del":
      case "moveFrom":
      case "rPr":
      case "pPr":
      case "footnoteReference":
      case "endnoteReference":
      case "commentReference":
      case "annotationRef":
      case "lastRenderedPageBreak":
        return "";
      default:
        // r, hyperlink, ins, smartTag, fldSimple, customXml, drawing, pict, shape, textbox...
        return this.inline(c);
    }
  }

  /** An inline content control: a check box shows its state, any other its content. */
  private inlineSdt(sdt: XmlElement): string {
    const pr = childrenNamed(sdt, "sdtPr")[0];
    const box = pr ? find(pr, "checkbox") : undefined;
    if (box) return `${checkMark(childrenNamed(box, "checked")[0])} `;
    const content = childrenNamed(sdt, "sdtContent")[0];
    return content ? this.inline(content) : "";
  }

  /** One line a row, cells by tabs; a merged cell's text in every grid cell it covers, as it displays. */
  private table(tbl: XmlElement): string[] {
    const lines: string[] = [];
    let above: string[] = [];
    for (const tr of findRows(tbl)) {
      const row: string[] = [];
      for (const tc of findCells(tr)) {
        const tcPr = childrenNamed(tc, "tcPr")[0];
        const span = Math.max(
          1,
          Math.min(64, Number(tcPr && childrenNamed(tcPr, "gridSpan")[0]?.attrs.val) || 1),
        );
        const vMerge = tcPr ? childrenNamed(tcPr, "vMerge")[0] : undefined;
        const continues = vMerge !== undefined && (vMerge.attrs.val ?? "continue") === "continue";
        const col = row.length;
        const text = continues
          ? (above[col] ?? "")
          : this.blocks(tc)
              .join(" ")
              .replace(/\s*\n\s*/g, " ");
        for (let i = 0; i < span; i++) row.push(text);
      }
      above = row;
      if (row.some((c) => c.trim())) lines.push(row.join("\t"));
    }
    return lines;
  }
}

const checkMark = (el: XmlElement | undefined): string => {
  const v = el ? (el.attrs.val ?? "1") : "0";
  return v === "1" || v === "true" || v === "on" ? "[x]" : "[ ]";
};

/** Rows of a table, also inside row-level content controls and custom XML. */
function findRows(tbl: XmlElement): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of tbl.children) {
    if (typeof c === "string") continue;
    if (c.name === "tr") out.push(c);
    else if (c.name === "sdt" || c.name === "sdtContent" || c.name === "customXml") out.push(...findRows(c));
  }
  return out;
}

function findCells(tr: XmlElement): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of tr.children) {
    if (typeof c === "string") continue;
    if (c.name === "tc") out.push(c);
    else if (c.name === "sdt" || c.name === "sdtContent" || c.name === "customXml") out.push(...findCells(c));
  }
  return out;
}

interface Level {
  start: number;
  format: string;
  text: string;
  legal: boolean;
}

/**
 * List and heading numbers as Word displays them: each list (`w:num`) keeps a counter per level, a
 * level restarts when a shallower level advances, `lvlText` placeholders `%1`..`%9` are filled with each
 * level's counter in that level's format. Numbering set on a paragraph style (headings) counts too.
 */
class Numbering {
  private readonly abstracts = new Map<string, Map<number, Level>>();
  private readonly nums = new Map<string, { abstract: string; overrides: Map<number, Partial<Level>> }>();
  private readonly styles = new Map<string, { numId?: string; ilvl?: number; basedOn?: string }>();
  private readonly counters = new Map<string, number[]>();

  constructor(numbering: XmlElement | undefined, styles: XmlElement | undefined) {
    for (const a of numbering ? findAll(numbering, "abstractNum") : []) {
      this.abstracts.set(a.attrs.abstractNumId ?? "", levels(a));
    }
    for (const n of numbering ? findAll(numbering, "num") : []) {
      const abstract = childrenNamed(n, "abstractNumId")[0]?.attrs.val ?? "";
      const overrides = new Map<number, Partial<Level>>();
      for (const o of childrenNamed(n, "lvlOverride")) {
        const ilvl = Number(o.attrs.ilvl ?? 0);
        const start = childrenNamed(o, "startOverride")[0]?.attrs.val;
        const lvl = childrenNamed(o, "lvl")[0];
        const override: Partial<Level> = lvl ? (levelOf(lvl) ?? {}) : {};
        if (start !== undefined) override.start = Number(start);
        overrides.set(ilvl, override);
      }
      this.nums.set(n.attrs.numId ?? "", { abstract, overrides });
    }
    for (const s of styles ? findAll(styles, "style") : []) {
      const pPr = childrenNamed(s, "pPr")[0];
      const numPr = pPr ? childrenNamed(pPr, "numPr")[0] : undefined;
      const numId = numPr ? childrenNamed(numPr, "numId")[0]?.attrs.val : undefined;
      const ilvl = numPr ? childrenNamed(numPr, "ilvl")[0]?.attrs.val : undefined;
      this.styles.set(s.attrs.styleId ?? "", {
        ...(numId !== undefined ? { numId } : {}),
        ...(ilvl !== undefined ? { ilvl: Number(ilvl) } : {}),
        ...(childrenNamed(s, "basedOn")[0]?.attrs.val
          ? { basedOn: childrenNamed(s, "basedOn")[0]!.attrs.val }
          : {}),
      });
    }
  }

  /** The number (or bullet) a paragraph displays, advancing the list's counters; "" when none. */
  label(pPr: XmlElement | undefined): string {
    if (this.nums.size === 0) return "";
    const ref = this.reference(pPr);
    if (!ref || ref.numId === "0") return "";
    const num = this.nums.get(ref.numId);
    const abstract = num ? this.abstracts.get(num.abstract) : undefined;
    if (!num || !abstract) return "";
    const level = (i: number): Level | undefined => {
      const base = abstract.get(i);
      const o = num.overrides.get(i);
      return base
        ? { ...base, ...o }
        : o?.format
          ? ({ start: 1, text: "", legal: false, ...o } as Level)
          : undefined;
    };
    const ilvl = Math.max(0, Math.min(8, ref.ilvl));
    const lvl = level(ilvl);
    if (!lvl) return "";
    const counters = this.counters.get(ref.numId) ?? [];
    for (let i = 0; i < ilvl; i++) counters[i] ??= level(i)?.start ?? 1;
    counters[ilvl] = counters[ilvl] === undefined ? lvl.start : counters[ilvl] + 1;
    counters.length = ilvl + 1;
    this.counters.set(ref.numId, counters);
    if (lvl.format === "none") return "";
    if (lvl.format === "bullet") return "•";
    return lvl.text
      .replace(/%([1-9])/g, (_, d: string) => {
        const i = Number(d) - 1;
        const l = level(i);
        const n = counters[i] ?? l?.start ?? 1;
        return formatNumber(n, lvl.legal && i < ilvl ? "decimal" : (l?.format ?? "decimal"));
      })
      .trim();
  }

  private reference(pPr: XmlElement | undefined): { numId: string; ilvl: number } | undefined {
    const numPr = pPr ? childrenNamed(pPr, "numPr")[0] : undefined;
    let numId = numPr ? childrenNamed(numPr, "numId")[0]?.attrs.val : undefined;
    let ilvl = numPr ? childrenNamed(numPr, "ilvl")[0]?.attrs.val : undefined;
    let styleId = pPr ? childrenNamed(pPr, "pStyle")[0]?.attrs.val : undefined;
    for (let depth = 0; styleId && depth < 10 && (numId === undefined || ilvl === undefined); depth++) {
      const style = this.styles.get(styleId);
      if (!style) break;
      numId ??= style.numId;
      if (ilvl === undefined && style.ilvl !== undefined) ilvl = String(style.ilvl);
      styleId = style.basedOn;
    }
    return numId === undefined ? undefined : { numId, ilvl: Number(ilvl ?? 0) || 0 };
  }
}

function levels(abstract: XmlElement): Map<number, Level> {
  const out = new Map<number, Level>();
  for (const lvl of childrenNamed(abstract, "lvl")) {
    const level = levelOf(lvl);
    if (level) out.set(Number(lvl.attrs.ilvl ?? 0), level);
  }
  return out;
}

function levelOf(lvl: XmlElement): Level | undefined {
  const val = (name: string) => childrenNamed(lvl, name)[0]?.attrs.val;
  const legal = childrenNamed(lvl, "isLgl")[0];
  return {
    start: Number(val("start") ?? 1) || 0,
    format: val("numFmt") ?? "decimal",
    text: val("lvlText") ?? "",
    legal: legal !== undefined && (legal.attrs.val ?? "1") !== "0" && legal.attrs.val !== "false",
  };
}

/** A counter in a Word number format (the common ones; others as decimal). */
export function formatNumber(n: number, format: string): string {
  switch (format) {
    case "decimalZero":
      return n < 10 ? `0${n}` : String(n);
    case "lowerLetter":
      return letters(n).toLowerCase();
    case "upperLetter":
      return letters(n);
    case "lowerRoman":
      return roman(n).toLowerCase();
    case "upperRoman":
      return roman(n);
    case "ordinal":
      return `${n}${ordinalSuffix(n)}`;
    default:
      return String(n);
  }
}

/** Word's letter numbering repeats the letter: a..z, aa..zz, aaa... */
function letters(n: number): string {
  if (n <= 0) return String(n);
  const letter = String.fromCharCode(65 + ((n - 1) % 26));
  return letter.repeat(Math.floor((n - 1) / 26) + 1);
}

function roman(n: number): string {
  if (n <= 0 || n >= 4000) return String(n);
  const table: [number, string][] = [
    [1000, "M"],
    [900, "CM"],
    [500, "D"],
    [400, "CD"],
    [100, "C"],
    [90, "XC"],
    [50, "L"],
    [40, "XL"],
    [10, "X"],
    [9, "IX"],
    [5, "V"],
    [4, "IV"],
    [1, "I"],
  ];
  let s = "";
  for (const [v, r] of table) {
    while (n >= v) {
      s += r;
      n -= v;
    }
  }
  return s;
}

function ordinalSuffix(n: number): string {
  const t = n % 100;
  if (t >= 11 && t <= 13) return "th";
  return ["th", "st", "nd", "rd"][n % 10] ?? "th";
}

const ENCRYPTED_PACKAGE = Buffer.from("EncryptedPackage", "utf16le");

/**
 * Password-protected OOXML (docx, xlsx, pptx) is not a zip but an OLE compound file holding an
 * `EncryptedPackage` stream; its directory stores that name in UTF-16LE.
 */
export function isEncryptedOoxml(bytes: Buffer): boolean {
  return bytes.includes(ENCRYPTED_PACKAGE);
}
