import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConsoleOptions, consoleServer } from "./console.ts";

// The console's static serving and its local-key gate, on a plain HTTP server (the e2e tests in
// tests/e2e/console*.test.ts cover them through the gateway and a browser).
describe("console server", () => {
  let dir: string;
  const servers: Server[] = [];
  const serve = async (opts: ConsoleOptions) => {
    const web = consoleServer(opts);
    const server = createServer((req, res) => {
      void web.handle(req, res, (req.url ?? "/").split("?")[0]!).then((handled) => {
        if (!handled) res.writeHead(418).end("not the console's");
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-console-unit-"));
    await mkdir(join(dir, "dist", "assets"), { recursive: true });
    await writeFile(join(dir, "dist", "index.html"), "<!doctype html><title>console</title>");
    await writeFile(join(dir, "dist", "assets", "app-abc123.js"), "console.log(1)".repeat(200));
    await writeFile(join(dir, "secret.txt"), "outside");
    await symlink(join(dir, "secret.txt"), join(dir, "dist", "assets", "link.txt"));
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("without a build: `/` says so, other paths are not its own", async () => {
    const url = await serve({ dir: join(dir, "missing") });
    const res = await fetch(`${url}/`);
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/not built.*\/graphql/);
    expect((await fetch(`${url}/documents`)).status).toBe(418);
  });

  it("serves files gzipped with types and caching; routes get index.html; nothing outside the build", async () => {
    const url = await serve({ dir: join(dir, "dist") });
    const js = await fetch(`${url}/assets/app-abc123.js`, { headers: { "accept-encoding": "gzip" } });
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("content-encoding")).toBe("gzip");
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect(await js.text()).toBe("console.log(1)".repeat(200));
    const page = await fetch(`${url}/search?q=x`);
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(await page.text()).toContain("<title>console</title>");
    expect((await fetch(`${url}/assets/link.txt`)).status).toBe(404);
    expect((await fetch(`${url}/assets/%2e%2e/%2e%2e/secret.txt`)).status).toBe(404);
    expect((await fetch(`${url}/assets/nope.js`)).status).toBe(404);
    expect((await fetch(`${url}/`, { method: "POST" })).status).toBe(418);
  });

  it("gives the local key to a same-origin page's fetch only", async () => {
    const url = await serve({ dir: join(dir, "dist"), localKey: async () => "dfk_local\n" });
    const host = new URL(url).host;
    const ask = (headers: Record<string, string>, method = "GET") =>
      fetch(`${url}/console/local-key`, { method, headers }).then(async (r) => ({
        status: r.status,
        store: r.headers.get("cache-control"),
        body: await r.text(),
      }));
    const page = { "x-docfleet-console": "1", "sec-fetch-site": "same-origin" };
    expect(await ask(page)).toEqual({ status: 200, store: "no-store", body: '{"key":"dfk_local"}' });
    expect((await ask({ ...page, origin: `http://${host}` })).status).toBe(200);
    const refusals: Record<string, string>[] = [
      { "sec-fetch-site": "same-origin" },
      { "x-docfleet-console": "1" },
      { ...page, "sec-fetch-site": "cross-site" },
      { ...page, "sec-fetch-site": "same-site" },
      { ...page, "sec-fetch-site": "none" },
      { ...page, origin: "http://localhost:1" },
      { ...page, origin: "null" },
    ];
    for (const refused of refusals) expect((await ask(refused)).status, JSON.stringify(refused)).toBe(404);
    expect((await ask(page, "POST")).status).toBe(404);
    // No key configured (a gateway, not serve): nobody gets one.
    const gateway = await serve({ dir: join(dir, "dist") });
    expect((await fetch(`${gateway}/console/local-key`, { headers: page })).status).toBe(404);
  });
});
