import {
  type Consumer,
  checkStageHandlers,
  type PipelineDeps,
  type Services,
  STAGE_HANDLERS,
  STAGES,
  StageChain,
  type StageName,
  stageQueue,
  WorkerRegistry,
} from "@docfleet/pipeline";

export interface WorkerOptions {
  /** The application it works for (the composition root's `createApplication`). */
  app: { deps: PipelineDeps; services: Services };
  /** Stages this process consumes (`WORKER_ROLES`). */
  roles: readonly StageName[];
  /** Messages handled at once per stage; prefetch equals it. */
  concurrency: Record<StageName, number>;
  /** How often to look for expired leases (0: never). */
  reconcileEveryMs: number;
  /** How often the worker's row in the `worker` table is refreshed (default 10 s). */
  heartbeatMs?: number;
  /** Per-tenant fairness timings (tests): how often a run beyond its share checks; answer caching. */
  fairness?: { checkEveryMs?: number; cacheMs?: number };
}

export interface Worker {
  /** This process's id in the `worker` table. */
  readonly id: string;
  start(): Promise<void>;
  /** Stops consuming, lets in-flight messages finish, then returns (SIGTERM drain). */
  stop(): Promise<void>;
}

/** Parses `WORKER_ROLES` ("all" or a comma list of stage names, case-insensitive). */
export function parseRoles(value: string): StageName[] {
  if (value.trim().toLowerCase() === "all") return [...STAGES];
  const roles = value
    .split(",")
    .map((r) => r.trim().toUpperCase())
    .filter(Boolean);
  const bad = roles.filter((r) => !(STAGES as readonly string[]).includes(r));
  if (bad.length || roles.length === 0) {
    throw new Error(
      `WORKER_ROLES: unknown role(s) ${bad.join(", ") || "(none)"}; use all or ${STAGES.join(",").toLowerCase()}`,
    );
  }
  return [...new Set(roles)] as StageName[];
}

/** Stage consumers and the lease reconciler; the application has set up the queues. */
export function createWorker(opts: WorkerOptions): Worker {
  const { deps, services } = opts.app;
  const { queue, log } = deps;
  const consumers: Consumer[] = [];
  let reconciler: NodeJS.Timeout | undefined;
  let reconciling: Promise<unknown> = Promise.resolve();
  let inFlight = 0;
  // Aborted at stop: a message waiting for a dependency to come back is handed back instead.
  const stopping = new AbortController();
  // The slots of the stages this process serves, for stage chaining, made at start; whether a run chains
  // is the stage runner's call (DOCFLEET_STAGE_CHAINING, read there only).
  let chain: StageChain | undefined;
  const registry = new WorkerRegistry(
    deps.db,
    { roles: opts.roles, concurrency: opts.concurrency },
    () => inFlight + (chain?.detached ?? 0),
    opts.heartbeatMs,
  );

  return {
    id: registry.id,
    async start() {
      checkStageHandlers(STAGE_HANDLERS);
      await registry.register();
      // Per-tenant fairness of each stage's slots (DOCFLEET_TENANT_FAIR_SHARE).
      const sharesOf: StageChain["shares"] = Object.fromEntries(
        opts.roles.map((stage) => [
          stage,
          services.stages.tenantShares(stage, opts.concurrency[stage], opts.fairness),
        ]),
      );
      // A stage's slots bound its consumer's runs and the runs chained into it alike.
      chain = new StageChain(sharesOf, opts.concurrency);
      for (const stage of opts.roles) {
        const shares = sharesOf[stage]!;
        consumers.push(
          queue.consume(
            stageQueue(stage),
            async (d) => {
              inFlight++;
              chain?.enter(stage);
              try {
                // While a dependency is down (an open breaker) no message is started: the ones already
                // taken wait here (prefetch bounds them), the rest stay in the queue.
                if (!(await services.outages.whenUp(undefined, stopping.signal)))
                  return { action: "defer", delayMs: 1000, reason: "worker stopping during an outage" };
                return await services.stages.processStage(d.body, d.attempt, stopping.signal, shares, chain);
              } finally {
                inFlight--;
                chain?.leave(stage);
              }
            },
            { concurrency: opts.concurrency[stage] },
          ),
        );
      }
      if (opts.reconcileEveryMs > 0) {
        reconciler = setInterval(() => {
          reconciling = services.stages
            .reconcileExpiredLeases()
            .then((n) => n > 0 && log.warn({ requeued: n }, "re-enqueued documents whose lease expired"))
            .catch((err) => log.error({ err }, "reconciler failed"));
        }, opts.reconcileEveryMs);
        reconciler.unref();
      }
      log.info({ roles: opts.roles }, "worker started");
    },
    async stop() {
      stopping.abort();
      clearInterval(reconciler);
      await Promise.all(consumers.splice(0).map((c) => c.close()));
      // Chained runs go on after their message was acked: let them finish (each stops at its stage).
      await chain?.drain();
      await reconciling;
      await registry.unregister();
      log.info("worker drained");
    },
  };
}
