import { homedir } from "node:os";
import { resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_SETTINGS, type PipelineSettings } from "./domain/context.ts";

/**
 * The most shared_buffers the embedded PGlite starts with: its WebAssembly memory holds them and
 * everything else (2047 MiB fails to initialise, 1792 starts; 1536 leaves 512 MiB for the rest).
 */
export const PGLITE_MAX_SHARED_BUFFERS_MB = 1536;

/** Booleans only from "true"/"1" (and "false"/"0"), never from any non-empty string. */
export const envBool = z.enum(["true", "1", "false", "0"]).transform((v) => v === "true" || v === "1");
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const optInt = (min = 0) => z.coerce.number().int().min(min).optional();
/** A comma-separated list (blanks dropped), each item checked by `item`; unset: empty. */
const commaList = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((v) =>
      v
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item))
    .default([]);
/** An http(s) origin, `scheme://host[:port]` and nothing more, as `URL.origin` spells it. */
const origin = z.string().transform((v, ctx) => {
  try {
    const u = new URL(v);
    const bare = !u.username && !u.password && u.pathname === "/" && !u.search && !u.hash;
    if ((u.protocol === "http:" || u.protocol === "https:") && bare) return u.origin;
  } catch {}
  ctx.addIssue({ code: "custom", message: `"${v}" is not an origin (like https://app.example.com)` });
  return z.NEVER;
});
/** A host name, `.example.com` (it and its subdomains) or `*` (any), as the Host check takes them. */
const hostName = z
  .string()
  .toLowerCase()
  .regex(/^(\*|\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])$/, "a host name, .domain or *");

/**
 * Environment variables shared by every docfleet process. Each adapter is picked by one variable; an
 * unknown value is a start-up error, never a silent fallback.
 */
export const baseEnvSchema = z.object({
  DOCFLEET_DATA_DIR: z.string().default(".docfleet"),
  DOCFLEET_DATABASE: z.enum(["pglite", "postgres"]).optional(),
  DATABASE_URL: z.string().url().optional(),
  DATABASE_POOL_SIZE: int(10, 1),
  /**
   * Embedded database (PGlite): PostgreSQL's shared_buffers in MiB; unset: the data folder's size
   * within 128..1024 (autoSharedBuffersMb). Search over a large archive wants its HNSW index and chunk
   * rows cached; the whole amount is resident from the start.
   */
  DOCFLEET_PGLITE_SHARED_BUFFERS_MB: z.coerce
    .number()
    .int()
    .min(16)
    .max(PGLITE_MAX_SHARED_BUFFERS_MB)
    .optional(),
  /**
   * PostgreSQL server: `statement_timeout` of every connection (ms; 0: none), so no statement of a
   * request, transaction or worker runs on without bound (migrations lift it).
   */
  DOCFLEET_STATEMENT_TIMEOUT_MS: int(60_000, 0),
  /** PostgreSQL server: each search statement is cancelled after this long (ms; 0: only the above). */
  DOCFLEET_SEARCH_TIMEOUT_MS: int(10_000, 0),
  DOCFLEET_OBJECT_STORE: z.enum(["local", "s3"]).optional(),
  S3_ENDPOINT: z.string().url().optional(),
  S3_PUBLIC_URL: z.string().url().optional(),
  S3_ACCESS_KEY: z.string().min(1).optional(),
  S3_SECRET_KEY: z.string().min(1).optional(),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "a valid S3 bucket name")
    .default("docfleet"),
  S3_REGION: z.string().default("us-east-1"),
  /**
   * Browser origins allowed to upload to and download from the bucket directly; `setup()` puts them in
   * the bucket's CORS rule. Unset: the bucket's CORS rule is left alone (on AWS, Terraform owns it).
   */
  S3_CORS_ORIGINS: commaList(origin),
  // Without S3_ACCESS_KEY / S3_SECRET_KEY the S3 adapter takes credentials from these, in the AWS SDKs'
  // order: environment keys, then the shared credentials file's profile, then the instance role (IMDSv2).
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
  /** Default ~/.aws/credentials. */
  AWS_SHARED_CREDENTIALS_FILE: z.string().min(1).optional(),
  AWS_PROFILE: z.string().min(1).default("default"),
  /** Default http://169.254.169.254. */
  AWS_EC2_METADATA_SERVICE_ENDPOINT: z.string().url().optional(),
  /** Never ask the instance metadata service (off EC2 it only costs a 1 s timeout at start-up). */
  AWS_EC2_METADATA_DISABLED: envBool.optional(),
  DOCFLEET_QUEUE: z.enum(["memory", "rabbitmq"]).optional(),
  AMQP_URL: z
    .string()
    .regex(/^amqps?:\/\//, "an amqp:// or amqps:// URL")
    .optional(),
  /** Prepended to every queue and exchange name: several deployments (or tests) on one broker. */
  AMQP_PREFIX: z.string().default(""),
  DOCFLEET_SEARCH: z.enum(["postgres", "opensearch"]).optional(),
  OPENSEARCH_URL: z
    .string()
    .regex(/^https?:\/\//, "an http:// or https:// URL")
    .optional(),
  OPENSEARCH_USERNAME: z.string().min(1).optional(),
  OPENSEARCH_PASSWORD: z.string().min(1).optional(),
  /** Names the alias, indexes, template and pipeline: several deployments (or tests) on one cluster. */
  OPENSEARCH_INDEX_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,100}$/, "lowercase letters, digits, '_', '.', '-'")
    .default("docfleet"),
  /** pipeline: fused by an OpenSearch search pipeline (RRF, 2.19+); client: fused by docfleet. */
  OPENSEARCH_HYBRID: z.enum(["pipeline", "client"]).default("pipeline"),
  DOCFLEET_MODELS: z.enum(["builtin", "ollama"]).optional(),
  OLLAMA_URL: z.string().url().optional(),
  OLLAMA_TEXT_MODEL: z.string().min(1).default("qwen2.5:7b-instruct"),
  OLLAMA_VISION_MODEL: z.string().min(1).default("qwen2.5vl:7b"),
  OLLAMA_EMBED_MODEL: z.string().min(1).default("nomic-embed-text"),
  /** Fixed for the life of a search index: changing it needs a new index. */
  OLLAMA_EMBED_DIMENSIONS: int(768, 1),
  /** Per HTTP call to Ollama; past it the call counts as transient and the stage retries. */
  OLLAMA_TIMEOUT_MS: int(60_000, 100),
  /** Extra attempts when a model's answer does not fit the schema. */
  OLLAMA_MAX_RETRIES: int(2, 0).pipe(z.number().max(10)),
  OLLAMA_EMBED_BATCH: int(32, 1),
  /** Largest page image sent to the vision model: 1,003,520 px ≈ 1,280 Qwen2.5-VL tokens (28×28 px each). */
  OLLAMA_VISION_PIXELS: int(1_003_520, 28 * 28),
  /** num_ctx asked of Ollama: fixed, since a different value makes Ollama reload the model. */
  OLLAMA_NUM_CTX: int(8192, 512),
  /** Document text sent per understand call; longer texts keep their start. */
  OLLAMA_MAX_PROMPT_CHARS: int(16_000, 500),
  /** HMAC key for signed URLs of the local object store; generated and kept in the data folder if unset. */
  DOCFLEET_SIGNING_SECRET: z.string().min(32).optional(),
  /**
   * Key material for webhook secrets stored encrypted (AES-256-GCM, HKDF-derived); default
   * DOCFLEET_SIGNING_SECRET, then the data folder's signing-secret (embedded). Every gateway and relay of a
   * deployment needs the same one.
   */
  DOCFLEET_WEBHOOK_KEY: z.string().min(32).optional(),
  /** Webhook deliveries: attempts before FAILED, backoff (doubling from the base, capped), request timeout. */
  DOCFLEET_WEBHOOK_MAX_ATTEMPTS: int(DEFAULT_SETTINGS.webhooks.maxAttempts, 1),
  DOCFLEET_WEBHOOK_BASE_DELAY_MS: int(DEFAULT_SETTINGS.webhooks.baseDelayMs, 1),
  DOCFLEET_WEBHOOK_MAX_DELAY_MS: int(DEFAULT_SETTINGS.webhooks.maxDelayMs, 1),
  DOCFLEET_WEBHOOK_TIMEOUT_MS: int(DEFAULT_SETTINGS.webhooks.timeoutMs, 100),
  /** Webhook requests in flight per relay process, and per endpoint. */
  DOCFLEET_WEBHOOK_CONCURRENCY: int(DEFAULT_SETTINGS.webhooks.concurrency, 1),
  DOCFLEET_WEBHOOK_PER_ENDPOINT: int(DEFAULT_SETTINGS.webhooks.perEndpoint, 1),
  /**
   * Webhook endpoints on loopback, private, link-local or reserved addresses (SSRF): refused unless true.
   * Default: true for the embedded database (`serve`, one machine), false for PostgreSQL deployments.
   */
  DOCFLEET_WEBHOOK_ALLOW_PRIVATE: envBool.optional(),
  DOCFLEET_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * The GraphQL surface. development: introspection, GraphiQL and "Did you mean" suggestions; production:
   * none of them. Unset: development for `serve`, production for `gateway`. The two booleans override it.
   */
  DOCFLEET_PROFILE: z.enum(["development", "production"]).optional(),
  DOCFLEET_INTROSPECTION: envBool.optional(),
  DOCFLEET_GRAPHIQL: envBool.optional(),
  /** Limits on one GraphQL document (graphql-armor); unset: the gateway's defaults (hardening.ts). */
  DOCFLEET_GRAPHQL_MAX_DEPTH: optInt(1),
  DOCFLEET_GRAPHQL_MAX_COST: optInt(1),
  DOCFLEET_GRAPHQL_MAX_ALIASES: optInt(0),
  DOCFLEET_GRAPHQL_MAX_TOKENS: optInt(1),
  DOCFLEET_GRAPHQL_MAX_DIRECTIVES: optInt(0),
  /** Per API key (or tenant without one) and minute; 0 turns the limit off. */
  DOCFLEET_RATE_UPLOAD_FILES_PER_MIN: optInt(0),
  DOCFLEET_RATE_SEARCHES_PER_MIN: optInt(0),
  /** Where rate limits are counted: memory (each process alone) or redis (shared); unset: redis when REDIS_URL is set. */
  DOCFLEET_RATE_LIMITER: z.enum(["memory", "redis"]).optional(),
  /** Rate limits shared by every gateway through this Redis. */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "a redis:// or rediss:// URL")
    .optional(),
  DOCFLEET_MAX_UPLOAD_BYTES: int(DEFAULT_SETTINGS.maxUploadBytes, 1).pipe(z.number().max(2 ** 31 - 1)),
  DOCFLEET_UPLOAD_TTL_SECONDS: int(DEFAULT_SETTINGS.uploadTtlSeconds, 10),
  /** S3's minimum part size; at most what a GraphQL Int carries. */
  DOCFLEET_MULTIPART_PART_BYTES: int(DEFAULT_SETTINGS.multipartPartBytes, 5 * 1024 * 1024).pipe(
    z.number().max(2 ** 31 - 1),
  ),
  DOCFLEET_MAX_PAGES: int(DEFAULT_SETTINGS.maxPages, 1),
  DOCFLEET_STAGE_TIMEOUT_MS: int(DEFAULT_SETTINGS.stageTimeoutMs, 100),
  DOCFLEET_LEASE_MS: int(DEFAULT_SETTINGS.leaseMs, 1000),
  DOCFLEET_DELIVERY_LIMIT: int(DEFAULT_SETTINGS.deliveryLimit, 1),
  DOCFLEET_MAX_CRASHES: int(DEFAULT_SETTINGS.maxCrashes, 1),
  DOCFLEET_RECONCILE_EVERY_MS: int(DEFAULT_SETTINGS.reconcileEveryMs, 0),
  DOCFLEET_RECONCILE_QUIET_MS: int(DEFAULT_SETTINGS.reconcileQuietMs, 1000),
  /** Fraction of a stage's slots one tenant holds while another tenant waits (0: fairness off). */
  DOCFLEET_TENANT_FAIR_SHARE: z.coerce.number().min(0).max(1).default(DEFAULT_SETTINGS.tenantFairShare),
  /** A worker runs a document's next stage at once when it serves it (no queue hop); false: never. */
  DOCFLEET_STAGE_CHAINING: envBool.optional(),
  /** Sandboxed parse threads per process (each also runs one OCR thread); default: cores, at most 4. */
  DOCFLEET_PARSE_THREADS: z.coerce.number().int().min(1).max(64).optional(),
  /** V8 heap limit of each parse thread; a document needing more fails TOO_LARGE. */
  DOCFLEET_PARSE_HEAP_MB: int(1024, 32),
  /** Pages OCR'd per document at most (the rest keep no text). */
  DOCFLEET_MAX_OCR_PAGES: int(DEFAULT_SETTINGS.maxOcrPages, 0),
  /** Pixels of one image or rendered page at most; more fails TOO_LARGE (pixel bombs). */
  DOCFLEET_MAX_PIXELS: int(DEFAULT_SETTINGS.maxPixels, 1_000_000),
  DOCFLEET_REVIEW_THRESHOLD: z.coerce.number().min(0).max(1).default(DEFAULT_SETTINGS.reviewThreshold),
  /** Requests without an API key act as the local tenant (an explicit opt-in: unset is false everywhere). */
  DOCFLEET_ALLOW_ANONYMOUS: envBool.optional(),
  DOCFLEET_AUTH_RECHECK_MS: int(DEFAULT_SETTINGS.authRecheckMs, 50),
  /** More origins whose pages may call the gateway (CORS), beside its public URL's. */
  DOCFLEET_CORS_ORIGINS: commaList(origin),
  /** More `Host` names the gateway answers, beside IP addresses, localhost and its public URL's host. */
  DOCFLEET_ALLOWED_HOSTS: commaList(hostName),
  /** Port of `/metrics` and `/health` on `worker` and `relay` (gateways serve them on their own port). */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  /** Address the workers' and relays' /metrics and /health listen on: loopback unless a scraper needs more. */
  METRICS_HOST: z.string().trim().min(1).default("127.0.0.1"),
  /** Trace exporter: none (trace ids still reach logs and messages), console, or otlp (needs @opentelemetry/exporter-trace-otlp-http in the image). */
  OTEL_TRACES_EXPORTER: z.enum(["none", "console", "otlp"]).default("none"),
});

export type BaseEnv = z.infer<typeof baseEnvSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses the environment with `schema`; the error names every bad variable at once. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "unset", as in most shells' `VAR= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const res = schema.safeParse(cleaned);
  if (res.success) return res.data;
  const lines = res.error.issues.map((i) => `  ${i.path.join(".") || "(env)"}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}

/** The GraphQL gateway's surface as configured; `undefined`: the process's or the gateway's default. */
export interface GatewayConfig {
  profile: "development" | "production" | undefined;
  introspection: boolean | undefined;
  graphiql: boolean | undefined;
  limits: {
    maxDepth: number | undefined;
    maxCost: number | undefined;
    maxAliases: number | undefined;
    maxTokens: number | undefined;
    maxDirectives: number | undefined;
  };
  rateLimits: {
    uploadFilesPerMin: number | undefined;
    searchesPerMin: number | undefined;
  };
}

export interface AdapterConfig {
  dataDir: string;
  database:
    | { kind: "pglite"; dir: string; sharedBuffersMb?: number }
    | { kind: "postgres"; url: string; poolSize: number; statementTimeoutMs?: number };
  objectStore:
    | {
        kind: "local";
        root: string;
        secret: string | undefined;
        /** Pages that may upload and download through `/objects/*` (DOCFLEET_CORS_ORIGINS), beside the public URL's. */
        corsOrigins?: string[];
        /** DOCFLEET_MAX_UPLOAD_BYTES: no target is signed for more. */
        maxUploadBytes?: number;
      }
    | {
        kind: "s3";
        endPoint: string;
        publicUrl: string | undefined;
        /** Static keys, both or neither; neither: `credentials`. */
        accessKey: string | undefined;
        secretKey: string | undefined;
        /** The credential chain (adapters/objectstore/s3-credentials.ts) when there are no static keys. */
        credentials: {
          env: { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string };
          sharedCredentialsFile: string;
          profile: string;
          imds: { endpoint?: string; disabled: boolean };
        };
        corsOrigins: string[];
        /** DOCFLEET_MAX_UPLOAD_BYTES: no target is signed for more. */
        maxUploadBytes?: number;
        bucket: string;
        region: string;
      };
  queue: { kind: "memory" } | { kind: "rabbitmq"; url: string; prefix: string };
  search:
    | { kind: "postgres"; timeoutMs?: number }
    | {
        kind: "opensearch";
        url: string;
        username: string | undefined;
        password: string | undefined;
        prefix: string;
        hybrid: "pipeline" | "client";
      };
  models:
    | { kind: "builtin" }
    | {
        kind: "ollama";
        url: string;
        textModel: string;
        visionModel: string;
        embedModel: string;
        embedDimensions: number;
        timeoutMs: number;
        maxRetries: number;
        embedBatch: number;
        visionPixels: number;
        numCtx: number;
        maxPromptChars: number;
      };
  parser: { threads: number | undefined; heapMb: number };
  /** The GraphQL surface; unset values are left to the gateway's defaults (apps/gateway/src/hardening.ts). */
  gateway: GatewayConfig;
  /** The rate limits' counters (the budgets are the gateway's `rateLimits`). */
  rateLimiter: { kind: "memory" } | { kind: "redis"; url: string };
  logLevel: BaseEnv["DOCFLEET_LOG_LEVEL"];
  /** Unset: the process decides (both `serve` and `gateway` refuse anonymous requests). */
  allowAnonymous: boolean | undefined;
  /** What browsers may reach (the gateway's `browser` option, with the public URL added by the process). */
  browser: { corsOrigins: string[]; allowedHosts: string[] };
  observability: { metricsPort: number; metricsHost: string; tracesExporter: "none" | "console" | "otlp" };
  settings: PipelineSettings;
  /** DOCFLEET_WEBHOOK_KEY or DOCFLEET_SIGNING_SECRET (buildDeps falls back to the local store's secret file). */
  secretKey: string | undefined;
}

/** The typed, nested configuration every composition root takes. */
export function adapterConfig(env: BaseEnv): AdapterConfig {
  const dataDir = resolve(env.DOCFLEET_DATA_DIR);
  // Each distributed adapter is chosen by its variable, or implied by its connection setting.
  const dbKind = env.DOCFLEET_DATABASE ?? (env.DATABASE_URL ? "postgres" : "pglite");
  const storeKind = env.DOCFLEET_OBJECT_STORE ?? (env.S3_ENDPOINT ? "s3" : "local");
  const queueKind = env.DOCFLEET_QUEUE ?? (env.AMQP_URL ? "rabbitmq" : "memory");
  const modelsKind = env.DOCFLEET_MODELS ?? (env.OLLAMA_URL ? "ollama" : "builtin");
  const searchKind = env.DOCFLEET_SEARCH ?? (env.OPENSEARCH_URL ? "opensearch" : "postgres");
  const rateKind = env.DOCFLEET_RATE_LIMITER ?? (env.REDIS_URL ? "redis" : "memory");
  const missing: string[] = [];
  const need = (name: keyof BaseEnv, why: string) => {
    if (!env[name]) missing.push(`  ${name}: required when ${why}`);
  };
  if (dbKind === "postgres") need("DATABASE_URL", "DOCFLEET_DATABASE=postgres");
  if (storeKind === "s3") {
    need("S3_ENDPOINT", "the object store is s3");
    if (Boolean(env.S3_ACCESS_KEY) !== Boolean(env.S3_SECRET_KEY))
      missing.push("  S3_ACCESS_KEY, S3_SECRET_KEY: set both, or neither to use the AWS credential chain");
    if (Boolean(env.AWS_ACCESS_KEY_ID) !== Boolean(env.AWS_SECRET_ACCESS_KEY))
      missing.push("  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: set both or neither");
  }
  if (queueKind === "rabbitmq") need("AMQP_URL", "DOCFLEET_QUEUE=rabbitmq");
  if (modelsKind === "ollama") need("OLLAMA_URL", "DOCFLEET_MODELS=ollama");
  if (searchKind === "opensearch") need("OPENSEARCH_URL", "DOCFLEET_SEARCH=opensearch");
  if (rateKind === "redis") need("REDIS_URL", "DOCFLEET_RATE_LIMITER=redis");
  if (Boolean(env.OPENSEARCH_USERNAME) !== Boolean(env.OPENSEARCH_PASSWORD))
    missing.push("  OPENSEARCH_USERNAME, OPENSEARCH_PASSWORD: set both or neither");
  if (missing.length > 0) throw new ConfigError(`invalid configuration:\n${missing.join("\n")}`);
  return {
    dataDir,
    database:
      dbKind === "postgres"
        ? {
            kind: "postgres",
            url: env.DATABASE_URL!,
            poolSize: env.DATABASE_POOL_SIZE,
            statementTimeoutMs: env.DOCFLEET_STATEMENT_TIMEOUT_MS,
          }
        : {
            kind: "pglite",
            dir: resolve(dataDir, "db"),
            sharedBuffersMb: env.DOCFLEET_PGLITE_SHARED_BUFFERS_MB,
          },
    objectStore:
      storeKind === "s3"
        ? {
            kind: "s3",
            endPoint: env.S3_ENDPOINT!,
            publicUrl: env.S3_PUBLIC_URL,
            accessKey: env.S3_ACCESS_KEY,
            secretKey: env.S3_SECRET_KEY,
            credentials: {
              env: {
                accessKeyId: env.AWS_ACCESS_KEY_ID,
                secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
                sessionToken: env.AWS_SESSION_TOKEN,
              },
              sharedCredentialsFile:
                env.AWS_SHARED_CREDENTIALS_FILE ?? resolve(homedir(), ".aws", "credentials"),
              profile: env.AWS_PROFILE,
              imds: {
                endpoint: env.AWS_EC2_METADATA_SERVICE_ENDPOINT,
                disabled: env.AWS_EC2_METADATA_DISABLED ?? false,
              },
            },
            corsOrigins: env.S3_CORS_ORIGINS,
            maxUploadBytes: env.DOCFLEET_MAX_UPLOAD_BYTES,
            bucket: env.S3_BUCKET,
            region: env.S3_REGION,
          }
        : {
            kind: "local",
            root: resolve(dataDir, "objects"),
            secret: env.DOCFLEET_SIGNING_SECRET,
            // The same pages as the gateway's GraphQL: /objects/* is served by the gateway.
            corsOrigins: env.DOCFLEET_CORS_ORIGINS,
            maxUploadBytes: env.DOCFLEET_MAX_UPLOAD_BYTES,
          },
    queue:
      queueKind === "rabbitmq"
        ? { kind: "rabbitmq", url: env.AMQP_URL!, prefix: env.AMQP_PREFIX }
        : { kind: "memory" },
    search:
      searchKind === "opensearch"
        ? {
            kind: "opensearch",
            url: env.OPENSEARCH_URL!,
            username: env.OPENSEARCH_USERNAME,
            password: env.OPENSEARCH_PASSWORD,
            prefix: env.OPENSEARCH_INDEX_PREFIX,
            hybrid: env.OPENSEARCH_HYBRID,
          }
        : { kind: "postgres", timeoutMs: env.DOCFLEET_SEARCH_TIMEOUT_MS || undefined },
    models:
      modelsKind === "ollama"
        ? {
            kind: "ollama",
            url: env.OLLAMA_URL!,
            textModel: env.OLLAMA_TEXT_MODEL,
            visionModel: env.OLLAMA_VISION_MODEL,
            embedModel: env.OLLAMA_EMBED_MODEL,
            embedDimensions: env.OLLAMA_EMBED_DIMENSIONS,
            timeoutMs: env.OLLAMA_TIMEOUT_MS,
            maxRetries: env.OLLAMA_MAX_RETRIES,
            embedBatch: env.OLLAMA_EMBED_BATCH,
            visionPixels: env.OLLAMA_VISION_PIXELS,
            numCtx: env.OLLAMA_NUM_CTX,
            maxPromptChars: env.OLLAMA_MAX_PROMPT_CHARS,
          }
        : { kind: "builtin" },
    parser: { threads: env.DOCFLEET_PARSE_THREADS, heapMb: env.DOCFLEET_PARSE_HEAP_MB },
    gateway: {
      profile: env.DOCFLEET_PROFILE,
      introspection: env.DOCFLEET_INTROSPECTION,
      graphiql: env.DOCFLEET_GRAPHIQL,
      limits: {
        maxDepth: env.DOCFLEET_GRAPHQL_MAX_DEPTH,
        maxCost: env.DOCFLEET_GRAPHQL_MAX_COST,
        maxAliases: env.DOCFLEET_GRAPHQL_MAX_ALIASES,
        maxTokens: env.DOCFLEET_GRAPHQL_MAX_TOKENS,
        maxDirectives: env.DOCFLEET_GRAPHQL_MAX_DIRECTIVES,
      },
      rateLimits: {
        uploadFilesPerMin: env.DOCFLEET_RATE_UPLOAD_FILES_PER_MIN,
        searchesPerMin: env.DOCFLEET_RATE_SEARCHES_PER_MIN,
      },
    },
    rateLimiter: rateKind === "redis" ? { kind: "redis", url: env.REDIS_URL! } : { kind: "memory" },
    logLevel: env.DOCFLEET_LOG_LEVEL,
    allowAnonymous: env.DOCFLEET_ALLOW_ANONYMOUS,
    browser: { corsOrigins: env.DOCFLEET_CORS_ORIGINS, allowedHosts: env.DOCFLEET_ALLOWED_HOSTS },
    observability: {
      metricsPort: env.METRICS_PORT,
      metricsHost: env.METRICS_HOST,
      tracesExporter: env.OTEL_TRACES_EXPORTER,
    },
    settings: {
      ...DEFAULT_SETTINGS,
      maxUploadBytes: env.DOCFLEET_MAX_UPLOAD_BYTES,
      uploadTtlSeconds: env.DOCFLEET_UPLOAD_TTL_SECONDS,
      multipartPartBytes: env.DOCFLEET_MULTIPART_PART_BYTES,
      maxPages: env.DOCFLEET_MAX_PAGES,
      stageTimeoutMs: env.DOCFLEET_STAGE_TIMEOUT_MS,
      leaseMs: env.DOCFLEET_LEASE_MS,
      deliveryLimit: env.DOCFLEET_DELIVERY_LIMIT,
      maxCrashes: env.DOCFLEET_MAX_CRASHES,
      reconcileEveryMs: env.DOCFLEET_RECONCILE_EVERY_MS,
      reconcileQuietMs: env.DOCFLEET_RECONCILE_QUIET_MS,
      tenantFairShare: env.DOCFLEET_TENANT_FAIR_SHARE,
      stageChaining: env.DOCFLEET_STAGE_CHAINING ?? DEFAULT_SETTINGS.stageChaining,
      reviewThreshold: env.DOCFLEET_REVIEW_THRESHOLD,
      maxOcrPages: env.DOCFLEET_MAX_OCR_PAGES,
      maxPixels: env.DOCFLEET_MAX_PIXELS,
      authRecheckMs: env.DOCFLEET_AUTH_RECHECK_MS,
      webhooks: {
        ...DEFAULT_SETTINGS.webhooks,
        maxAttempts: env.DOCFLEET_WEBHOOK_MAX_ATTEMPTS,
        baseDelayMs: env.DOCFLEET_WEBHOOK_BASE_DELAY_MS,
        maxDelayMs: env.DOCFLEET_WEBHOOK_MAX_DELAY_MS,
        timeoutMs: env.DOCFLEET_WEBHOOK_TIMEOUT_MS,
        concurrency: env.DOCFLEET_WEBHOOK_CONCURRENCY,
        perEndpoint: env.DOCFLEET_WEBHOOK_PER_ENDPOINT,
        allowPrivateTargets: env.DOCFLEET_WEBHOOK_ALLOW_PRIVATE ?? dbKind === "pglite",
      },
    },
    secretKey: env.DOCFLEET_WEBHOOK_KEY ?? env.DOCFLEET_SIGNING_SECRET,
  };
}
