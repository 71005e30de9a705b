import { join } from "node:path";
import {
  type AdapterConfig,
  adapterConfig,
  baseEnvSchema,
  ConfigError,
  createDatabase,
  parseEnv,
  STAGES,
  type StageName,
} from "@docfleet/pipeline";
import { parseRoles } from "@docfleet/worker";
import { CliError, ExitCode } from "../exit-codes.ts";
import { buildDeps, startSystem } from "../system.ts";

// The commands that run docfleet itself. main.ts imports this module only for them, so that client
// commands (upload, watch, search) never load the pipeline, its models and its database.

function config(dataDir?: string) {
  const env = { ...process.env, ...(dataDir ? { DOCFLEET_DATA_DIR: dataDir } : {}) };
  return adapterConfig(parseEnv(baseEnvSchema, env));
}

export async function serve(o: {
  port: number;
  host: string;
  dataDir?: string;
  publicUrl?: string;
  concurrency: number;
  understandConcurrency?: number;
}) {
  const cfg = config(o.dataDir);
  // With port 0 the public URL is only known once listening: bind first through a fixed port.
  const port = o.port === 0 ? await freePort(o.host) : o.port;
  const publicUrl = o.publicUrl ?? `http://${o.host}:${port}`;
  const deps = await buildDeps(cfg, publicUrl);
  return startSystem(deps, {
    gateway: { port, host: o.host, browser: { ...cfg.browser, publicUrl }, ...surface(cfg, "development") },
    worker: { roles: STAGES, concurrency: perStage(o.concurrency, o.understandConcurrency) },
    requeueOnStart: cfg.queue.kind === "memory",
    // Anonymous requests were the local tenant's admin: any web page could use them. Now an opt-in;
    // the CLI sends the admin key below (local-key.ts).
    allowAnonymous: cfg.allowAnonymous ?? false,
    adminKeyFile: join(cfg.dataDir, "admin-key"),
  });
}

function perStage(n: number, understand?: number): Record<StageName, number> {
  return { PARSE: n, UNDERSTAND: understand ?? n, EMBED: n, INDEX: n };
}

/**
 * The GraphQL surface as configured, with this command's profile where DOCFLEET_PROFILE is unset, and
 * its rate limits' budgets and store.
 */
function surface(cfg: AdapterConfig, profile: "development" | "production") {
  const { rateLimits, ...hardening } = cfg.gateway;
  return {
    hardening: { ...hardening, profile: hardening.profile ?? profile },
    rateLimits,
    rateLimiter: cfg.rateLimiter,
  };
}

/** Config of a `gateway` or `worker` process: only meaningful with a shared database and broker. */
function distributedConfig(what: string) {
  const cfg = config();
  const missing = [
    cfg.database.kind !== "postgres" && "DATABASE_URL (PostgreSQL)",
    cfg.queue.kind !== "rabbitmq" && "AMQP_URL (RabbitMQ)",
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new ConfigError(
      `docfleet ${what} is a process of the distributed mode and needs ${missing.join(" and ")}; ` +
        "for everything in one process on the embedded adapters, use `docfleet serve`",
    );
  }
  return cfg;
}

/** Resolves after SIGINT/SIGTERM once `system` has drained and stopped. */
export function untilSignal(system: { stop(): Promise<void> }): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.stderr.write("stopping: finishing in-flight work...\n");
      system.stop().then(resolve, resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

async function freePort(host: string): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export function gateway(o: { port: number; host: string; publicUrl?: string; relay: boolean }) {
  const cfg = distributedConfig("gateway");
  const publicUrl = o.publicUrl ?? `http://${o.host}:${o.port}`;
  return buildDeps(cfg, publicUrl).then((deps) =>
    startSystem(deps, {
      gateway: {
        port: o.port,
        host: o.host,
        browser: { ...cfg.browser, publicUrl },
        ...surface(cfg, "production"),
      },
      requeueOnStart: false,
      relay: o.relay,
      allowAnonymous: cfg.allowAnonymous ?? false,
    }),
  );
}

export async function worker(o: {
  roles: string;
  concurrency: number;
  understandConcurrency?: number;
  relay: boolean;
  metricsPort?: number;
  metricsHost?: string;
}) {
  let roles: StageName[];
  try {
    roles = parseRoles(o.roles);
  } catch (err) {
    throw new CliError((err as Error).message, ExitCode.USAGE);
  }
  const cfg = distributedConfig("worker");
  const system = await startSystem(await buildDeps(cfg, "http://unused.invalid"), {
    worker: { roles, concurrency: perStage(o.concurrency, o.understandConcurrency) },
    requeueOnStart: false,
    relay: o.relay,
    metrics: {
      port: o.metricsPort ?? cfg.observability.metricsPort,
      host: o.metricsHost ?? cfg.observability.metricsHost,
    },
  });
  return { system, roles };
}

export async function relay(o: { pollMs: number; metricsPort?: number; metricsHost?: string }) {
  const cfg = distributedConfig("relay");
  return startSystem(await buildDeps(cfg, "http://unused.invalid"), {
    requeueOnStart: false,
    relayPollMs: o.pollMs,
    metrics: {
      port: o.metricsPort ?? cfg.observability.metricsPort,
      host: o.metricsHost ?? cfg.observability.metricsHost,
    },
  });
}

/** Applies pending migrations; answers their names. */
export async function migrate(dataDir?: string): Promise<string[]> {
  const db = await createDatabase(config(dataDir).database);
  try {
    return await db.migrate();
  } finally {
    await db.close();
  }
}
