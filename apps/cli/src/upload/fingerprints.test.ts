import { randomBytes } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { type Fingerprint, FingerprintSet, fingerprint } from "./fingerprints.ts";

// Passes node:crypto through, except that hashing a path containing ZERO-DIGEST answers 32 zero bytes:
// the one digest fingerprint() must map away from (0, 0), which marks a free slot in FingerprintSet.
vi.mock("node:crypto", async (importOriginal) => {
  const crypto = await importOriginal<typeof import("node:crypto")>();
  const createHash = ((algorithm: string) => {
    const real = crypto.createHash(algorithm);
    let zero = false;
    const h = {
      update(data: string) {
        if (data.includes("ZERO-DIGEST")) zero = true;
        real.update(data);
        return h;
      },
      digest: () => (zero ? Buffer.alloc(32) : real.digest()),
    };
    return h;
  }) as unknown as typeof crypto.createHash;
  return { ...crypto, default: { ...crypto, createHash }, createHash };
});

/** `n` distinct random fingerprints, none (0, 0). */
function randomFingerprints(n: number): Fingerprint[] {
  const bytes = randomBytes(8 * n * 2);
  const seen = new Set<string>();
  const out: Fingerprint[] = [];
  for (let i = 0; out.length < n; i++) {
    const fp = [bytes.readUInt32BE(8 * i), bytes.readUInt32BE(8 * i + 4)] as const;
    const key = `${fp[0]}:${fp[1]}`;
    if ((fp[0] === 0 && fp[1] === 0) || seen.has(key)) continue;
    seen.add(key);
    out.push(fp);
  }
  return out;
}

describe("FingerprintSet", () => {
  it("keeps every fingerprint through many grows", () => {
    const all = randomFingerprints(200_000);
    const added = all.slice(0, 100_000);
    const absent = all.slice(100_000);
    const set = new FingerprintSet(16);
    let refused = 0;
    for (const fp of added) if (!set.add(fp)) refused++;
    expect(refused).toBe(0);
    expect(set.size).toBe(100_000);
    expect(added.every((fp) => set.has(fp))).toBe(true);
    expect(absent.some((fp) => set.has(fp))).toBe(false);
  });

  it("answers false when adding a fingerprint it holds, and does not count it twice", () => {
    const fps = randomFingerprints(5_000);
    const set = new FingerprintSet();
    for (const fp of fps) set.add(fp);
    expect(fps.some((fp) => set.add([fp[0], fp[1]]))).toBe(false);
    expect(set.size).toBe(5_000);
  });

  it("tells apart fingerprints that share one half", () => {
    const set = new FingerprintSet(4);
    for (let i = 1; i <= 1_000; i++) {
      set.add([i, 7]);
      set.add([7, i]);
    }
    // [7, 7] is in both series.
    expect(set.size).toBe(1_999);
    expect(set.has([7, 7])).toBe(true);
    expect(set.has([1_000, 7])).toBe(true);
    expect(set.has([7, 1_001])).toBe(false);
    expect(set.has([1_001, 7])).toBe(false);
  });

  it("starts empty, whatever its capacity", () => {
    for (const capacity of [0, 1, 1024, 100_000]) {
      const set = new FingerprintSet(capacity);
      expect(set.size).toBe(0);
      expect(set.has([1, 2])).toBe(false);
    }
  });
});

describe("fingerprint", () => {
  const path = "/data/docs/report.pdf";
  const mtime = 1_700_000_000_123.456;

  it("is the same for the same file version", () => {
    expect(fingerprint(path, 1000, mtime)).toEqual(fingerprint(path, 1000, mtime));
  });

  it("differs when the path, the size or the modification time differs", () => {
    const fps = [
      fingerprint(path, 1000, mtime),
      fingerprint("/data/docs/report2.pdf", 1000, mtime),
      fingerprint(path, 1001, mtime),
      fingerprint(path, 1000, mtime + 1),
      // The separators keep the fields apart: "a" + size 12 is not "a1" + size 2.
      fingerprint("/a", 12, 0),
      fingerprint("/a1", 2, 0),
    ];
    expect(new Set(fps.map((fp) => `${fp[0]}:${fp[1]}`)).size).toBe(fps.length);
  });

  it("answers two unsigned 32-bit halves", () => {
    for (let i = 0; i < 1_000; i++) {
      for (const half of fingerprint(`/f${i}`, i, i)) {
        expect(Number.isInteger(half) && half >= 0 && half < 2 ** 32).toBe(true);
      }
    }
  });

  it("never answers (0, 0), which a FingerprintSet cannot hold", () => {
    const fp = fingerprint("/ZERO-DIGEST", 1, 1);
    expect(fp).not.toEqual([0, 0]);
    const set = new FingerprintSet();
    expect(set.add(fp)).toBe(true);
    expect(set.has(fp)).toBe(true);
  });
});
