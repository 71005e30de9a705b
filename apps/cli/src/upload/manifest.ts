import { closeSync, createReadStream, fsyncSync, openSync, writeSync } from "node:fs";
import { mkdir, open, readdir, rename, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { CliError, ExitCode } from "../exit-codes.ts";
import { type Fingerprint, FingerprintSet, fingerprint } from "./fingerprints.ts";

/**
 * The local record of one batch's upload: an append-only JSON-lines file, one line per step that
 * succeeded (registered, part sent, object sent, queued). It is written after each step, so it may lag
 * what happened but never runs ahead of it; a rerun redoes what it lacks, and the gateway's dedupe by
 * sha256 makes a redone step land on the same document. A line cut short by a crash is ignored.
 */
export type Line =
  | { t: "header"; v: 1; batchId: string; endpoint: string; key: string; createdAt: string }
  | { t: "run"; at: string; key: string }
  /** Registered with requestUploads; UPLOAD stays pending until queued. */
  | {
      t: "r";
      p: string;
      n: string;
      s: number;
      m: number;
      h: string;
      o: RequestOutcome;
      d?: string;
      c?: string;
      e?: string;
    }
  | { t: "mp"; d: string; u: string; z: number }
  | { t: "pt"; d: string; n: number; e: string }
  | { t: "u"; d: string }
  | { t: "q"; d: string[] }
  /** completeUploads refused it (not uploaded, size mismatch): the bytes must be sent again. */
  | { t: "nq"; d: string; s: string; e?: string }
  | { t: "w" };

export type RequestOutcome = "UPLOAD" | "DUPLICATE" | "IN_BATCH" | "REJECTED";

/** A file registered with the gateway whose document is not queued yet. */
export interface PendingFile {
  documentId: string;
  path: string;
  name: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  /** The bytes are in the object store (single POST done, or multipart completed). */
  uploaded: boolean;
  multipart?: { uploadId: string; partSize: number; etags: Map<number, string> };
}

/** Outcomes over every run of the batch. */
export interface ManifestTotals {
  /** Files whose document is queued (uploaded in some run). */
  queued: number;
  queuedBytes: number;
  /** Content the tenant held already in another batch. */
  duplicates: number;
  /** Found already in this batch (a rerun without the manifest's record of it). */
  inBatch: number;
  rejected: number;
  rejectedByCode: Record<string, number>;
}

export interface ManifestState {
  batchId: string;
  endpoint: string;
  key: string;
  /** Fingerprints of files with a final outcome: a rerun does not read them again. */
  done: FingerprintSet;
  pending: Map<string, PendingFile>;
  /** Pending document by fingerprint key, to pick the file up again when the walk reaches it. */
  pendingByFp: Map<string, string>;
  totals: ManifestTotals;
  /** Earlier runs that walked every source to the end. */
  walkedBefore: boolean;
  runs: number;
  /** Lines that could not be read (a write cut short by a crash). */
  badLines: number;
}

const FLUSH_MS = 100;

export function fpKey(fp: Fingerprint): string {
  return `${fp[0]}:${fp[1]}`;
}

/** `$DOCFLEET_STATE_DIR`, else `$XDG_STATE_HOME/docfleet`, else `~/.local/state/docfleet`. */
export function defaultStateDir(env = process.env): string {
  if (env.DOCFLEET_STATE_DIR) return env.DOCFLEET_STATE_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), ".local", "state"), "docfleet");
}

export function newState(batchId: string, endpoint: string, key: string): ManifestState {
  return {
    batchId,
    endpoint,
    key,
    done: new FingerprintSet(),
    pending: new Map(),
    pendingByFp: new Map(),
    totals: { queued: 0, queuedBytes: 0, duplicates: 0, inBatch: 0, rejected: 0, rejectedByCode: {} },
    walkedBefore: false,
    runs: 0,
    badLines: 0,
  };
}

/** Applies one line to the state: the same code reads a manifest back and keeps a live run's state. */
export function apply(state: ManifestState, line: Line): void {
  switch (line.t) {
    case "header":
      return;
    case "run":
      state.runs++;
      return;
    case "w":
      state.walkedBefore = true;
      return;
    case "r": {
      const fp = fingerprint(line.p, line.s, line.m);
      if (line.o === "UPLOAD" && line.d) {
        const before = state.pending.get(line.d);
        state.pending.set(line.d, {
          documentId: line.d,
          path: line.p,
          name: line.n,
          size: line.s,
          mtimeMs: line.m,
          sha256: line.h,
          uploaded: before?.uploaded ?? false,
          multipart: before?.multipart,
        });
        state.pendingByFp.set(fpKey(fp), line.d);
        return;
      }
      state.done.add(fp);
      // A file an earlier run registered (pending) whose document the gateway now reports held: the run
      // that queued it was killed before its `q` line reached the file. It is done, not pending.
      const key = fpKey(fp);
      const pendingId = state.pendingByFp.get(key);
      if (pendingId !== undefined) {
        state.pendingByFp.delete(key);
        if (state.pending.get(pendingId)?.path === line.p) state.pending.delete(pendingId);
      }
      if (line.o === "DUPLICATE") state.totals.duplicates++;
      else if (line.o === "IN_BATCH") state.totals.inBatch++;
      else {
        state.totals.rejected++;
        const code = line.c ?? "REJECTED";
        state.totals.rejectedByCode[code] = (state.totals.rejectedByCode[code] ?? 0) + 1;
      }
      return;
    }
    case "mp": {
      const p = state.pending.get(line.d);
      if (p) p.multipart = { uploadId: line.u, partSize: line.z, etags: new Map() };
      return;
    }
    case "pt": {
      state.pending.get(line.d)?.multipart?.etags.set(line.n, line.e);
      return;
    }
    case "u": {
      const p = state.pending.get(line.d);
      if (p) {
        p.uploaded = true;
        p.multipart = undefined;
      }
      return;
    }
    case "nq": {
      const p = state.pending.get(line.d);
      if (p) {
        p.uploaded = false;
        p.multipart = undefined;
      }
      return;
    }
    case "q":
      for (const id of line.d) {
        const p = state.pending.get(id);
        if (!p) continue;
        state.pending.delete(id);
        const fp = fingerprint(p.path, p.size, p.mtimeMs);
        state.pendingByFp.delete(fpKey(fp));
        state.done.add(fp);
        state.totals.queued++;
        state.totals.queuedBytes += p.size;
      }
      return;
  }
}

/** An open manifest: the state, kept current by `write`, and the file it is appended to. */
export class Manifest {
  private buffer: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private fd: number | null;

  private constructor(
    readonly path: string,
    readonly state: ManifestState,
  ) {
    this.fd = openSync(path, "a");
  }

  /** Creates the manifest of a new batch. */
  static async create(
    dir: string,
    header: { batchId: string; endpoint: string; key: string },
  ): Promise<Manifest> {
    await mkdir(dir, { recursive: true });
    const m = new Manifest(
      join(dir, `${header.batchId}.jsonl`),
      newState(header.batchId, header.endpoint, header.key),
    );
    m.write({ t: "header", v: 1, ...header, createdAt: new Date().toISOString() });
    m.flush();
    return m;
  }

  /** Reads a manifest back (a finished one is reopened as unfinished: this run may add to it). */
  static async open(path: string): Promise<Manifest> {
    let target = path;
    if (path.endsWith(".done.jsonl")) {
      target = path.replace(/\.done\.jsonl$/, ".jsonl");
      await rename(path, target);
    }
    const state = await readManifest(target);
    const m = new Manifest(target, state);
    // A line a crash cut short must end before this run appends, or its first line would be lost with it.
    if (!(await endsWithNewline(target))) writeSync(m.fd!, "\n");
    return m;
  }

  /** A manifest's state, read only (dry run). */
  static read(path: string): Promise<ManifestState> {
    return readManifest(path);
  }

  /** The manifest of `batchId` under `dir`, finished or not, or null. */
  static async find(dir: string, batchId: string): Promise<string | null> {
    for (const name of [`${batchId}.jsonl`, `${batchId}.done.jsonl`]) {
      const p = join(dir, name);
      if (await stat(p).catch(() => null)) return p;
    }
    return null;
  }

  /**
   * The newest manifest for the same gateway and the same sources, finished or not: rerunning a command
   * goes on with its batch (adding what is new), unless asked for a new batch.
   */
  static async findResumable(dir: string, endpoint: string, key: string): Promise<string | null> {
    const names = await readdir(dir).catch(() => [] as string[]);
    let best: { path: string; mtime: number } | null = null;
    for (const name of names) {
      if (!name.endsWith(".jsonl")) continue;
      const path = join(dir, name);
      const header = await readHeader(path).catch(() => null);
      if (!header || header.endpoint !== endpoint || header.key !== key) continue;
      const mtime = (await stat(path)).mtimeMs;
      if (!best || mtime > best.mtime) best = { path, mtime };
    }
    return best?.path ?? null;
  }

  /** Records a step (after it happened) and applies it to the state. */
  write(line: Line): void {
    apply(this.state, line);
    this.buffer.push(JSON.stringify(line));
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Writes buffered lines to the file now (synchronous, so a signal handler can call it). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buffer.length === 0 || this.fd === null) return;
    const text = `${this.buffer.join("\n")}\n`;
    this.buffer = [];
    writeSync(this.fd, text);
  }

  /** Flushes, syncs to disk and closes; `finished` renames it `<batch>.done.jsonl`. */
  async close(finished = false): Promise<void> {
    this.flush();
    if (this.fd === null) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
    if (finished) await rename(this.path, this.path.replace(/\.jsonl$/, ".done.jsonl"));
  }
}

async function readHeader(path: string): Promise<Extract<Line, { t: "header" }> | null> {
  const fh = await open(path, "r");
  try {
    // The header holds the sources' key, which is long when a shell expanded a glob into many files.
    const chunks: Buffer[] = [];
    for (let pos = 0; ; ) {
      const buf = Buffer.alloc(8192);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
      chunks.push(buf.subarray(0, nl >= 0 ? nl : bytesRead));
      if (nl >= 0 || bytesRead === 0) break;
      pos += bytesRead;
    }
    const line = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Line | null;
    return line?.t === "header" ? line : null;
  } finally {
    await fh.close();
  }
}

async function endsWithNewline(path: string): Promise<boolean> {
  const fh = await open(path, "r");
  try {
    const { size } = await fh.stat();
    if (size === 0) return true;
    const { buffer } = await fh.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0] === 0x0a;
  } finally {
    await fh.close();
  }
}

async function readManifest(path: string): Promise<ManifestState> {
  const rl = createInterface({ input: createReadStream(path, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
  let state: ManifestState | null = null;
  let bad = 0;
  for await (const text of rl) {
    if (!text.trim()) continue;
    let line: Line;
    try {
      line = JSON.parse(text) as Line;
    } catch {
      bad++;
      continue;
    }
    if (typeof line !== "object" || line === null) {
      bad++;
      continue;
    }
    if (!state) {
      if (line.t !== "header" || line.v !== 1)
        throw new CliError(
          `${path} is not a docfleet upload manifest (move it away to start the batch afresh)`,
          ExitCode.USAGE,
        );
      state = newState(line.batchId, line.endpoint, line.key);
      continue;
    }
    apply(state, line);
  }
  if (!state) throw new CliError(`${path} is empty: not a docfleet upload manifest`, ExitCode.USAGE);
  state.badLines = bad;
  return state;
}
