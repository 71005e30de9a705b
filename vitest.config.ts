import { defineConfig } from "vitest/config";

// One run over every workspace, so CI gets a single summary. Test files in a file run in order;
// files run in parallel (forks), each resetting the state it uses (own PGlite, own schema/vhost).
export default defineConfig({
  test: {
    include: ["apps/*/src/**/*.test.ts", "packages/*/src/**/*.test.ts", "tests/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".tmp/vitest.json" }]] : ["default"],
  },
});
