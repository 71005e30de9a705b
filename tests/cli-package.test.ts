// The CLI as a package (`npm pack` of apps/cli, what `npm install` gives a user): the compiled bundle and
// what it reads at run time, every third-party package it imports declared, no TypeScript needed.
// Offline: the file list comes from `npm pack --dry-run` (scripts off), the build from scripts/build.mjs.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { buildCli, DIST } from "../apps/cli/scripts/build.mjs";
import { ROOT } from "./helpers/cli.ts";

const run = promisify(execFile);
const CLI = join(ROOT, "apps/cli");
const pkg = JSON.parse(readFileSync(join(CLI, "package.json"), "utf8")) as {
  bin: Record<string, string>;
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

interface BuildInfo {
  problems: string[];
  externals: string[];
  outputs: string[];
}

await buildCli({ ifStale: true, log: () => {} });
const info = JSON.parse(readFileSync(join(DIST, "build-info.json"), "utf8")) as BuildInfo;

describe("the CLI package", () => {
  it("builds without packaging problems: every external package declared, every run-time path listed", () => {
    expect(info.problems).toEqual([]);
    for (const name of info.externals) expect(pkg.dependencies[name], name).toBeDefined();
  });

  it("depends on no workspace package (they are bundled) and states the Node range of the root", () => {
    expect(Object.keys(pkg.dependencies).filter((d) => d.startsWith("@docfleet/"))).toEqual([]);
    expect(Object.keys(pkg.dependencies)).not.toContain("tsx");
    const root = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      engines: { node: string };
    };
    expect(pkg.engines.node).toBe(root.engines.node);
  });

  it("packs the bin and the bundle with the migrations and examples, and no TypeScript", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
      cwd: CLI,
      maxBuffer: 16 << 20,
    });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        "package.json",
        pkg.bin.docfleet!.replace(/^\.\//, ""),
        "dist/main.mjs",
        "dist/sandbox-thread.mjs",
        "dist/hash-thread.mjs",
        ...info.outputs.map((o) => `dist/${o}`).filter((o) => !o.endsWith("build-info.json")),
        ...readdirSync(join(ROOT, "packages/schema/migrations")).map((m) => `dist/migrations/${m}`),
        ...readdirSync(join(CLI, "examples")).map((e) => `dist/examples/${e}`),
      ]),
    );
    expect(files.filter((f) => /\.(ts|mts|cts)$/.test(f) || f.startsWith("src/"))).toEqual([]);
    expect(files).not.toContain("dist/build-info.json");
  });

  it("has a bin that loads the bundle, with no TypeScript loader", () => {
    const bin = readFileSync(join(CLI, pkg.bin.docfleet!), "utf8");
    expect(bin).toContain("../dist/main.mjs");
    expect(bin).not.toMatch(/\btsx\b|register\(|\.ts["']/);
    expect(pkg.devDependencies.esbuild).toBeDefined();
  });
});
