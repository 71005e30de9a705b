// GraphiQL in real Chromium with no way out to the internet: the page the gateway serves must render,
// open on its example tabs with the local admin key in the headers (serve's own page only), run a
// query and a live subscription, and ask nothing of any host but the server (issue 18: yoga's page
// loaded its script from a CDN and stayed blank offline).
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type OfflineContext, offlineContext } from "../helpers/chromium.ts";
import { inProcessSystem, type System } from "../helpers/system.ts";

describe("GraphiQL offline (Chromium)", { timeout: 180_000 }, () => {
  let dir: string;
  let system: System;
  let browser: Browser;
  let key: string;
  let batchId: string;

  async function gql<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const res = await fetch(`${system.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data: T; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-graphiql-"));
    const keyFile = join(dir, "data", "admin-key");
    // As `docfleet serve`: development profile (GraphiQL on), no anonymous requests, the local key
    // offered to the server's own pages.
    system = await inProcessSystem(join(dir, "data"), {
      gateway: {
        hardening: { profile: "development" },
        console: { localKey: () => readFile(keyFile, "utf8") },
      },
      allowAnonymous: false,
      adminKeyFile: keyFile,
    });
    key = (await readFile(keyFile, "utf8")).trim();
    // A batch with one registered file: the Batches tab has something to show, its log an event.
    const { createBatch } = await gql<{ createBatch: { id: string } }>(
      'mutation { createBatch(input: { name: "graphiql-example" }) { id } }',
    );
    batchId = createBatch.id;
    const bytes = Buffer.from("a file that is never uploaded");
    await gql(`mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status } }`, {
      b: batchId,
      f: [
        { name: "pending.txt", size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") },
      ],
    });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** The text of GraphiQL's result pane once it shows `expected`. */
  async function result(page: Page, expected: string): Promise<string> {
    const pane = page.locator(".graphiql-response");
    // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (the text as rendered), not the DOM property
    await expect.poll(() => pane.innerText(), { timeout: 60_000 }).toContain(expected);
    // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (the text as rendered), not the DOM property
    return pane.innerText();
  }

  async function open(): Promise<OfflineContext> {
    const ctx = await offlineContext(browser, [system.url]);
    const res = await ctx.page.goto(`${system.url}/graphql`);
    expect(res?.status()).toBe(200);
    await ctx.page.getByRole("button", { name: /Execute query/ }).waitFor();
    return ctx;
  }

  it("renders from the server alone, on the example tabs, with the local key in the headers", async () => {
    const ctx = await open();
    const { page } = ctx;
    try {
      const tabs = await page.locator(".graphiql-tab").allInnerTexts();
      expect(tabs.map((t) => t.trim())).toEqual(["Batches", "Search", "Progress"]);
      await page.getByText("Headers", { exact: true }).click();
      // biome-ignore lint/performance/useDomNodeTextContent: Playwright's Locator.innerText (the text as rendered), not the DOM property
      await expect.poll(() => page.locator(".graphiql-editor-tool").innerText()).toContain('"Authorization"');

      // Run the Batches tab as it opened: the request carries the prefilled key.
      const sent = page.waitForRequest(
        (r) => r.method() === "POST" && r.postData()?.includes("query Batches") === true,
      );
      await page.getByRole("button", { name: /Execute query/ }).click();
      expect((await sent).headers().authorization).toBe(`Bearer ${key}`);
      const text = await result(page, "graphiql-example");
      expect(text).toContain('"batches"');
      expect(text).toContain(batchId);
      expect(text).not.toContain('"errors"');

      // Every request went to the server (the page and its API calls); nothing was refused.
      expect(ctx.blocked).toEqual([]);
      expect(ctx.requests.length).toBeGreaterThanOrEqual(2);
      for (const url of ctx.requests)
        if (!url.startsWith("blob:") && !url.startsWith("data:"))
          expect(new URL(url).origin).toBe(system.url);
    } finally {
      await ctx.context.close();
    }
  });

  it("runs the live subscription tab over SSE", async () => {
    const ctx = await open();
    const { page } = ctx;
    try {
      await page.locator(".graphiql-tab", { hasText: "Progress" }).click();
      await page.getByText("Variables", { exact: true }).click();
      const variables = page.locator(".graphiql-editor-tool .monaco-editor").first();
      await variables.click();
      await page.keyboard.press("ControlOrMeta+A");
      await page.keyboard.press("Delete");
      await page.keyboard.insertText(JSON.stringify({ id: batchId, after: 0 }));
      await page.getByRole("button", { name: /Execute query/ }).click();
      const text = await result(page, "DOCUMENTS_REQUESTED");
      expect(text).toContain('"batchProgress"');
      expect(text).not.toContain('"errors"');
      expect(ctx.blocked).toEqual([]);
    } finally {
      await ctx.context.close();
    }
  });

  it("blocks, and so would fail on, any request to another host", async () => {
    // The guard itself: a page asking for a CDN script is refused and recorded.
    const ctx = await open();
    try {
      await ctx.page.evaluate(() =>
        fetch("https://unpkg.com/graphiql/graphiql.min.js").then(
          () => "loaded",
          () => "refused",
        ),
      );
      expect(ctx.blocked).toEqual(["https://unpkg.com/graphiql/graphiql.min.js"]);
    } finally {
      await ctx.context.close();
    }
  });

  it("offers the key to the server's own page load only, and the page cannot be framed or cached", async () => {
    const page = (headers: Record<string, string>) =>
      fetch(`${system.url}/graphql`, { headers: { accept: "text/html", ...headers } });
    const own = await page({ "sec-fetch-site": "none", "sec-fetch-dest": "document" });
    expect(own.status).toBe(200);
    expect(await own.text()).toContain(key);
    expect(own.headers.get("x-frame-options")).toBe("DENY");
    expect(own.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(own.headers.get("cache-control")).toBe("no-store");
    const host = new URL(system.url).host;
    const refused: Record<string, Record<string, string>> = {
      "a link from another site": { "sec-fetch-site": "cross-site", "sec-fetch-dest": "document" },
      "a frame": { "sec-fetch-site": "same-origin", "sec-fetch-dest": "iframe" },
      "another origin's fetch": {
        "sec-fetch-site": "cross-site",
        "sec-fetch-dest": "empty",
        origin: "http://evil.example",
      },
      "an Origin that is not this host": { origin: `http://localhost:1${host.split(":")[1]}` },
    };
    for (const [what, headers] of Object.entries(refused)) {
      const res = await page(headers);
      const html = await res.text();
      expect(html, what).toContain("docfleet GraphiQL");
      expect(html.includes(key), what).toBe(false);
    }
  });

  it("is the bundled page: no script, style or font from a CDN", async () => {
    const html = await (await fetch(`${system.url}/graphql`, { headers: { accept: "text/html" } })).text();
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
    expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs|fonts\.googleapis/);
  });
});
