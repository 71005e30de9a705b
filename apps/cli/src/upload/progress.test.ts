import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { bytesStr, duration, formatProgress, type ProgressCounts, progressView } from "./progress.ts";

function counts(c: Partial<ProgressCounts> = {}): ProgressCounts {
  return { files: 0, bytes: 0, totalFiles: null, totalBytes: null, countedFiles: 0, note: null, ...c };
}

describe("formatProgress", () => {
  it("shows the count so far while the counting walk runs, with no percentage or ETA", () => {
    const line = formatProgress(counts({ files: 5, bytes: 2_500, countedFiles: 1_234 }), 3, 1_000, 7);
    expect(line).toContain("[counting files...");
    expect(line).toContain(" 5/1,234+ files ");
    expect(line).toContain(" 2.5 KB ");
    expect(line).toContain(" 3 files/s 1.0 KB/s ");
    expect(line).toContain(" 7s elapsed");
    expect(line).not.toContain("%");
    expect(line).not.toContain("ETA");
  });

  it("shows the bar, the percentage and the totals once they are known", () => {
    const c = counts({
      files: 50,
      bytes: 1_000_000,
      totalFiles: 200,
      totalBytes: 4_000_000,
      countedFiles: 200,
    });
    const line = formatProgress(c, 10, 100_000, 65);
    expect(line).toMatch(/^\[#{7}-{19}\] 25% 50\/200 files 1\.0 MB\/4\.0 MB /);
    expect(line).toContain(" 1m05s elapsed");
  });

  it("takes the ETA from the slower of files and bytes", () => {
    const c = counts({ files: 50, bytes: 1_000_000, totalFiles: 200, totalBytes: 4_000_000 });
    // files: 150 left at 10/s = 15 s; bytes: 3 MB left at 100 kB/s = 30 s
    expect(formatProgress(c, 10, 100_000, 0)).toContain(" ETA 30s ");
    // files: 150 left at 1/s = 150 s; bytes: 30 s
    expect(formatProgress(c, 1, 100_000, 0)).toContain(" ETA 2m30s ");
    // no file done lately: no estimate
    expect(formatProgress(c, 0, 100_000, 0)).toContain(" ETA -- ");
  });

  it("caps the bar at 100% when more files are done than were counted", () => {
    const line = formatProgress(counts({ files: 12, totalFiles: 10, totalBytes: 0 }), 1, 0, 0);
    expect(line).toMatch(/^\[#{26}\] 100% 12\/10 files/);
  });

  it("shows a finished count of no files as done, not as counting", () => {
    const line = formatProgress(counts({ totalFiles: 0, totalBytes: 0 }), 0, 0, 1);
    expect(line).not.toContain("counting");
    expect(line).toMatch(/^\[#{26}\] 100% 0\/0 files/);
  });

  it("ends with the note while one is set", () => {
    const c = counts({ files: 1, note: "retrying in 2s: HTTP 503" });
    expect(formatProgress(c, 0, 0, 3)).toMatch(/ 3s elapsed \(retrying in 2s: HTTP 503\)$/);
    expect(formatProgress({ ...c, note: null }, 0, 0, 3)).toMatch(/ 3s elapsed$/);
  });
});

describe("bytesStr", () => {
  it("uses decimal units with one decimal above bytes", () => {
    expect(bytesStr(0)).toBe("0 B");
    expect(bytesStr(999)).toBe("999 B");
    expect(bytesStr(1_000)).toBe("1.0 KB");
    expect(bytesStr(1_536)).toBe("1.5 KB");
    expect(bytesStr(64 * 1024 ** 2)).toBe("67.1 MB");
    expect(bytesStr(2.5e9)).toBe("2.5 GB");
    expect(bytesStr(1e12)).toBe("1.0 TB");
    expect(bytesStr(3e15)).toBe("3000.0 TB");
  });

  it("moves up a unit where rounding reaches 1000", () => {
    expect(bytesStr(999_960)).toBe("1.0 MB");
    expect(bytesStr(999_940)).toBe("999.9 KB");
  });
});

describe("duration", () => {
  it("shows seconds, then minutes and seconds, then hours and minutes", () => {
    expect(duration(0)).toBe("0s");
    expect(duration(59.4)).toBe("59s");
    expect(duration(59.6)).toBe("1m00s");
    expect(duration(61)).toBe("1m01s");
    expect(duration(3_599)).toBe("59m59s");
    expect(duration(3_600)).toBe("1h00m");
    expect(duration(3_725)).toBe("1h02m");
    expect(duration(100 * 3_600)).toBe("100h00m");
  });
});

describe("progressView", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function stream(isTTY: boolean, columns?: number) {
    const writes: string[] = [];
    const out = {
      isTTY,
      columns,
      write(s: string) {
        writes.push(s);
        return true;
      },
    } as unknown as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
    return { out, writes };
  }

  it("redraws one line in place on a terminal and ends it on stop", () => {
    const c = counts({ countedFiles: 10 });
    const { out, writes } = stream(true, 81);
    const view = progressView(c, out);
    view.start();
    expect(writes).toHaveLength(1);
    c.files = 3;
    vi.advanceTimersByTime(200);
    c.files = 7;
    vi.advanceTimersByTime(200);
    expect(writes).toHaveLength(3);
    for (const w of writes) {
      expect(w.startsWith("\r")).toBe(true);
      expect(w).not.toContain("\n");
      // padded to the terminal's width less one, so a shorter line covers a longer one
      expect(w).toHaveLength(81);
    }
    expect(writes[1]).toContain(" 3/10+ files");
    expect(writes[2]).toContain(" 7/10+ files");

    c.files = 10;
    view.stop();
    expect(writes.slice(3)).toHaveLength(2);
    expect(writes[3]).toContain(" 10/10+ files");
    expect(writes[4]).toBe("\n");
    vi.advanceTimersByTime(5_000);
    expect(writes).toHaveLength(5);
  });

  it("shows the rates over the last seconds", () => {
    const c = counts();
    const { out, writes } = stream(true, 200);
    const view = progressView(c, out, { everyMs: 1_000 });
    view.start();
    c.files = 100;
    c.bytes = 2_000_000;
    vi.advanceTimersByTime(1_000);
    expect(writes[1]).toContain(" 100 files/s 2.0 MB/s ");
    vi.advanceTimersByTime(1_000);
    expect(writes[2]).toContain(" 50 files/s 1.0 MB/s ");
    view.stop();
  });

  it("writes whole lines now and then elsewhere, and nothing once stopped", () => {
    const c = counts({ files: 1, countedFiles: 5 });
    const { out, writes } = stream(false);
    const view = progressView(c, out);
    view.start();
    expect(writes).toEqual([]);
    vi.advanceTimersByTime(10_000);
    c.files = 2;
    vi.advanceTimersByTime(10_000);
    expect(writes).toHaveLength(2);
    for (const w of writes) {
      expect(w.endsWith("\n")).toBe(true);
      expect(w.slice(0, -1)).not.toMatch(/[\r\n]/);
    }
    expect(writes[0]).toContain(" 1/5+ files");
    expect(writes[1]).toContain(" 2/5+ files");
    view.stop();
    vi.advanceTimersByTime(60_000);
    expect(writes).toHaveLength(2);
  });

  it("lets the caller choose the mode and the period", () => {
    const { out, writes } = stream(true);
    const view = progressView(counts(), out, { tty: false, everyMs: 50 });
    view.start();
    vi.advanceTimersByTime(150);
    view.stop();
    expect(writes).toHaveLength(3);
    expect(writes.every((w) => !w.startsWith("\r") && w.endsWith("\n"))).toBe(true);
  });
});
