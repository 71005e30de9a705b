import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cruise, type ICruiseResult, type IViolation } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The layer rules of .dependency-cruiser.cjs (run over the real tree by `npm run deps` in CI) must be
// able to fail: each one is run here over a small fixture tree laid out like the repository, with one
// violation per rule, and over a clean tree that must pass.

const CONFIG = fileURLToPath(new URL("../.dependency-cruiser.cjs", import.meta.url));

const PACKAGES: Record<string, string> = {
  "packages/pipeline/package.json": JSON.stringify({
    name: "@docfleet/pipeline",
    type: "module",
    exports: { ".": "./src/index.ts", "./*": "./src/*.ts" },
  }),
  "apps/cli/package.json": JSON.stringify({
    name: "@docfleet/cli",
    type: "module",
    exports: { ".": "./src/index.ts" },
  }),
};

/** Files both trees share: a port, its adapter, and the composition root that picks it. */
const LAYERS: Record<string, string> = {
  "packages/pipeline/src/ports/search.ts": "export interface SearchIndex { search(q: string): string[] }\n",
  "packages/pipeline/src/adapters/search/postgres.ts":
    'import type { SearchIndex } from "../../ports/search.ts";\n' +
    "export class PostgresSearchIndex implements SearchIndex { search() { return []; } }\n",
  "packages/pipeline/src/composition/index.ts":
    'import { PostgresSearchIndex } from "../adapters/search/postgres.ts";\n' +
    "export const buildServices = () => ({ search: new PostgresSearchIndex() });\n",
  "packages/pipeline/src/domain/errors.ts": "export class DocumentError extends Error {}\n",
  "packages/pipeline/src/repositories/documents.ts":
    'import { DocumentError } from "../domain/errors.ts";\nexport const find = () => { throw new DocumentError(); };\n',
  "packages/pipeline/src/services/search.ts":
    'import { find } from "../repositories/documents.ts";\n' +
    'import type { SearchIndex } from "../ports/search.ts";\n' +
    "export const search = (index: SearchIndex, q: string) => (find(), index.search(q));\n",
  "packages/pipeline/src/index.ts":
    'export * from "./services/search.ts";\nexport { buildServices } from "./composition/index.ts";\n',
  "apps/cli/src/system.ts":
    'import { buildServices } from "@docfleet/pipeline";\nexport const startSystem = buildServices;\n',
  "apps/cli/src/commands/server.ts":
    'import { startSystem } from "../system.ts";\nexport const serve = startSystem;\n',
  "apps/cli/src/upload.ts": "export const upload = () => 0;\n",
};

/** One violation per rule. */
const BAD: Record<string, string> = {
  ...LAYERS,
  // no-circular
  "apps/cli/src/main.ts":
    'import { runDemo } from "./commands/demo.ts";\nexport const formatHits = () => runDemo;\n',
  "apps/cli/src/commands/demo.ts":
    'import { formatHits } from "../main.ts";\nexport const runDemo = () => formatHits;\n',
  // pipeline-logic-no-adapters
  "packages/pipeline/src/services/intake.ts":
    'import { PostgresSearchIndex } from "../adapters/search/postgres.ts";\nexport const intake = () => new PostgresSearchIndex();\n',
  // apps-no-adapters, through the package's "./*" export
  "apps/gateway/src/app.ts":
    'import { PostgresSearchIndex } from "@docfleet/pipeline/adapters/search/postgres";\nexport const app = () => new PostgresSearchIndex();\n',
  // tests-no-cli-system: directly, and through the CLI's barrel
  "tests/helpers/system.ts": 'export { startSystem } from "../../apps/cli/src/system.ts";\n',
  "apps/cli/src/index.ts":
    'export { startSystem } from "./system.ts";\nexport { upload } from "./upload.ts";\n',
  "tests/e2e/graphql.test.ts": 'import { startSystem } from "@docfleet/cli";\nstartSystem();\n',
  // ports-no-adapters (a type-only import counts)
  "packages/pipeline/src/ports/models.ts":
    'import type { PostgresSearchIndex } from "../adapters/search/postgres.ts";\nexport type Models = PostgresSearchIndex;\n',
  // domain-is-innermost
  "packages/pipeline/src/domain/messages.ts":
    'import { search } from "../services/search.ts";\nexport const STAGES = [search];\n',
  // repositories-no-services
  "packages/pipeline/src/repositories/batches.ts":
    'import { search } from "../services/search.ts";\nexport const batches = () => search;\n',
};

const EXPECTED: Array<{ rule: string; from: string; to: string }> = [
  { rule: "no-circular", from: "apps/cli/src/main.ts", to: "apps/cli/src/commands/demo.ts" },
  {
    rule: "pipeline-logic-no-adapters",
    from: "packages/pipeline/src/services/intake.ts",
    to: "packages/pipeline/src/adapters/search/postgres.ts",
  },
  {
    rule: "apps-no-adapters",
    from: "apps/gateway/src/app.ts",
    to: "packages/pipeline/src/adapters/search/postgres.ts",
  },
  { rule: "tests-no-cli-system", from: "tests/helpers/system.ts", to: "apps/cli/src/system.ts" },
  { rule: "tests-no-cli-system", from: "tests/e2e/graphql.test.ts", to: "apps/cli/src/system.ts" },
  {
    rule: "ports-no-adapters",
    from: "packages/pipeline/src/ports/models.ts",
    to: "packages/pipeline/src/adapters/search/postgres.ts",
  },
  {
    rule: "domain-is-innermost",
    from: "packages/pipeline/src/domain/messages.ts",
    to: "packages/pipeline/src/services/search.ts",
  },
  {
    rule: "repositories-no-services",
    from: "packages/pipeline/src/repositories/batches.ts",
    to: "packages/pipeline/src/services/search.ts",
  },
];

/** The same shapes, each within the rules (and the exceptions the rules make). */
const CLEAN: Record<string, string> = {
  ...LAYERS,
  "apps/cli/src/main.ts":
    'import { formatHits } from "./commands/search.ts";\nexport const main = () => formatHits;\n',
  "apps/cli/src/commands/search.ts": "export const formatHits = () => 0;\n",
  "apps/cli/src/commands/demo.ts":
    'import { formatHits } from "./search.ts";\nexport const runDemo = () => formatHits;\n',
  "apps/cli/src/index.ts": 'export { upload } from "./upload.ts";\n',
  "apps/gateway/src/app.ts":
    'import { search } from "@docfleet/pipeline";\nimport { buildServices } from "@docfleet/pipeline/composition/index";\n' +
    "export const app = () => search(buildServices().search, 'q');\n",
  // A service's own test may run it on a real adapter.
  "packages/pipeline/src/services/search.test.ts":
    'import { PostgresSearchIndex } from "../adapters/search/postgres.ts";\nimport { search } from "./search.ts";\n' +
    "search(new PostgresSearchIndex(), 'q');\n",
  // Allowed until it moves to composition/.
  "packages/pipeline/src/factories.ts":
    'import { PostgresSearchIndex } from "./adapters/search/postgres.ts";\nexport const make = () => new PostgresSearchIndex();\n',
  // Unit-testing a CLI module is fine; the embedded system comes from the pipeline, not the CLI.
  "tests/e2e/cli.test.ts":
    'import { upload } from "../../apps/cli/src/upload.ts";\nimport { buildServices } from "@docfleet/pipeline";\n' +
    "upload();\nbuildServices();\n",
};

async function fixture(files: Record<string, string>): Promise<string> {
  const root = await realpath(await mkdtemp(join(tmpdir(), "docfleet-deps-")));
  for (const [path, text] of Object.entries({ ...PACKAGES, ...files })) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  // Workspace packages, linked as npm links them.
  await mkdir(join(root, "node_modules/@docfleet"), { recursive: true });
  await symlink("../../packages/pipeline", join(root, "node_modules/@docfleet/pipeline"), "dir");
  await symlink("../../apps/cli", join(root, "node_modules/@docfleet/cli"), "dir");
  return root;
}

async function cruiseFixture(root: string): Promise<ICruiseResult> {
  const options = await extractDepcruiseOptions(CONFIG);
  const result = await cruise(["apps", "packages", "tests"], { ...options, baseDir: root });
  return result.output as ICruiseResult;
}

const roots: string[] = [];
afterAll(async () => {
  await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
});

describe("layer rules over a tree that breaks each of them", () => {
  let violations: IViolation[] = [];
  let result: ICruiseResult;

  beforeAll(async () => {
    const root = await fixture(BAD);
    roots.push(root);
    result = await cruiseFixture(root);
    violations = result.summary.violations;
  });

  it("resolves the deep import through the pipeline package's exports", () => {
    const app = result.modules.find((m) => m.source === "apps/gateway/src/app.ts");
    expect(app?.dependencies.map((d) => [d.module, d.resolved, d.couldNotResolve])).toEqual([
      [
        "@docfleet/pipeline/adapters/search/postgres",
        "packages/pipeline/src/adapters/search/postgres.ts",
        false,
      ],
    ]);
  });

  it.each(EXPECTED)("$rule: $from -> $to", ({ rule, from, to }) => {
    // A cycle is reported from whichever of its modules the cruise met first.
    const pairs =
      rule === "no-circular"
        ? [
            { from, to },
            { from: to, to: from },
          ]
        : [{ from, to }];
    const found = violations.filter(
      (v) => v.rule.name === rule && pairs.some((p) => p.from === v.from && p.to === v.to),
    );
    expect(found.map((v) => v.rule.severity)).toContain("error");
  });

  it("has a fixture for every rule of the config, and reports nothing else", async () => {
    const options = await extractDepcruiseOptions(CONFIG);
    const rules = (options.ruleSet?.forbidden ?? []).map((r) => r.name);
    expect(new Set(EXPECTED.map((e) => e.rule))).toEqual(new Set(rules));
    const expectedRules = new Set(EXPECTED.map((e) => e.rule));
    expect(violations.filter((v) => !expectedRules.has(v.rule.name))).toEqual([]);
  });
});

describe("layer rules over a clean tree", () => {
  it("report no violation", async () => {
    const root = await fixture(CLEAN);
    roots.push(root);
    const result = await cruiseFixture(root);
    // Not vacuous: the tree was cruised, and the package imports resolved.
    expect(result.summary.totalCruised).toBeGreaterThanOrEqual(Object.keys(CLEAN).length);
    const app = result.modules.find((m) => m.source === "apps/gateway/src/app.ts");
    expect(app?.dependencies.map((d) => d.resolved).sort()).toEqual([
      "packages/pipeline/src/composition/index.ts",
      "packages/pipeline/src/index.ts",
    ]);
    expect(result.summary.violations).toEqual([]);
    expect(result.summary.error).toBe(0);
  });
});
