import type { Logger } from "pino";
import type { ArtifactCache } from "../artifact-cache.ts";
import type { Metrics } from "../observability/metrics.ts";
import type { Tracing } from "../observability/tracing.ts";
import type { DocumentParser } from "../parse/sandbox.ts";
import type { Database } from "../ports/database.ts";
import type { EventBus } from "../ports/event-bus.ts";
import type { Category, Models } from "../ports/models.ts";
import type { ObjectStore } from "../ports/object-store.ts";
import type { Queue } from "../ports/queue.ts";
import type { SearchIndex } from "../ports/search.ts";
import { DEFAULT_WEBHOOK_SETTINGS, type WebhookSettings } from "./webhooks.ts";

/** Limits and policies the pipeline applies; parsed from config by each app. */
export interface PipelineSettings {
  /** Largest file accepted, in bytes (also signed into every upload target). */
  maxUploadBytes: number;
  /** How long an upload target (or a multipart upload's part URLs) stays valid. */
  uploadTtlSeconds: number;
  /** Part size of a multipart upload when the client names none (grown when 10,000 parts would not do). */
  multipartPartBytes: number;
  /** Documents with more pages fail with TOO_LARGE. */
  maxPages: number;
  /** Extracted text beyond this many characters is dropped. */
  maxTextChars: number;
  /** Time budget of one stage run; past it the document fails with TIMEOUT. */
  stageTimeoutMs: number;
  /** How long a worker holds a document before the reconciler may hand it to another. */
  leaseMs: number;
  /**
   * Failed attempts of one stage (transient errors, counted on the document: `attempts - crashes`)
   * before it fails with RETRIES_EXHAUSTED and its message is quarantined. Redeliveries after a worker
   * died are not failures: the queue's own limit (`queueDeliveryLimit`) is only a safety net above it.
   */
  deliveryLimit: number;
  /** Workers that died holding one stage of a document before it fails with WORKER_CRASHED. */
  maxCrashes: number;
  /**
   * How often the progress reconciler (where the relay runs; one instance at a time) looks for active
   * documents with no message in flight (0: never).
   */
  reconcileEveryMs: number;
  /**
   * A QUEUED document unchanged this long, with no unsent outbox row, while its stage queue holds no
   * waiting message (or ten times this long whatever the queue holds), gets its stage message again.
   */
  reconcileQuietMs: number;
  /** Below this confidence (category or any field) a document is flagged for review. */
  reviewThreshold: number;
  /** Texts per embedding request. */
  embedBatchSize: number;
  /** Images (and rendered pages) with more pixels fail with TOO_LARGE. */
  maxPixels: number;
  /** Pages OCR'd per document at most. */
  maxOcrPages: number;
  /** How often a live subscription's API key is checked again (revoked or expired: the subscription ends). */
  authRecheckMs: number;
  /**
   * Fraction of a stage's slots (per process) one tenant may hold while another tenant's work of that
   * stage waits: ceil(slots × fraction), at least 1; 0 turns per-tenant fairness off (`TenantShares`).
   */
  tenantFairShare: number;
  /**
   * Stage chaining (issue 17 goal 1): a worker that finished a document's stage and also serves the
   * next one takes it on at once (advance and claim in one statement, no queue message for that hop)
   * while no other tenant's work waits at either stage. False (the default): every hop goes through
   * the queue. Off by default because a worker that dies mid-chain leaves its chained documents until
   * their lease expires (`leaseMs`, 10 min), where a queued hop's redelivery is taken over at once;
   * measured gain on the distributed bench: about 0.88x worker CPU per document, docs/s unchanged.
   */
  stageChaining: boolean;
  /** Webhook deliveries: attempts, backoff, timeouts and concurrency (DOCFLEET_WEBHOOK_*). */
  webhooks: WebhookSettings;
}

export const DEFAULT_SETTINGS: PipelineSettings = {
  maxUploadBytes: 512 * 1024 * 1024,
  uploadTtlSeconds: 15 * 60,
  multipartPartBytes: 16 * 1024 * 1024,
  maxPages: 2000,
  maxTextChars: 2_000_000,
  stageTimeoutMs: 120_000,
  leaseMs: 10 * 60_000,
  deliveryLimit: 5,
  maxCrashes: 3,
  reconcileEveryMs: 15_000,
  reconcileQuietMs: 120_000,
  reviewThreshold: 0.5,
  embedBatchSize: 32,
  maxPixels: 100_000_000,
  maxOcrPages: 50,
  authRecheckMs: 5000,
  tenantFairShare: 0.5,
  stageChaining: false,
  webhooks: DEFAULT_WEBHOOK_SETTINGS,
};

/**
 * The queue's delivery limit (RabbitMQ's `x-delivery-limit`, the memory queue's): a safety net well above
 * what the stage runner allows, so that the runner, counting on the document, decides RETRIES_EXHAUSTED
 * and WORKER_CRASHED. A worker's death redelivers every message it held, raising their delivery counts:
 * innocent messages must not reach this limit for it.
 */
export function queueDeliveryLimit(s: Pick<PipelineSettings, "deliveryLimit" | "maxCrashes">): number {
  return Math.max(20, 4 * (s.deliveryLimit + s.maxCrashes));
}

/** Everything the pipeline needs, passed in (no module-level singletons). */
export interface PipelineDeps {
  db: Database;
  store: ObjectStore;
  queue: Queue;
  events: EventBus;
  search: SearchIndex;
  models: Models;
  /** Reads documents (type detection, text, OCR, page images); a sandboxed thread pool in workers. */
  parser: DocumentParser;
  /** The default categories every tenant starts with. */
  categories: readonly Category[];
  settings: PipelineSettings;
  log: Logger;
  /** This process's Prometheus instruments (absent: nothing is measured). */
  metrics?: Metrics;
  /** This process's tracer; stage runs continue the trace their message carries (absent: no spans). */
  tracing?: Tracing;
  /**
   * Stage artifacts this process wrote lately (text, chunks), read back from memory by the next stages
   * when their recorded sha256 matches (`artifact-cache.ts`); absent: always read from the store.
   */
  artifacts?: ArtifactCache;
  /**
   * Key material for secrets stored encrypted (webhook signing secrets): DOCFLEET_WEBHOOK_KEY, else
   * DOCFLEET_SIGNING_SECRET, else the local store's signing-secret file. Absent: webhooks are refused.
   */
  secretKey?: string;
}

/** Object keys, always under the tenant's prefix and never derived from file names. */
export const objectKeys = {
  original: (tenantId: string, documentId: string) => `${tenantId}/${documentId}/original`,
  /**
   * Where upload targets put a document's bytes; completeUploads moves them to `original`, which no
   * target ever names (a target used again cannot change what was verified and processed).
   */
  upload: (tenantId: string, documentId: string) => `${tenantId}/${documentId}/upload`,
  text: (tenantId: string, documentId: string) => `${tenantId}/${documentId}/text.txt`,
  chunks: (tenantId: string, documentId: string) => `${tenantId}/${documentId}/chunks.json`,
  words: (tenantId: string, documentId: string) => `${tenantId}/${documentId}/words.json`,
  pageImage: (tenantId: string, documentId: string, page: number) =>
    `${tenantId}/${documentId}/page-${page}.jpg`,
  thumbnail: (tenantId: string, documentId: string) => `${tenantId}/${documentId}/thumbnail.webp`,
};
