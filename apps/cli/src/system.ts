import { createGateway, LOCAL_TENANT_ID } from "@docfleet/gateway";
import {
  type AdapterConfig,
  createDatabase,
  createLogger,
  createModels,
  createObjectStore,
  createQueue,
  createSearch,
  DEFAULT_CATEGORIES,
  OutboxRelay,
  Pipeline,
  type PipelineDeps,
  STAGE_QUEUES,
  type StageName,
} from "@docfleet/pipeline";
import { createWorker } from "@docfleet/worker";

export interface ServeOptions {
  port: number;
  host: string;
  /** URL clients use to reach this gateway (signed upload URLs point there); defaults to http://host:port. */
  publicUrl?: string;
  concurrency: Record<StageName, number>;
}

export interface System {
  url: string;
  pipeline: Pipeline;
  stop(): Promise<void>;
}

/** Builds every adapter from config. */
export async function buildDeps(cfg: AdapterConfig, publicUrl: string): Promise<PipelineDeps> {
  const log = createLogger(cfg.logLevel, "docfleet");
  const db = await createDatabase(cfg.database);
  const models = createModels(cfg.models);
  const { queue, events } = createQueue(cfg.queue, cfg.settings.deliveryLimit);
  return {
    db,
    store: await createObjectStore(cfg.objectStore, publicUrl),
    queue,
    events,
    search: createSearch(cfg.search, db, models.embeddingDimensions),
    models,
    categories: DEFAULT_CATEGORIES,
    settings: cfg.settings,
    log,
  };
}

/**
 * The composition root of `docfleet serve`: gateway + relay + worker (all roles) in one process, over
 * the adapters it is given. Returns once listening.
 */
export async function startSystem(deps: PipelineDeps, opts: ServeOptions): Promise<System> {
  const { db, store, queue, search, log } = deps;
  await db.migrate();
  await Promise.all([store.setup(), search.setup(), queue.setup(STAGE_QUEUES)]);
  const pipeline = new Pipeline(deps);
  await pipeline.ensureTenant(LOCAL_TENANT_ID, "local");

  const relay = new OutboxRelay(db, queue, log);
  pipeline.onOutbox = relay.kick;
  const worker = createWorker({
    pipeline,
    roles: ["PARSE", "UNDERSTAND", "EMBED", "INDEX"],
    concurrency: opts.concurrency,
    reconcileEveryMs: Math.max(1000, Math.floor(deps.settings.leaseMs / 4)),
  });
  const gateway = createGateway({ pipeline, log, allowAnonymous: true, graphiql: true });

  // In-memory queues lost their messages with the last process: queue unfinished work again.
  await relay.drain();
  const requeued = await pipeline.requeueUnfinished();
  if (requeued > 0) log.info({ requeued }, "re-enqueued unfinished documents after restart");
  relay.start();
  await worker.start();
  const { server, url } = await gateway.listen(opts.port, opts.host);
  log.info({ url: `${url}/graphql` }, "docfleet is serving");

  let stopping: Promise<void> | undefined;
  return {
    url,
    pipeline,
    stop: () =>
      (stopping ??= (async () => {
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        await worker.stop();
        await relay.stop();
        await queue.close();
        await deps.events.close();
        await db.close();
      })()),
  };
}
