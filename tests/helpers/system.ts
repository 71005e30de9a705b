import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
// The CLI's admin key file, by its module path: not the CLI's system starter (its barrel loads that).
import { type AdminKey, ensureAdminKey } from "@docfleet/cli/admin-key";
import {
  type BrowserOptions,
  type ConsoleOptions,
  gatewayRole,
  type HardeningOptions,
  LOCAL_TENANT_ID,
  type RateLimits,
} from "@docfleet/gateway";
import {
  type AdapterConfig,
  type Application,
  adapterConfig,
  baseEnvSchema,
  buildDeps,
  createApplication,
  type DepsOverrides,
  metricsServer,
  type PipelineDeps,
  parseEnv,
  STAGES,
  type StageName,
} from "@docfleet/pipeline";
import { createWorker } from "@docfleet/worker";

export interface InProcessOptions {
  /** Environment over `DOCFLEET_DATA_DIR` and `DOCFLEET_LOG_LEVEL=warn` (e.g. S3_*, recheck intervals). */
  env?: Record<string, string>;
  /**
   * The URL signed objects point at, when not the gateway itself (a proxy in front of it); given the
   * gateway's port. Without a gateway: http://unused.invalid unless given.
   */
  publicUrl?: string | ((port: number) => string);
  /** Adapters to replace (a logger, a span exporter). */
  overrides?: DepsOverrides;
  /**
   * Changes the adapters before the application is built on them (a model that fails on purpose, an
   * event recorder that must see every event); may answer other deps to use instead.
   */
  prepare?: (deps: PipelineDeps) => PipelineDeps | undefined;
  /**
   * The GraphQL gateway on a free port of 127.0.0.1 (default: on, with the gateway's secure defaults),
   * or `false` for none.
   */
  gateway?:
    | false
    | {
        hardening?: HardeningOptions;
        rateLimits?: Partial<RateLimits>;
        rateLimiter?: AdapterConfig["rateLimiter"];
        /** The web console at `/` (apps/web's build) and the local key it is offered. */
        console?: ConsoleOptions;
        /** Public URL, CORS origins and host names (README "Browser safety"). */
        browser?: BrowserOptions;
      };
  /** Consume these stages (default: no worker). */
  worker?: { roles: readonly StageName[]; concurrency: Record<StageName, number> };
  /** Queue every unfinished document again at start (default false). */
  requeueOnStart?: boolean;
  /** Publish the outbox from this process (default true), polling every `relayPollMs`. */
  relay?: boolean;
  relayPollMs?: number;
  /**
   * Requests without an API key act as the local tenant (default true: the tests' explicit opt-in,
   * as DOCFLEET_ALLOW_ANONYMOUS=true; `docfleet serve` and `gateway` refuse them by default).
   */
  allowAnonymous?: boolean;
  /** Keep a local admin key for the local tenant in this file, as `docfleet serve` does. */
  adminKeyFile?: string;
  /** `/metrics` and `/health` on their own port, for a system without a gateway. */
  metrics?: { port: number; host: string };
}

/** docfleet running in this test's process. */
export interface System {
  /** The gateway's URL ("" without a gateway). */
  url: string;
  /** Where `/metrics` is served: the gateway's URL, or the metrics port's. */
  metricsUrl: string;
  /** The application (its ports and services). */
  app: Application;
  /** The adapters it runs on (`app.deps`). */
  deps: PipelineDeps;
  /** The local admin key's file and whether this start created it (with `adminKeyFile`). */
  adminKey?: AdminKey;
  stop(): Promise<void>;
}

/**
 * docfleet in this process over `dataDir`: the tests' one way to start it, on the pipeline's
 * composition root (buildDeps + createApplication) with the gateway and worker roles, never through
 * the CLI app. Returns once listening and consuming.
 */
export async function inProcessSystem(dataDir: string, opts: InProcessOptions = {}): Promise<System> {
  const cfg = adapterConfig(
    parseEnv(baseEnvSchema, { DOCFLEET_DATA_DIR: dataDir, DOCFLEET_LOG_LEVEL: "warn", ...opts.env }),
  );
  const reserved = opts.gateway === false ? undefined : await reservePort();
  try {
    return await start(cfg, reserved, opts);
  } finally {
    await reserved?.release();
  }
}

async function start(
  cfg: AdapterConfig,
  reserved: ReservedPort | undefined,
  opts: InProcessOptions,
): Promise<System> {
  const port = reserved?.port ?? 0;
  const publicUrl =
    typeof opts.publicUrl === "function"
      ? opts.publicUrl(port)
      : (opts.publicUrl ?? (reserved ? `http://127.0.0.1:${port}` : "http://unused.invalid"));
  const built = await buildDeps(cfg, publicUrl, opts.overrides);
  const deps = opts.prepare?.(built) ?? built;
  const app = await createApplication(deps, {
    requeueOnStart: opts.requeueOnStart ?? false,
    relay: opts.relay,
    relayPollMs: opts.relayPollMs,
  });
  let adminKey: AdminKey | undefined;
  const gateway =
    opts.gateway === false
      ? undefined
      : gatewayRole(app, {
          port,
          host: "127.0.0.1",
          ...opts.gateway,
          allowAnonymous: opts.allowAnonymous ?? true,
        });
  const metrics =
    !gateway && opts.metrics
      ? metricsServer(deps, opts.metrics.port, opts.metrics.host, app.services.outages)
      : undefined;
  const worker =
    opts.worker &&
    createWorker({
      app,
      roles: opts.worker.roles,
      concurrency: opts.worker.concurrency,
      reconcileEveryMs: Math.max(1000, Math.floor(deps.settings.leaseMs / 4)),
    });
  try {
    if (opts.adminKeyFile)
      adminKey = await ensureAdminKey(app.services.keys, opts.adminKeyFile, LOCAL_TENANT_ID);
    // The reserved port is let go right before the gateway listens on it.
    const release = reserved && { start: reserved.release, stop: async () => {} };
    await app.start([metrics, worker, release, gateway]);
  } catch (err) {
    await app.stop();
    throw err;
  }
  return {
    url: gateway?.url ?? "",
    metricsUrl: gateway?.url ?? metrics?.url ?? "",
    app,
    deps,
    adminKey,
    stop: () => app.stop(),
  };
}

/** Every stage at `n` documents at once. */
export const perStage = (n: number): Record<StageName, number> => ({
  PARSE: n,
  UNDERSTAND: n,
  EMBED: n,
  INDEX: n,
});

/**
 * What `docfleet serve` runs, in this process: the gateway with the development profile, a worker
 * for every stage, the in-memory queue refilled at start and the admin key file in the data folder;
 * unlike serve's default, requests without a key act as the local tenant (opted in, as
 * DOCFLEET_ALLOW_ANONYMOUS=true does), so tests call it without the key. PGlite, the local store,
 * the memory queue and the built-in models unless `env` says otherwise.
 */
export function embeddedSystem(
  dataDir: string,
  opts: { concurrency?: number } & Pick<InProcessOptions, "env" | "overrides" | "prepare"> = {},
): Promise<System> {
  const { concurrency = 2, ...rest } = opts;
  return inProcessSystem(dataDir, {
    ...rest,
    gateway: { hardening: { profile: "development" } },
    worker: { roles: STAGES, concurrency: perStage(concurrency) },
    requeueOnStart: true,
    allowAnonymous: true,
    adminKeyFile: join(dataDir, "admin-key"),
  });
}

interface ReservedPort {
  port: number;
  /** Stops holding it (idempotent). */
  release(): Promise<void>;
}

/**
 * A free port of 127.0.0.1, held by a listening socket until `release`: the public URL needs the
 * gateway's port before the adapters are built, and a port merely found free could be taken by then
 * (EADDRINUSE when the gateway listens).
 */
async function reservePort(): Promise<ReservedPort> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  let released: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    release: () => (released ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  };
}
