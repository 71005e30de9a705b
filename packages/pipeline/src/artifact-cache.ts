import { createHash } from "node:crypto";

/** sha256 of bytes or of a string's UTF-8, hex: what an artifact's reader compares (`ArtifactCache.get`). */
export function artifactSha256(body: Buffer | string): string {
  return createHash("sha256").update(body).digest("hex");
}

/**
 * A worker's recently written stage artifacts (parse's text, embed's chunks), so that a later stage run
 * in the same process reads them from memory instead of the object store (one GET each, a visible share
 * of a worker's CPU: issue 17). Content-addressed: an entry answers only the sha256 its reader names,
 * which the writing stage recorded in the document's provenance, so a text written again since by
 * another worker (a rerun) is never answered stale: a different hash, read from the store. Least
 * recently used entries go past `maxBytes`; an artifact over `maxEntryBytes` is not kept.
 */
export class ArtifactCache {
  private readonly entries = new Map<string, { sha256: string; body: Buffer }>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 32 * 1024 * 1024,
    private readonly maxEntryBytes = 2 * 1024 * 1024,
  ) {}

  /** Keeps `body`, written under `key`, whose sha256 is `sha256`. */
  remember(key: string, sha256: string, body: Buffer): void {
    this.forget(key);
    if (body.length > this.maxEntryBytes) return;
    this.entries.set(key, { sha256, body });
    this.bytes += body.length;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= e.body.length;
    }
  }

  /** The bytes kept under `key` when their sha256 is `sha256`; undefined otherwise (read the store). */
  get(key: string, sha256: string | undefined): Buffer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (!sha256 || e.sha256 !== sha256) {
      this.forget(key);
      return undefined;
    }
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.body;
  }

  forget(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.bytes -= e.body.length;
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * Reads an artifact: from `cache` when it holds `key` with sha256 `sha256`, else from `get` (the object
 * store). Without a cache or a recorded hash, always the store.
 */
export async function readArtifact(
  cache: ArtifactCache | undefined,
  key: string,
  sha256: string | undefined,
  get: (key: string) => Promise<Buffer>,
): Promise<Buffer> {
  return cache?.get(key, sha256) ?? (await get(key));
}
