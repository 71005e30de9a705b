import type { Logger } from "pino";
import { DEFAULT_CATEGORIES } from "../adapters/models/builtin/categories.ts";
import { protectDataDir } from "../adapters/owner-only.ts";
import { ArtifactCache } from "../artifact-cache.ts";
import type { AdapterConfig } from "../config.ts";
import { type PipelineDeps, queueDeliveryLimit } from "../domain/context.ts";
import { instrumentModels } from "../observability/index.ts";
import { Metrics } from "../observability/metrics.ts";
import { createTracing, type SpanExporter } from "../observability/tracing.ts";
import { createThreadParser } from "../parse/sandbox.ts";
import type { Models } from "../ports/models.ts";
import {
  createDatabase,
  createLogger,
  createModels,
  createObjectStore,
  createQueue,
  createSearch,
  localSecret,
} from "./adapters.ts";
import { tagOutages } from "./outage-tagging.ts";

export { DEFAULT_CATEGORIES };

/** What a test may put in place of what config builds. */
export interface DepsOverrides {
  /** A logger of its own (captured output). */
  log?: Logger;
  /** A span exporter (in memory). */
  spanExporter?: SpanExporter;
  /** Models of its own (a benchmark's test double that does no work), in place of config's. */
  models?: Models;
}

/** Builds every adapter from config, with this process's metrics registry and tracer. */
export async function buildDeps(
  cfg: AdapterConfig,
  publicUrl: string,
  overrides: DepsOverrides = {},
): Promise<PipelineDeps> {
  const log = overrides.log ?? createLogger(cfg.logLevel, "docfleet");
  // Embedded: the data folder (database, originals, keys) is its owner's only, before anything is written.
  if (cfg.database.kind === "pglite" || cfg.objectStore.kind === "local")
    await protectDataDir(cfg.dataDir, log);
  const db = await createDatabase(cfg.database);
  const metrics = new Metrics().watchDatabase(db);
  const tracing = overrides.spanExporter
    ? createTracing("none", overrides.spanExporter)
    : await tracingFor(cfg.observability.tracesExporter, log);
  // Store and model-server connectivity errors are tagged with their dependency (an outage, not the
  // document's failure); database and broker errors are told apart by their own shapes.
  const models = tagOutages(
    instrumentModels(overrides.models ?? (await createModels(cfg.models)), metrics, tracing),
    "models",
  );
  const { queue, events } = await createQueue(cfg.queue, queueDeliveryLimit(cfg.settings), log);
  return {
    db,
    store: tagOutages(await createObjectStore(cfg.objectStore, publicUrl), "store"),
    queue,
    events,
    search: await createSearch(cfg.search, db, models.embeddingDimensions, log),
    models,
    parser: createThreadParser(cfg.parser),
    categories: DEFAULT_CATEGORIES,
    settings: cfg.settings,
    log,
    metrics,
    tracing,
    artifacts: new ArtifactCache(),
    // Webhook secrets are sealed under the deployment's key; embedded, the data folder's signing secret.
    secretKey:
      cfg.secretKey ??
      (cfg.objectStore.kind === "local"
        ? (cfg.objectStore.secret ?? (await localSecret(cfg.objectStore.root)))
        : undefined),
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
