import { describe, expect, it } from "vitest";
import { adapterConfig, baseEnvSchema, ConfigError, parseEnv } from "./config.ts";

const cfg = (env: Record<string, string>) => adapterConfig(parseEnv(baseEnvSchema, env));

describe("configuration", () => {
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
    expect(c.database).toEqual({ kind: "postgres", url: "postgresql://db:5432/docfleet", poolSize: 10 });
    expect(c.queue).toEqual({ kind: "rabbitmq", url: "amqp://guest:guest@mq:5672", prefix: "prod." });
    expect(c.objectStore).toMatchObject({
      kind: "s3",
      endPoint: "http://minio:9000",
      bucket: "docfleet",
      region: "us-east-1",
    });
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

  it("refuses a chosen adapter without its connection settings, naming each", () => {
    expect(() => cfg({ DOCFLEET_OBJECT_STORE: "s3", DOCFLEET_QUEUE: "rabbitmq" })).toThrow(
      /S3_ENDPOINT[\s\S]*S3_ACCESS_KEY[\s\S]*S3_SECRET_KEY[\s\S]*AMQP_URL/,
    );
  });

  it("lets an explicit choice override the implied one", () => {
    expect(cfg({ DATABASE_URL: "postgresql://db/x", DOCFLEET_DATABASE: "pglite" }).database.kind).toBe(
      "pglite",
    );
  });
});
