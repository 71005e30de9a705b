import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GatewayClient } from "../client.ts";
import { ExitCode } from "../exit-codes.ts";
import type { SearchMode } from "../generated/graphql.ts";
import { resolveSources } from "../upload/sources.ts";
import { formatHits, search } from "./search.ts";
import { serve } from "./server.ts";
import { formatSummary, UPLOAD_DEFAULTS, upload } from "./upload.ts";

const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));
const QUERIES: [string, SearchMode][] = [
  ["invoice total due", "HYBRID"],
  ["termination of the agreement", "KEYWORD"],
  ["quarterly revenue growth", "VECTOR"],
];

/** The README's first command: a fresh embedded server, the bundled examples, a few searches. */
export async function runDemo(dataDir?: string): Promise<number> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), "docfleet-demo-")));
  process.env.DOCFLEET_LOG_LEVEL ??= "warn";
  const system = await serve({ port: 0, host: "127.0.0.1", dataDir: dir, concurrency: 2 });
  try {
    // serve refuses requests without a key: the demo uses the admin key it just created.
    const key = system.adminKey && (await readFile(system.adminKey.path, "utf8")).trim();
    const client = new GatewayClient(system.url, key || undefined);
    process.stdout.write(`docfleet demo: embedded server at ${system.url}/graphql, data in ${dir}\n\n`);
    const summary = await upload(client, {
      ...UPLOAD_DEFAULTS,
      sources: await resolveSources([EXAMPLES]),
      endpoint: system.url,
      stateDir: join(dir, "state"),
      batchName: "demo",
      concurrency: 4,
      wait: true,
      progress: null,
    });
    process.stdout.write(`${formatSummary(summary)}\n\n`);
    for (const [q, mode] of QUERIES) {
      process.stdout.write(`search (${mode}) "${q}":\n`);
      process.stdout.write(formatHits(q, await search(client, q, mode, 3)));
      process.stdout.write("\n");
    }
    return summary.failed > 0 ? ExitCode.PARTIAL : ExitCode.OK;
  } finally {
    await system.stop();
    if (!dataDir) await rm(dir, { recursive: true, force: true });
  }
}
