import { createRequire } from "node:module";
import { defineConfig } from "vitest/config";

const require = createRequire(import.meta.url);
const INCLUDE = ["apps/*/src/**/*.test.ts", "packages/*/src/**/*.test.ts", "tests/**/*.test.ts"];
const EXCLUSIVE = "tests/**/*.exclusive.test.ts";

// One run over every workspace, so CI gets a single summary. Test files in a file run in order;
// files run in parallel (forks), each resetting the state it uses (own PGlite, own schema/vhost).
export default defineConfig({
  resolve: {
    // graphql 16 ships index.js and index.mjs without an exports map: Node loads index.js for every
    // package, but Vite would hand our own source index.mjs, a second GraphQLError class that
    // graphql-yoga's instanceof checks reject (every coded error then reads INTERNAL_SERVER_ERROR).
    // Resolve it the way Node does.
    alias: [{ find: /^graphql$/, replacement: require.resolve("graphql") }],
  },
  test: {
    exclude: ["**/node_modules/**"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: process.env.CI ? ["default", ["json", { outputFile: ".tmp/vitest.json" }]] : ["default"],
    projects: [
      {
        extends: true,
        test: {
          name: "parallel",
          include: INCLUDE,
          exclude: ["**/node_modules/**", EXCLUSIVE],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Tests that disturb a shared service for everyone (they restart the RabbitMQ broker): run
        // alone, after every other file has finished.
        extends: true,
        test: {
          name: "exclusive",
          include: [EXCLUSIVE],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
