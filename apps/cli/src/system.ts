import { createGateway, type HardeningOptions, LOCAL_TENANT_ID } from "@docfleet/gateway";
import {
  type AdapterConfig,
  ApiKeys,
  createDatabase,
  createLogger,
  createModels,
  createObjectStore,
  createQueue,
  createSearch,
  createThreadParser,
  createTracing,
  DEFAULT_CATEGORIES,
  instrumentModels,
  Metrics,
  OutboxRelay,
  Pipeline,
  type PipelineDeps,
  type SpanExporter,
  STAGE_QUEUES,
  type StageName,
} from "@docfleet/pipeline";
import { createWorker } from "@docfleet/worker";
import { type AdminKey, ensureAdminKey } from "./admin-key.ts";

type Logger = PipelineDeps["log"];

export interface ServeOptions {
  /** Serve the GraphQL gateway (and, for the local store, /objects) on this address. */
  /** `hardening`: profile, query and rate limits (the gateway's secure defaults when absent). */
  gateway?: { port: number; host: string; hardening?: HardeningOptions };
  /** Consume these stages. */
  worker?: { roles: readonly StageName[]; concurrency: Record<StageName, number> };
  /**
   * Queue every unfinished document again at start: needed when the queue lived in this process's
   * memory (embedded), never with a broker that kept the messages.
   */
  requeueOnStart: boolean;
  /**
   * Publish the outbox from this process (default true). Rows are claimed with SKIP LOCKED, so any
   * number of processes may relay; a dedicated `docfleet relay` process polls every `relayPollMs`.
   */
  relay?: boolean;
  relayPollMs?: number;
  /** Requests without an API key act as the local tenant (default true: the embedded mode). */
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
  pipeline: Pipeline;
  /** The local admin key's file and whether this start created it (with `adminKeyFile`). */
  adminKey?: AdminKey;
  stop(): Promise<void>;
}

/** Builds every adapter from config, with this process's metrics registry and tracer. */
export async function buildDeps(
  cfg: AdapterConfig,
  publicUrl: string,
  /** Tests: a logger of their own (captured output), a span exporter (in memory). */
  overrides: { log?: Logger; spanExporter?: SpanExporter } = {},
): Promise<PipelineDeps> {
  const log = overrides.log ?? createLogger(cfg.logLevel, "docfleet");
  const db = await createDatabase(cfg.database);
  const metrics = new Metrics().watchDatabase(db);
  const tracing = overrides.spanExporter
    ? createTracing("none", overrides.spanExporter)
    : await tracingFor(cfg.observability.tracesExporter, log);
  const models = instrumentModels(createModels(cfg.models), metrics, tracing);
  const { queue, events } = createQueue(cfg.queue, cfg.settings.deliveryLimit, log);
  return {
    db,
    store: await createObjectStore(cfg.objectStore, publicUrl),
    queue,
    events,
    search: createSearch(cfg.search, db, models.embeddingDimensions, log),
    models,
    parser: createThreadParser(cfg.parser),
    categories: DEFAULT_CATEGORIES,
    settings: cfg.settings,
    log,
    metrics,
    tracing,
  };
}

/** OTLP needs an exporter package this repository does not ship: add it to the deployment image. */
async function tracingFor(kind: AdapterConfig["observability"]["tracesExporter"], log: Logger) {
  if (kind !== "otlp") return createTracing(kind);
  const name = "@opentelemetry/exporter-trace-otlp-http";
  try {
    const { OTLPTraceExporter } = (await import(name)) as {
      OTLPTraceExporter: new () => SpanExporter;
    };
    return createTracing("none", new OTLPTraceExporter());
  } catch {
    log.warn(`OTEL_TRACES_EXPORTER=otlp but ${name} is not installed: traces are not exported`);
    return createTracing("none");
  }
}

/**
 * The composition root of every docfleet process: `serve` (gateway + all worker roles, embedded),
 * `gateway` (gateway + outbox relay) and `worker` (stage consumers + relay + lease reconciler), over
 * the adapters it is given. Returns once listening and consuming.
 */
export async function startSystem(deps: PipelineDeps, opts: ServeOptions): Promise<System> {
  const { db, store, queue, search, log } = deps;
  await db.migrate();
  await Promise.all([store.setup(), search.setup(), queue.setup(STAGE_QUEUES)]);
  const pipeline = new Pipeline(deps);
  await pipeline.ensureTenant(LOCAL_TENANT_ID, "local");
  const adminKey = opts.adminKeyFile
    ? await ensureAdminKey(new ApiKeys(db.prisma), opts.adminKeyFile, LOCAL_TENANT_ID)
    : undefined;

  const relay =
    opts.relay === false
      ? undefined
      : new OutboxRelay(db, queue, log, { batchSize: 200, pollMs: opts.relayPollMs ?? 1000 });
  if (relay) pipeline.onOutbox = relay.kick;
  const worker =
    opts.worker &&
    createWorker({
      pipeline,
      roles: opts.worker.roles,
      concurrency: opts.worker.concurrency,
      reconcileEveryMs: Math.max(1000, Math.floor(deps.settings.leaseMs / 4)),
    });

  // Bound before consuming: a taken METRICS_PORT stops the start before any message is taken.
  let metricsServer: import("node:http").Server | undefined;
  let metricsUrl = "";
  if (!opts.gateway && opts.metrics) {
    ({ server: metricsServer, url: metricsUrl } = await serveMetrics(
      deps,
      opts.metrics.port,
      opts.metrics.host,
    ));
    log.info({ url: `${metricsUrl}/metrics` }, "metrics are served");
  }
  await relay?.drain();
  if (opts.requeueOnStart) {
    const requeued = await pipeline.requeueUnfinished();
    if (requeued > 0) log.info({ requeued }, "re-enqueued unfinished documents after restart");
  }
  relay?.start();
  await worker?.start();
  let server: import("node:http").Server | undefined;
  let gateway: ReturnType<typeof createGateway> | undefined;
  let url = "";
  if (opts.gateway) {
    gateway = createGateway({
      pipeline,
      log,
      allowAnonymous: opts.allowAnonymous ?? true,
      hardening: opts.gateway.hardening,
    });
    ({ server, url } = await gateway.listen(opts.gateway.port, opts.gateway.host));
    log.info({ url: `${url}/graphql` }, "docfleet gateway is serving");
    metricsUrl = url;
  }

  let stopping: Promise<void> | undefined;
  return {
    url,
    metricsUrl,
    pipeline,
    adminKey,
    stop: () =>
      (stopping ??= (async () => {
        await gateway?.close();
        if (server) {
          const s = server;
          await new Promise<void>((r) => {
            s.close(() => r());
            s.closeAllConnections();
          });
        }
        await worker?.stop();
        await relay?.stop();
        if (metricsServer) {
          const s = metricsServer;
          await new Promise<void>((r) => s.close(() => r()));
        }
        await deps.tracing?.shutdown();
        await queue.close();
        await deps.events.close();
        await deps.parser.close();
        await db.close();
      })()),
  };
}

/** `/metrics` and `/health` of a process without a gateway (worker, relay). */
async function serveMetrics(deps: PipelineDeps, port: number, host: string) {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
    } else if (path === "/metrics" && deps.metrics) {
      deps.metrics.expose().then(
        ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
        (err) => {
          deps.log.error({ err }, "metrics collection failed");
          res.writeHead(500).end();
        },
      );
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as import("node:net").AddressInfo;
  return { server, url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${addr.port}` };
}
