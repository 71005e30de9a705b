import type { PipelineDeps } from "../domain/context.ts";
import { type StageName, stageQueue } from "../domain/messages.ts";
import type { Dependency } from "../domain/outages.ts";
import type { StageHandler } from "../stages/index.ts";
import type { CategoriesService } from "./categories.ts";
import { DeletionService } from "./deletion.ts";
import { DocumentFilesService } from "./documents.ts";
import { IntakeService } from "./intake.ts";
import { ApiKeys } from "./keys.ts";
import { OperationsService } from "./operations.ts";
import { type OutageOptions, Outages, type Probe } from "./outages.ts";
import { createResources, type ResourceOptions, type Resources } from "./resources.ts";
import { ReviewService } from "./review.ts";
import { SearchService } from "./search.ts";
import { StageRunner } from "./stage-runner.ts";
import { WebhooksService, webhookSecretBox } from "./webhooks.ts";

/**
 * The application's API, one service per area over one shared resources object. The gateway's
 * resolvers, the worker and the CLI call these; only repositories below them write queries.
 */
export interface Services {
  readonly resources: Resources;
  intake: IntakeService;
  stages: StageRunner;
  operations: OperationsService;
  review: ReviewService;
  search: SearchService;
  documents: DocumentFilesService;
  categories: CategoriesService;
  /** Deleting documents and batches without a trace; cancelling a batch. */
  deletion: DeletionService;
  /** API keys: works on the unscoped client (a key is looked up before its tenant is known). */
  keys: ApiKeys;
  /** Circuit breakers per dependency: outages told from document failures, health, pausing consumers. */
  outages: Outages;
  /** A tenant's webhook endpoints and delivery log (the dispatcher sends them where the relay runs). */
  webhooks: WebhooksService;
}

export function createServices(
  deps: PipelineDeps,
  opts: ResourceOptions & {
    handlers?: Record<StageName, StageHandler>;
    /** Wakes this process's webhook dispatcher (a redelivery or an endpoint enabled). */
    webhookKick?: () => void;
    /** Breaker timings, and probes to use instead of the ports' (tests). */
    outages?: OutageOptions & { probes?: Partial<Record<Dependency, Probe>> };
  } = {},
): Services {
  const resources = createResources(deps, opts);
  const outages = createOutages(deps, opts.outages);
  return {
    resources,
    intake: new IntakeService(resources),
    stages: new StageRunner(resources, opts.handlers, outages),
    operations: new OperationsService(resources),
    review: new ReviewService(resources),
    search: new SearchService(resources),
    documents: new DocumentFilesService(resources),
    categories: resources.categories,
    deletion: new DeletionService(resources),
    keys: new ApiKeys(deps.db),
    outages,
    webhooks: new WebhooksService(
      deps.db,
      webhookSecretBox(deps.secretKey),
      opts.webhookKick,
      deps.settings.webhooks.allowPrivateTargets,
    ),
  };
}

/** A probe per dependency through its port: a query, a stat of an absent key, a queue's depth, an embedding. */
function createOutages(
  deps: PipelineDeps,
  { probes, ...opts }: OutageOptions & { probes?: Partial<Record<Dependency, Probe>> } = {},
): Outages {
  return new Outages(
    {
      database: () => deps.db.query("SELECT 1"),
      // The store's own probe where it has one (the local store: can it write?), else a stat.
      store: () => (deps.store.probe ? deps.store.probe() : deps.store.stat("docfleet-probe/absent")),
      broker: () => deps.queue.depth(stageQueue("PARSE")),
      models: () => deps.models.embed(["probe"]),
      ...probes,
    },
    deps.log,
    opts,
  );
}

export type { CategoriesService, CategoryInput, StoredCategory } from "./categories.ts";
export { CategoryFieldsSchema, CategoryInputSchema, fieldKind, parseCategoryFields } from "./categories.ts";
export type { DeleteOutcome, DeletionService } from "./deletion.ts";
export { DELETE_MAX_IDS } from "./deletion.ts";
export type { DocumentFilesService } from "./documents.ts";
export type {
  CompleteOutcome,
  FileRequest,
  IntakeService,
  MultipartTarget,
  UploadOutcome,
} from "./intake.ts";
export * from "./keys.ts";
export type {
  OperationsService,
  QuarantineGroup,
  ReprocessFilter,
  RetryBatchRequest,
  RetryOutcome,
  RetryRequest,
} from "./operations.ts";
export { type DependencyState, type OutageOptions, Outages, type Probe } from "./outages.ts";
export { OutboxRelay, type RelayOptions } from "./relay.ts";
export type { ResourceOptions, Resources } from "./resources.ts";
export type { ReviewService } from "./review.ts";
export {
  SEARCH_LIMITS,
  SEARCH_MAX_DEPTH,
  SEARCH_MAX_FIRST,
  type SearchFilterInput,
  type SearchPage,
  type SearchService,
  toFilter,
} from "./search.ts";
export { StageChain } from "./stage-chain.ts";
export type { StageRunner } from "./stage-runner.ts";
export type { Holding, TenantShares, TenantSharesOptions } from "./tenant-shares.ts";
export {
  type WebhookAttempt,
  type WebhookDeliveryInfo,
  WebhookDispatcher,
  type WebhookInfo,
  type WebhooksService,
  webhookSecretBox,
} from "./webhooks.ts";
export { type WorkerInfo, WorkerRegistry } from "./workers.ts";
