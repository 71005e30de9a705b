// Runs `prisma generate` offline. Prisma 7 wants a schema engine binary even to generate; it cannot be
// downloaded here and generate does not use it, so any existing file will do.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= process.execPath;
// the pothos generator is a bin of @pothos/plugin-prisma, hoisted to the root
env.PATH = `${join(root, "../../node_modules/.bin")}:${env.PATH ?? ""}`;
execFileSync(process.execPath, [join(root, "../../node_modules/prisma/build/index.js"), "generate"], {
  cwd: root,
  env,
  stdio: "inherit",
});
