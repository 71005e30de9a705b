import { describe, expect, it } from "vitest";
import { storable } from "./storable.ts";

describe("storable", () => {
  it("drops NUL, replaces lone surrogates, keeps everything else as it is", () => {
    expect(storable("plain text\tand\nlines")).toBe("plain text\tand\nlines");
    expect(storable("a\u0000b\u0000")).toBe("ab");
    expect(storable("high \ud800 low \udc00 end")).toBe("high \ufffd low \ufffd end");
    expect(storable("pair 📄 and \u0000")).toBe("pair 📄 and ");
    // A pair cut in two by a slice
    expect(storable("📄".slice(0, 1))).toBe("\ufffd");
  });
});
