import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CliError, ExitCode } from "../exit-codes.ts";
import { fingerprint } from "./fingerprints.ts";
import {
  apply,
  defaultStateDir,
  fpKey,
  type Line,
  Manifest,
  type ManifestState,
  newState,
} from "./manifest.ts";

const ENDPOINT = "http://gateway.test/graphql";
const KEY = '{"sources":["/data"]}';
const MiB = 1024 ** 2;

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "docfleet-manifest-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A registration line for file `f`. */
function reg(
  f: string,
  o: "UPLOAD" | "DUPLICATE" | "IN_BATCH" | "REJECTED",
  extra: Partial<Line> = {},
): Line {
  return {
    t: "r",
    p: `/data/${f}`,
    n: f,
    s: f.length * 100,
    m: 1_700_000_000_000 + f.length,
    h: `sha-${f}`,
    o,
    ...extra,
  } as Line;
}

const fpOf = (f: string) => fingerprint(`/data/${f}`, f.length * 100, 1_700_000_000_000 + f.length);

/** One of each kind of line. */
const LINES: Line[] = [
  { t: "run", at: "2025-01-01T00:00:00.000Z", key: KEY },
  // multipart, two parts sent
  reg("big.bin", "UPLOAD", { d: "d1" }),
  { t: "mp", d: "d1", u: "upload-1", z: 8 * MiB },
  { t: "pt", d: "d1", n: 1, e: '"etag-1"' },
  { t: "pt", d: "d1", n: 2, e: '"etag-2"' },
  // sent, not queued
  reg("sent.pdf", "UPLOAD", { d: "d2" }),
  { t: "u", d: "d2" },
  // sent and queued
  reg("queued.txt", "UPLOAD", { d: "d3" }),
  { t: "u", d: "d3" },
  { t: "q", d: ["d3"] },
  // sent, then refused by completeUploads: to send again
  reg("refused.md", "UPLOAD", { d: "d4" }),
  { t: "u", d: "d4" },
  { t: "nq", d: "d4", s: "NOT_UPLOADED" },
  reg("dup.pdf", "DUPLICATE", { d: "other" }),
  reg("again.pdf", "IN_BATCH", { d: "d0" }),
  reg("bad.exe", "REJECTED", { c: "UNSUPPORTED_TYPE", e: "no" }),
  reg("worse.exe", "REJECTED", { c: "UNSUPPORTED_TYPE" }),
  reg("odd.bin", "REJECTED"),
  { t: "w" },
  { t: "run", at: "2025-01-02T00:00:00.000Z", key: KEY },
];

async function createWith(lines: Line[], batchId = "batch-1", key = KEY, endpoint = ENDPOINT) {
  const m = await Manifest.create(dir, { batchId, endpoint, key });
  for (const line of lines) m.write(line);
  return m;
}

/** The parts of a state worth comparing, in plain values. */
function plain(s: ManifestState) {
  return {
    batchId: s.batchId,
    endpoint: s.endpoint,
    key: s.key,
    doneSize: s.done.size,
    pending: [...s.pending.values()].map((p) => ({
      ...p,
      multipart: p.multipart && { ...p.multipart, etags: [...p.multipart.etags] },
    })),
    pendingByFp: [...s.pendingByFp].sort(),
    totals: s.totals,
    walkedBefore: s.walkedBefore,
    runs: s.runs,
  };
}

async function codeOf(p: Promise<unknown>): Promise<number> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  return (err as CliError).exitCode;
}

describe("Manifest", () => {
  it("keeps its state as lines are written", async () => {
    const m = await createWith(LINES);
    const s = m.state;
    expect(s.batchId).toBe("batch-1");
    expect(s.runs).toBe(2);
    expect(s.walkedBefore).toBe(true);
    expect([...s.pending.keys()].sort()).toEqual(["d1", "d2", "d4"]);

    const d1 = s.pending.get("d1");
    expect(d1).toMatchObject({
      path: "/data/big.bin",
      name: "big.bin",
      sha256: "sha-big.bin",
      uploaded: false,
    });
    expect(d1?.multipart?.uploadId).toBe("upload-1");
    expect(d1?.multipart?.partSize).toBe(8 * MiB);
    expect([...(d1?.multipart?.etags ?? [])]).toEqual([
      [1, '"etag-1"'],
      [2, '"etag-2"'],
    ]);
    expect(s.pending.get("d2")).toMatchObject({ uploaded: true, multipart: undefined });
    // nq: the bytes must be sent again
    expect(s.pending.get("d4")?.uploaded).toBe(false);

    expect(s.pendingByFp.get(fpKey(fpOf("big.bin")))).toBe("d1");
    expect(s.pendingByFp.has(fpKey(fpOf("queued.txt")))).toBe(false);

    for (const f of ["queued.txt", "dup.pdf", "again.pdf", "bad.exe", "worse.exe", "odd.bin"])
      expect(s.done.has(fpOf(f))).toBe(true);
    for (const f of ["big.bin", "sent.pdf", "refused.md"]) expect(s.done.has(fpOf(f))).toBe(false);
    expect(s.done.size).toBe(6);

    expect(s.totals).toEqual({
      queued: 1,
      queuedBytes: "queued.txt".length * 100,
      duplicates: 1,
      inBatch: 1,
      rejected: 3,
      rejectedByCode: { UNSUPPORTED_TYPE: 2, REJECTED: 1 },
    });
    await m.close();
  });

  it("drops a pending file the gateway reports already in the batch (its `q` line lost to a crash)", async () => {
    const m = await createWith([
      reg("lost.pdf", "UPLOAD", { d: "d7" }),
      { t: "u", d: "d7" },
      reg("twin.pdf", "UPLOAD", { d: "d8" }),
      // the next run: lost.pdf's document was queued, twin.pdf's content is another file's
      reg("lost.pdf", "IN_BATCH", { d: "d7" }),
      reg("twin.pdf", "DUPLICATE", { d: "d0" }),
    ]);
    expect(m.state.pending.size).toBe(0);
    expect(m.state.pendingByFp.size).toBe(0);
    expect(m.state.done.has(fpOf("lost.pdf"))).toBe(true);
    expect(m.state.totals).toMatchObject({ inBatch: 1, duplicates: 1, queued: 0 });
    await m.close();
    expect(plain(await Manifest.read(m.path))).toEqual(plain(m.state));
  });

  it("reads back the state it wrote", async () => {
    const m = await createWith(LINES);
    await m.close();
    const lines = readFileSync(m.path, "utf8").trimEnd().split("\n");
    expect(lines).toHaveLength(LINES.length + 1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      t: "header",
      v: 1,
      batchId: "batch-1",
      endpoint: ENDPOINT,
    });

    const again = await Manifest.open(m.path);
    expect(again.path).toBe(m.path);
    expect(plain(again.state)).toEqual(plain(m.state));
    expect(again.state.badLines).toBe(0);
    await again.close();
    expect(plain(await Manifest.read(m.path))).toEqual(plain(m.state));
  });

  it("goes on where a reopened manifest left off", async () => {
    const m = await createWith(LINES);
    await m.close();
    const again = await Manifest.open(m.path);
    again.write({ t: "q", d: ["d2"] });
    await again.close();
    const s = await Manifest.read(m.path);
    expect(s.pending.has("d2")).toBe(false);
    expect(s.done.has(fpOf("sent.pdf"))).toBe(true);
    expect(s.totals.queued).toBe(2);
    expect(s.totals.queuedBytes).toBe(("queued.txt".length + "sent.pdf".length) * 100);
  });

  it("ignores and counts a last line cut short, and keeps the lines written after it", async () => {
    const m = await createWith(LINES);
    await m.close();
    appendFileSync(m.path, '{"t":"q","d":["d1"');

    const again = await Manifest.open(m.path);
    expect(again.state.badLines).toBe(1);
    expect(plain(again.state)).toEqual(plain(m.state));
    again.write({ t: "q", d: ["d2"] });
    await again.close();

    const s = await Manifest.read(m.path);
    expect(s.badLines).toBe(1);
    expect(s.pending.has("d1")).toBe(true);
    expect(s.pending.has("d2")).toBe(false);
    expect(s.totals.queued).toBe(2);
  });

  it("refuses a file that is not a manifest", async () => {
    const cases = {
      "empty.jsonl": "",
      "text.jsonl": "hello\nworld\n",
      "other.jsonl": '{"t":"run","at":"x","key":"y"}\n',
      "future.jsonl": `${JSON.stringify({ t: "header", v: 2, batchId: "b", endpoint: ENDPOINT, key: KEY })}\n`,
      "null.jsonl": "null\n",
    };
    for (const [name, text] of Object.entries(cases)) {
      writeFileSync(join(dir, name), text);
      expect(await codeOf(Manifest.open(join(dir, name))), name).toBe(ExitCode.USAGE);
    }
  });

  it("is renamed .done.jsonl when closed finished, and back when reopened", async () => {
    const m = await createWith(LINES);
    await m.close(true);
    const done = join(dir, "batch-1.done.jsonl");
    expect(existsSync(m.path)).toBe(false);
    expect(existsSync(done)).toBe(true);
    expect(plain(await Manifest.read(done))).toEqual(plain(m.state));

    const again = await Manifest.open(done);
    expect(again.path).toBe(join(dir, "batch-1.jsonl"));
    expect(existsSync(done)).toBe(false);
    expect(plain(again.state)).toEqual(plain(m.state));
    again.write({ t: "w" });
    await again.close();
    expect(existsSync(join(dir, "batch-1.jsonl"))).toBe(true);
  });

  it("writes what is buffered on close, and nothing twice", async () => {
    const m = await createWith([{ t: "w" }]);
    m.flush();
    m.write({ t: "run", at: "x", key: KEY });
    await m.close();
    await m.close();
    const lines = readFileSync(m.path, "utf8").trimEnd().split("\n");
    expect(lines.map((l) => (JSON.parse(l) as Line).t)).toEqual(["header", "w", "run"]);
  });

  it("finds a batch's manifest, finished or not", async () => {
    const m = await createWith([]);
    expect(await Manifest.find(dir, "batch-1")).toBe(join(dir, "batch-1.jsonl"));
    await m.close(true);
    expect(await Manifest.find(dir, "batch-1")).toBe(join(dir, "batch-1.done.jsonl"));
    expect(await Manifest.find(dir, "batch-2")).toBeNull();
    expect(await Manifest.find(join(dir, "nowhere"), "batch-1")).toBeNull();
  });

  describe("findResumable", () => {
    /** Creates and closes a manifest with the given mtime (seconds since the epoch). */
    async function made(batchId: string, mtime: number, finished = false, key = KEY, endpoint = ENDPOINT) {
      const m = await createWith([], batchId, key, endpoint);
      await m.close(finished);
      const path = join(dir, finished ? `${batchId}.done.jsonl` : `${batchId}.jsonl`);
      utimesSync(path, mtime, mtime);
      return path;
    }

    it("picks the newest manifest of the same endpoint and sources", async () => {
      const older = await made("older", 1_000);
      const newer = await made("newer", 2_000, true);
      await made("other-key", 3_000, false, '{"sources":["/elsewhere"]}');
      await made("other-endpoint", 3_000, false, KEY, "http://other.test/graphql");
      writeFileSync(join(dir, "junk.jsonl"), "not json\n");
      writeFileSync(join(dir, "empty.jsonl"), "");
      writeFileSync(
        join(dir, "notes.txt"),
        JSON.stringify({ t: "header", v: 1, endpoint: ENDPOINT, key: KEY }),
      );
      utimesSync(join(dir, "notes.txt"), 4_000, 4_000);

      expect(await Manifest.findResumable(dir, ENDPOINT, KEY)).toBe(newer);
      utimesSync(older, 2_500, 2_500);
      expect(await Manifest.findResumable(dir, ENDPOINT, KEY)).toBe(older);
    });

    it("answers null when nothing matches or the folder does not exist", async () => {
      await made("a", 1_000, false, '{"sources":["/elsewhere"]}');
      expect(await Manifest.findResumable(dir, ENDPOINT, KEY)).toBeNull();
      expect(await Manifest.findResumable(join(dir, "nowhere"), ENDPOINT, KEY)).toBeNull();
    });

    it("recognises a manifest whose header is long (many sources)", async () => {
      const key = JSON.stringify({
        sources: Array.from({ length: 500 }, (_, i) => `/data/folder/file-${i}.pdf`),
      });
      expect(key.length).toBeGreaterThan(8192);
      const path = await made("long", 1_000, false, key);
      expect(await Manifest.findResumable(dir, ENDPOINT, key)).toBe(path);
    });
  });
});

describe("apply", () => {
  it("moves a pending file to done when it is queued, counting its bytes", () => {
    const s = newState("b", ENDPOINT, KEY);
    apply(s, reg("a.pdf", "UPLOAD", { d: "d1" }));
    apply(s, reg("bb.pdf", "UPLOAD", { d: "d2" }));
    apply(s, { t: "u", d: "d1" });
    apply(s, { t: "u", d: "d2" });
    apply(s, { t: "q", d: ["d1", "d2", "unknown"] });
    expect(s.pending.size).toBe(0);
    expect(s.pendingByFp.size).toBe(0);
    expect(s.done.has(fpOf("a.pdf")) && s.done.has(fpOf("bb.pdf"))).toBe(true);
    expect(s.totals.queued).toBe(2);
    expect(s.totals.queuedBytes).toBe(("a.pdf".length + "bb.pdf".length) * 100);
    // Queued twice (a rerun of the same step) counts once.
    apply(s, { t: "q", d: ["d1"] });
    expect(s.totals.queued).toBe(2);
  });

  it("makes a refused file not uploaded and forgets its parts", () => {
    const s = newState("b", ENDPOINT, KEY);
    apply(s, reg("a.pdf", "UPLOAD", { d: "d1" }));
    apply(s, { t: "mp", d: "d1", u: "u1", z: 5 * MiB });
    apply(s, { t: "pt", d: "d1", n: 1, e: "e1" });
    apply(s, { t: "nq", d: "d1", s: "SIZE_MISMATCH" });
    expect(s.pending.get("d1")).toMatchObject({ uploaded: false, multipart: undefined });
    apply(s, { t: "u", d: "d1" });
    apply(s, { t: "nq", d: "d1", s: "NOT_UPLOADED" });
    expect(s.pending.get("d1")?.uploaded).toBe(false);
    expect(s.done.size).toBe(0);
  });

  it("keeps a file's upload progress when it is registered again", () => {
    const s = newState("b", ENDPOINT, KEY);
    apply(s, reg("a.pdf", "UPLOAD", { d: "d1" }));
    apply(s, { t: "u", d: "d1" });
    apply(s, reg("a.pdf", "UPLOAD", { d: "d1" }));
    expect(s.pending.get("d1")?.uploaded).toBe(true);
  });
});

describe("defaultStateDir", () => {
  it("honours DOCFLEET_STATE_DIR first, then XDG_STATE_HOME, then ~/.local/state", () => {
    expect(defaultStateDir({ DOCFLEET_STATE_DIR: "/s", XDG_STATE_HOME: "/x" })).toBe("/s");
    expect(defaultStateDir({ XDG_STATE_HOME: "/x" })).toBe(join("/x", "docfleet"));
    expect(defaultStateDir({ XDG_STATE_HOME: "" })).toBe(join(homedir(), ".local", "state", "docfleet"));
    expect(defaultStateDir({})).toBe(join(homedir(), ".local", "state", "docfleet"));
  });
});
