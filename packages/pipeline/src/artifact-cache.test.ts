import { describe, expect, it } from "vitest";
import { ArtifactCache, artifactSha256, readArtifact } from "./artifact-cache.ts";

describe("ArtifactCache", () => {
  const body = (s: string) => Buffer.from(s, "utf8");

  it("answers a kept artifact only under the sha256 its reader names", () => {
    const c = new ArtifactCache();
    const v1 = body("text one");
    c.remember("t/d/text.txt", artifactSha256(v1), v1);
    expect(c.get("t/d/text.txt", artifactSha256(v1))).toEqual(v1);
    // Written again elsewhere (a rerun on another worker): the provenance names another hash.
    expect(c.get("t/d/text.txt", artifactSha256("text two"))).toBeUndefined();
    // ...and the stale entry is gone.
    expect(c.get("t/d/text.txt", artifactSha256(v1))).toBeUndefined();
    c.remember("k", artifactSha256(v1), v1);
    expect(c.get("k", undefined)).toBeUndefined(); // no recorded hash: the store
  });

  it("keeps at most maxBytes, least recently used out first, and skips big artifacts", () => {
    const c = new ArtifactCache(10, 6);
    const a = body("aaaa");
    const b = body("bbbb");
    const big = body("ccccccc");
    c.remember("a", "ha", a);
    c.remember("b", "hb", b);
    expect(c.get("a", "ha")).toEqual(a); // a is now the most recently used
    c.remember("c", "hc", body("cccc")); // 12 bytes: b goes
    expect(c.get("b", "hb")).toBeUndefined();
    expect(c.get("a", "ha")).toEqual(a);
    c.remember("big", "hbig", big);
    expect(c.get("big", "hbig")).toBeUndefined();
    expect(c.size).toBe(2);
  });

  it("readArtifact reads the store on a miss", async () => {
    const c = new ArtifactCache();
    const reads: string[] = [];
    const get = async (k: string) => {
      reads.push(k);
      return body(`stored ${k}`);
    };
    expect((await readArtifact(c, "x", "h", get)).toString()).toBe("stored x");
    c.remember("x", "h", body("kept"));
    expect((await readArtifact(c, "x", "h", get)).toString()).toBe("kept");
    expect((await readArtifact(undefined, "x", "h", get)).toString()).toBe("stored x");
    expect(reads).toEqual(["x", "x"]);
  });
});
