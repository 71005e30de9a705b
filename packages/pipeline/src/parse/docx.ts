import mammoth from "mammoth";
import { DocumentError, FailureCode } from "../errors.ts";

/** Body text of a DOCX, paragraphs separated by blank lines. A broken package throws CORRUPT. */
export async function extractDocx(bytes: Buffer): Promise<string> {
  try {
    const { value } = await mammoth.extractRawText({ buffer: bytes });
    return value.replace(/\n{3,}/g, "\n\n").trim();
  } catch (err) {
    throw new DocumentError(
      FailureCode.CORRUPT,
      `DOCX cannot be read: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

const ENCRYPTED_PACKAGE = Buffer.from("EncryptedPackage", "utf16le");

/**
 * Password-protected OOXML (docx, xlsx, pptx) is not a zip but an OLE compound file holding an
 * `EncryptedPackage` stream; its directory stores that name in UTF-16LE.
 */
export function isEncryptedOoxml(bytes: Buffer): boolean {
  return bytes.includes(ENCRYPTED_PACKAGE);
}
