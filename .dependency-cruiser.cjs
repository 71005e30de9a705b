// Layer rules (CONVENTIONS.md "Tooling", ARCHITECTURE.md "Layers inside packages/pipeline"), checked by
// `npm run deps` in CI. Every path below is relative to the cruise's baseDir (the repository root), so
// tests/dependency-rules.test.ts can run this same file over a fixture tree in a temporary folder.

const PIPELINE = "^packages/pipeline/src/";
const ADAPTERS = `${PIPELINE}adapters/`;
const TEST_FILE = "\\.(test|spec)\\.ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "A cycle between modules of an app or a package: move the shared piece into a module of its own.",
      from: { path: "^(apps|packages)/[^/]+/src/", pathNot: "/src/generated/" },
      to: { circular: true },
    },
    {
      name: "pipeline-logic-no-adapters",
      severity: "error",
      comment:
        "Pipeline logic works through ports; only composition/ (the one place that picks adapters) and " +
        "the adapters themselves import adapters/. Tests beside a service may use the PGlite and memory " +
        "adapters (CONVENTIONS: service tests on PGlite + memory adapters). ports/ and domain/ have rules " +
        "of their own below. factories.ts: allowed until it moves to composition/.",
      from: {
        path: PIPELINE,
        pathNot: [`${PIPELINE}(adapters|composition|ports|domain)/`, `${PIPELINE}factories\\.ts$`, TEST_FILE],
      },
      to: { path: ADAPTERS },
    },
    {
      name: "apps-no-adapters",
      severity: "error",
      comment:
        "Apps get adapters from the pipeline's composition root, never by importing them (deep imports " +
        "such as @docfleet/pipeline/adapters/... resolve to packages/pipeline/src/adapters/).",
      from: { path: "^apps/[^/]+/src/" },
      to: { path: ADAPTERS },
    },
    {
      name: "tests-no-cli-system",
      severity: "error",
      comment:
        "Tests never start a system through the CLI app (CONVENTIONS: fixtures start an embedded system). " +
        "They may import other CLI modules to unit-test them. Reachable, not only direct: the CLI's " +
        "barrel (@docfleet/cli) re-exports its composition, so importing it loads system.ts.",
      from: { path: "^tests/" },
      to: { path: "^apps/cli/src/(system|commands/server)\\.ts$", reachable: true },
    },
    {
      name: "ports-no-adapters",
      severity: "error",
      comment: "A port is an interface with its contract; adapters implement it, never the other way round.",
      from: { path: `${PIPELINE}ports/` },
      to: { path: ADAPTERS },
    },
    {
      name: "domain-is-innermost",
      severity: "error",
      comment: "domain/ (errors, messages, events, codecs, stage plan, lifecycle) depends on no other layer.",
      from: { path: `${PIPELINE}domain/` },
      to: { path: `${PIPELINE}(services|repositories|stages|adapters|composition)/` },
    },
    {
      name: "repositories-no-services",
      severity: "error",
      comment: "Services call repositories, not the other way round.",
      from: { path: `${PIPELINE}repositories/` },
      to: { path: `${PIPELINE}services/` },
    },
  ],
  options: {
    // Workspace packages are symlinks in node_modules to their folders: followed through their real
    // path; third-party packages are leaves.
    doNotFollow: { path: "(^|/)node_modules/" },
    exclude: { path: "(^|/)(node_modules|dist|coverage|\\.turbo)/|/src/generated/" },
    moduleSystems: ["es6", "cjs"],
    // Type-only imports count: a port importing an adapter's type is still coupled to it.
    tsPreCompilationDeps: true,
    // The code imports "./x.ts" (allowImportingTsExtensions) and "@docfleet/pipeline/x", which the
    // package's "./*" export maps to src/x.ts.
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
      extensions: [".ts", ".mts", ".cts", ".d.ts", ".js", ".mjs", ".cjs", ".json"],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
