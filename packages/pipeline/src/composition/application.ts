import { createWebhookTransport } from "../adapters/http/webhook-transport.ts";
import type { PipelineDeps } from "../domain/context.ts";
import { STAGE_QUEUES } from "../domain/messages.ts";
import { createServices, type Services } from "../services/index.ts";
import { LOCAL_TENANT_ID } from "../services/keys.ts";
import { ProgressReconciler } from "../services/reconciler.ts";
import { OutboxRelay } from "../services/relay.ts";
import { WebhookDispatcher, webhookSecretBox } from "../services/webhooks.ts";

/** A part of a process that starts after the application and stops before it (worker, gateway, metrics). */
export interface Role {
  start(): Promise<void>;
  /** Stops taking work and lets work in progress finish. */
  stop(): Promise<void>;
}

export interface ApplicationOptions {
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
}

/** One docfleet process's application: its ports, its services, and the outbox relay. */
export interface Application {
  readonly deps: PipelineDeps;
  readonly services: Services;
  readonly relay?: OutboxRelay;
  /**
   * Republishes active documents that have no message in flight (`services/reconciler.ts`); runs where
   * the relay runs, one instance at a time (advisory lock).
   */
  readonly reconciler?: ProgressReconciler;
  /** Sends webhook deliveries (`services/webhooks.ts`); runs where the relay runs. */
  readonly webhooks?: WebhookDispatcher;
  /** Publishes what the outbox holds, re-queues after a restart of the in-memory queue, then starts `roles` in order. */
  start(roles?: readonly (Role | undefined)[]): Promise<void>;
  /**
   * Readiness of what `start` left warming up after the roles started: Prisma's client (its first
   * query initialises its query compiler, ~0.8 s of CPU, so start-up runs only raw SQL and leaves
   * it to after listening). Resolves once a Prisma query has answered; rejects while it fails (each
   * call after a failure tries again). The gateway's `/ready` waits on it; `/health` is liveness only.
   */
  ready(): Promise<void>;
  /** Stops the roles (last started first), the relay, then closes every port. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: ports -> services. Migrates the database and sets up the store, the search
 * index and the queues, so that services work as soon as it returns (nothing consumes until `start`).
 */
export async function createApplication(deps: PipelineDeps, opts: ApplicationOptions): Promise<Application> {
  const { db, store, queue, search, log } = deps;
  try {
    await db.migrate();
    await Promise.all([store.setup(), search.setup(), queue.setup(STAGE_QUEUES)]);
  } catch (err) {
    // A start that fails leaves nothing open (pool, broker connection, parser threads): the process
    // then ends with its error code instead of staying up without serving (issue 15).
    await releaseDeps(deps);
    throw err;
  }
  const relay =
    opts.relay === false
      ? undefined
      : new OutboxRelay(db, queue, log, { batchSize: 200, pollMs: opts.relayPollMs ?? 1000 });
  const webhooks = relay
    ? new WebhookDispatcher(
        db,
        webhookSecretBox(deps.secretKey),
        deps.settings.webhooks,
        log,
        createWebhookTransport({ allowPrivate: deps.settings.webhooks.allowPrivateTargets }),
      )
    : undefined;
  if (relay && webhooks) relay.onWebhookDeliveries = webhooks.kick;
  // The after-commit hook is fixed here, once: the relay publishes new outbox rows right away.
  const services = createServices(deps, { afterCommit: relay?.kick, webhookKick: webhooks?.kick });
  await services.intake.ensureTenant(LOCAL_TENANT_ID, "local");
  const reconciler = relay
    ? new ProgressReconciler(services.resources, services.stages, {
        everyMs: deps.settings.reconcileEveryMs,
        quietMs: deps.settings.reconcileQuietMs,
      })
    : undefined;

  const started: Role[] = [];
  let stopping: Promise<void> | undefined;
  // Prisma's first query, run after the roles started (not awaited by start): see `ready`.
  let warm: Promise<void> | undefined;
  let warmTimer: NodeJS.Timeout | undefined;
  const warmUp = () => {
    const w: Promise<void> = db.prisma.tenant.findFirst({ select: { id: true } }).then(
      () => {},
      (err: unknown) => {
        if (warm === w) warm = undefined; // the next `ready` tries again
        throw err;
      },
    );
    return w;
  };
  return {
    deps,
    services,
    relay,
    reconciler,
    webhooks,
    async start(roles = []) {
      await relay?.drain();
      if (opts.requeueOnStart) {
        const requeued = await services.stages.requeueUnfinished();
        if (requeued > 0) log.info({ requeued }, "re-enqueued unfinished documents after restart");
      }
      relay?.start();
      reconciler?.start();
      webhooks?.start();
      for (const role of roles) {
        if (!role) continue;
        await role.start();
        started.push(role);
      }
      // Shortly after listening, not at once: the client's initialisation holds the event loop for
      // a few hundred ms at a time (wasm compile, schema), and the first probes are answered first.
      warmTimer = setTimeout(() => {
        warm ??= warmUp();
        warm.catch((err: unknown) =>
          log.error({ err }, "database client (Prisma) failed to initialise: /ready answers 503"),
        );
      }, WARM_UP_AFTER_MS);
      warmTimer.unref();
    },
    ready() {
      if (stopping) return Promise.reject(new Error("stopping"));
      warm ??= warmUp();
      return warm;
    },
    stop: () =>
      (stopping ??= (async () => {
        clearTimeout(warmTimer);
        for (const role of started.splice(0).reverse()) await role.stop();
        await warm?.catch(() => {}); // settled before the database closes under it
        services.outages.close(); // waiters for a dependency give up: nothing more will run
        await reconciler?.stop();
        await webhooks?.stop();
        await relay?.stop();
        await deps.tracing?.shutdown();
        await queue.close();
        await deps.events.close();
        await deps.parser.close();
        await db.close();
      })()),
  };
}

/** How long after the roles started the application warms Prisma's client up (`Application.ready`). */
const WARM_UP_AFTER_MS = 100;

/** Closes every port of `deps` that holds a connection, a thread or a timer; a failure is logged, never thrown. */
async function releaseDeps(deps: PipelineDeps): Promise<void> {
  const steps: [string, (() => Promise<void>) | undefined][] = [
    ["tracing", deps.tracing && (() => deps.tracing!.shutdown())],
    ["queue", () => deps.queue.close()],
    ["event bus", () => deps.events.close()],
    ["parser", () => deps.parser.close()],
    ["database", () => deps.db.close()],
  ];
  for (const [name, close] of steps) {
    try {
      await close?.();
    } catch (err) {
      deps.log.warn({ err, port: name }, "closing after a failed start");
    }
  }
}
