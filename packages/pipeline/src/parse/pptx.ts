import { DocumentError, FailureCode } from "../domain/errors.ts";
import { ommlText } from "./omml.ts";
import type { Extracted, ParsedPage } from "./types.ts";
import { chartText, coreTitle, type OfficeOptions, officeDocument } from "./xlsx.ts";
import {
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
} from "./zip.ts";

/**
 * PPTX: one page per slide, in the presentation's order (not the part names'). A page holds the slide's
 * text in document order (shapes, tables as tab-separated rows, charts' titles and data), then its
 * speaker notes after a "Notes:" line. Slides whose part is missing give an empty page.
 */
export function extractPptx(bytes: Uint8Array, opts: OfficeOptions): Extracted {
  const zip = openZip(bytes, opts.zipLimits);
  const presPath = officeDocument(zip, "ppt/presentation.xml");
  const presentation = xmlPart(zip, presPath);
  if (!presentation)
    throw new DocumentError(FailureCode.CORRUPT, "The presentation has no presentation part");
  const rels = new Map(relationships(zip, presPath).map((r) => [r.id, r]));
  const slides = findAll(presentation, "sldId")
    .map((s) => rels.get(relId(s) ?? ""))
    .filter((r): r is Relationship => r !== undefined && !r.external && relKind(r) === "slide");
  if (slides.length > opts.maxPages) {
    throw new DocumentError(
      FailureCode.TOO_LARGE,
      `The presentation has ${slides.length} slides (limit ${opts.maxPages})`,
    );
  }
  const pages: ParsedPage[] = [];
  // Read once for the whole presentation, and only if a slide has comments.
  let authorsById: Map<string, string> | undefined;
  const authors = () => (authorsById ??= commentAuthors(zip, presPath));
  let chars = 0;
  for (const slide of slides) {
    const text = chars > opts.maxTextChars ? "" : slideText(zip, slide.target, authors);
    chars += text.length + 1;
    pages.push({ number: pages.length + 1, text });
  }
  return { pages, pageCount: pages.length, title: coreTitle(zip) };
}

function slideText(zip: ZipArchive, path: string, authors: () => Map<string, string>): string {
  const slide = xmlPart(zip, path);
  if (!slide) return "";
  const rels = relationships(zip, path);
  const lines = shapeLines(slide, zip, rels);
  const notes = rels.find((r) => relKind(r) === "notesSlide" && !r.external);
  const notesPart = notes ? xmlPart(zip, notes.target) : undefined;
  if (notesPart) {
    // The notes page repeats the slide's image and number: only its body placeholders are notes.
    const body = findAll(notesPart, "sp").filter((sp) => {
      const type = findAll(sp, "ph")[0]?.attrs.type;
      return type === "body" || type === undefined;
    });
    const noteLines = body.flatMap((sp) => shapeLines(sp, zip, []));
    if (noteLines.length > 0) lines.push("Notes:", ...noteLines);
  }
  lines.push(...slideComments(zip, rels, authors));
  return lines.join("\n");
}

/**
 * Review comments on a slide, legacy (`p:cmLst`) and modern (`p188:cmLst`, with replies), as lines
 * "Comment by Author: text" after the slide's text and notes.
 */
function slideComments(
  zip: ZipArchive,
  rels: Relationship[],
  authorsOf: () => Map<string, string>,
): string[] {
  const parts = rels.filter((r) => relKind(r) === "comments" && !r.external);
  if (parts.length === 0) return [];
  const authors = authorsOf();
  const lines: string[] = [];
  for (const rel of parts) {
    const part = xmlPart(zip, rel.target);
    if (!part) continue;
    for (const cm of findAll(part, "cm")) {
      const author = authors.get(cm.attrs.authorId ?? "") ?? "";
      const legacy = findAll(cm, "text")[0];
      const body = findAll(cm, "txBody")[0];
      const text = (legacy ? textOf(legacy) : body ? findAll(body, "p").map(paragraph).join(" ") : "")
        .replace(/\s+/g, " ")
        .trim();
      if (text) lines.push(`Comment${author ? ` by ${author}` : ""}: ${text}`);
      for (const reply of findAll(cm, "reply")) {
        const by = authors.get(reply.attrs.authorId ?? "") ?? "";
        const replyBody = findAll(reply, "txBody")[0];
        const replyText = replyBody ? findAll(replyBody, "p").map(paragraph).join(" ").trim() : "";
        if (replyText) lines.push(`Reply${by ? ` by ${by}` : ""}: ${replyText}`);
      }
    }
  }
  return lines;
}

/** Comment authors by id: legacy `commentAuthors.xml` (numeric ids) and modern `authors.xml` (GUIDs). */
function commentAuthors(zip: ZipArchive, presPath: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rel of relationships(zip, presPath)) {
    const kind = relKind(rel);
    if (rel.external || (kind !== "commentAuthors" && kind !== "authors")) continue;
    const part = xmlPart(zip, rel.target);
    for (const a of part ? [...findAll(part, "cmAuthor"), ...findAll(part, "author")] : []) {
      if (a.attrs.id !== undefined) out.set(a.attrs.id, a.attrs.name ?? "");
    }
  }
  return out;
}

/** Lines of text below `el` in document order: paragraphs, table rows, and referenced charts. */
function shapeLines(el: XmlElement, zip: ZipArchive, rels: Relationship[]): string[] {
  const lines: string[] = [];
  const walk = (node: XmlElement) => {
    for (const c of node.children) {
      if (typeof c === "string") continue;
      if (c.name === "p") {
        const line = paragraph(c);
        if (line) lines.push(line);
      } else if (c.name === "tbl") {
        for (const tr of findAll(c, "tr")) {
          const cells = findAll(tr, "tc").map((tc) =>
            findAll(tc, "p").map(paragraph).filter(Boolean).join(" "),
          );
          if (cells.some(Boolean)) lines.push(cells.join("\t"));
        }
      } else if (c.name === "AlternateContent") {
        // Choice and Fallback hold the same content twice: the first choice is enough.
        const choice = c.children.find((x): x is XmlElement => typeof x !== "string");
        if (choice) walk(choice);
      } else if (c.name === "chart") {
        const rel = rels.find((r) => r.id === relId(c));
        const part = rel && !rel.external ? xmlPart(zip, rel.target) : undefined;
        if (part) lines.push(...chartText(part));
      } else {
        walk(c);
      }
    }
  };
  walk(el);
  return lines;
}

/** A DrawingML paragraph: its runs and fields, `a:br` as a space. */
function paragraph(p: XmlElement): string {
  let s = "";
  for (const c of p.children) {
    if (typeof c === "string") continue;
    if (c.name === "r" || c.name === "fld") s += findAll(c, "t").map(textOf).join("");
    else if (c.name === "br") s += " ";
    else if (c.name === "AlternateContent") {
      // Equations (a14:m) sit in the first choice; the fallback is a picture of them.
      const choice = c.children.find((x): x is XmlElement => typeof x !== "string");
      const math = choice && (find(choice, "oMathPara") ?? find(choice, "oMath"));
      if (math) s += ` ${ommlText(math)} `;
      else if (choice) s += findAll(choice, "t").map(textOf).join("");
    }
  }
  return s.replace(/\s+/g, " ").trim();
}
