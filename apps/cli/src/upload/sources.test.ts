import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliError, ExitCode } from "../exit-codes.ts";
import {
  type FoundFile,
  resolveSources,
  type Source,
  sourceKey,
  type WalkFilter,
  type WalkStats,
  walkSources,
} from "./sources.ts";

const NONE: WalkFilter = { include: [], exclude: [], hidden: false };

let root: string;

/** The tree every test walks; symbolic links are listed separately. */
const FILES = [
  "a.md",
  "b.txt",
  ".hidden.md",
  ".git/config.md",
  "sub/c.md",
  "sub/d.pdf",
  "sub/deep/e.md",
  "build/out.md",
  "build/nested/f.md",
  "x/build/g.md",
  "x/sub/h.md",
];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "docfleet-sources-"));
  for (const name of FILES) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), name);
  }
  symlinkSync(join(root, "sub"), join(root, "link-to-sub"));
  symlinkSync(join(root, "a.md"), join(root, "link-to-a.md"));
  // A cycle: a walk that followed links would never end.
  symlinkSync(root, join(root, "sub", "deep", "loop"));
  // Inside build/: counted only when the walk goes into build/, so it tells pruning from filtering.
  symlinkSync(join(root, "a.md"), join(root, "build", "link.md"));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

async function walk(sources: Source[], filter: Partial<WalkFilter> = {}) {
  const stats: WalkStats = { special: 0, unreadableDirs: [] };
  const files: FoundFile[] = [];
  for await (const f of walkSources(sources, { ...NONE, ...filter }, stats)) files.push(f);
  return { files, names: files.map((f) => f.name).sort(), stats };
}

async function walkRoot(filter: Partial<WalkFilter> = {}) {
  return walk(await resolveSources([root]), filter);
}

async function usageError(p: Promise<unknown>): Promise<CliError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  expect((err as CliError).exitCode).toBe(ExitCode.USAGE);
  return err as CliError;
}

describe("resolveSources", () => {
  it("takes a folder as a folder source based on itself", async () => {
    const [s, ...rest] = await resolveSources([join(root, "sub")]);
    expect(rest).toEqual([]);
    expect(s).toMatchObject({ arg: join(root, "sub"), base: join(root, "sub"), kind: "dir" });
    expect(s?.match).toBeUndefined();
  });

  it("takes a file as a file source based on its folder", async () => {
    const [s] = await resolveSources([join(root, "sub", "c.md")]);
    expect(s).toMatchObject({ base: join(root, "sub"), kind: "file" });
  });

  it("splits a glob into its fixed base folder and the pattern below it", async () => {
    const arg = `${relative(process.cwd(), root)}/sub/**/*.md`;
    const [s] = await resolveSources([arg]);
    expect(s).toMatchObject({ arg, base: join(root, "sub"), kind: "glob", pattern: "**/*.md" });
    expect(s?.match?.("deep/e.md")).toBe(true);
    expect(s?.match?.("d.pdf")).toBe(false);
  });

  it("keeps the order of the arguments", async () => {
    const sources = await resolveSources([join(root, "sub"), join(root, "a.md"), `${root}/x/*.md`]);
    expect(sources.map((s) => s.kind)).toEqual(["dir", "file", "glob"]);
  });

  it("refuses a glob whose fixed part is not a folder", async () => {
    const err = await usageError(resolveSources([`${root}/nothing-here/**/*.md`]));
    expect(err.message).toContain("nothing-here");
    await usageError(resolveSources([`${root}/a.md/*.md`]));
  });

  it("refuses a plain path that does not exist", async () => {
    const err = await usageError(resolveSources([join(root, "missing.md")]));
    expect(err.message).toContain("missing.md");
  });
});

describe("walkSources", () => {
  it("yields every regular file with its absolute path and its /-separated name below the base", async () => {
    const { files, names } = await walkRoot();
    expect(names).toEqual([
      "a.md",
      "b.txt",
      "build/nested/f.md",
      "build/out.md",
      "sub/c.md",
      "sub/d.pdf",
      "sub/deep/e.md",
      "x/build/g.md",
      "x/sub/h.md",
    ]);
    for (const f of files) expect(f.path).toBe(join(root, ...f.name.split("/")));
  });

  it("does not follow symbolic links and counts them as special", async () => {
    const { files, stats } = await walkRoot();
    // link-to-sub, link-to-a.md, sub/deep/loop, build/link.md
    expect(stats.special).toBe(4);
    expect(files.some((f) => f.name.includes("link") || f.name.includes("loop"))).toBe(false);
    expect(stats.unreadableDirs).toEqual([]);
  });

  it("skips hidden files and folders unless asked for them", async () => {
    expect((await walkRoot()).names.some((n) => n.startsWith(".") || n.includes("/."))).toBe(false);
    const { names } = await walkRoot({ hidden: true });
    expect(names).toContain(".hidden.md");
    expect(names).toContain(".git/config.md");
    expect(names).toHaveLength(11);
  });

  it("matches an include without / against the base name at any depth", async () => {
    const { names } = await walkRoot({ include: ["*.md"] });
    expect(names).toEqual([
      "a.md",
      "build/nested/f.md",
      "build/out.md",
      "sub/c.md",
      "sub/deep/e.md",
      "x/build/g.md",
      "x/sub/h.md",
    ]);
  });

  it("matches an include with / against the whole name from the base", async () => {
    expect((await walkRoot({ include: ["sub/*.md"] })).names).toEqual(["sub/c.md"]);
    expect((await walkRoot({ include: ["sub/**"] })).names).toEqual([
      "sub/c.md",
      "sub/d.pdf",
      "sub/deep/e.md",
    ]);
    expect((await walkRoot({ include: ["**/sub/*.md"] })).names).toEqual(["sub/c.md", "x/sub/h.md"]);
    expect((await walkRoot({ include: ["*.txt", "sub/deep/*"] })).names).toEqual(["b.txt", "sub/deep/e.md"]);
  });

  it("leaves out excluded files", async () => {
    const { names } = await walkRoot({ exclude: ["*.md"] });
    expect(names).toEqual(["b.txt", "sub/d.pdf"]);
    expect((await walkRoot({ include: ["*.md"], exclude: ["sub/*.md"] })).names).not.toContain("sub/c.md");
    expect((await walkRoot({ include: ["*.md"], exclude: ["sub/*.md"] })).names).toContain("x/sub/h.md");
  });

  it("prunes a folder an exclude names, at any depth when the pattern has no /", async () => {
    const { names, stats } = await walkRoot({ exclude: ["build"] });
    expect(names.filter((n) => n.includes("build"))).toEqual([]);
    expect(names).toContain("sub/c.md");
    // build/link.md was never listed: the walk did not go into build/.
    expect(stats.special).toBe(3);
  });

  it("prunes a folder excluded with folder/**, anchored at the base", async () => {
    const top = await walkRoot({ exclude: ["build/**"] });
    expect(top.names.filter((n) => n.startsWith("build/"))).toEqual([]);
    expect(top.names).toContain("x/build/g.md");
    expect(top.stats.special).toBe(3);

    const nested = await walkRoot({ exclude: ["sub/deep/**"] });
    expect(nested.names.filter((n) => n.startsWith("sub/"))).toEqual(["sub/c.md", "sub/d.pdf"]);
    // sub/deep/loop was never listed.
    expect(nested.stats.special).toBe(3);

    const plain = await walkRoot({ exclude: ["sub/deep"] });
    expect(plain.names).not.toContain("sub/deep/e.md");
    expect(plain.stats.special).toBe(3);
  });

  it("yields a file named on the command line even when it is hidden or excluded", async () => {
    const sources = await resolveSources([join(root, ".hidden.md"), join(root, "sub", "c.md")]);
    const { files } = await walk(sources, { exclude: ["*.md"] });
    expect(files).toEqual([
      { path: join(root, ".hidden.md"), name: ".hidden.md" },
      { path: join(root, "sub", "c.md"), name: "c.md" },
    ]);
  });

  it("yields what a glob matches, named below the glob's base", async () => {
    expect((await walk(await resolveSources([`${root}/sub/*.md`]))).names).toEqual(["c.md"]);
    expect((await walk(await resolveSources([`${root}/**/*.md`]))).names).toEqual([
      "a.md",
      "build/nested/f.md",
      "build/out.md",
      "sub/c.md",
      "sub/deep/e.md",
      "x/build/g.md",
      "x/sub/h.md",
    ]);
    // The filter applies on top of the glob.
    const { names } = await walk(await resolveSources([`${root}/**/*.md`]), { exclude: ["build"] });
    expect(names).toEqual(["a.md", "sub/c.md", "sub/deep/e.md", "x/sub/h.md"]);
  });

  it("records a folder that cannot be opened and goes on", async () => {
    const gone = join(root, "gone");
    mkdirSync(gone);
    const sources = await resolveSources([gone, join(root, "sub")]);
    rmSync(gone, { recursive: true });
    const { names, stats } = await walk(sources);
    expect(names).toEqual(["c.md", "d.pdf", "deep/e.md"]);
    expect(stats.unreadableDirs).toHaveLength(1);
    expect(stats.unreadableDirs[0]?.path).toBe(gone);
    expect(stats.unreadableDirs[0]?.message).toContain("ENOENT");
  });

  it("streams a large tree to the end", async () => {
    const big = mkdtempSync(join(tmpdir(), "docfleet-walk-"));
    try {
      for (let d = 0; d < 200; d++) {
        const dir = join(big, `d${d}`);
        mkdirSync(dir);
        for (let f = 0; f < 100; f++) writeFileSync(join(dir, `f${f}`), "");
      }
      const seen = new Set<string>();
      for await (const f of walkSources(await resolveSources([big]), NONE)) seen.add(f.name);
      expect(seen.size).toBe(20_000);
      expect(seen.has("d0/f0")).toBe(true);
      expect(seen.has("d199/f99")).toBe(true);
    } finally {
      rmSync(big, { recursive: true, force: true });
    }
  });
});

describe("sourceKey", () => {
  it("is the same for the same command, however the folder is spelled", async () => {
    const a = sourceKey(await resolveSources([root, `${root}/**/*.md`]), NONE);
    const b = sourceKey(await resolveSources([`${root}/`, `${root}/**/*.md`]), { ...NONE });
    expect(a).toBe(b);
    expect(sourceKey(await resolveSources([relative(process.cwd(), root)]), NONE)).toBe(
      sourceKey(await resolveSources([resolve(root)]), NONE),
    );
  });

  it("differs when the sources or the filter differ", async () => {
    const sources = await resolveSources([root]);
    const base = sourceKey(sources, NONE);
    const others = [
      sourceKey(await resolveSources([join(root, "sub")]), NONE),
      sourceKey(await resolveSources([root, join(root, "sub")]), NONE),
      sourceKey(await resolveSources([`${root}/**/*.md`]), NONE),
      sourceKey(sources, { ...NONE, include: ["*.md"] }),
      sourceKey(sources, { ...NONE, exclude: ["*.md"] }),
      sourceKey(sources, { ...NONE, hidden: true }),
    ];
    expect(new Set([base, ...others]).size).toBe(others.length + 1);
  });
});
