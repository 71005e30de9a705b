import type { Resources } from "./resources.ts";

/** How long a signed download or thumbnail URL stays valid. */
const URL_TTL_SECONDS = 900;
/** Characters of extracted text a read answers. */
const TEXT_CHARS = 100_000;

/**
 * A document's files as the API hands them out: signed URLs and the extracted text. Every key must lie
 * under the caller's tenant prefix (rows are tenant-scoped already: defence in depth).
 */
/** Detected types (parse's short names) a preview may be served as; the rest are downloads only. */
const PREVIEW_TYPES: Record<string, string> = {
  pdf: "application/pdf",
  png: "image/png",
  jpg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  txt: "text/plain",
};

export class DocumentFilesService {
  constructor(private readonly r: Resources) {}

  /**
   * A signed URL to the original file under its own name: an attachment, or with `inline` a preview in
   * the page when its type (detected by parse, else declared) is one a browser shows without running
   * anything (PDF, raster images, plain text: ports/object-store.ts `isInlineSafe`); HTML, SVG, XML and
   * the rest stay attachments whatever is asked.
   */
  downloadUrl(
    tenantId: string,
    doc: { objectKey: string; name: string; detectedType?: string | null; contentType?: string | null },
    opts: { inline?: boolean } = {},
  ): Promise<string> {
    // What parse detected decides (a short name: its MIME type where a browser could preview it); the
    // type declared at upload only until parse has run.
    const contentType = doc.detectedType ? PREVIEW_TYPES[doc.detectedType] : (doc.contentType ?? undefined);
    return this.r.deps.store.createDownloadUrl(ownKey(tenantId, doc.objectKey), {
      ttlSeconds: URL_TTL_SECONDS,
      fileName: doc.name,
      ...(opts.inline ? { inline: true } : {}),
      ...(contentType ? { contentType } : {}),
    });
  }

  /** A signed URL to the thumbnail (a WebP, shown inline), or null when the document has none. */
  async thumbnailUrl(tenantId: string, doc: { thumbnailKey: string | null }): Promise<string | null> {
    if (!doc.thumbnailKey) return null;
    return this.r.deps.store.createDownloadUrl(ownKey(tenantId, doc.thumbnailKey), {
      ttlSeconds: URL_TTL_SECONDS,
      inline: true,
      contentType: "image/webp",
    });
  }

  /** The extracted text (its first 100,000 characters), or null before parse wrote it. */
  async text(tenantId: string, doc: { textKey: string | null }): Promise<string | null> {
    if (!doc.textKey) return null;
    return (await this.r.deps.store.get(ownKey(tenantId, doc.textKey))).toString("utf8").slice(0, TEXT_CHARS);
  }
}

/** A key to sign or read, refused unless under the tenant's prefix. */
function ownKey(tenantId: string, key: string): string {
  if (!key.startsWith(`${tenantId}/`)) throw new Error("object key outside the caller's tenant prefix");
  return key;
}
