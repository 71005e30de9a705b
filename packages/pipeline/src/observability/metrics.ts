import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { STAGES } from "../domain/messages.ts";
import type { Database } from "../ports/database.ts";

/** Every series docfleet exports (besides prom-client's default process metrics); the dashboard test reads it. */
export const SERIES = [
  "docfleet_stage_duration_seconds",
  "docfleet_documents_completed_total",
  "docfleet_documents_failed_total",
  "docfleet_stage_retries_total",
  "docfleet_queue_depth",
  "docfleet_queue_oldest_age_seconds",
  "docfleet_documents_processing",
  "docfleet_documents_quarantined",
  "docfleet_model_request_duration_seconds",
  "docfleet_model_tokens_total",
  "docfleet_outbox_unpublished",
  "docfleet_outbox_oldest_age_seconds",
  "docfleet_uploads_requested_total",
  "docfleet_uploads_completed_total",
  "docfleet_graphql_request_duration_seconds",
] as const;

export { readBacklog, type StageBacklog } from "../repositories/backlog.ts";
export { readOutboxLag } from "../repositories/outbox.ts";

import { readBacklog, type StageBacklog } from "../repositories/backlog.ts";
import { readOutboxLag } from "../repositories/outbox.ts";

/**
 * One process's Prometheus registry and instruments, created by the composition root and passed
 * through context (never a module-level registry, so two systems in one test process do not mix).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly stageDuration: Histogram<"stage" | "outcome">;
  readonly documentsCompleted: Counter;
  readonly documentsFailed: Counter<"stage" | "code">;
  readonly stageRetries: Counter<"stage">;
  readonly modelDuration: Histogram<"role" | "model">;
  readonly modelTokens: Counter<"role" | "model" | "kind">;
  readonly uploadsRequested: Counter;
  readonly uploadsCompleted: Counter;
  readonly graphqlDuration: Histogram<"operation">;
  private db: Database | undefined;
  private cache: { at: number; value: Promise<Snapshot> } | undefined;

  constructor(opts: { defaultMetrics?: boolean; cacheMs?: number } = {}) {
    const registers = [this.registry];
    const cacheMs = opts.cacheMs ?? 2000;
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.stageDuration = new Histogram({
      name: "docfleet_stage_duration_seconds",
      help: "Time of one stage run, by stage and outcome (ok, failed, retry)",
      labelNames: ["stage", "outcome"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.documentsCompleted = new Counter({
      name: "docfleet_documents_completed_total",
      help: "Documents that went through every stage of their run",
      registers,
    });
    this.documentsFailed = new Counter({
      name: "docfleet_documents_failed_total",
      help: "Documents that failed, by the stage they failed at and the failure code",
      labelNames: ["stage", "code"],
      registers,
    });
    this.stageRetries = new Counter({
      name: "docfleet_stage_retries_total",
      help: "Stage runs that failed transiently and were queued for a retry",
      labelNames: ["stage"],
      registers,
    });
    // Present from the start (at 0), so a dashboard's rate() has a series before the first retry.
    for (const stage of STAGES) this.stageRetries.inc({ stage }, 0);
    this.modelDuration = new Histogram({
      name: "docfleet_model_request_duration_seconds",
      help: "Time of one model call, by role (understand, embed) and model",
      labelNames: ["role", "model"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.modelTokens = new Counter({
      name: "docfleet_model_tokens_total",
      help: "Tokens used by model calls (kind prompt or completion); built-in models count words and generate none",
      labelNames: ["role", "model", "kind"],
      registers,
    });
    this.uploadsRequested = new Counter({
      name: "docfleet_uploads_requested_total",
      help: "Files registered by requestUploads that got an upload target",
      registers,
    });
    this.uploadsCompleted = new Counter({
      name: "docfleet_uploads_completed_total",
      help: "Uploaded files queued for processing by completeUploads",
      registers,
    });
    this.graphqlDuration = new Histogram({
      name: "docfleet_graphql_request_duration_seconds",
      help: "Time of one GraphQL operation, by operation type (query, mutation, subscription: setup only)",
      labelNames: ["operation"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    // Database-backed gauges: one query per scrape at most every `cacheMs`, shared by all of them.
    const snapshot = () => {
      const db = this.db;
      if (!db) return undefined;
      if (!this.cache || Date.now() - this.cache.at > cacheMs) {
        const value = Promise.all([readBacklog(db), readOutboxLag(db)]).then(([backlog, outbox]) => ({
          backlog,
          outbox,
        }));
        value.catch(() => {});
        this.cache = { at: Date.now(), value };
      }
      return this.cache.value;
    };
    const perStage = (name: string, help: string, pick: (b: StageBacklog) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["stage"],
        registers,
        async collect() {
          const s = await snapshot()?.catch(() => undefined);
          this.reset();
          for (const b of s?.backlog ?? []) this.set({ stage: b.stage }, pick(b));
        },
      });
    perStage("docfleet_queue_depth", "Documents waiting (QUEUED) per stage", (b) => b.depth);
    perStage(
      "docfleet_queue_oldest_age_seconds",
      "How long the oldest waiting document of each stage has waited",
      (b) => b.oldestAgeSeconds,
    );
    perStage("docfleet_documents_processing", "Documents a worker holds, per stage", (b) => b.processing);
    perStage(
      "docfleet_documents_quarantined",
      "Failed documents per stage they stopped at (operators retry or release them)",
      (b) => b.quarantined,
    );
    const outbox = (name: string, help: string, pick: (o: Snapshot["outbox"]) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const s = await snapshot()?.catch(() => undefined);
          if (s) this.set(pick(s.outbox));
        },
      });
    outbox("docfleet_outbox_unpublished", "Outbox rows not yet published to the queue", (o) => o.pending);
    outbox(
      "docfleet_outbox_oldest_age_seconds",
      "Age of the oldest unpublished outbox row (the relay's lag)",
      (o) => o.oldestAgeSeconds,
    );
  }

  /** Reads the database-backed gauges (queues, outbox) from this database on scrape. */
  watchDatabase(db: Database): this {
    this.db = db;
    return this;
  }

  /** The exposition text and its content type, for a `/metrics` handler. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

interface Snapshot {
  backlog: StageBacklog[];
  outbox: { pending: number; oldestAgeSeconds: number };
}
