import { zipSync } from "fflate";
import mammoth from "mammoth";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import { chartText, officeDocument } from "./xlsx.ts";
import { openZip, relationships, relKind, xmlPart, type ZipLimits } from "./zip.ts";

const STRICT_NS = /http:\/\/purl\.oclc\.org\/ooxml\/(\w+)\/(\w+)/g;
const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/**
 * Body text of a DOCX, paragraphs separated by blank lines, then the text of its charts. The package is
 * unzipped here first, within the zip limits, and only its XML parts are handed to mammoth, repacked: a
 * zip bomb fails TOO_LARGE before mammoth sees it. Strict OOXML, which mammoth does not know, is
 * rewritten to the Transitional namespaces on the way. A broken package throws CORRUPT.
 */
export async function extractDocx(bytes: Buffer, limits?: ZipLimits): Promise<string> {
  const zip = openZip(bytes, limits);
  const parts: Record<string, Uint8Array> = {};
  for (const name of zip.names) {
    if (!/\.(xml|rels)$/i.test(name)) continue;
    const data = zip.read(name)!;
    const text = utf8.decode(data);
    parts[name] = text.includes("http://purl.oclc.org/ooxml/")
      ? encoder.encode(text.replace(STRICT_NS, "http://schemas.openxmlformats.org/$1/2006/$2"))
      : data;
  }
  let body: string;
  try {
    const packed = zipSync(parts, { level: 0 });
    // A view, not a copy: the repacked XML can be hundreds of MiB, outside the thread's heap limit.
    const buffer = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
    const { value } = await mammoth.extractRawText({ buffer });
    body = value.replace(/\n{3,}/g, "\n\n").trim();
  } catch (err) {
    throw new DocumentError(
      FailureCode.CORRUPT,
      `DOCX cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const documentPart = officeDocument(zip, "word/document.xml");
  const charts = relationships(zip, documentPart)
    .filter((r) => relKind(r) === "chart" && !r.external)
    .flatMap((r) => {
      const chart = xmlPart(zip, r.target);
      return chart ? [chartText(chart).join("\n")] : [];
    })
    .filter(Boolean);
  return [body, ...charts].join("\n\n").trim();
}

const ENCRYPTED_PACKAGE = Buffer.from("EncryptedPackage", "utf16le");

/**
 * Password-protected OOXML (docx, xlsx, pptx) is not a zip but an OLE compound file holding an
 * `EncryptedPackage` stream; its directory stores that name in UTF-16LE.
 */
export function isEncryptedOoxml(bytes: Buffer): boolean {
  return bytes.includes(ENCRYPTED_PACKAGE);
}
