import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWebhookTransport } from "./webhook-transport.ts";

describe("webhook transport", () => {
  let server: Server;
  let base: string;
  const seen: { path: string; body: string; signature?: string }[] = [];
  let hold: (() => void)[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => {
        body += d;
      });
      req.on("end", () => {
        seen.push({ path: req.url!, body, signature: req.headers["docfleet-signature"] as string });
        if (req.url === "/redirect") res.writeHead(302, { location: `${base}/elsewhere` }).end();
        else if (req.url === "/slow") hold.push(() => res.writeHead(200).end());
        else res.writeHead(req.url === "/fail" ? 503 : 200).end("ignored body");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const h of hold) h();
    hold = [];
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const req = { body: '{"id":"b.1"}', headers: { "docfleet-signature": "t=1,v1=ab" }, timeoutMs: 5000 };

  it("posts the body and headers and answers the status; a redirect is an answer, never followed", async () => {
    const send = createWebhookTransport({ allowPrivate: true });
    expect(await send(`${base}/hook`, req)).toEqual({ status: 200 });
    expect(await send(`${base}/fail`, req)).toEqual({ status: 503 });
    expect(await send(`${base}/redirect`, req)).toEqual({ status: 302 });
    expect(seen.map((s) => s.path)).toEqual(["/hook", "/fail", "/redirect"]);
    expect(seen[0]).toMatchObject({ body: '{"id":"b.1"}', signature: "t=1,v1=ab" });
  });

  it("refuses loopback targets, written as an address or resolved from a name, before sending anything", async () => {
    const send = createWebhookTransport({ allowPrivate: false });
    const before = seen.length;
    const port = new URL(base).port;
    await expect(send(`${base}/hook`, req)).rejects.toMatchObject({
      name: "WebhookTargetRefused",
      message: expect.stringMatching(/127\.0\.0\.1 is not a public address.*DOCFLEET_WEBHOOK_ALLOW_PRIVATE/),
    });
    // localhost resolves to 127.0.0.1 (and ::1): the lookup keeps no address to connect to
    await expect(send(`http://localhost:${port}/hook`, req)).rejects.toMatchObject({
      message: expect.stringMatching(/localhost resolves only to non-public addresses/),
    });
    expect(seen.length).toBe(before);
  });

  it("gives up after timeoutMs with a TimeoutError", async () => {
    const send = createWebhookTransport({ allowPrivate: true });
    await expect(send(`${base}/slow`, { ...req, timeoutMs: 200 })).rejects.toMatchObject({
      name: "TimeoutError",
    });
  });
});
