import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pino, { type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { autoSharedBuffersMb, openPgliteDatabase } from "../adapters/database/pglite.ts";
import { createBuiltinModels } from "../adapters/models/builtin/index.ts";
import { LocalObjectStore } from "../adapters/objectstore/local.ts";
import { MemoryQueue } from "../adapters/queue/memory.ts";
import { MemoryEventBus } from "../adapters/queue/memory-event-bus.ts";
import { PostgresSearchIndex } from "../adapters/search/postgres.ts";
import type { AdapterConfig } from "../config.ts";
import type { Database } from "../ports/database.ts";
import type { EventBus } from "../ports/event-bus.ts";
import type { Models } from "../ports/models.ts";
import type { ObjectStore } from "../ports/object-store.ts";
import type { Queue } from "../ports/queue.ts";
import type { SearchIndex } from "../ports/search.ts";

function unknownKind(port: string, cfg: { kind: string }): never {
  throw new Error(`unknown ${port} adapter ${JSON.stringify(cfg.kind)}`);
}

// One factory per port, switching on the validated config value (validated by zod, so the default
// branch is reached only by a config built by hand). Each factory imports its distributed adapter only
// when the config picks it: `serve` never loads pg, minio, rabbitmq-client, OpenSearch's client (over
// 500 files) or ollama, which is most of its start-up time.

export async function createDatabase(cfg: AdapterConfig["database"]): Promise<Database> {
  switch (cfg.kind) {
    case "pglite":
      return openPgliteDatabase(cfg.dir, {
        sharedBuffersMb: cfg.sharedBuffersMb ?? autoSharedBuffersMb(cfg.dir),
      });
    case "postgres": {
      const { openPostgresDatabase } = await import("../adapters/database/postgres.ts");
      return openPostgresDatabase({
        url: cfg.url,
        poolSize: cfg.poolSize,
        statementTimeoutMs: cfg.statementTimeoutMs,
      });
    }
    default:
      return unknownKind("database", cfg);
  }
}

export async function createObjectStore(
  cfg: AdapterConfig["objectStore"],
  publicUrl: string,
): Promise<ObjectStore> {
  switch (cfg.kind) {
    case "local":
      return new LocalObjectStore({
        root: cfg.root,
        publicUrl,
        secret: cfg.secret ?? (await localSecret(cfg.root)),
        corsOrigins: [...(cfg.corsOrigins ?? []), new URL(publicUrl).origin],
        maxUploadBytes: cfg.maxUploadBytes,
      });
    case "s3": {
      const { S3ObjectStore } = await import("../adapters/objectstore/s3.ts");
      return new S3ObjectStore(cfg);
    }
    default:
      return unknownKind("object store", cfg);
  }
}

export async function createQueue(
  cfg: AdapterConfig["queue"],
  deliveryLimit: number,
  log?: Logger,
): Promise<{ queue: Queue; events: EventBus }> {
  switch (cfg.kind) {
    case "memory":
      return { queue: new MemoryQueue({ deliveryLimit }), events: new MemoryEventBus() };
    case "rabbitmq": {
      const [{ AmqpQueue }, { AmqpEventBus }] = await Promise.all([
        import("../adapters/queue/amqp.ts"),
        import("../adapters/queue/amqp-event-bus.ts"),
      ]);
      return {
        queue: new AmqpQueue({ url: cfg.url, prefix: cfg.prefix, deliveryLimit, log }),
        events: new AmqpEventBus({ url: cfg.url, prefix: cfg.prefix, log }),
      };
    }
    default:
      return unknownKind("queue", cfg);
  }
}

export async function createSearch(
  cfg: AdapterConfig["search"],
  db: Database,
  dimensions: number,
  log?: Logger,
): Promise<SearchIndex> {
  switch (cfg.kind) {
    case "postgres":
      return new PostgresSearchIndex(db, { dimensions, timeoutMs: cfg.timeoutMs });
    case "opensearch": {
      const { OpenSearchSearchIndex } = await import("../adapters/search/opensearch.ts");
      return new OpenSearchSearchIndex({
        node: cfg.url,
        username: cfg.username,
        password: cfg.password,
        prefix: cfg.prefix,
        hybrid: cfg.hybrid,
        dimensions,
        log,
      });
    }
    default:
      return unknownKind("search", cfg);
  }
}

export async function createModels(cfg: AdapterConfig["models"]): Promise<Models> {
  switch (cfg.kind) {
    case "builtin":
      return createBuiltinModels();
    case "ollama": {
      const { kind: _kind, ...options } = cfg;
      const { OllamaModels } = await import("../adapters/models/ollama.ts");
      return new OllamaModels(options);
    }
    default:
      return unknownKind("models", cfg);
  }
}

/** The process's logger; `destination` (tests) replaces stdout. */
export function createLogger(
  level: AdapterConfig["logLevel"],
  name: string,
  destination?: DestinationStream,
): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: {
      paths: [
        "*.signature",
        "*.secret",
        "*.apiKey",
        "authorization",
        "*.authorization",
        "*.headers.authorization",
        "*.password",
        "url",
        "*.url",
        "headers.authorization",
      ],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** The local store's signing key: kept in the data folder so URLs survive a restart. */
export async function localSecret(root: string): Promise<string> {
  const file = join(root, "..", "signing-secret");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const secret = randomBytes(32).toString("base64url");
    await mkdir(join(root, ".."), { recursive: true });
    await writeFile(file, secret, { mode: 0o600, flag: "wx" }).catch(() => {});
    return (await readFile(file, "utf8")).trim();
  }
}
