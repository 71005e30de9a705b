import type { Resources } from "./resources.ts";

/** How long a signed download or thumbnail URL stays valid. */
const URL_TTL_SECONDS = 900;
/** Characters of extracted text a read answers. */
const TEXT_CHARS = 100_000;

/**
 * A document's files as the API hands them out: signed URLs and the extracted text. Every key must lie
 * under the caller's tenant prefix (rows are tenant-scoped already: defence in depth).
 */
export class DocumentFilesService {
  constructor(private readonly r: Resources) {}

  /** A signed URL to the original file, downloaded under its own name. */
  downloadUrl(tenantId: string, doc: { objectKey: string; name: string }): Promise<string> {
    return this.r.deps.store.createDownloadUrl(ownKey(tenantId, doc.objectKey), {
      ttlSeconds: URL_TTL_SECONDS,
      fileName: doc.name,
    });
  }

  /** A signed URL to the thumbnail, or null when the document has none. */
  async thumbnailUrl(tenantId: string, doc: { thumbnailKey: string | null }): Promise<string | null> {
    if (!doc.thumbnailKey) return null;
    return this.r.deps.store.createDownloadUrl(ownKey(tenantId, doc.thumbnailKey), {
      ttlSeconds: URL_TTL_SECONDS,
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
