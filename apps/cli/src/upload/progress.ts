/** What the upload has got through so far; the progress view reads it, the upload writes it. */
export interface ProgressCounts {
  /** Files dealt with this run (sent, skipped, duplicate, rejected, unreadable, failed). */
  files: number;
  bytes: number;
  /** Totals from the counting walk, null until it has finished. */
  totalFiles: number | null;
  totalBytes: number | null;
  /** Files found by the counting walk so far. */
  countedFiles: number;
  /** Set while a retry is waiting, cleared on the next success. */
  note: string | null;
}

/** Counts at the start of a run. */
export function newProgressCounts(): ProgressCounts {
  return { files: 0, bytes: 0, totalFiles: null, totalBytes: null, countedFiles: 0, note: null };
}

export interface ProgressView {
  start(): void;
  /** Clears the view (final: the last line stays). */
  stop(): void;
}

const WINDOW_MS = 5_000;

/**
 * One line on a terminal, redrawn in place: a bar, files and bytes done of the total, files/s and
 * MB/s over the last 5 s, and the ETA. Elsewhere (a log, CI) a plain line every `everyMs`.
 */
export function progressView(
  counts: ProgressCounts,
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
  opts: { tty?: boolean; everyMs?: number } = {},
): ProgressView {
  const tty = opts.tty ?? out.isTTY === true;
  const every = opts.everyMs ?? (tty ? 200 : 10_000);
  const samples: { t: number; files: number; bytes: number }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const started = Date.now();

  const draw = () => {
    const now = Date.now();
    samples.push({ t: now, files: counts.files, bytes: counts.bytes });
    while (samples.length > 2 && now - samples[0]!.t > WINDOW_MS) samples.shift();
    const first = samples[0]!;
    const dt = (now - first.t) / 1000;
    const fps = dt > 0 ? (counts.files - first.files) / dt : 0;
    const bps = dt > 0 ? (counts.bytes - first.bytes) / dt : 0;
    const line = formatProgress(counts, fps, bps, (now - started) / 1000);
    if (tty) {
      const width = Math.max(40, (out.columns ?? 100) - 1);
      out.write(`\r${line.slice(0, width).padEnd(width)}`);
    } else {
      out.write(`${line}\n`);
    }
  };

  return {
    start() {
      timer = setInterval(draw, every);
      timer.unref();
      if (tty) draw();
    },
    stop() {
      clearInterval(timer);
      if (tty) {
        draw();
        out.write("\n");
      }
    },
  };
}

export function formatProgress(c: ProgressCounts, fps: number, bps: number, elapsedS: number): string {
  const totalF = c.totalFiles;
  // A count that found no files is finished, not still counting.
  const frac = totalF === null ? null : totalF === 0 ? 1 : Math.min(1, c.files / totalF);
  const bar = frac === null ? "[counting files...        ]" : barOf(frac, 26);
  const of = totalF === null ? `${num(c.files)}/${num(c.countedFiles)}+` : `${num(c.files)}/${num(totalF)}`;
  const pct = frac === null ? "" : ` ${Math.floor(frac * 100)}%`;
  const bytes = c.totalBytes === null ? bytesStr(c.bytes) : `${bytesStr(c.bytes)}/${bytesStr(c.totalBytes)}`;
  let eta = "";
  if (totalF !== null && c.totalBytes !== null) {
    const byFiles = fps > 0 ? (totalF - c.files) / fps : Number.POSITIVE_INFINITY;
    const byBytes = bps > 0 ? (c.totalBytes - c.bytes) / bps : 0;
    const left = Math.max(byFiles, byBytes);
    eta = Number.isFinite(left) ? ` ETA ${duration(left)}` : " ETA --";
  }
  const note = c.note ? ` (${c.note})` : "";
  return `${bar}${pct} ${of} files ${bytes} ${fps.toFixed(0)} files/s ${bytesStr(bps)}/s${eta} ${duration(elapsedS)} elapsed${note}`;
}

function barOf(frac: number, width: number): string {
  const filled = Math.round(frac * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

export function num(n: number): string {
  return n.toLocaleString("en-US");
}

export function bytesStr(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = n;
  let u = 0;
  // On the value as shown, so 999,960 B reads 1.0 MB rather than 1000.0 KB.
  while (Number(v.toFixed(u === 0 ? 0 : 1)) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

export function duration(s: number): string {
  const t = Math.round(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, "0")}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, "0")}m`;
}
