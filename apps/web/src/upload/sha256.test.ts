import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Sha256 } from "./sha256.ts";

// The console hashes files over 64 MiB with this (WebCrypto has no streaming digest): it must agree
// with the server's sha256 at every padding boundary and however the bytes are sliced.
describe("incremental SHA-256", () => {
  it.each([0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003])("matches node:crypto for %i bytes", (n) => {
    const data = randomBytes(n);
    const expected = createHash("sha256").update(data).digest("hex");
    expect(new Sha256().update(data).hex()).toBe(expected);
    const sliced = new Sha256();
    for (let at = 0; at < n; at += 37) sliced.update(data.subarray(at, Math.min(n, at + 37)));
    expect(sliced.hex()).toBe(expected);
  });
});
