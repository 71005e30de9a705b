import type { Browser, BrowserContext, Page } from "playwright-core";
import { CHROMIUM_PATH, launchChromium } from "./browser.ts";

// Chromium as a user without the internet: every request that leaves the servers under test is
// blocked and recorded, so a page that needs a CDN (a script, a font, a worker) fails its test
// instead of passing on a machine that happens to be online. Shared by the browser tests
// (tests/e2e/browser-*.test.ts, console.test.ts); launching is browser.ts's (Debian's chromium
// through playwright-core).

export { CHROMIUM_PATH, launchChromium };

export interface OfflineContext {
  context: BrowserContext;
  page: Page;
  /** Every URL a page or worker of the context asked for, in order. */
  requests: string[];
  /** The requests that went elsewhere than `allowed`: refused (they never reached the network). */
  blocked: string[];
}

/**
 * A browser context whose pages may reach only `allowed` origins (http://127.0.0.1:PORT, ...); `data:`
 * and `blob:` URLs are the page's own. Everything else is aborted and listed in `blocked`: assert it
 * is empty.
 */
export async function offlineContext(
  browser: Browser,
  allowed: readonly string[],
  options: Parameters<Browser["newContext"]>[0] = {},
): Promise<OfflineContext> {
  const origins = new Set(allowed.map((u) => new URL(u).origin));
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const requests: string[] = [];
  const blocked: string[] = [];
  const own = (url: string) => {
    if (url.startsWith("data:") || url.startsWith("blob:")) return true;
    try {
      return origins.has(new URL(url).origin);
    } catch {
      return false;
    }
  };
  context.on("request", (r) => {
    requests.push(r.url());
  });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (own(url)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  return { context, page, requests, blocked };
}
