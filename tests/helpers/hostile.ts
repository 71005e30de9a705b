import { readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { constants, crc32, deflateRawSync, deflateSync } from "node:zlib";
import { createCanvas } from "@napi-rs/canvas";
import { CORPUS } from "./cli.ts";
import { mulberry32 } from "./random.ts";

/*
 * A hostile-input corpus, generated (nothing of it is checked in): files built to hurt a document
 * parser (bombs, lies about size or type, deep nesting, bad encodings, names that are paths) mixed with
 * ordinary files, each with what docfleet must make of it.
 */

/** What must become of a file. */
export type Expectation =
  /** requestUploads refuses it (no target: not a byte is sent). */
  | { at: "request"; code: string }
  /** Uploaded, then fails with exactly this code (and a message matching `message`, when given). */
  | { at: "pipeline"; status: "FAILED"; code: string; message?: RegExp }
  /** Uploaded and read as what its bytes are (whatever its name says). */
  | { at: "pipeline"; status: "COMPLETED"; detectedType: string; text: RegExp };

export interface CorpusFile {
  /** The name sent to requestUploads (may be hostile itself). */
  name: string;
  /** Why it is in the corpus. */
  why: string;
  expect: Expectation;
  /** The content, or `path` + `size` for a file too large to hold (never read whole). */
  bytes?: Buffer;
  path?: string;
  size: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Builds the corpus; the large sparse file is written into `dir` (it takes no disk space). */
export async function hostileCorpus(dir: string): Promise<CorpusFile[]> {
  const sparse = join(dir, "sparse-1g.bin");
  await writeFile(sparse, "");
  await truncate(sparse, GiB);
  const random = seededBytes(7);
  const files: Omit<CorpusFile, "size">[] = [
    // Refused at requestUploads.
    {
      name: "../../etc/passwd",
      why: "path traversal (POSIX)",
      expect: { at: "request", code: "INVALID_NAME" },
      bytes: Buffer.from("root:x:0:0:root:/root:/bin/sh\n"),
    },
    {
      name: "/etc/shadow",
      why: "absolute path",
      expect: { at: "request", code: "INVALID_NAME" },
      bytes: Buffer.from("root:*:19000:0:99999:7:::\n"),
    },
    {
      name: "..\\..\\boot.ini",
      why: "path traversal (Windows)",
      expect: { at: "request", code: "INVALID_NAME" },
      bytes: Buffer.from("[boot loader]\r\ntimeout=30\r\n"),
    },
    {
      name: "report\u0000.pdf.exe",
      why: "NUL in the name (PostgreSQL text cannot hold it)",
      expect: { at: "request", code: "INVALID_NAME" },
      bytes: Buffer.from("nul in the name"),
    },
    {
      name: "broken-\ud800-name.txt",
      why: "a lone surrogate: a name that was not valid UTF-8",
      expect: { at: "request", code: "INVALID_NAME" },
      bytes: Buffer.from("lone surrogate in the name"),
    },
    {
      name: "sparse-1g.bin",
      why: "1 GiB sparse file, over DOCFLEET_MAX_UPLOAD_BYTES (512 MiB)",
      expect: { at: "request", code: "TOO_LARGE" },
      path: sparse,
    },
    // Uploaded, then failed with a code.
    {
      name: "zip-bomb.docx",
      why: "DOCX whose word/document.xml declares and inflates to 1 GiB of zeros (~1 MB compressed)",
      expect: { at: "pipeline", status: "FAILED", code: "TOO_LARGE" },
      bytes: zipBombDocx({ inflated: GiB }),
    },
    {
      name: "zip-bomb-lying.docx",
      why: "the same bomb, its central directory claiming 900 KB: caught while inflating",
      expect: { at: "pipeline", status: "FAILED", code: "TOO_LARGE" },
      bytes: zipBombDocx({ inflated: GiB, declared: 900_000 }),
    },
    {
      name: "zip-bomb-nul-name.docx",
      why: "the bomb under an entry name holding NUL, which the error message quotes",
      expect: { at: "pipeline", status: "FAILED", code: "TOO_LARGE" },
      bytes: zipBombDocx({ inflated: 64 * MiB, entry: "word/\u0000bomb.xml" }),
    },
    {
      name: "heap-bomb.docx",
      why: "within the zip caps (64 MiB of XML, ratio ~20), but millions of paragraphs: past the parse thread's heap",
      expect: {
        at: "pipeline",
        status: "FAILED",
        code: "TOO_LARGE",
        message: /memory limit of a parse thread/,
      },
      bytes: heapBombDocx(64 * MiB),
    },
    {
      name: "pixel-bomb.png",
      why: "a PNG of a few hundred bytes whose header claims 50,000 × 50,000 pixels",
      expect: { at: "pipeline", status: "FAILED", code: "TOO_LARGE" },
      bytes: pixelBombPng(50_000, 50_000),
    },
    {
      name: "deep-nesting.pdf",
      why: "a PDF whose page dictionary nests 200,000 arrays and dictionaries",
      expect: { at: "pipeline", status: "FAILED", code: "CORRUPT" },
      bytes: deeplyNestedPdf(200_000),
    },
    {
      name: "zero-bytes.pdf",
      why: "an empty file",
      expect: { at: "pipeline", status: "FAILED", code: "EMPTY" },
      bytes: Buffer.alloc(0),
    },
    {
      name: "program.pdf",
      why: "an ELF executable named .pdf",
      expect: { at: "pipeline", status: "FAILED", code: "UNSUPPORTED_TYPE" },
      bytes: elfBinary(random),
    },
    {
      name: "noise.txt",
      why: "random binary named .txt (neither UTF-8 nor text in any encoding)",
      expect: { at: "pipeline", status: "FAILED", code: "UNSUPPORTED_TYPE" },
      bytes: noise(random, 64 * 1024),
    },
    // Hostile on the outside, ordinary inside: read as what the bytes are.
    {
      name: "latin1.txt",
      why: "invalid UTF-8 (ISO-8859-1 bytes, an overlong '/'): decoded as Windows-1252",
      expect: {
        at: "pipeline",
        status: "COMPLETED",
        detectedType: "txt",
        text: /Café crème, déjà vu: Ærøskøbing/,
      },
      bytes: Buffer.concat([
        Buffer.from("Café crème, déjà vu: Ærøskøbing. Overlong slash: ", "latin1"),
        Buffer.from([0xc0, 0xaf, 0x2e, 0x2e, 0xc0, 0xaf]),
        Buffer.from("\n", "latin1"),
      ]),
    },
    {
      name: "utf16-nul.txt",
      why: "UTF-16 text (BOM) holding NUL characters and an unpaired surrogate, which PostgreSQL cannot store",
      expect: {
        at: "pipeline",
        status: "COMPLETED",
        detectedType: "txt",
        text: /Meeting minutes\s?of March/,
      },
      bytes: Buffer.concat([
        Buffer.from([0xff, 0xfe]),
        Buffer.from(
          `Meeting minutes\u0000 of March. ${"Attendees agreed on the budget. ".repeat(20)}`,
          "utf16le",
        ),
        Buffer.from([0x00, 0xd8]),
        Buffer.from(" End of minutes.\n", "utf16le"),
      ]),
    },
    {
      name: "photo.docx",
      why: "a real PNG named .docx: processed as the PNG it is (OCR)",
      expect: { at: "pipeline", status: "COMPLETED", detectedType: "png", text: /HOSTILE/i },
      bytes: textPng(["HOSTILE CORPUS", "PNG NAMED DOCX"]),
    },
    // Ordinary files of the same batch.
    {
      name: "good/notes.txt",
      why: "plain text",
      expect: { at: "pipeline", status: "COMPLETED", detectedType: "txt", text: /quarterly review/ },
      bytes: Buffer.from("Notes from the quarterly review.\nRevenue grew; costs fell.\n"),
    },
    {
      name: "good/readme ünïcödé.md",
      why: "markdown, a unicode name with spaces",
      expect: { at: "pipeline", status: "COMPLETED", detectedType: "md", text: /Installation/ },
      bytes: Buffer.from("# Readme\n\n## Installation\n\nRun `make` and then [docs](https://example.com).\n"),
    },
    {
      name: "good/prices.csv",
      why: "CSV",
      expect: { at: "pipeline", status: "COMPLETED", detectedType: "csv", text: /widget/ },
      bytes: Buffer.from("item,price,qty\nwidget,4.50,10\ngadget,12.00,3\nsprocket,0.75,100\n"),
    },
    {
      name: "good/paper.pdf",
      why: "a real PDF (shared corpus)",
      expect: { at: "pipeline", status: "COMPLETED", detectedType: "pdf", text: /\w{4,}/ },
      bytes: await readFile(join(CORPUS, "formats/pdf/2305.03393v1-pg9.pdf")),
    },
  ];
  return files.map((f) => ({ ...f, size: f.bytes?.length ?? GiB }));
}

/** Deterministic bytes, so that a failure reproduces. */
function seededBytes(seed: number): (n: number) => Buffer {
  const next = mulberry32(seed);
  return (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
}

/** An ELF header (x86-64 executable) and random code: `file-type` names it `elf`. */
function elfBinary(random: (n: number) => Buffer): Buffer {
  const header = Buffer.alloc(64);
  header.write("\x7fELF", 0, "latin1");
  header[4] = 2; // 64-bit
  header[5] = 1; // little-endian
  header[6] = 1; // version
  header.writeUInt16LE(2, 16); // executable
  header.writeUInt16LE(0x3e, 18); // x86-64
  header.writeUInt32LE(1, 20);
  return Buffer.concat([header, random(16 * 1024)]);
}

/** Random bytes without NUL, so that only the share of control characters tells them from text. */
function noise(random: (n: number) => Buffer, n: number): Buffer {
  const bytes = random(n);
  for (let i = 0; i < n; i++) if (bytes[i] === 0) bytes[i] = 1;
  return bytes;
}

/** Black text on white, as a PNG. */
function textPng(lines: string[]): Buffer {
  const canvas = createCanvas(900, 60 + lines.length * 70);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000000";
  ctx.font = "48px sans-serif";
  ctx.textBaseline = "top";
  for (const [i, line] of lines.entries()) ctx.fillText(line, 40, 30 + i * 70);
  return canvas.toBuffer("image/png");
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/**
 * A valid PNG header (correct CRCs) claiming `width` × `height` RGB pixels, with the first rows of
 * image data only: decoding would need width × height × 3 bytes.
 */
export function pixelBombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", ihdr),
    // Two rows of filter byte 0 + black pixels.
    pngChunk("IDAT", deflateSync(Buffer.alloc(2 * (1 + width * 3)))),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

interface ZipInput {
  name: string;
  /** Raw deflate data (method 8). */
  deflated: Buffer;
  crc: number;
  size: number;
}

/**
 * A zip archive written by hand, so that the central directory may lie: each entry's `size` is what
 * its headers declare, whatever its data inflates to.
 */
function zipArchive(entries: ZipInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x800, 6); // UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(e.crc >>> 0, 14);
    local.writeUInt32LE(e.deflated.length, 18);
    local.writeUInt32LE(e.size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(e.crc >>> 0, 16);
    central.writeUInt32LE(e.deflated.length, 20);
    central.writeUInt32LE(e.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, e.deflated);
    centrals.push(central, name);
    offset += local.length + name.length + e.deflated.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

function xmlEntry(name: string, text: string): ZipInput {
  const data = Buffer.from(text, "utf8");
  return { name, deflated: deflateRawSync(data), crc: crc32(data), size: data.length };
}

/**
 * One raw deflate stream of `chunks`, each compressed on its own and ended by a sync flush (byte-aligned,
 * not final) so that they concatenate; a final empty block closes the stream. Never the whole content in
 * memory.
 */
function deflateChunks(chunks: Iterable<Buffer>): { deflated: Buffer; crc: number; size: number } {
  const blocks: Buffer[] = [];
  let crc = 0;
  let size = 0;
  let last: [Buffer, Buffer] | undefined;
  for (const chunk of chunks) {
    // The same chunk again (zeros) compresses the same: reuse it.
    const block =
      last?.[0] === chunk
        ? last[1]
        : deflateRawSync(chunk, { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
    last = [chunk, block];
    blocks.push(block);
    crc = crc32(chunk, crc);
    size += chunk.length;
  }
  blocks.push(deflateRawSync(Buffer.alloc(0)));
  return { deflated: Buffer.concat(blocks), crc, size };
}

/** `n` zero bytes (a multiple of 1 MiB): about 1 KB of deflate per MiB. */
function deflatedZeros(n: number): { deflated: Buffer; crc: number } {
  const zeros = Buffer.alloc(MiB);
  return deflateChunks(Array.from({ length: Math.ceil(n / MiB) }, () => zeros));
}

const CONTENT_TYPES = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`;
const PACKAGE_RELS = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`;

/**
 * A DOCX that looks valid (content types, package relationships, word/document.xml) whose
 * word/document.xml (or `entry`) inflates to `inflated` zero bytes; its headers declare `declared`
 * (default: the truth).
 */
export function zipBombDocx(opts: { inflated: number; declared?: number; entry?: string }): Buffer {
  const { deflated, crc } = deflatedZeros(opts.inflated);
  // A zip32 size field holds at most 4 GiB - 1.
  const size = Math.min(opts.declared ?? opts.inflated, 2 ** 32 - 1);
  return zipArchive([
    xmlEntry("[Content_Types].xml", CONTENT_TYPES),
    xmlEntry("_rels/.rels", PACKAGE_RELS),
    { name: opts.entry ?? "word/document.xml", deflated, crc, size },
  ]);
}

const WORD_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const WORDS =
  "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike oscar papa".split(" ");

/**
 * A DOCX within every zip cap (no entry over the ratio limit, less than the total) whose
 * word/document.xml is about `xmlBytes` of one- and two-word paragraphs: millions of XML nodes, more than
 * a parse thread's heap holds.
 */
export function heapBombDocx(xmlBytes: number): Buffer {
  const next = mulberry32(11);
  const word = () => WORDS[Math.floor(next() * WORDS.length)]!;
  function* xml(): Generator<Buffer> {
    yield Buffer.from(
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="${WORD_NS}"><w:body>`,
    );
    for (let written = 0; written < xmlBytes; ) {
      let s = "";
      while (s.length < MiB) s += `<w:p><w:r><w:t>${word()} ${word()}</w:t></w:r></w:p>`;
      written += s.length;
      yield Buffer.from(s);
    }
    yield Buffer.from("</w:body></w:document>");
  }
  const { deflated, crc, size } = deflateChunks(xml());
  return zipArchive([
    xmlEntry("[Content_Types].xml", CONTENT_TYPES),
    xmlEntry("_rels/.rels", PACKAGE_RELS),
    { name: "word/document.xml", deflated, crc, size },
  ]);
}

/**
 * A one-page PDF with a text layer whose page dictionary also holds `depth` levels of arrays and
 * dictionaries nested in each other (`[<</A [<</A ...`): a recursive-descent parser runs out of stack.
 * Cross-reference offsets are exact, so nothing but the nesting is wrong.
 */
export function deeplyNestedPdf(depth: number): Buffer {
  const open = "[<</A ".repeat(Math.ceil(depth / 2));
  const close = ">>]".repeat(Math.ceil(depth / 2));
  const content = "BT /F1 24 Tf 72 700 Td (nested too deep) Tj ET";
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> /Nest ${open}${close} >>`,
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
  ];
  let pdf = "%PDF-1.7\n";
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(pdf.length);
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = pdf.length;
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) pdf += `${String(o).padStart(10, "0")} 00000 n \n`;
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(pdf, "latin1");
}
