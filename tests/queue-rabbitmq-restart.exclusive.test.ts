import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { AmqpQueue } from "@docfleet/pipeline/adapters/queue/amqp";
import { afterAll, expect, it } from "vitest";
import { AMQP_URL } from "./helpers/amqp.ts";
import { deferred } from "./helpers/wait.ts";

// Restarts the machine's broker, so it lives in the "exclusive" project (`*.exclusive.test.ts`): it
// runs alone, after every other test file, instead of breaking the files running beside it.
const run = promisify(execFile);
const rabbitmqctl = (cmd: "stop_app" | "start_app" | "await_startup") =>
  run("rabbitmqctl", [cmd], { timeout: 60_000 });

// Whatever happens in the test, leave the broker running for everyone else.
afterAll(async () => {
  await rabbitmqctl("start_app");
  await rabbitmqctl("await_startup");
});

it("consumers re-subscribe and publishers retry across a broker restart: all 200 messages arrive", async () => {
  const TOTAL = 200;
  const warnings: string[] = [];
  const log = { warn: (_: object, msg: string) => warnings.push(msg), error: () => {} };
  const queue = new AmqpQueue({
    url: AMQP_URL,
    deliveryLimit: 5,
    prefix: `t${randomBytes(4).toString("hex")}.`,
    deleteOnClose: true,
    log,
  });
  let restart: Promise<void> | undefined;
  try {
    await queue.setup(["q"]);
    const seen = new Set<number>();
    let deliveries = 0;
    const all = deferred();
    const consumer = queue.consume<{ n: number }>(
      "q",
      async (d) => {
        deliveries++;
        seen.add(d.body.n);
        if (seen.size === TOTAL) all.resolve();
        return { action: "ack" };
      },
      { concurrency: 4 },
    );
    // Publish one at a time; the restart starts after 50, so later publishes meet a broker that is
    // going down, down, or coming back. The last 50 go out only once it is back, so the consumer
    // can only get them by re-subscribing.
    for (let n = 0; n < TOTAL; n++) {
      if (n === 50) {
        restart = (async () => {
          await rabbitmqctl("stop_app");
          await rabbitmqctl("start_app");
        })();
      }
      if (n === TOTAL - 50) await restart;
      await queue.publish("q", { n }, { messageId: `m${n}` });
    }
    await all.promise;
    await consumer.close();
    // the restart really cut this queue's connection (else the test proves nothing)
    expect(warnings).toContain("RabbitMQ connection error (reconnecting)");
    expect(seen.size).toBe(TOTAL);
    expect(deliveries).toBeGreaterThanOrEqual(TOTAL); // duplicates are allowed (at-least-once)
    expect(await queue.depth("q")).toBe(0);
    expect(await queue.deadLetters("q")).toEqual([]);
  } finally {
    // a failed publish must not leave the broker stopped while the queue tries to clean up
    await restart?.catch(() => {});
    await rabbitmqctl("start_app");
    await queue.close();
  }
});
