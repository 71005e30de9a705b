#!/usr/bin/env node
// Runs the compiled CLI (apps/cli/dist, built by `npm run build`): no TypeScript loader at run time.
import { existsSync } from "node:fs";

const entry = new URL("../dist/main.mjs", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    "docfleet: the CLI is not built (apps/cli/dist/main.mjs is missing): run `npm run build`\n",
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
