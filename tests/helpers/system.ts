import { buildDeps, startSystem } from "@docfleet/cli";
import { adapterConfig, baseEnvSchema, parseEnv } from "@docfleet/pipeline";
import { freePort } from "./cli.ts";

type SystemOptions = Parameters<typeof startSystem>[1];

export interface InProcessOptions {
  /** Environment over `DOCFLEET_DATA_DIR` and `DOCFLEET_LOG_LEVEL=warn` (e.g. S3_*, recheck intervals). */
  env?: Record<string, string>;
  /** The URL signed objects point at, when not the gateway itself (a proxy in front of it). */
  publicUrl?: (port: number) => string;
  /** Adapters to replace (a logger, a span exporter). */
  overrides?: Parameters<typeof buildDeps>[2];
  /** What to run besides the gateway on a free port (workers, anonymous access...). */
  system?: Omit<SystemOptions, "gateway" | "requeueOnStart"> & { requeueOnStart?: boolean };
}

/** docfleet in this process over `dataDir`, its gateway on a free port: the tests' one way to start it. */
export async function inProcessSystem(dataDir: string, opts: InProcessOptions = {}) {
  const port = await freePort();
  const cfg = adapterConfig(
    parseEnv(baseEnvSchema, { DOCFLEET_DATA_DIR: dataDir, DOCFLEET_LOG_LEVEL: "warn", ...opts.env }),
  );
  const deps = await buildDeps(cfg, opts.publicUrl?.(port) ?? `http://127.0.0.1:${port}`, opts.overrides);
  const system = await startSystem(deps, {
    requeueOnStart: false,
    ...opts.system,
    gateway: { port, host: "127.0.0.1" },
  });
  return { system, deps, url: `http://127.0.0.1:${port}` };
}
