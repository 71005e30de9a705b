import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { consoleServer } from "@docfleet/gateway";
import { type Browser, chromium } from "playwright-core";

/** Debian's chromium (apt-get install chromium); CHROMIUM_PATH for another. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Headless Chromium, driven by playwright-core (no browser download). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

const WEB = fileURLToPath(new URL("../../apps/web/", import.meta.url));

/**
 * Builds the console (apps/web) with Vite into `outDir`, from the source as it is now (the tests never
 * run a stale apps/web/dist). Needs `npm run generate` (its typed operations) first.
 */
export async function buildConsole(outDir: string): Promise<string> {
  const { build } = await import("vite");
  await build({
    root: WEB,
    configFile: join(WEB, "vite.config.ts"),
    logLevel: "warn",
    build: { outDir, emptyOutDir: true },
  });
  return outDir;
}

/** The console's build served alone, as a page of another origin than the gateway it talks to. */
export async function staticConsole(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const web = consoleServer({ dir });
  const server: Server = createServer((req, res) => {
    void web.handle(req, res, (req.url ?? "/").split("?")[0] ?? "/").then((handled) => {
      if (!handled) res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
