/**
 * Safe reading of zip-based formats (DOCX, XLSX, PPTX, ODF, EPUB): the central directory is checked
 * against limits before anything is inflated, and inflation itself stops at the declared size and at the
 * archive's budget, because declared sizes can lie. Also the XML helpers the zip-based formats share.
 */

import { XMLParser } from "fast-xml-parser";
import { Inflate } from "fflate";
import { DocumentError, FailureCode } from "../domain/errors.ts";

export interface ZipLimits {
  /** More entries fail with TOO_LARGE. Default 10,000. */
  maxEntries?: number;
  /** More uncompressed bytes, declared or inflated, fail with TOO_LARGE. Default 256 MiB. */
  maxTotalBytes?: number;
  /** An entry over 1 MiB that expands more than this many times fails with TOO_LARGE. Default 500. */
  maxRatio?: number;
}

export const DEFAULT_ZIP_LIMITS: Required<ZipLimits> = {
  maxEntries: 10_000,
  maxTotalBytes: 256 * 1024 * 1024,
  maxRatio: 500,
};

/** Small entries may compress very well (a run of empty cells) without being a bomb. */
const RATIO_FLOOR = 1024 * 1024;
/** Compressed bytes pushed to the inflater at a time: bounds what one push can produce (~1032×). */
const INFLATE_CHUNK = 16 * 1024;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  /** Offset of the local file header. */
  offset: number;
}

export interface ZipArchive {
  /** Entry names, in central-directory order; directories left out. */
  readonly names: string[];
  has(name: string): boolean;
  /** The entry's bytes, or undefined when there is no such entry. Throws TOO_LARGE or CORRUPT. */
  read(name: string): Uint8Array | undefined;
  /** The entry as UTF-8 text (BOM dropped), or undefined when there is no such entry. */
  text(name: string): string | undefined;
}

const corrupt = (what: string) =>
  new DocumentError(FailureCode.CORRUPT, `The zip archive is broken: ${what}`);

/**
 * Opens a zip archive: reads and checks its central directory (entry count, declared sizes and ratios,
 * encryption) and inflates entries on demand. Throws CORRUPT, ENCRYPTED or TOO_LARGE.
 */
export function openZip(bytes: Uint8Array, limits: ZipLimits = {}): ZipArchive {
  const max = { ...DEFAULT_ZIP_LIMITS, ...limits };
  const entries = readCentralDirectory(bytes, max.maxEntries);
  const byName = new Map<string, ZipEntry>();
  let declared = 0;
  for (const entry of entries) {
    declared += entry.size;
    if (declared > max.maxTotalBytes) {
      throw new DocumentError(
        FailureCode.TOO_LARGE,
        `The zip archive declares over ${mib(max.maxTotalBytes)} of uncompressed content (a zip bomb?)`,
      );
    }
    if (entry.size > RATIO_FLOOR && entry.size > entry.compressedSize * max.maxRatio) {
      throw new DocumentError(
        FailureCode.TOO_LARGE,
        `Zip entry ${entry.name} expands ${Math.round(entry.size / Math.max(1, entry.compressedSize))} times ` +
          `(limit ${max.maxRatio}): a zip bomb?`,
      );
    }
    if (!entry.name.endsWith("/")) byName.set(entry.name, entry);
  }
  let budget = max.maxTotalBytes;
  const read = (name: string): Uint8Array | undefined => {
    const entry = byName.get(name) ?? byName.get(name.replace(/^\//, ""));
    if (!entry) return undefined;
    const data = inflateEntry(bytes, entry, Math.min(budget, entry.size), max.maxTotalBytes);
    budget -= data.length;
    return data;
  };
  return {
    names: [...byName.keys()],
    has: (name) => byName.has(name) || byName.has(name.replace(/^\//, "")),
    read,
    text: (name) => {
      const data = read(name);
      return data && utf8.decode(data);
    },
  };
}

const utf8 = new TextDecoder("utf-8");

function mib(n: number): string {
  return `${Math.round(n / (1024 * 1024))} MiB`;
}

const EOCD = 0x06054b50;
const EOCD64 = 0x06064b50;
const EOCD64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

function readCentralDirectory(bytes: Uint8Array, maxEntries: number): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // The end record sits in the last 22 bytes plus a comment of up to 64 KiB.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt("no end of central directory (truncated?)");
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdOffset === 0xffffffff) {
    const locator = eocd - 20;
    if (locator < 0 || view.getUint32(locator, true) !== EOCD64_LOCATOR) throw corrupt("bad zip64 locator");
    const at = Number(view.getBigUint64(locator + 8, true));
    if (at + 56 > bytes.length || view.getUint32(at, true) !== EOCD64) throw corrupt("bad zip64 end record");
    count = Number(view.getBigUint64(at + 32, true));
    cdSize = Number(view.getBigUint64(at + 40, true));
    cdOffset = Number(view.getBigUint64(at + 48, true));
  }
  if (count > maxEntries) {
    throw new DocumentError(
      FailureCode.TOO_LARGE,
      `The zip archive has ${count} entries (limit ${maxEntries})`,
    );
  }
  if (cdOffset + cdSize > bytes.length) throw corrupt("central directory past the end of the file");
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== CENTRAL)
      throw corrupt("bad central directory entry");
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let offset = view.getUint32(p + 42, true);
    const nameBytes = bytes.subarray(p + 46, p + 46 + nameLength);
    const name = flags & 0x800 ? utf8.decode(nameBytes) : new TextDecoder("ibm866").decode(nameBytes);
    // Zip64: the sizes and offset that overflowed 32 bits follow, in this order, in extra field 0x0001.
    let e = p + 46 + nameLength;
    const extraEnd = e + extraLength;
    while (e + 4 <= extraEnd && extraEnd <= bytes.length) {
      const id = view.getUint16(e, true);
      const length = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = () => {
          if (q + 8 > e + 4 + length) throw corrupt("short zip64 extra field");
          const value = Number(view.getBigUint64(q, true));
          q += 8;
          return value;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (offset === 0xffffffff) offset = next();
      }
      e += 4 + length;
    }
    // Bit 0: traditional or AES encryption (method 99 also marks AES).
    if (flags & 0x1 || method === 99) {
      throw new DocumentError(FailureCode.ENCRYPTED, `The zip archive is password-protected (entry ${name})`);
    }
    entries.push({ name, method, compressedSize, size, offset });
    p = extraEnd + commentLength;
  }
  return entries;
}

function inflateEntry(bytes: Uint8Array, entry: ZipEntry, allowed: number, maxTotal: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.offset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL) corruptEntry(entry, "bad local header");
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.length) corruptEntry(entry, "data past the end of the file");
  const data = bytes.subarray(start, end);
  if (entry.size > allowed) tooLarge(maxTotal);
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) corruptEntry(entry, "stored size mismatch");
    return data;
  }
  if (entry.method !== 8) corruptEntry(entry, `compression method ${entry.method} is not supported`);
  const out = new Uint8Array(entry.size);
  let length = 0;
  const inflater = new Inflate((chunk) => {
    // Declared sizes can lie: never write past what was declared, and so checked against the limits.
    if (length + chunk.length > entry.size) {
      throw new DocumentError(
        FailureCode.TOO_LARGE,
        `Zip entry ${entry.name} inflates past its declared size of ${entry.size} bytes (a zip bomb?)`,
      );
    }
    out.set(chunk, length);
    length += chunk.length;
  });
  try {
    for (let i = 0; i < data.length; i += INFLATE_CHUNK) {
      inflater.push(data.subarray(i, i + INFLATE_CHUNK), i + INFLATE_CHUNK >= data.length);
    }
    if (data.length === 0) inflater.push(data, true);
  } catch (err) {
    if (err instanceof DocumentError) throw err;
    corruptEntry(entry, err instanceof Error ? err.message : String(err));
  }
  if (length !== entry.size) corruptEntry(entry, `inflated to ${length} bytes, ${entry.size} declared`);
  return out;
}

function corruptEntry(entry: ZipEntry, why: string): never {
  throw corrupt(`entry ${entry.name}: ${why}`);
}

function tooLarge(maxTotal: number): never {
  throw new DocumentError(
    FailureCode.TOO_LARGE,
    `The zip archive inflates to over ${mib(maxTotal)} of content (a zip bomb?)`,
  );
}

/** An XML element; text nodes are strings, with entities decoded. */
export interface XmlElement {
  /** Local name, namespace prefix removed (Strict and Transitional OOXML use different URIs). */
  name: string;
  /** Attributes by qualified name, and also by local name where that is unambiguous. */
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

// Entities are decoded by hand: the parser's own handling leaves numeric references, and a DTD has no
// business in these formats, so its entities are never expanded (external ones never resolved).
const xmlParser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  // Prefixes are stripped from names below, not by the parser: it would merge `id` and `r:id`.
  removeNSPrefix: false,
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
});

const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (whole, ref: string) => {
    if (ref[0] !== "#") return NAMED[ref.toLowerCase()] ?? whole;
    const code = ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : "";
  });
}

/** Parses XML into a tree of elements; a document without a root element throws CORRUPT. */
export function parseXml(xml: string, what: string): XmlElement {
  const root: XmlElement = { name: "#document", attrs: {}, children: convert(xmlParser.parse(xml)) };
  if (!root.children.some((c) => typeof c !== "string")) throw corrupt(`${what} is not XML`);
  return root;
}

function convert(nodes: unknown): XmlNode[] {
  if (!Array.isArray(nodes)) return [];
  const out: XmlNode[] = [];
  for (const node of nodes as Record<string, unknown>[]) {
    for (const key of Object.keys(node)) {
      if (key === ":@") continue;
      if (key === "#text") {
        out.push(decodeEntities(String(node[key])));
        continue;
      }
      if (key.startsWith("?") || key.startsWith("!")) continue;
      const raw = Object.entries((node[":@"] ?? {}) as Record<string, unknown>);
      const attrs: Record<string, string> = {};
      for (const [k, v] of raw) attrs[k] = decodeEntities(String(v));
      // Prefixed attributes are also found by local name, unless an unprefixed one has that name.
      for (const [k, v] of raw) {
        const local = localName(k);
        if (local !== k && !(local in attrs)) attrs[local] = decodeEntities(String(v));
      }
      out.push({ name: localName(key), attrs, children: convert(node[key]) });
    }
  }
  return out;
}

function localName(name: string): string {
  return name.slice(name.indexOf(":") + 1);
}

/** The relationship id attribute (`r:id`, whatever the prefix), which `id` alone may shadow. */
export function relId(el: XmlElement): string | undefined {
  for (const [k, v] of Object.entries(el.attrs)) if (/^[^:]+:id$/.test(k)) return v;
  return undefined;
}

/** Element children of `el` named `name` (any namespace). */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== "string" && c.name === name);
}

/** The first descendant named `name`, depth first. */
export function find(el: XmlElement, name: string): XmlElement | undefined {
  for (const c of el.children) {
    if (typeof c === "string") continue;
    if (c.name === name) return c;
    const found = find(c, name);
    if (found) return found;
  }
  return undefined;
}

/** Every descendant named `name`, in document order (not looking inside a match). */
export function findAll(el: XmlElement, name: string, out: XmlElement[] = []): XmlElement[] {
  for (const c of el.children) {
    if (typeof c === "string") continue;
    if (c.name === name) out.push(c);
    else findAll(c, name, out);
  }
  return out;
}

/** All text below `el`, concatenated. */
export function textOf(el: XmlElement): string {
  let s = "";
  for (const c of el.children) s += typeof c === "string" ? c : textOf(c);
  return s;
}

/** The XML part `path` of the archive, parsed, or undefined when there is no such part. */
export function xmlPart(zip: ZipArchive, path: string): XmlElement | undefined {
  const text = zip.text(path);
  return text === undefined ? undefined : parseXml(text, path);
}

export interface Relationship {
  id: string;
  /** Type URI; compare by its last segment, which Strict and Transitional share. */
  type: string;
  /** Resolved path inside the archive (no leading slash), or the raw target when external. */
  target: string;
  external: boolean;
}

/** The OPC relationships of `part` (`""` for the package), targets resolved against the part's folder. */
export function relationships(zip: ZipArchive, part: string): Relationship[] {
  const slash = part.lastIndexOf("/");
  const dir = slash >= 0 ? part.slice(0, slash + 1) : "";
  const file = slash >= 0 ? part.slice(slash + 1) : part;
  const rels = xmlPart(zip, `${dir}_rels/${file}.rels`);
  if (!rels) return [];
  return findAll(rels, "Relationship").map((r) => {
    const external = r.attrs.TargetMode === "External";
    const target = r.attrs.Target ?? "";
    return {
      id: r.attrs.Id ?? "",
      type: r.attrs.Type ?? "",
      target: external ? target : resolvePath(dir, target),
      external,
    };
  });
}

/** Joins a relative zip path onto a folder, resolving `.` and `..`. */
export function resolvePath(dir: string, target: string): string {
  const parts = (target.startsWith("/") ? target : dir + target).split("/");
  const out: string[] = [];
  for (const p of parts) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(decodeURIComponentSafe(p));
  }
  return out.join("/");
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The relationship type's last segment: "officeDocument", "worksheet", "slide", ... */
export function relKind(rel: Relationship): string {
  return rel.type.slice(rel.type.lastIndexOf("/") + 1);
}
