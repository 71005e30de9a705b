import { createHash } from "node:crypto";

/**
 * A set of 64-bit fingerprints in two flat typed arrays (open addressing, linear probing): 8 bytes a
 * file at full load, so the "already uploaded" set of a 500,000-file manifest takes a few MB rather
 * than the hundred or so a Set of path strings would.
 */
export class FingerprintSet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private count = 0;

  constructor(capacity = 1024) {
    const n = 2 ** Math.ceil(Math.log2(Math.max(16, capacity * 2)));
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
  }

  get size(): number {
    return this.count;
  }

  has(fp: Fingerprint): boolean {
    return this.slot(fp[0], fp[1]) < 0;
  }

  /** Adds `fp`; false when it was there already. */
  add(fp: Fingerprint): boolean {
    const [h, l] = fp;
    const s = this.slot(h, l);
    if (s < 0) return false;
    this.hi[s] = h;
    this.lo[s] = l;
    this.count++;
    if (this.count * 2 > this.hi.length) this.grow();
    return true;
  }

  /** The free slot for (h, l), or -1 when present. (0, 0) marks a free slot; fingerprints avoid it. */
  private slot(h: number, l: number): number {
    const mask = this.hi.length - 1;
    for (let i = (l ^ Math.imul(h, 0x9e3779b1)) & mask; ; i = (i + 1) & mask) {
      const a = this.hi[i]!;
      const b = this.lo[i]!;
      if (a === 0 && b === 0) return i;
      if (a === h && b === l) return -1;
    }
  }

  private grow(): void {
    const { hi, lo } = this;
    this.hi = new Uint32Array(hi.length * 2);
    this.lo = new Uint32Array(lo.length * 2);
    for (let i = 0; i < hi.length; i++) {
      const h = hi[i]!;
      const l = lo[i]!;
      if (h !== 0 || l !== 0) {
        const s = this.slot(h, l);
        this.hi[s] = h;
        this.lo[s] = l;
      }
    }
  }
}

export type Fingerprint = readonly [number, number];

/**
 * Identifies one version of a file: its absolute path, size and modification time. A rerun skips a file
 * whose fingerprint the manifest holds; a file changed since gets a new fingerprint and is sent again.
 */
export function fingerprint(path: string, size: number, mtimeMs: number): Fingerprint {
  const d = createHash("sha256")
    .update(`${path}\0${size}\0${Math.trunc(mtimeMs)}`)
    .digest();
  const h = d.readUInt32BE(0);
  const l = d.readUInt32BE(4);
  return h === 0 && l === 0 ? [0, 1] : [h, l];
}
