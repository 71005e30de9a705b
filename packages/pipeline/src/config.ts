import { resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_SETTINGS, type PipelineSettings } from "./context.ts";

/** Booleans only from "true"/"1" (and "false"/"0"), never from any non-empty string. */
export const envBool = z.enum(["true", "1", "false", "0"]).transform((v) => v === "true" || v === "1");
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);

/**
 * Environment variables shared by every docfleet process. Each adapter is picked by one variable; an
 * unknown value is a start-up error, never a silent fallback.
 */
export const baseEnvSchema = z.object({
  DOCFLEET_DATA_DIR: z.string().default(".docfleet"),
  DOCFLEET_DATABASE: z.enum(["pglite", "postgres"]).optional(),
  DATABASE_URL: z.string().url().optional(),
  DATABASE_POOL_SIZE: int(10, 1),
  DOCFLEET_OBJECT_STORE: z.enum(["local"]).default("local"),
  DOCFLEET_QUEUE: z.enum(["memory"]).default("memory"),
  DOCFLEET_SEARCH: z.enum(["postgres"]).default("postgres"),
  DOCFLEET_MODELS: z.enum(["builtin"]).default("builtin"),
  /** HMAC key for signed URLs of the local object store; generated and kept in the data folder if unset. */
  DOCFLEET_SIGNING_SECRET: z.string().min(32).optional(),
  DOCFLEET_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  DOCFLEET_MAX_UPLOAD_BYTES: int(DEFAULT_SETTINGS.maxUploadBytes, 1).pipe(z.number().max(2 ** 31 - 1)),
  DOCFLEET_UPLOAD_TTL_SECONDS: int(DEFAULT_SETTINGS.uploadTtlSeconds, 10),
  DOCFLEET_MAX_PAGES: int(DEFAULT_SETTINGS.maxPages, 1),
  DOCFLEET_STAGE_TIMEOUT_MS: int(DEFAULT_SETTINGS.stageTimeoutMs, 100),
  DOCFLEET_LEASE_MS: int(DEFAULT_SETTINGS.leaseMs, 1000),
  DOCFLEET_DELIVERY_LIMIT: int(DEFAULT_SETTINGS.deliveryLimit, 1),
  DOCFLEET_REVIEW_THRESHOLD: z.coerce.number().min(0).max(1).default(DEFAULT_SETTINGS.reviewThreshold),
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

export interface AdapterConfig {
  dataDir: string;
  database: { kind: "pglite"; dir: string } | { kind: "postgres"; url: string; poolSize: number };
  objectStore: { kind: "local"; root: string; secret: string | undefined };
  queue: { kind: "memory" };
  search: { kind: "postgres" };
  models: { kind: "builtin" };
  logLevel: BaseEnv["DOCFLEET_LOG_LEVEL"];
  settings: PipelineSettings;
}

/** The typed, nested configuration every composition root takes. */
export function adapterConfig(env: BaseEnv): AdapterConfig {
  const dataDir = resolve(env.DOCFLEET_DATA_DIR);
  const dbKind = env.DOCFLEET_DATABASE ?? (env.DATABASE_URL ? "postgres" : "pglite");
  if (dbKind === "postgres" && !env.DATABASE_URL) {
    throw new ConfigError("invalid configuration:\n  DATABASE_URL: required when DOCFLEET_DATABASE=postgres");
  }
  return {
    dataDir,
    database:
      dbKind === "postgres"
        ? { kind: "postgres", url: env.DATABASE_URL!, poolSize: env.DATABASE_POOL_SIZE }
        : { kind: "pglite", dir: resolve(dataDir, "db") },
    objectStore: {
      kind: env.DOCFLEET_OBJECT_STORE,
      root: resolve(dataDir, "objects"),
      secret: env.DOCFLEET_SIGNING_SECRET,
    },
    queue: { kind: env.DOCFLEET_QUEUE },
    search: { kind: env.DOCFLEET_SEARCH },
    models: { kind: env.DOCFLEET_MODELS },
    logLevel: env.DOCFLEET_LOG_LEVEL,
    settings: {
      ...DEFAULT_SETTINGS,
      maxUploadBytes: env.DOCFLEET_MAX_UPLOAD_BYTES,
      uploadTtlSeconds: env.DOCFLEET_UPLOAD_TTL_SECONDS,
      maxPages: env.DOCFLEET_MAX_PAGES,
      stageTimeoutMs: env.DOCFLEET_STAGE_TIMEOUT_MS,
      leaseMs: env.DOCFLEET_LEASE_MS,
      deliveryLimit: env.DOCFLEET_DELIVERY_LIMIT,
      reviewThreshold: env.DOCFLEET_REVIEW_THRESHOLD,
    },
  };
}
