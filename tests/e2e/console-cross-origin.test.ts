// The web console served from another origin than the API, as a company would host it: the
// distributed gateway (PostgreSQL, RabbitMQ) with its objects on S3 (s3rver here), the page's origin
// in DOCFLEET_CORS_ORIGINS (the gateway's CORS and WebSocket check) and S3_CORS_ORIGINS (the bucket's
// CORS rule, set by the store at setup). From the allowed origin a folder goes straight to the bucket
// (a POST policy per small file, multipart parts with their ETags read through CORS for a large one)
// and its progress streams live over graphql-ws; a page of any other origin is refused by the
// gateway and cannot read the bucket's answers.
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LOCAL_TENANT_ID } from "@docfleet/gateway";
import { STAGES } from "@docfleet/pipeline";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildConsole, staticConsole } from "../helpers/browser.ts";
import { launchChromium, offlineContext } from "../helpers/chromium.ts";
import { type DistributedEnv, distributedEnv } from "../helpers/distributed.ts";
import { inProcessSystem, perStage, type System } from "../helpers/system.ts";

const CORPUS = fileURLToPath(new URL("../../../shared/corpus/", import.meta.url));
const LONG = 240_000;

describe("web console from another origin, distributed gateway on S3 (Chromium)", {
  timeout: 600_000,
}, () => {
  let dir: string;
  let deployment: DistributedEnv;
  let system: System;
  let browser: Browser;
  let allowed: { url: string; close(): Promise<void> };
  let refused: { url: string; close(): Promise<void> };
  let key: string;
  let folder: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-console-x-"));
    const dist = await buildConsole(join(dir, "dist"));
    allowed = await staticConsole(dist);
    refused = await staticConsole(dist);
    deployment = await distributedEnv("console");
    system = await inProcessSystem(join(dir, "data"), {
      env: {
        ...(deployment.env as Record<string, string>),
        DOCFLEET_ALLOW_ANONYMOUS: "false",
        S3_CORS_ORIGINS: allowed.url,
        DOCFLEET_CORS_ORIGINS: allowed.url,
        DOCFLEET_MULTIPART_PART_BYTES: String(5 * 1024 * 1024),
      },
      gateway: { hardening: { profile: "production" }, browser: { corsOrigins: [allowed.url] } },
      worker: { roles: STAGES, concurrency: perStage(2) },
      allowAnonymous: false,
    });
    key = (
      await system.app.services.keys.create({
        tenantId: LOCAL_TENANT_ID,
        name: "console test",
        scopes: ["admin"],
      })
    ).secret;
    folder = join(dir, "scans");
    await mkdir(folder, { recursive: true });
    await copyFile(join(CORPUS, "sroie/img/002.jpg"), join(folder, "002.jpg"));
    await writeFile(join(folder, "memo.txt"), "Memo: the archive moves to the new bucket on Monday.\n");
    // Over the 5 MiB threshold set below: two multipart parts (its bytes are no known format, so it
    // fails its parse with a code, which the batch view groups).
    await writeFile(join(folder, "blob.bin"), randomBytes(6 * 1024 * 1024 + 123));
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
    await deployment?.close();
    await allowed?.close();
    await refused?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("uploads a folder from the allowed origin straight to the bucket and watches it finish live", async () => {
    const s3 = deployment.env.S3_ENDPOINT!;
    const { page, blocked, requests } = await offlineContext(browser, [allowed.url, system.url, s3]);
    await page.goto(allowed.url);
    // Not served by a docfleet serve: no local key offered.
    expect(await page.getByText("Use this server's local admin key").count()).toBe(0);
    await page.getByRole("textbox", { name: "Server" }).fill(system.url);
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("link", { name: "Batches" }).waitFor();
    await page.getByTestId("folder-input").setInputFiles(folder);
    await page.getByText("3 files").waitFor();
    await page.getByText("Transfer settings").click();
    await page.getByLabel("Multipart from (MiB)").fill("5");
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await page.locator("[data-testid=batch-live][data-finished=true]").waitFor({ timeout: LONG });
    expect(await page.getByTestId("upload-progress").getAttribute("data-phase")).toBe("done");
    const live = page.getByTestId("batch-live");
    expect(await live.locator('[data-count="total"] dd').textContent()).toBe("3");
    expect(await live.locator('[data-count="completed"] dd').textContent()).toBe("2");
    expect(await live.locator('[data-count="failed"] dd').textContent()).toBe("1");
    await live.getByText("Failures by code").waitFor();
    // Bytes went to the bucket, not through the gateway: two POSTs, two part PUTs.
    const toBucket = requests.filter((u) => u.startsWith(s3));
    expect(toBucket.filter((u) => /partNumber=1/.test(u)).length).toBeGreaterThanOrEqual(1);
    expect(toBucket.filter((u) => /partNumber=2/.test(u)).length).toBeGreaterThanOrEqual(1);
    expect(requests.filter((u) => u.startsWith(`${system.url}/objects`))).toEqual([]);
    expect(blocked).toEqual([]);
    await page.context().close();
  });

  it("refuses a page of another origin: the gateway gives it no CORS answer and no WebSocket", async () => {
    const { page } = await offlineContext(browser, [refused.url, system.url]);
    await page.goto(refused.url);
    await page.getByRole("textbox", { name: "Server" }).fill(system.url);
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("alert").waitFor();
    expect(await page.getByRole("alert").textContent()).toMatch(/fetch/i);
    const ws = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const s = new WebSocket(`${url.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
          s.onopen = () => resolve("open");
          s.onerror = () => resolve("refused");
        }),
      system.url,
    );
    expect(ws).toBe("refused");
    await page.context().close();
  });

  it("the bucket answers a preflight for the allowed origin only (the ETags the multipart upload above read needed it)", async () => {
    const bucket = `${deployment.env.S3_ENDPOINT}/${deployment.env.S3_BUCKET}/probe`;
    const preflight = (origin: string) =>
      fetch(bucket, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "PUT" },
      });
    const ok = await preflight(allowed.url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("access-control-allow-methods")).toMatch(/PUT/);
    const no = await preflight(refused.url);
    expect(no.headers.get("access-control-allow-origin")).toBeNull();
  });
});
