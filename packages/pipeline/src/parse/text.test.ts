import { describe, expect, it } from "vitest";
import { csvToText, decodeText, parseCsv, sniffDelimiter } from "./text.ts";

describe("decodeText", () => {
  it("strips a UTF-8 BOM and decodes UTF-16 by its BOM", () => {
    expect(decodeText(Buffer.from("\ufeffhé", "utf8"))).toBe("hé");
    expect(decodeText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("hé", "utf16le")]))).toBe("hé");
    expect(decodeText(Buffer.from("\ufeffhé", "utf16le").swap16())).toBe("hé");
  });

  it("falls back to latin-1 when the bytes are not UTF-8", () => {
    expect(decodeText(Buffer.from("na\xefve", "latin1"))).toBe("naïve");
  });

  it("calls bytes with NULs or many control characters binary", () => {
    expect(decodeText(Buffer.from("abc\0def"))).toBeNull();
    expect(decodeText(Buffer.from("a\x01b\x02c\x03d\x04e"))).toBeNull();
    expect(decodeText(Buffer.from("tabs\tand\r\nnewlines\fand form feeds"))).not.toBeNull();
  });
});

describe("parseCsv", () => {
  it("honours quotes, doubled quotes and line breaks inside quotes", () => {
    expect(parseCsv('a,"b,c","say ""hi""","two\nlines"\r\n1,2,3,4\n\n', ",")).toEqual([
      ["a", "b,c", 'say "hi"', "two\nlines"],
      ["1", "2", "3", "4"],
    ]);
  });

  it("stops after maxRows", () => {
    expect(parseCsv("1\n2\n3\n", ",", 2)).toEqual([["1"], ["2"]]);
  });
});

describe("sniffDelimiter", () => {
  it("finds the delimiter that gives a consistent width", () => {
    expect(sniffDelimiter("a,b;c\nd,e;f\ng,h;i")).toBe(",");
    expect(sniffDelimiter("a\tb\tc\n1\t2\t3")).toBe("\t");
    expect(sniffDelimiter("a|b|c\n1|2|3\n4|5|6\n7|8")).toBe("|");
  });

  it("tolerates one ragged row but not a mess", () => {
    expect(sniffDelimiter("1,2,3\na,b,c,d\na,b,c,d\na,b,c,d")).toBe(",");
    expect(sniffDelimiter("a,b\nc\nd,e,f,g\nh")).toBeNull();
  });
});

describe("csvToText", () => {
  it("puts cells on one line each row, tab-separated, quotes resolved", () => {
    expect(csvToText('name,city\n"Doe, Jane","New\nYork"\n')).toBe("name\tcity\nDoe, Jane\tNew York");
  });
});
