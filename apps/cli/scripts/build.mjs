// Compiles the docfleet CLI to JavaScript: one esbuild bundle of apps/cli and the workspace packages it
// runs (gateway, worker, pipeline, schema: their TypeScript sources, the generated Prisma client
// included), and of the pure-JavaScript packages every start loads (INLINE: the GraphQL stack, zod,
// OpenTelemetry...; loading them as ~2,000 files of node_modules was most of `serve`'s module-loading
// time, issue 17 goal 2), with every other third-party package left external and declared in
// apps/cli/package.json, so that `npm pack` of the CLI installs and runs anywhere. This is what the `docfleet` bin, `serve` and
// the Docker images run: no TypeScript loader at run time. Tests and typecheck keep using the sources.
//
//   node apps/cli/scripts/build.mjs           build (npm run build runs it through turbo)
//   node apps/cli/scripts/build.mjs --if-stale build only when a source changed since the last build
//   node apps/cli/scripts/build.mjs --clean    also remove every chunk of earlier builds (npm pack)
//   node apps/cli/scripts/build.mjs --strict   fail on a packaging problem (npm pack, the images)
// A packaging problem (an external package missing from apps/cli/package.json, an unlisted run-time
// path) fails a strict build; otherwise the bundle is still written, the problem is printed and kept
// in dist/build-info.json, and tests/cli-package.test.ts fails on it.

import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const CLI = join(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = join(CLI, "..", "..");
export const DIST = join(CLI, "dist");
const INFO = join(DIST, "build-info.json");

// Files copied beside the bundle (run-time reads by path), from the repository root to dist/.
const ASSETS = [
  ["packages/schema/migrations", "migrations"],
  ["apps/cli/examples", "examples"],
];

// Every bundled source that finds something by path at run time (import.meta.url), and how the bundle
// keeps that working: `rebase` is where, relative to dist/, the source's import.meta.url points in the
// bundle (whichever output file esbuild moved its code into). A new use fails the build until listed.
const RUNTIME_PATHS = {
  // new URL("./sandbox-thread.mjs", import.meta.url): an entry of this build (sandbox-main.ts)
  "packages/pipeline/src/parse/sandbox.ts": { rebase: "sandbox.ts" },
  // new URL("./hash-thread.mjs", import.meta.url): an entry of this build
  "apps/cli/src/upload/hash-pool.ts": { rebase: "hash-pool.ts" },
  // createRequire(import.meta.url): finds pdfjs-dist / tesseract data in node_modules from dist/
  "packages/pipeline/src/parse/pdf.ts": { rebase: "pdf.ts" },
  "packages/pipeline/src/parse/ocr.ts": { rebase: "ocr.ts" },
  // Prisma's generated client sets globalThis.__dirname from it; nothing reads files through it
  "packages/schema/src/generated/prisma/client.ts": { rebase: "client.ts" },
  // join(dirname(here), "..", "migrations"): dist/migrations (ASSETS)
  "packages/schema/src/migrate.ts": { rebase: "src/migrate.ts" },
  // new URL("../package.json", import.meta.url): the CLI's package.json, one level above dist/
  "apps/cli/src/main.ts": { rebase: "main.ts" },
  // new URL("../../examples", import.meta.url): dist/examples (ASSETS)
  "apps/cli/src/commands/demo.ts": { rebase: "src/commands/demo.ts" },
  // createRequire(import.meta.url).resolve("@docfleet/web/package.json"), else a path guess that the
  // bundle does not have: the console is served where @docfleet/web is installed (the workspace)
  "apps/gateway/src/console.ts": { rebase: "src/console.ts" },
};

// Third-party packages bundled into the chunks instead of loaded from node_modules, with every package
// they import in turn (but KEEP_EXTERNAL): the ones `serve` and `--help` load at every start, pure
// JavaScript that finds nothing by path at run time (the build fails on an inlined file that uses
// import.meta, __dirname or __filename). A package is inlined or external everywhere, never both
// (two copies of graphql break its instanceof checks): the build fails when one is reached both ways,
// or when an external package depends on an inlined one.
// Packages an inlined one loads only when installed (require in try/catch): external, not declared.
const OPTIONAL_PEERS = { bufferutil: "ws", "utf-8-validate": "ws" };
const INLINE = [
  /^graphql$/,
  /^graphql-(yoga|ws|query-complexity)$/,
  /^@graphql-yoga\/(?!render-graphiql$)/,
  /^@graphql-tools\//,
  /^@envelop\//,
  /^@whatwg-node\//,
  /^@pothos\//,
  /^@escape\.tech\//,
  /^@opentelemetry\//,
  /^(zod|ws|prom-client|rate-limiter-flexible|busboy|picomatch|picocolors|p-limit)$/,
];
// Never inlined, even when an inlined package imports them: native code, files found by path at run
// time (WebAssembly, workers, data), or large and loaded on first use.
const KEEP_EXTERNAL = [
  /^@prisma\//,
  /^@electric-sql\//,
  /^pglite-prisma-adapter$/,
  /^(pino|pino-pretty|thread-stream|sonic-boom)$/,
  /^@graphql-yoga\/render-graphiql$/,
  /^(sharp|pdfjs-dist|tesseract\.js|@napi-rs\/canvas|pg|pg-native)$/,
  /^ms$/, // also loaded by external packages (debug): one copy
  ...Object.keys(OPTIONAL_PEERS).map((n) => new RegExp(`^${n}$`)),
];
/**
 * Whether package `name`, imported by the file `importer`, is bundled (inlined) rather than external;
 * `bundled`: the packages inlined so far.
 */
function inlinedImport(name, importer, bundled) {
  if (KEEP_EXTERNAL.some((r) => r.test(name))) return false;
  if (INLINE.some((r) => r.test(name))) return true;
  // what an inlined package imports is inlined with it
  const at = importer.lastIndexOf(`${sep}node_modules${sep}`);
  return at >= 0 && bundled.has(packageName(posix(importer.slice(at + 14))));
}

// Packages loaded by name at run time rather than imported (createRequire), so esbuild cannot see them.
const REQUIRED_BY_NAME = {
  "@tesseract.js-data/eng": "packages/pipeline/src/parse/ocr.ts",
};

const posix = (p) => p.split(sep).join("/");

/** The package name of a bare import specifier (`@scope/name/sub` → `@scope/name`). */
const packageName = (spec) =>
  spec
    .split("/")
    .slice(0, spec.startsWith("@") ? 2 : 1)
    .join("/");

/**
 * `import.meta.url` of a bundled source reads as if that source lay at dist/<rebase> (a path relative
 * to dist/), whichever output file esbuild put its code in: output files sit at dist/ or dist/chunks/,
 * and each knows its own depth.
 */
function runtimePaths(problems) {
  return {
    name: "docfleet-runtime-paths",
    setup(b) {
      b.onLoad({ filter: /\.(ts|mts|mjs|js|cjs)$/ }, (args) => {
        if (args.path.includes(`${sep}node_modules${sep}`)) {
          // an inlined package's file: it must find nothing relative to itself at run time
          const code = readFileSync(args.path, "utf8") // comments left out (crudely)
            .replace(/\/\*[\s\S]*?\*\//g, "")
            .replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
          if (/\bimport\.meta\b|\b__dirname\b|\b__filename\b/.test(code))
            problems.push(
              `${posix(relative(ROOT, args.path))} (inlined) uses import.meta, __dirname or __filename: ` +
                "add its package to KEEP_EXTERNAL in apps/cli/scripts/build.mjs (and to apps/cli/package.json)",
            );
          return undefined;
        }
        const text = readFileSync(args.path, "utf8");
        if (!text.includes("import.meta")) return undefined;
        const rel = posix(relative(ROOT, args.path));
        const rule = RUNTIME_PATHS[rel];
        if (!rule) {
          problems.push(
            `${rel} uses import.meta (a run-time path?): list it in RUNTIME_PATHS in apps/cli/scripts/build.mjs ` +
              "with where the bundle finds what it loads",
          );
          return undefined;
        }
        const contents = text.replaceAll(
          "import.meta.url",
          `new URL(${JSON.stringify(rule.rebase)}, __docfleetDist).href`,
        );
        return { contents, loader: /\.m?ts$/.test(rel) ? "ts" : "js" };
      });
    },
  };
}

/**
 * Workspace packages and INLINE ones are bundled from source; everything else stays external and must
 * be declared. `bundled` collects the inlined packages' names.
 */
function externals(found, bundled) {
  const builtins = new Set(builtinModules);
  return {
    name: "docfleet-externals",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.path.startsWith("node:") || builtins.has(args.path)) return { external: true };
        if (args.path.startsWith("@docfleet/")) return undefined;
        const name = packageName(args.path);
        const from = posix(relative(ROOT, args.importer));
        if (inlinedImport(name, args.importer, bundled)) {
          if (!bundled.has(name)) bundled.set(name, from);
          return undefined;
        }
        if (!found.has(name) && !OPTIONAL_PEERS[name]) found.set(name, from);
        return { external: true };
      });
    },
  };
}

/** The package.json of `name` as Node finds it from `dir` (undefined when not installed). */
function packageJson(name, dir) {
  for (let d = dir; ; d = dirname(d)) {
    const p = join(d, "node_modules", name, "package.json");
    if (existsSync(p)) return { path: p, json: JSON.parse(readFileSync(p, "utf8")) };
    if (dirname(d) === d) return undefined;
  }
}

/**
 * An external package that depends on an inlined one would load a second copy of it from node_modules
 * (graphql's instanceof checks fail across copies): every package reachable from an external one
 * through `dependencies` must be external too.
 */
function checkSeparation(found, bundled) {
  const problems = [];
  const seen = new Set();
  const walk = (name, dir, via) => {
    const pkg = packageJson(name, dir);
    if (!pkg || seen.has(pkg.path)) return;
    seen.add(pkg.path);
    for (const dep of Object.keys(pkg.json.dependencies ?? {})) {
      if (bundled.has(dep))
        problems.push(`${dep} is inlined, but ${via} (external) loads its own copy through ${name}`);
      else walk(dep, dirname(pkg.path), via);
    }
  };
  for (const name of found.keys()) walk(name, CLI, name);
  return problems;
}

/** Each external must be a dependency of the CLI, with a range some workspace that uses it declares. */
function checkDependencies(found, bundled, log) {
  const cli = JSON.parse(readFileSync(join(CLI, "package.json"), "utf8"));
  const declared = { ...cli.optionalDependencies, ...cli.dependencies };
  const workspaces = ["apps/gateway", "apps/worker", "packages/pipeline", "packages/schema"].map(
    (w) => JSON.parse(readFileSync(join(ROOT, w, "package.json"), "utf8")).dependencies ?? {},
  );
  const problems = [];
  for (const [name, from] of [...found].sort()) {
    if (!declared[name]) {
      problems.push(`${name} (imported by ${from}) is not in apps/cli/package.json dependencies`);
      continue;
    }
    const ranges = workspaces.map((d) => d[name]).filter(Boolean);
    if (ranges.length > 0 && !ranges.includes(declared[name]))
      problems.push(
        `${name}: apps/cli/package.json says ${declared[name]}, the workspaces ${ranges.join(", ")}`,
      );
  }
  const unused = Object.keys(cli.dependencies ?? {}).filter(
    (n) => !found.has(n) && !bundled.has(n) && !n.startsWith("@types/"),
  );
  if (unused.length > 0) log(`docfleet build: dependencies the bundle never imports: ${unused.join(", ")}`);
  return problems;
}

function assetFiles() {
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(p);
    }
  };
  for (const [from] of ASSETS) walk(join(ROOT, from));
  return files;
}

/** Stale when a file the last build read (or the build's own config) changed, or dist is incomplete. */
export function isStale() {
  if (!existsSync(INFO)) return true;
  const info = JSON.parse(readFileSync(INFO, "utf8"));
  const builtAt = statSync(INFO).mtimeMs;
  const config = [fileURLToPath(import.meta.url), join(CLI, "package.json")];
  for (const f of [...config, ...assetFiles(), ...info.inputs.map((p) => join(ROOT, p))]) {
    if (!existsSync(f) || statSync(f).mtimeMs > builtAt) return true;
  }
  return !info.outputs.every((p) => existsSync(join(DIST, p)));
}

/** Writes a file by rename, so that a process starting meanwhile never reads half a file. */
function writeAtomic(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

export async function buildCli({ ifStale = false, clean = false, strict = false, log = console.error } = {}) {
  if (ifStale && !isStale()) return { built: false };
  const t0 = performance.now();
  const found = new Map(Object.entries(REQUIRED_BY_NAME));
  const bundled = new Map();
  const problems = [];
  const result = await build({
    absWorkingDir: CLI,
    entryPoints: [
      { in: "src/main.ts", out: "main" },
      { in: "../../packages/pipeline/src/parse/sandbox-main.ts", out: "sandbox-thread" },
      { in: "src/upload/hash-thread.mjs", out: "hash-thread" },
    ],
    outdir: DIST,
    outExtension: { ".js": ".mjs" },
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20.19",
    keepNames: true,
    metafile: true,
    write: false,
    logLevel: "warning",
    // dist/ or dist/chunks/: the folder that RUNTIME_PATHS' `rebase` paths are relative to
    // `require`: what inlined CommonJS packages call for node: modules and external packages
    banner: {
      js:
        'import { createRequire as __docfleetCreateRequire } from "node:module"; ' +
        "const require = __docfleetCreateRequire(import.meta.url); " +
        'const __docfleetDist = new URL(/\\/chunks\\/[^/]*$/.test(import.meta.url) ? "../" : "./", import.meta.url);',
    },
    plugins: [externals(found, bundled), runtimePaths(problems)],
  });
  problems.push(...checkDependencies(found, bundled, log));
  for (const name of found.keys())
    if (bundled.has(name))
      problems.push(`${name} is both inlined and external: list it in INLINE or KEEP_EXTERNAL (build.mjs)`);
  problems.push(...checkSeparation(found, bundled));
  if (problems.length > 0) {
    const text = `docfleet build: packaging problems (the packed CLI would not run):\n  ${problems.join("\n  ")}`;
    if (strict) throw new Error(text);
    log(text);
  }

  const outputs = result.outputFiles.map((f) => posix(relative(DIST, f.path)));
  for (const f of result.outputFiles) writeAtomic(f.path, f.contents);
  for (const [from, to] of ASSETS) {
    const src = join(ROOT, from);
    const files = assetFiles().filter((f) => f.startsWith(src + sep));
    for (const f of files) writeAtomic(join(DIST, to, relative(src, f)), readFileSync(f));
    const keep = new Set(files.map((f) => join(DIST, to, relative(src, f))));
    for (const e of readdirSync(join(DIST, to), { recursive: true, withFileTypes: true }))
      if (e.isFile() && !keep.has(join(e.parentPath, e.name))) rmSync(join(e.parentPath, e.name));
  }
  // Chunks of earlier builds: a running process may still load one lazily, so only old ones go
  // (all of them with `clean`, before packing).
  const chunks = join(DIST, "chunks");
  for (const name of readdirSync(chunks)) {
    const p = join(chunks, name);
    if (!outputs.includes(`chunks/${name}`) && (clean || statSync(p).mtimeMs < Date.now() - 3_600_000))
      rmSync(p);
  }
  const inputs = Object.keys(result.metafile.inputs)
    .map((p) => posix(relative(ROOT, join(CLI, p))))
    .filter((p) => !p.includes("node_modules/"));
  writeAtomic(
    INFO,
    JSON.stringify(
      { problems, inputs, outputs, externals: [...found.keys()].sort(), inlined: [...bundled.keys()].sort() },
      null,
      1,
    ),
  );
  log(
    `docfleet build: ${outputs.length} files in apps/cli/dist from ${inputs.length} sources, ` +
      `${found.size} external packages, ${bundled.size} inlined, ${Math.round(performance.now() - t0)} ms`,
  );
  return { built: true };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await buildCli({
      ifStale: process.argv.includes("--if-stale"),
      clean: process.argv.includes("--clean"),
      strict: process.argv.includes("--strict"),
    });
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
}
