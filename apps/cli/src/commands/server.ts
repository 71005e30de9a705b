import { join } from "node:path";
import {
  type AdapterConfig,
  adapterConfig,
  baseEnvSchema,
  ConfigError,
  createDatabase,
  createLogger,
  parseEnv,
  STAGES,
  type StageName,
} from "@docfleet/pipeline";
import { parseRoles } from "@docfleet/worker";
import pinoPretty from "pino-pretty";
import { lockDataDir } from "../data-lock.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { checkPort } from "../listen-check.ts";
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
  // A taken port, like a held data folder, is found before the database opens and models load.
  const port = o.port === 0 ? await freePort(o.host) : await checkPort(o.host, o.port);
  const publicUrl = o.publicUrl ?? `http://${o.host}:${port}`;
  const lock =
    cfg.database.kind === "pglite"
      ? lockDataDir(cfg.dataDir, "serve", {
          url: localUrl(o.host, port),
          hint: () => "stop it first, or give this one another --data-dir",
        })
      : null;
  try {
    const deps = await buildDeps(cfg, publicUrl, { log: cliLogger(cfg.logLevel) });
    const system = await startSystem(deps, {
      gateway: { port, host: o.host, browser: { ...cfg.browser, publicUrl }, ...surface(cfg, "development") },
      worker: { roles: STAGES, concurrency: perStage(o.concurrency, o.understandConcurrency) },
      requeueOnStart: cfg.queue.kind === "memory",
      // Anonymous requests were the local tenant's admin: any web page could use them. Now an opt-in;
      // the CLI sends the admin key below (local-key.ts).
      allowAnonymous: cfg.allowAnonymous ?? false,
      adminKeyFile: join(cfg.dataDir, "admin-key"),
    });
    return {
      ...system,
      stop: async () => {
        try {
          await system.stop();
        } finally {
          lock?.release();
        }
      },
    };
  } catch (err) {
    lock?.release();
    throw err;
  }
}

/** How this machine reaches a server listening on `host` (a wildcard address: through loopback). */
function localUrl(host: string, port: number): string {
  const h =
    host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

/**
 * Human-readable logs on a terminal (pino-pretty, colours unless NO_COLOR), JSON lines elsewhere (a
 * file, a pipe, a log collector).
 */
function cliLogger(level: AdapterConfig["logLevel"]) {
  if (!process.stdout.isTTY) return createLogger(level, "docfleet");
  const pretty = pinoPretty({
    colorize: !process.env.NO_COLOR,
    translateTime: "SYS:HH:MM:ss",
    ignore: "pid,hostname,name",
    // one line a record: a request log is a line, not eight
    singleLine: true,
    sync: true,
    destination: 1,
  });
  return createLogger(level, "docfleet", pretty);
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

export async function gateway(o: { port: number; host: string; publicUrl?: string; relay: boolean }) {
  const cfg = distributedConfig("gateway");
  await checkPort(o.host, o.port);
  const publicUrl = o.publicUrl ?? `http://${o.host}:${o.port}`;
  return buildDeps(cfg, publicUrl, { log: cliLogger(cfg.logLevel) }).then((deps) =>
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
  const cfg = config(dataDir);
  const lock = cfg.database.kind === "pglite" ? lockDataDir(cfg.dataDir, "migrate") : null;
  try {
    const db = await createDatabase(cfg.database);
    try {
      return await db.migrate();
    } finally {
      await db.close();
    }
  } finally {
    lock?.release();
  }
}
