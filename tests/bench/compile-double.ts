/**
 * Compiles tests/bench/noop-models-worker.ts to one JavaScript file, as apps/cli/scripts/build.mjs
 * compiles the CLI (esbuild: workspace packages bundled from their TypeScript sources, every other
 * package external), so that tests/bench/distributed.ts `--double-compiled` runs the NoopModelsDouble
 * worker as the production worker runs: no TypeScript loader in its process nor in its parse threads.
 * Run through tsx, the double worker pays tsx's module hooks and source maps, which the built-in
 * worker (the compiled CLI) does not: the like-for-like line then measured the loader too.
 *
 * Paths found at run time through `import.meta.url` stay the sources' own, except the parse sandbox's
 * thread file, which is the compiled CLI's (apps/cli/dist/sandbox-thread.mjs, built by
 * tests/helpers/cli.ts before any bench runs), as in the built-in worker.
 */
import { readFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import { join, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";

/** Builds the double worker into `outDir` (inside the repository: its externals resolve from there). */
export async function compileDoubleWorker(root: string, outDir: string): Promise<string> {
  const builtins = new Set(builtinModules);
  const sandbox = join(root, "packages/pipeline/src/parse/sandbox.ts");
  const cliDist = join(root, "apps/cli/dist/");
  const externals: Plugin = {
    name: "double-externals",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith("node:") || builtins.has(args.path)) return { external: true };
        if (args.path.startsWith("@docfleet/")) return undefined;
        return { external: true };
      });
    },
  };
  const runtimePaths: Plugin = {
    name: "double-runtime-paths",
    setup(b) {
      b.onLoad({ filter: /\.(ts|mts)$/ }, async (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
        const text = await readFile(args.path, "utf8");
        if (!text.includes("import.meta.url")) return undefined;
        const url =
          args.path === sandbox
            ? new URL("sandbox.ts", pathToFileURL(cliDist)).href
            : pathToFileURL(args.path).href;
        return { contents: text.replaceAll("import.meta.url", JSON.stringify(url)), loader: "ts" };
      });
    },
  };
  const outfile = join(outDir, "noop-models-worker.mjs");
  await build({
    entryPoints: [join(root, "tests/bench/noop-models-worker.ts")],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20.19",
    keepNames: true,
    logLevel: "warning",
    banner: {
      js: 'import { createRequire as __benchCreateRequire } from "node:module"; const require = __benchCreateRequire(import.meta.url);',
    },
    plugins: [externals, runtimePaths],
  });
  return outfile;
}
