import {
  type Consumer,
  checkStageHandlers,
  type Pipeline,
  STAGE_HANDLERS,
  STAGES,
  type StageName,
  stageQueue,
} from "@docfleet/pipeline";

export interface WorkerOptions {
  pipeline: Pipeline;
  /** Stages this process consumes (`WORKER_ROLES`). */
  roles: readonly StageName[];
  /** Messages handled at once per stage; prefetch equals it. */
  concurrency: Record<StageName, number>;
  /** How often to look for expired leases (0: never). */
  reconcileEveryMs: number;
}

export interface Worker {
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

/** Stage consumers and the lease reconciler; the caller has set up the queues (startSystem does). */
export function createWorker(opts: WorkerOptions): Worker {
  const { pipeline } = opts;
  const { queue, log } = pipeline.deps;
  const consumers: Consumer[] = [];
  let reconciler: NodeJS.Timeout | undefined;
  let reconciling: Promise<unknown> = Promise.resolve();

  return {
    async start() {
      checkStageHandlers(STAGE_HANDLERS);
      for (const stage of opts.roles) {
        consumers.push(
          queue.consume(stageQueue(stage), (d) => pipeline.processStage(d.body, d.attempt), {
            concurrency: opts.concurrency[stage],
          }),
        );
      }
      if (opts.reconcileEveryMs > 0) {
        reconciler = setInterval(() => {
          reconciling = pipeline
            .reconcileExpiredLeases()
            .then((n) => n > 0 && log.warn({ requeued: n }, "re-enqueued documents whose lease expired"))
            .catch((err) => log.error({ err }, "reconciler failed"));
        }, opts.reconcileEveryMs);
        reconciler.unref();
      }
      log.info({ roles: opts.roles }, "worker started");
    },
    async stop() {
      clearInterval(reconciler);
      await Promise.all(consumers.splice(0).map((c) => c.close()));
      await reconciling;
      log.info("worker drained");
    },
  };
}
