import { readFileSync } from "node:fs";
import { strToU8, zipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { DocumentError } from "../domain/errors.ts";
import { parseDocument } from "./index.ts";
import { decodeEntities, openZip, parseXml, resolvePath } from "./zip.ts";

const formats = new URL("../../../../../shared/corpus/formats/", import.meta.url);
const opts = { maxPages: 100, maxTextChars: 1_000_000 };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DocumentError);
    return (err as DocumentError).code;
  }
  throw new Error("expected a failure");
}

/** Offsets of the central directory entries (signature PK\x01\x02). */
function centralEntries(zip: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= zip.length; i++) {
    if (zip[i] === 0x50 && zip[i + 1] === 0x4b && zip[i + 2] === 0x01 && zip[i + 3] === 0x02) out.push(i);
  }
  return out;
}

describe("openZip", () => {
  it("reads stored and deflated entries, and lists files but not folders", () => {
    const zip = zipSync({
      "a.txt": [strToU8("hello"), { level: 0 }],
      "dir/b.xml": strToU8(`<r>${"x".repeat(5000)}</r>`),
      "empty/": new Uint8Array(),
    });
    const archive = openZip(zip);
    expect(archive.names.sort()).toEqual(["a.txt", "dir/b.xml"]);
    expect(archive.text("a.txt")).toBe("hello");
    expect(archive.text("dir/b.xml")).toHaveLength(5007);
    expect(archive.read("missing")).toBeUndefined();
  });

  it("fails CORRUPT on a truncated archive and on bytes that are no zip", () => {
    const zip = zipSync({ "a.txt": strToU8("hello world ".repeat(100)) });
    expect(codeOf(() => openZip(zip.subarray(0, zip.length - 30)))).toBe("CORRUPT");
    expect(codeOf(() => openZip(strToU8("not a zip at all")))).toBe("CORRUPT");
    // Damaged deflate data behind an intact directory.
    const damaged = Uint8Array.from(zip);
    damaged.fill(0xff, 40, 60);
    expect(codeOf(() => openZip(damaged).read("a.txt"))).toBe("CORRUPT");
  });

  it("fails ENCRYPTED on a password-protected entry", () => {
    const zip = zipSync({ "secret.txt": strToU8("hidden") });
    const at = centralEntries(zip)[0]!;
    zip[at + 8]! |= 0x01; // general purpose flag bit 0: encrypted
    expect(codeOf(() => openZip(zip))).toBe("ENCRYPTED");
  });

  it("fails TOO_LARGE on too many entries or too many declared bytes", () => {
    const many = zipSync(
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, strToU8("x")])),
    );
    expect(codeOf(() => openZip(many, { maxEntries: 10 }))).toBe("TOO_LARGE");
    const big = zipSync({ "a.bin": new Uint8Array(200_000).fill(7) });
    expect(codeOf(() => openZip(big, { maxTotalBytes: 100_000 }))).toBe("TOO_LARGE");
    expect(openZip(big, { maxTotalBytes: 300_000 }).read("a.bin")).toHaveLength(200_000);
  });

  it("fails TOO_LARGE on a zip bomb: an entry that expands over a thousand times", () => {
    const bomb = zipSync({ "zeros.bin": new Uint8Array(8 * 1024 * 1024) });
    let message = "";
    try {
      openZip(bomb);
    } catch (err) {
      message = (err as Error).message;
      expect((err as DocumentError).code).toBe("TOO_LARGE");
    }
    expect(message).toMatch(/expands \d+ times.*zip bomb/);
  });

  it("stops inflating at the declared size when the header lies", () => {
    const bomb = zipSync({ "zeros.bin": new Uint8Array(8 * 1024 * 1024) });
    const at = centralEntries(bomb)[0]!;
    new DataView(bomb.buffer).setUint32(at + 24, 1000, true); // uncompressed size: 1000 bytes
    const archive = openZip(bomb);
    let message = "";
    try {
      archive.read("zeros.bin");
    } catch (err) {
      message = (err as Error).message;
      expect((err as DocumentError).code).toBe("TOO_LARGE");
    }
    expect(message).toContain("inflates past its declared size");
  });

  it("makes parseDocument fail TOO_LARGE, not run out of memory, on a bomb inside a DOCX", async () => {
    const docx = readFileSync(new URL("docx/lorem_ipsum.docx", formats));
    const parts = Object.fromEntries(
      openZip(docx).names.map((n) => [n, openZip(docx).read(n)!] as [string, Uint8Array]),
    );
    const bomb = zipSync({ ...parts, "word/media/zeros.bin": new Uint8Array(16 * 1024 * 1024) });
    const err = await parseDocument(Buffer.from(bomb), opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DocumentError);
    expect((err as DocumentError).code).toBe("TOO_LARGE");
    // Media is never inflated for text; a part that is read (the styles) is, so its lie is caught while
    // inflating. It goes last, so that the last central entry is the one that lies.
    const { "word/styles.xml": _styles, ...rest } = parts;
    const lying = zipSync({ ...rest, "word/styles.xml": new Uint8Array(16 * 1024 * 1024) });
    const at = centralEntries(lying).at(-1)!;
    new DataView(lying.buffer).setUint32(at + 24, 10, true);
    const err2 = await parseDocument(Buffer.from(lying), opts).catch((e: unknown) => e);
    expect((err2 as DocumentError).code).toBe("TOO_LARGE");
  });
});

describe("XML helpers", () => {
  it("decodes entities once, and never expands a DTD's", () => {
    expect(decodeEntities("a &amp;lt; b &#233;&#x2019; &lt;x&gt; &unknown;")).toBe(
      "a &lt; b é’ <x> &unknown;",
    );
    const doc = parseXml(
      '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "EXPANDED">]><r:root xmlns:r="u" r:id="1" id="2"><t>&e; &amp; x</t></r:root>',
      "test",
    );
    const root = doc.children.find((c) => typeof c !== "string");
    expect(root).toMatchObject({ name: "root", attrs: { id: "2", "r:id": "1" } });
    expect(JSON.stringify(root)).not.toContain("EXPANDED");
  });

  it("resolves relationship targets", () => {
    expect(resolvePath("ppt/slides/", "../charts/chart1.xml")).toBe("ppt/charts/chart1.xml");
    expect(resolvePath("xl/", "/xl/worksheets/sheet1.xml")).toBe("xl/worksheets/sheet1.xml");
    expect(resolvePath("", "word/document.xml")).toBe("word/document.xml");
  });
});
