#!/usr/bin/env node
// Runs the compiled CLI (apps/cli/dist, built by `npm run build`): no TypeScript loader at run time.
import { existsSync } from "node:fs";
import module from "node:module";

// Node >= 22.1 keeps V8's compiled code of the bundle on disk (the OS temp folder, or
// NODE_COMPILE_CACHE) so later starts skip compiling it; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
// Node 20 has no such call: there it does nothing. Not measured here (this machine has only Node 20).
module.enableCompileCache?.();

const entry = new URL("../dist/main.mjs", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    "docfleet: the CLI is not built (apps/cli/dist/main.mjs is missing): run `npm run build`\n",
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
