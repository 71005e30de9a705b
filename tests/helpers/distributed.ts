import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import pg from "pg";
import { Connection } from "rabbitmq-client";
import { AMQP_URL } from "./amqp.ts";
import { TEST_DATABASE_URL } from "./db.ts";
import { startS3rver } from "./s3rver.ts";

const exec = promisify(execFile);

export interface DistributedEnv {
  /** Environment for `docfleet gateway|worker|relay` processes of this deployment. */
  env: NodeJS.ProcessEnv & { DATABASE_URL: string };
  /** Drops the database, deletes the broker queues and stops s3rver. */
  close(): Promise<void>;
}

/**
 * A fresh deployment on this machine's services: a new PostgreSQL database, a queue-name prefix on
 * RabbitMQ and an s3rver in this process.
 */
export async function distributedEnv(name: string): Promise<DistributedEnv> {
  const tag = randomBytes(4).toString("hex");
  const dbName = `docfleet_${name}_${tag}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${dbName}`);
  } finally {
    await admin.end();
  }
  const dbUrl = new URL(TEST_DATABASE_URL);
  dbUrl.pathname = `/${dbName}`;
  const prefix = `${name}${tag}.`;
  const s3 = await startS3rver();
  return {
    env: {
      DATABASE_URL: dbUrl.toString(),
      AMQP_URL,
      AMQP_PREFIX: prefix,
      S3_ENDPOINT: s3.endPoint,
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      S3_BUCKET: `docfleet-${name}`,
      // These tests act as the local tenant without keys (tests/e2e/auth.test.ts covers keys).
      DOCFLEET_ALLOW_ANONYMOUS: "true",
    },
    close: async () => {
      await s3.close();
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      } finally {
        await c.end();
      }
      const { stdout } = await exec("rabbitmqctl", ["list_queues", "-q", "name"]).catch(() => ({
        stdout: "",
      }));
      for (const q of stdout.split("\n").filter((n) => n.startsWith(prefix))) {
        await exec("rabbitmqctl", ["delete_queue", q]).catch(() => {});
      }
      const amqp = new Connection(AMQP_URL);
      await amqp.exchangeDelete({ exchange: `${prefix}docfleet.events` }).catch(() => {});
      await amqp.close();
    },
  };
}
