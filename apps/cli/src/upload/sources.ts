import type { Dir } from "node:fs";
import { opendir, stat } from "node:fs/promises";
import { basename, join, relative, resolve, sep } from "node:path";
import picomatch from "picomatch";
import { CliError, ExitCode } from "../exit-codes.ts";

/** One command-line source: a folder, a file, or a glob's fixed base folder and its pattern. */
export interface Source {
  /** As typed, for messages. */
  arg: string;
  /** Absolute folder names are relative to (for a file: its folder). */
  base: string;
  kind: "dir" | "file" | "glob";
  /** For kind glob: the pattern below `base`, and its matcher for a path relative to `base`. */
  pattern?: string;
  match?: (rel: string) => boolean;
}

export interface WalkFilter {
  /** Globs a file's name (relative path, `/`-separated) must match one of; empty: every file. */
  include: string[];
  /** Globs that leave a file or a whole folder out. */
  exclude: string[];
  /** Also walk names starting with `.` (left out by default, like most tools). */
  hidden: boolean;
}

/** A file the walk found: where it is and the name it gets in the archive. */
export interface FoundFile {
  /** Absolute path. */
  path: string;
  /** Path relative to its source's base, `/`-separated: the document's name. */
  name: string;
}

/** Why the walk passed over entries, for the summary. */
export interface WalkStats {
  /** Symbolic links, sockets, devices: never followed or read. */
  special: number;
  /** Folders the walk could not open (permissions, vanished). */
  unreadableDirs: { path: string; message: string }[];
}

/**
 * Resolves the command-line arguments: an existing path is a file or folder; otherwise an argument
 * with glob syntax is a pattern below its fixed base folder (`docs/**\/*.pdf` → base `docs`).
 */
export async function resolveSources(args: readonly string[]): Promise<Source[]> {
  const out: Source[] = [];
  for (const arg of args) {
    const s = await stat(arg).catch(() => null);
    if (s?.isDirectory()) {
      out.push({ arg, base: resolve(arg), kind: "dir" });
      continue;
    }
    if (s?.isFile()) {
      out.push({ arg, base: resolve(arg, ".."), kind: "file" });
      continue;
    }
    const scan = picomatch.scan(arg);
    if (!scan.isGlob) throw new CliError(`no such file or folder: ${arg}`, ExitCode.USAGE);
    const base = resolve(scan.base || ".");
    const baseStat = await stat(base).catch(() => null);
    if (!baseStat?.isDirectory())
      throw new CliError(`no such folder: ${scan.base} (the fixed part of ${arg})`, ExitCode.USAGE);
    out.push({ arg, base, kind: "glob", pattern: scan.glob, match: picomatch(scan.glob, { dot: true }) });
  }
  return out;
}

/** Compiles include/exclude globs; a pattern without `/` matches the file's base name anywhere. */
export function compileFilter(f: WalkFilter) {
  const include = f.include.length ? matcher(f.include) : () => true;
  const exclude = f.exclude.length ? matcher(f.exclude) : () => false;
  return {
    hidden: f.hidden,
    file: (name: string) => include(name) && !exclude(name),
    /** A folder is pruned when an exclude names it, or everything below it (`dir/**`). */
    pruneDir: (name: string) => exclude(name) || exclude(`${name}/`),
  };
}

// picomatch's `basename` option applies to every pattern, `/` or not (`sub/*.md` would then never
// match `sub/c.md`): only patterns without `/` get it.
function matcher(patterns: string[]): (name: string) => boolean {
  const byBase = patterns.filter((p) => !p.includes("/"));
  const byPath = patterns.filter((p) => p.includes("/"));
  const base = byBase.length ? picomatch(byBase, { dot: true, basename: true }) : () => false;
  const path = byPath.length ? picomatch(byPath, { dot: true }) : () => false;
  return (name) => base(name) || path(name);
}

/**
 * The files under every source, depth-first, one folder handle per level: memory stays flat however
 * many files there are. Symbolic links are not followed (a link cycle cannot trap the walk).
 */
export async function* walkSources(
  sources: readonly Source[],
  filter: WalkFilter,
  stats: WalkStats = { special: 0, unreadableDirs: [] },
): AsyncGenerator<FoundFile> {
  const f = compileFilter(filter);
  for (const src of sources) {
    if (src.kind === "file") {
      const path = resolve(src.arg);
      // A file named on the command line is always taken: the user asked for it by name.
      yield { path, name: basename(path) };
      continue;
    }
    yield* walkDir(src.base, src, f, stats);
  }
}

async function* walkDir(
  dir: string,
  src: Source,
  f: ReturnType<typeof compileFilter>,
  stats: WalkStats,
): AsyncGenerator<FoundFile> {
  let handle: Dir;
  try {
    handle = await opendir(dir, { bufferSize: 64 });
  } catch (err) {
    stats.unreadableDirs.push({ path: dir, message: (err as Error).message });
    return;
  }
  for await (const entry of handle) {
    if (!f.hidden && entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    const name = toName(relative(src.base, path));
    if (entry.isDirectory()) {
      if (!f.pruneDir(name)) yield* walkDir(path, src, f, stats);
    } else if (entry.isFile()) {
      if (f.file(name) && (!src.match || src.match(name))) yield { path, name };
    } else {
      stats.special++;
    }
  }
}

function toName(rel: string): string {
  return sep === "/" ? rel : rel.split(sep).join("/");
}

/** A stable description of what an upload reads, to recognise a rerun of the same command. */
export function sourceKey(sources: readonly Source[], filter: WalkFilter): string {
  return JSON.stringify({
    sources: sources.map((s) => (s.kind === "glob" ? `${s.base}/${s.pattern}` : resolve(s.arg))),
    include: filter.include,
    exclude: filter.exclude,
    hidden: filter.hidden,
  });
}
