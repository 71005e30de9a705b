/**
 * The web console's first load: what a browser downloads before the first page works, and how long
 * until it does, in Chromium.
 *
 *   npm run bench -- tests/bench/console-load.ts [runs=7]
 *
 * Builds apps/web with Vite into a temporary folder, then:
 * - bundle: the files index.html loads at once (its script, styles and module preloads), raw and
 *   gzip (as the gateway sends them), and the chunks loaded on demand (pages, pdf.js and its worker)
 *   listed apart;
 * - time to interactive: a gateway over an empty embedded deployment (no workers) serves the build at
 *   `/`; each run opens a fresh browser context (cold cache) and measures from navigation start to
 *   (a) the sign-in form accepting input, and (b) signed in (session in sessionStorage, as after a
 *   sign-in), the Batches page showing its table with data from /graphql; then the same again in the
 *   same context (warm cache: index.html revalidated, hashed assets from cache). Median and max.
 * No network throttling: loopback; the machine's load is printed beside the figures.
 */
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { LOCAL_TENANT_ID } from "@docfleet/gateway";
import type { Page } from "playwright-core";
import { buildConsole, launchChromium } from "../helpers/browser.ts";
import { inProcessSystem } from "../helpers/system.ts";

const RUNS = Number(process.argv[2] ?? 7);

const dir = await mkdtemp(join(tmpdir(), "docfleet-console-bench-"));
const dist = await buildConsole(join(dir, "dist"));

// Bundle.
const html = await readFile(join(dist, "index.html"), "utf8");
const initial = new Set([
  "index.html",
  ...[...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]!),
]);
const assets = await readdir(join(dist, "assets"));
const size = async (f: string) => {
  const body = await readFile(join(dist, f));
  return { raw: body.length, gzip: gzipSync(body).length };
};
let first = { raw: 0, gzip: 0 };
console.log("initial load (index.html and what it loads at once):");
for (const f of initial) {
  const s = await size(f);
  first = { raw: first.raw + s.raw, gzip: first.gzip + s.gzip };
  console.log(`  ${f.padEnd(44)} ${kib(s.raw).padStart(10)} ${kib(s.gzip).padStart(10)} gzip`);
}
console.log(`  ${"total".padEnd(44)} ${kib(first.raw).padStart(10)} ${kib(first.gzip).padStart(10)} gzip`);
console.log("on demand:");
for (const f of assets
  .map((a) => `assets/${a}`)
  .filter((a) => !initial.has(a))
  .sort()) {
  const s = await size(f);
  console.log(`  ${f.padEnd(44)} ${kib(s.raw).padStart(10)} ${kib(s.gzip).padStart(10)} gzip`);
}
const all = await Promise.all(assets.map(async (a) => (await stat(join(dist, "assets", a))).size));
console.log(`all assets: ${assets.length} files, ${kib(all.reduce((a, b) => a + b, 0))}`);

// Time to interactive.
const system = await inProcessSystem(join(dir, "data"), {
  gateway: { hardening: { profile: "development" }, console: { dir: dist } },
  allowAnonymous: false,
});
const { secret } = await system.app.services.keys.create({
  tenantId: LOCAL_TENANT_ID,
  name: "bench",
  scopes: ["admin"],
});
const browser = await launchChromium();

/** Milliseconds from navigation start until `ready` holds in the page. */
async function timeTo(page: Page, url: string, ready: string): Promise<number> {
  await page.goto(url, { waitUntil: "commit" });
  await page.waitForSelector(ready, { state: "visible", timeout: 60_000 });
  return page.evaluate(() => performance.now());
}

const rows: Record<string, number[]> = {
  "sign-in form, cold": [],
  "sign-in form, warm": [],
  "batches page with data, cold": [],
  "batches page with data, warm": [],
};
for (let i = 0; i < RUNS; i++) {
  const signIn = await browser.newContext();
  const p1 = await signIn.newPage();
  rows["sign-in form, cold"]!.push(
    await timeTo(p1, `${system.url}/`, "form[aria-label='Sign in'] button:not([disabled])"),
  );
  rows["sign-in form, warm"]!.push(
    await timeTo(p1, `${system.url}/`, "form[aria-label='Sign in'] button:not([disabled])"),
  );
  await signIn.close();

  const signedIn = await browser.newContext();
  await signedIn.addInitScript(
    ([server, key]) => sessionStorage.setItem("docfleet.session", JSON.stringify({ server, key })),
    [system.url, secret] as const,
  );
  const p2 = await signedIn.newPage();
  const table = "[data-testid=batches][data-loaded=true]";
  rows["batches page with data, cold"]!.push(await timeTo(p2, `${system.url}/batches`, table));
  rows["batches page with data, warm"]!.push(await timeTo(p2, `${system.url}/batches`, table));
  await signedIn.close();
}
console.log(
  `\ntime to interactive in Chromium (headless, loopback), ${RUNS} runs, load ${loadavg()[0]!.toFixed(1)}:`,
);
for (const [what, ms] of Object.entries(rows)) {
  const sorted = [...ms].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(
    `  ${what.padEnd(32)} median ${median.toFixed(0).padStart(5)} ms   max ${sorted.at(-1)!.toFixed(0).padStart(5)} ms`,
  );
}
await browser.close();
await system.stop();
await rm(dir, { recursive: true, force: true });

function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}
