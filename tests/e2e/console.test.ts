// The web console (apps/web) in real Chromium against `serve` in this process: sign in with the local
// key the server offers its own page, upload a folder from the page and watch it finish live, open a
// document (preview, fields, boxes), correct a field and find it in search, work through the review
// queue with the keyboard, search with a facet, define a category with a validation error shown.
// Screenshots of the main pages go to docs/screenshots (the README shows them).
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { STAGES } from "@docfleet/pipeline";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConsole, launchChromium, staticConsole } from "../helpers/browser.ts";
import { inProcessSystem, perStage, type System } from "../helpers/system.ts";

const CORPUS = fileURLToPath(new URL("../../../shared/corpus/", import.meta.url));
const SHOTS = fileURLToPath(new URL("../../docs/screenshots/", import.meta.url));
// Waits for the pipeline (OCR on a loaded 2-core machine) are generous; none is a fixed sleep.
const LONG = 240_000;

describe("web console on serve (Chromium)", { timeout: 600_000 }, () => {
  let dir: string;
  let system: System;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let folder: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-console-"));
    const dist = await buildConsole(join(dir, "dist"));
    const keyFile = join(dir, "data", "admin-key");
    system = await inProcessSystem(join(dir, "data"), {
      gateway: {
        hardening: { profile: "development" },
        console: { dir: dist, localKey: () => readFile(keyFile, "utf8") },
      },
      worker: { roles: STAGES, concurrency: perStage(2) },
      requeueOnStart: true,
      // As `docfleet serve`: no anonymous requests; the page must sign in.
      allowAnonymous: false,
      adminKeyFile: keyFile,
    });
    folder = join(dir, "receipts");
    await mkdir(join(folder, "papers"), { recursive: true });
    await copyFile(join(CORPUS, "sroie/img/000.jpg"), join(folder, "000.jpg"));
    await copyFile(join(CORPUS, "sroie/img/001.jpg"), join(folder, "001.jpg"));
    await copyFile(
      join(CORPUS, "formats/pdf/bookmark_sample.pdf"),
      join(folder, "papers/bookmark_sample.pdf"),
    );
    await writeFile(
      join(folder, "papers/notes.txt"),
      "Meeting notes: plan the archive migration and the review.\n",
    );
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(60_000);
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await system?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("serves the console with content types, caching of hashed assets and an SPA fallback", async () => {
    const index = await fetch(`${system.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(index.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    const html = await index.text();
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${system.url}${script}`, { headers: { "accept-encoding": "gzip" } });
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const again = await fetch(`${system.url}${script}`, {
      headers: { "if-none-match": js.headers.get("etag")! },
    });
    expect(again.status).toBe(304);
    // A console route is the page; a missing asset is not.
    const route = await fetch(`${system.url}/documents/abc`);
    expect(route.status).toBe(200);
    expect(await route.text()).toBe(html);
    expect((await fetch(`${system.url}/assets/missing-1234.js`)).status).toBe(404);
    expect((await fetch(`${system.url}/assets/..%2f..%2fpackage.json`)).status).toBe(404);
    // The API is still the API.
    const api = await fetch(`${system.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
    });
    expect(api.status).toBe(401);
  });

  it("offers the local key only to its own page: not to other origins, nor without the console's header", async () => {
    const ask = (headers: Record<string, string>) => fetch(`${system.url}/console/local-key`, { headers });
    expect((await ask({ "x-docfleet-console": "1", "sec-fetch-site": "same-origin" })).status).toBe(200);
    // A script that is not a browser's page (no fetch metadata), or a page without the header: no key.
    expect((await ask({ "x-docfleet-console": "1" })).status).toBe(404);
    expect((await ask({ "sec-fetch-site": "same-origin" })).status).toBe(404);
    expect((await ask({ "x-docfleet-console": "1", "sec-fetch-site": "cross-site" })).status).toBe(404);
    expect((await ask({ "x-docfleet-console": "1", "sec-fetch-site": "same-site" })).status).toBe(404);
    expect(
      (
        await ask({
          "x-docfleet-console": "1",
          "sec-fetch-site": "same-origin",
          origin: "http://evil.example",
        })
      ).status,
    ).toBe(404);
    const pre = await fetch(`${system.url}/console/local-key`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-headers": "x-docfleet-console" },
    });
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();

    // A real page of another origin on this machine cannot read it either.
    const other = await staticConsole(join(dir, "dist"));
    try {
      const p = await context.newPage();
      await p.goto(other.url);
      const answer = await p.evaluate(async (url) => {
        try {
          const r = await fetch(`${url}/console/local-key`, { headers: { "x-docfleet-console": "1" } });
          return `read ${r.status}`;
        } catch (e) {
          return `refused: ${(e as Error).message}`;
        }
      }, system.url);
      expect(answer).toMatch(/^refused/);
      // Its sign-in page offers no local key.
      await expect(p.getByRole("button", { name: "Sign in", exact: true }).isVisible()).resolves.toBe(true);
      expect(await p.getByText("Use this server's local admin key").count()).toBe(0);
      await p.close();
    } finally {
      await other.close();
    }
  });

  it("signs in with the offered local key, kept in sessionStorage only", async () => {
    await page.goto(`${system.url}/`);
    await page.screenshot({ path: join(SHOTS, "sign-in.png") });
    await page.getByRole("button", { name: "Use this server's local admin key" }).click();
    await page.getByRole("link", { name: "Batches" }).waitFor();
    const stored = await page.evaluate(() => ({
      session: sessionStorage.getItem("docfleet.session"),
      local: Object.keys(localStorage),
    }));
    const key = (await readFile(join(dir, "data", "admin-key"), "utf8")).trim();
    expect(JSON.parse(stored.session!).key).toBe(key);
    expect(stored.local).toEqual([]);
  });

  it("uploads a folder from the page and watches the batch complete live", async () => {
    await page.getByTestId("folder-input").setInputFiles(folder);
    await page.getByText("4 files").waitFor();
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    const live = page.getByTestId("batch-live");
    await live
      .locator("[data-finished=true]")
      .or(page.locator("[data-testid=batch-live][data-finished=true]"))
      .waitFor({
        timeout: LONG,
      });
    await expect(page.getByTestId("upload-progress").getAttribute("data-phase")).resolves.toBe("done");
    const completed = await live.locator('[data-count="completed"] dd').textContent();
    const failed = await live.locator('[data-count="failed"] dd').textContent();
    expect(Number(completed) + Number(failed)).toBe(4);
    expect(Number(completed)).toBeGreaterThanOrEqual(3);
    await live.locator("summary").click();
    expect(await live.locator(".events li").count()).toBeGreaterThan(8);
    await page.screenshot({ path: join(SHOTS, "upload.png"), fullPage: true });
    // Uploaded names keep the folder's layout.
    await page.getByRole("link", { name: "Documents" }).click();
    await page.getByRole("link", { name: "receipts/papers/notes.txt" }).waitFor();
  });

  it("lists the batch with its counts", async () => {
    await page.getByRole("link", { name: "Batches" }).click();
    const row = page.getByTestId("batches").locator("tbody tr").first();
    await row.getByRole("link", { name: "receipts" }).waitFor();
    expect(await row.locator("td").nth(2).textContent()).toBe("4");
    await page.screenshot({ path: join(SHOTS, "batches.png") });
  });

  it("opens a document: the image preview with the fields' boxes, fields with confidence, events", async () => {
    await page.getByRole("link", { name: "Documents" }).click();
    await page.getByRole("link", { name: "receipts/000.jpg" }).click();
    const doc = page.getByTestId("document");
    await doc.waitFor();
    const img = page.getByTestId("preview-image");
    await img.waitFor();
    await page.waitForFunction(() => {
      const i = document.querySelector<HTMLImageElement>("[data-testid=preview-image]");
      return !!i && i.complete && i.naturalWidth > 0;
    });
    // OCR'd fields carry their box on the page: drawn over the image.
    await page.getByTestId("boxes").locator("rect").first().waitFor();
    expect(await page.getByRole("textbox", { name: "total" }).inputValue()).not.toBe("");
    await page
      .getByTestId("events")
      .locator("li", { hasText: /document[._]completed/i })
      .first()
      .waitFor();
    expect(await page.getByTestId("text").textContent()).toMatch(/total/i);
    await page.screenshot({ path: join(SHOTS, "document.png"), fullPage: true });
  });

  it("previews a PDF with pdf.js, loaded only when a PDF is shown", async () => {
    const loaded: string[] = [];
    const onRequest = (r: { url(): string }) => loaded.push(r.url());
    page.on("request", onRequest);
    await page.goto(`${system.url}/documents`);
    await page.getByRole("link", { name: "receipts/papers/bookmark_sample.pdf" }).waitFor();
    expect(loaded.filter((u) => /pdf\.worker|PdfPages/.test(u))).toEqual([]);
    await page.getByRole("link", { name: "receipts/papers/bookmark_sample.pdf" }).click();
    await page.locator("[data-testid=pdf-canvas][data-rendered=true]").waitFor();
    page.off("request", onRequest);
    expect(loaded.filter((u) => /PdfPages/.test(u)).length).toBe(1);
    await page.screenshot({ path: join(SHOTS, "document-pdf.png"), fullPage: true });
    // Back to the receipt for the correction below.
    await page.goto(`${system.url}/documents`);
    await page.getByRole("link", { name: "receipts/000.jpg" }).click();
    await page.getByRole("textbox", { name: "total" }).waitFor();
  });

  it("corrects a field and finds the document by it in search", async () => {
    const events = page.getByTestId("events").locator("li", { hasText: /document[._]completed/i });
    const before = await events.count();
    await page.getByRole("textbox", { name: "total" }).fill("4711.00");
    await page.getByRole("button", { name: "Save corrections" }).click();
    await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    // The corrected field is indexed again: wait for the document to complete once more, live.
    await events.nth(before).waitFor({ timeout: LONG });
    await page.goto(`${system.url}/search?q=total&mode=KEYWORD&field=total&value=4711.00`);
    const hits = page.getByTestId("hits");
    await hits.getByRole("link", { name: "receipts/000.jpg" }).waitFor();
    expect(await hits.locator("li").count()).toBe(1);
    // The field's facet counts the corrected value.
    await page.getByTestId("facets").getByText(/4711/).first().waitFor();
  });

  it("works through the review queue with the keyboard", async () => {
    await page.getByRole("link", { name: "Review" }).click();
    const left = page.getByTestId("review-left");
    await page.getByTestId("document").waitFor();
    const count = Number((await left.textContent())?.match(/^(\d+)/)?.[1]);
    expect(count).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, "review.png"), fullPage: true });
    for (let n = count; n > 0; n--) {
      await page.getByTestId("document").waitFor();
      await page.locator("body").click({ position: { x: 5, y: 5 } });
      await page.keyboard.press("a");
      await left.filter({ hasText: new RegExp(`^${n - 1} to review`) }).waitFor();
    }
    await page.getByTestId("review-empty").waitFor();
  });

  it("searches with a facet", async () => {
    await page.getByRole("link", { name: "Search" }).click();
    await page.getByRole("textbox", { name: "Query" }).fill("total");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    const facet = page.locator("[data-facet=receipt]");
    await facet.waitFor();
    await facet.check();
    await page.waitForURL(/category=receipt/);
    await page.getByTestId("hits").locator("li").first().waitFor();
    const categories = await page.getByTestId("hits").locator("li .muted").allTextContents();
    expect(categories.length).toBeGreaterThan(0);
    for (const c of categories) expect(c).toMatch(/^receipt /);
    await page.screenshot({ path: join(SHOTS, "search.png"), fullPage: true });
  });

  it("defines a category, showing the server's validation error first", async () => {
    await page.getByRole("link", { name: "Categories" }).click();
    await page.getByRole("button", { name: "Define a category" }).click();
    const form = page.getByRole("form", { name: "Category" });
    await form.getByRole("textbox", { name: "Name" }).fill("ticket");
    await form.getByRole("textbox", { name: /^Description/ }).fill("A travel ticket");
    await form.locator("textarea").fill('{"type":"object","properties":{"price":{"type":"banana"}}}');
    await form.getByRole("button", { name: "Save" }).click();
    await form.getByRole("alert").waitFor();
    expect(await form.getByRole("alert").textContent()).toMatch(/price|banana|type/i);
    await page.screenshot({ path: join(SHOTS, "categories.png"), fullPage: true });
    await form
      .locator("textarea")
      .fill('{"type":"object","properties":{"price":{"type":"string","format":"money"}}}');
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByTestId("categories").getByRole("cell", { name: "ticket", exact: true }).waitFor();
  });
});
