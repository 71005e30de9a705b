import { describe, expect, it } from "vitest";
import {
  adapterConfig,
  baseEnvSchema,
  ConfigError,
  PGLITE_MAX_SHARED_BUFFERS_MB,
  parseEnv,
} from "./config.ts";

const cfg = (env: Record<string, string>) => adapterConfig(parseEnv(baseEnvSchema, env));

describe("configuration", () => {
  it("stage chaining is off unless DOCFLEET_STAGE_CHAINING is true or 1; anything else is refused", () => {
    expect(cfg({}).settings.stageChaining).toBe(false);
    expect(cfg({ DOCFLEET_STAGE_CHAINING: "1" }).settings.stageChaining).toBe(true);
    expect(cfg({ DOCFLEET_STAGE_CHAINING: "false" }).settings.stageChaining).toBe(false);
    expect(cfg({ DOCFLEET_STAGE_CHAINING: "0" }).settings.stageChaining).toBe(false);
    expect(cfg({ DOCFLEET_STAGE_CHAINING: "true" }).settings.stageChaining).toBe(true);
    expect(() => cfg({ DOCFLEET_STAGE_CHAINING: "off" })).toThrow(/DOCFLEET_STAGE_CHAINING/);
  });

  it("runs everything embedded when nothing is set", () => {
    const c = cfg({});
    expect([c.database.kind, c.objectStore.kind, c.queue.kind, c.search.kind, c.models.kind]).toEqual([
      "pglite",
      "local",
      "memory",
      "postgres",
      "builtin",
    ]);
  });

  it("picks each distributed adapter from its connection setting", () => {
    const c = cfg({
      DATABASE_URL: "postgresql://db:5432/docfleet",
      AMQP_URL: "amqp://guest:guest@mq:5672",
      AMQP_PREFIX: "prod.",
      S3_ENDPOINT: "http://minio:9000",
      S3_ACCESS_KEY: "key",
      S3_SECRET_KEY: "secret",
    });
    expect(c.database).toEqual({
      kind: "postgres",
      url: "postgresql://db:5432/docfleet",
      poolSize: 10,
      statementTimeoutMs: 60_000,
    });
    expect(c.queue).toEqual({ kind: "rabbitmq", url: "amqp://guest:guest@mq:5672", prefix: "prod." });
    expect(c.objectStore).toMatchObject({
      kind: "s3",
      endPoint: "http://minio:9000",
      bucket: "docfleet",
      region: "us-east-1",
    });
  });

  it("allows webhooks to private addresses on the embedded database only, unless told", () => {
    expect(cfg({}).settings.webhooks.allowPrivateTargets).toBe(true);
    expect(cfg({ DATABASE_URL: "postgresql://db/x" }).settings.webhooks.allowPrivateTargets).toBe(false);
    expect(cfg({ DOCFLEET_WEBHOOK_ALLOW_PRIVATE: "false" }).settings.webhooks.allowPrivateTargets).toBe(
      false,
    );
    expect(
      cfg({ DATABASE_URL: "postgresql://db/x", DOCFLEET_WEBHOOK_ALLOW_PRIVATE: "true" }).settings.webhooks
        .allowPrivateTargets,
    ).toBe(true);
  });

  it("names every bad variable at once", () => {
    const err = (() => {
      try {
        cfg({
          DOCFLEET_QUEUE: "kafka",
          AMQP_URL: "http://x",
          S3_BUCKET: "Bad_Bucket",
          DOCFLEET_DELIVERY_LIMIT: "0",
        });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    for (const v of ["DOCFLEET_QUEUE", "AMQP_URL", "S3_BUCKET", "DOCFLEET_DELIVERY_LIMIT"])
      expect(err!.message).toContain(v);
  });

  it("takes PGlite shared_buffers up to the most PGlite starts with, and refuses more", () => {
    const c = cfg({ DOCFLEET_PGLITE_SHARED_BUFFERS_MB: String(PGLITE_MAX_SHARED_BUFFERS_MB) });
    expect(c.database).toMatchObject({ kind: "pglite", sharedBuffersMb: PGLITE_MAX_SHARED_BUFFERS_MB });
    // 2048 passed here before and then failed inside PGlite's start ("failed to initialize properly")
    expect(() => cfg({ DOCFLEET_PGLITE_SHARED_BUFFERS_MB: "2048" })).toThrow(
      /DOCFLEET_PGLITE_SHARED_BUFFERS_MB/,
    );
  });

  it("refuses a chosen adapter without its connection settings, naming each", () => {
    expect(() => cfg({ DOCFLEET_OBJECT_STORE: "s3", DOCFLEET_QUEUE: "rabbitmq" })).toThrow(
      /S3_ENDPOINT[\s\S]*AMQP_URL/,
    );
  });

  it("takes S3 static keys both or neither; neither: the AWS credential chain, from its variables", () => {
    const s3 = (env: Record<string, string>) =>
      cfg({ S3_ENDPOINT: "https://s3.eu-west-1.amazonaws.com", ...env });
    expect(() => s3({ S3_ACCESS_KEY: "key" })).toThrow(/S3_ACCESS_KEY, S3_SECRET_KEY: set both/);
    expect(() => s3({ AWS_SECRET_ACCESS_KEY: "secret" })).toThrow(/AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY/);
    expect(s3({ S3_ACCESS_KEY: "key", S3_SECRET_KEY: "secret" }).objectStore).toMatchObject({
      accessKey: "key",
      secretKey: "secret",
    });
    const chain = s3({
      AWS_ACCESS_KEY_ID: "AKID",
      AWS_SECRET_ACCESS_KEY: "wJal",
      AWS_SESSION_TOKEN: "tok",
      AWS_PROFILE: "docfleet",
      AWS_EC2_METADATA_SERVICE_ENDPOINT: "http://127.0.0.1:1338",
      AWS_EC2_METADATA_DISABLED: "false",
    }).objectStore;
    expect(chain).toMatchObject({
      kind: "s3",
      accessKey: undefined,
      secretKey: undefined,
      credentials: {
        env: { accessKeyId: "AKID", secretAccessKey: "wJal", sessionToken: "tok" },
        profile: "docfleet",
        imds: { endpoint: "http://127.0.0.1:1338", disabled: false },
      },
    });
    // the shared credentials file defaults to the user's, as the AWS SDKs read it
    expect(chain.kind === "s3" && chain.credentials.sharedCredentialsFile).toMatch(/\.aws\/credentials$/);
    const bare = s3({}).objectStore;
    expect(bare.kind === "s3" && bare.credentials.profile).toBe("default");
    expect(s3({ AWS_EC2_METADATA_DISABLED: "1" }).objectStore).toMatchObject({
      credentials: { imds: { disabled: true } },
    });
  });

  it("reads the bucket's CORS origins as a list of origins, and refuses anything else", () => {
    const s3 = (origins: string) =>
      cfg({
        S3_ENDPOINT: "http://rgw:7480",
        S3_ACCESS_KEY: "k",
        S3_SECRET_KEY: "s",
        S3_CORS_ORIGINS: origins,
      });
    expect(s3("https://app.example.com, http://localhost:5173").objectStore).toMatchObject({
      corsOrigins: ["https://app.example.com", "http://localhost:5173"],
    });
    expect(cfg({ S3_ENDPOINT: "http://rgw:7480" }).objectStore).toMatchObject({ corsOrigins: [] });
    for (const bad of ["https://app.example.com/path", "app.example.com", "<AllowedOrigin>*"])
      expect(() => s3(bad)).toThrow(/S3_CORS_ORIGINS/);
  });

  it("lets an explicit choice override the implied one", () => {
    expect(cfg({ DATABASE_URL: "postgresql://db/x", DOCFLEET_DATABASE: "pglite" }).database.kind).toBe(
      "pglite",
    );
  });

  it("implies the Ollama models from OLLAMA_URL, with defaults for every model setting", () => {
    expect(cfg({ OLLAMA_URL: "http://gpu-1:11434" }).models).toEqual({
      kind: "ollama",
      url: "http://gpu-1:11434",
      textModel: "qwen2.5:7b-instruct",
      visionModel: "qwen2.5vl:7b",
      embedModel: "nomic-embed-text",
      embedDimensions: 768,
      timeoutMs: 60_000,
      maxRetries: 2,
      embedBatch: 32,
      visionPixels: 1_003_520,
      numCtx: 8192,
      maxPromptChars: 16_000,
    });
  });

  it("reads every Ollama setting", () => {
    const m = cfg({
      DOCFLEET_MODELS: "ollama",
      OLLAMA_URL: "http://gpu-2:11434",
      OLLAMA_TEXT_MODEL: "llama3.1:8b",
      OLLAMA_VISION_MODEL: "llama3.2-vision",
      OLLAMA_EMBED_MODEL: "mxbai-embed-large",
      OLLAMA_EMBED_DIMENSIONS: "1024",
      OLLAMA_TIMEOUT_MS: "30000",
      OLLAMA_MAX_RETRIES: "0",
      OLLAMA_EMBED_BATCH: "64",
      OLLAMA_VISION_PIXELS: "262144",
      OLLAMA_NUM_CTX: "16384",
      OLLAMA_MAX_PROMPT_CHARS: "40000",
    }).models;
    expect(m).toEqual({
      kind: "ollama",
      url: "http://gpu-2:11434",
      textModel: "llama3.1:8b",
      visionModel: "llama3.2-vision",
      embedModel: "mxbai-embed-large",
      embedDimensions: 1024,
      timeoutMs: 30_000,
      maxRetries: 0,
      embedBatch: 64,
      visionPixels: 262_144,
      numCtx: 16_384,
      maxPromptChars: 40_000,
    });
  });

  it("refuses DOCFLEET_MODELS=ollama without OLLAMA_URL, and bad Ollama values", () => {
    expect(() => cfg({ DOCFLEET_MODELS: "ollama" })).toThrow(
      /OLLAMA_URL: required when DOCFLEET_MODELS=ollama/,
    );
    expect(() => cfg({ DOCFLEET_MODELS: "openai" })).toThrow(/DOCFLEET_MODELS/);
    const err = (() => {
      try {
        cfg({
          OLLAMA_URL: "not a url",
          OLLAMA_EMBED_DIMENSIONS: "0",
          OLLAMA_EMBED_BATCH: "x",
          OLLAMA_MAX_RETRIES: "-1",
        });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    for (const v of ["OLLAMA_URL", "OLLAMA_EMBED_DIMENSIONS", "OLLAMA_EMBED_BATCH", "OLLAMA_MAX_RETRIES"])
      expect(err!.message).toContain(v);
  });

  it("keeps the built-in models when asked to, even with OLLAMA_URL set", () => {
    expect(cfg({ OLLAMA_URL: "http://gpu-1:11434", DOCFLEET_MODELS: "builtin" }).models).toEqual({
      kind: "builtin",
    });
  });
  it("implies OpenSearch from OPENSEARCH_URL, with defaults for prefix and hybrid fusion", () => {
    expect(cfg({ OPENSEARCH_URL: "https://search:9200" }).search).toEqual({
      kind: "opensearch",
      url: "https://search:9200",
      username: undefined,
      password: undefined,
      prefix: "docfleet",
      hybrid: "pipeline",
    });
    expect(
      cfg({
        DOCFLEET_SEARCH: "opensearch",
        OPENSEARCH_URL: "http://os:9200",
        OPENSEARCH_USERNAME: "admin",
        OPENSEARCH_PASSWORD: "s3cret",
        OPENSEARCH_INDEX_PREFIX: "prod-eu",
        OPENSEARCH_HYBRID: "client",
      }).search,
    ).toEqual({
      kind: "opensearch",
      url: "http://os:9200",
      username: "admin",
      password: "s3cret",
      prefix: "prod-eu",
      hybrid: "client",
    });
    // an explicit choice wins over the implied one
    expect(cfg({ OPENSEARCH_URL: "http://os:9200", DOCFLEET_SEARCH: "postgres" }).search).toEqual({
      kind: "postgres",
      timeoutMs: 10_000,
    });
  });

  it("refuses DOCFLEET_SEARCH=opensearch without its URL, and bad OpenSearch values, naming each", () => {
    expect(() => cfg({ DOCFLEET_SEARCH: "opensearch" })).toThrow(
      /OPENSEARCH_URL: required when DOCFLEET_SEARCH=opensearch/,
    );
    expect(() => cfg({ OPENSEARCH_URL: "http://os:9200", OPENSEARCH_USERNAME: "admin" })).toThrow(
      /OPENSEARCH_USERNAME, OPENSEARCH_PASSWORD: set both or neither/,
    );
    const err = (() => {
      try {
        cfg({
          DOCFLEET_SEARCH: "elastic",
          OPENSEARCH_URL: "os:9200",
          OPENSEARCH_INDEX_PREFIX: "Bad Prefix",
          OPENSEARCH_HYBRID: "both",
        });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    for (const v of ["DOCFLEET_SEARCH", "OPENSEARCH_URL", "OPENSEARCH_INDEX_PREFIX", "OPENSEARCH_HYBRID"])
      expect(err!.message).toContain(v);
  });
});
