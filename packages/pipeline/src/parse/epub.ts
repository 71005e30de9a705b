import { DocumentError, FailureCode } from "../domain/errors.ts";
import { extractHtml } from "./html.ts";
import type { Extracted } from "./types.ts";
import type { OfficeOptions } from "./xlsx.ts";
import { childrenNamed, find, findAll, openZip, resolvePath, textOf, xmlPart } from "./zip.ts";

const HTML_TYPES = new Set(["application/xhtml+xml", "text/html", "application/x-dtbook+xml"]);

/**
 * EPUB: the XHTML documents of the spine, in reading order, through the HTML extractor, separated by
 * blank lines. One page: an ebook has no fixed pages.
 */
export function extractEpub(bytes: Uint8Array, opts: OfficeOptions): Extracted {
  const zip = openZip(bytes, opts.zipLimits);
  const container = xmlPart(zip, "META-INF/container.xml");
  const opfPath = container && find(container, "rootfile")?.attrs["full-path"];
  const opf = opfPath ? xmlPart(zip, opfPath) : undefined;
  if (!opfPath || !opf) {
    throw new DocumentError(FailureCode.CORRUPT, "The EPUB has no package document (META-INF/container.xml)");
  }
  const dir = opfPath.includes("/") ? opfPath.slice(0, opfPath.lastIndexOf("/") + 1) : "";
  const manifest = new Map(
    findAll(opf, "item").map((item) => [
      item.attrs.id ?? "",
      {
        href: resolvePath(dir, (item.attrs.href ?? "").split("#")[0]!),
        type: item.attrs["media-type"] ?? "",
      },
    ]),
  );
  const spine = find(opf, "spine");
  const items = spine
    ? childrenNamed(spine, "itemref").map((ref) => manifest.get(ref.attrs.idref ?? ""))
    : [];
  const parts: string[] = [];
  let chars = 0;
  for (const item of items) {
    if (!item || !HTML_TYPES.has(item.type) || chars > opts.maxTextChars) continue;
    const html = zip.text(item.href);
    if (html === undefined) continue;
    const text = extractHtml(html);
    if (text) parts.push(text);
    chars += text.length + 2;
  }
  const titleEl = find(opf, "title");
  const title = (titleEl && textOf(titleEl).trim()) || undefined;
  return { pages: [{ number: 1, text: parts.join("\n\n") }], pageCount: 1, title };
}
