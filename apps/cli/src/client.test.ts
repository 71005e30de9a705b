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

describe("GatewayClient and an outage behind the gateway", () => {
  it("sends an idempotent request again after SERVICE_UNAVAILABLE; a createBatch it does not repeat", async () => {
    let seen = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        seen++;
        const away = seen === 1 || seen === 3;
        res.writeHead(away ? 503 : 200, { "content-type": "application/json" });
        res.end(
          JSON.stringify(
            away
              ? {
                  errors: [
                    {
                      message: "the store is unavailable for the moment: retry shortly",
                      extensions: { code: "SERVICE_UNAVAILABLE", retryAfterMs: 2 },
                    },
                  ],
                }
              : { data: { ok: true } },
          ),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const waits: string[] = [];
      const client = new GatewayClient(url, undefined, { retries: 3, baseMs: 1, maxMs: 5 }, (m) =>
        waits.push(m),
      );
      expect(await client.request(parse("mutation { completeUploads }"))).toEqual({ ok: true });
      expect(waits).toHaveLength(1);
      expect(waits[0]).toMatch(/SERVICE_UNAVAILABLE: the store is unavailable/);
      const err = await client
        .request(parse("mutation { createBatch }"), {}, { idempotent: false })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe("SERVICE_UNAVAILABLE");
      expect(seen).toBe(3);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
