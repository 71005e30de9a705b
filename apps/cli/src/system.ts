import { readFile } from "node:fs/promises";
import {
  type BrowserOptions,
  type ConsoleOptions,
  findConsoleDir,
  gatewayRole,
  type HardeningOptions,
  LOCAL_TENANT_ID,
  type RateLimits,
} from "@docfleet/gateway";
import {
  type AdapterConfig,
  type Application,
  type ApplicationOptions,
  buildDeps,
  createApplication,
  metricsServer,
  type PipelineDeps,
  type StageName,
} from "@docfleet/pipeline";
import { createWorker } from "@docfleet/worker";
import { type AdminKey, ensureAdminKey } from "./admin-key.ts";

export { buildDeps };

export interface ServeOptions extends ApplicationOptions {
  /** Serve the GraphQL gateway (and, for the local store, /objects) on this address. */
  /**
   * `hardening`: profile and query limits; `rateLimits`: per-key budgets, counted by `rateLimiter`
   * (memory when absent); the gateway's secure defaults where unset.
   */
  gateway?: {
    port: number;
    host: string;
    hardening?: HardeningOptions;
    rateLimits?: Partial<RateLimits>;
    rateLimiter?: AdapterConfig["rateLimiter"];
    /** Public URL, CORS origins and host names (README "Browser safety"). */
    browser?: BrowserOptions;
    /** The web console at `/`: apps/web's build when installed; offered the admin key file's key. */
    console?: ConsoleOptions;
  };
  /** Consume these stages. */
  worker?: { roles: readonly StageName[]; concurrency: Record<StageName, number> };
  /** Requests without an API key act as the local tenant's admin (default false: an explicit opt-in). */
  allowAnonymous?: boolean;
  /** Keep a local admin key for the local tenant in this file (created at first start, mode 0600). */
  adminKeyFile?: string;
  /**
   * Serve `/metrics` and `/health` on their own port (workers and relays); a gateway serves them on its
   * own port and ignores this.
   */
  metrics?: { port: number; host: string };
}

export interface System {
  url: string;
  /** Where `/metrics` is served: the gateway's URL, or the metrics port's. */
  metricsUrl: string;
  /** The application (its ports and services) this process runs. */
  app: Application;
  /** The local admin key's file and whether this start created it (with `adminKeyFile`). */
  adminKey?: AdminKey;
  stop(): Promise<void>;
}

/**
 * A docfleet process: `serve` (gateway + all worker roles, embedded), `gateway` (gateway + outbox
 * relay) and `worker` (stage consumers + relay + lease reconciler). The pipeline's composition root
 * builds the application; this picks its roles. Returns once listening and consuming.
 */
export async function startSystem(deps: PipelineDeps, opts: ServeOptions): Promise<System> {
  const app = await createApplication(deps, opts);
  const adminKey = opts.adminKeyFile
    ? await ensureAdminKey(app.services.keys, opts.adminKeyFile, LOCAL_TENANT_ID)
    : undefined;
  // Bound before consuming: a taken METRICS_PORT stops the start before any message is taken.
  const metrics =
    !opts.gateway && opts.metrics
      ? metricsServer(deps, opts.metrics.port, opts.metrics.host, app.services.outages, () => app.ready())
      : undefined;
  const worker =
    opts.worker &&
    createWorker({
      app,
      roles: opts.worker.roles,
      concurrency: opts.worker.concurrency,
      reconcileEveryMs: Math.max(1000, Math.floor(deps.settings.leaseMs / 4)),
    });
  const keyFile = opts.adminKeyFile;
  const web: ConsoleOptions = {
    dir: opts.gateway?.console?.dir ?? findConsoleDir(),
    // Read at each ask: an operator may rotate the file while serve runs.
    localKey: opts.gateway?.console?.localKey ?? (keyFile ? () => readFile(keyFile, "utf8") : undefined),
  };
  const gateway =
    opts.gateway &&
    gatewayRole(app, { ...opts.gateway, console: web, allowAnonymous: opts.allowAnonymous ?? false });
  try {
    await app.start([metrics, worker, gateway]);
  } catch (err) {
    await app.stop();
    throw err;
  }
  return {
    url: gateway?.url ?? "",
    metricsUrl: gateway?.url ?? metrics?.url ?? "",
    app,
    adminKey,
    stop: () => app.stop(),
  };
}
