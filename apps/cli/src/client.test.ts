import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { parse } from "graphql";
import { afterEach, describe, expect, it } from "vitest";
import { GatewayClient, GatewayError } from "./client.ts";

/** A gateway that answers RATE_LIMITED (HTTP 429, as the real one does) to the first `limited` requests. */
async function fakeGateway(limited: number) {
  let seen = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen++;
      if (seen <= limited) {
        res.writeHead(429, { "content-type": "application/json", "retry-after": "1" });
        res.end(
          JSON.stringify({
            errors: [{ message: "rate limit", extensions: { code: "RATE_LIMITED", retryAfterMs: 2 } }],
          }),
        );
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ data: { ok: true } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen: () => seen };
}

describe("GatewayClient and the gateway's rate limit", () => {
  let server: Server | undefined;
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (s) await new Promise((r) => s.close(r));
  });

  it("waits and sends again, even a request that is not idempotent", async () => {
    const fake = await fakeGateway(2);
    server = fake.server;
    const waits: string[] = [];
    const client = new GatewayClient(fake.url, undefined, { retries: 3, baseMs: 1, maxMs: 5 }, (m) =>
      waits.push(m),
    );
    const doc: TypedDocumentNode<{ ok: boolean }> = parse("mutation { createBatch }");
    const data = await client.request(doc, {}, { idempotent: false });
    expect(data).toEqual({ ok: true });
    expect(fake.seen()).toBe(3);
    expect(waits).toHaveLength(2);
    expect(waits[0]).toMatch(/RATE_LIMITED/);
  });

  it("gives up after its retries with a RATE_LIMITED error, not 'cannot reach'", async () => {
    const fake = await fakeGateway(100);
    server = fake.server;
    const client = new GatewayClient(fake.url, undefined, { retries: 1, baseMs: 1, maxMs: 5 });
    const err = await client.request(parse("{ ok }")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe("RATE_LIMITED");
    expect((err as Error).message).not.toMatch(/cannot reach/);
    expect(fake.seen()).toBe(2);
  });
});
