import type { Server } from "node:http";
import {
  type AdapterConfig,
  createRateLimiter,
  type PipelineDeps,
  type RateBudget,
  type RateLimiter,
  type Role,
  type Services,
} from "@docfleet/pipeline";
import { type BrowserOptions, createGateway, type Gateway } from "./app.ts";
import type { ConsoleOptions } from "./console.ts";
import { type HardeningOptions, type RateLimits, rateBudgets } from "./hardening.ts";

export interface GatewayRoleOptions {
  port: number;
  host: string;
  /** Profile and query limits (the secure defaults when absent). */
  hardening?: HardeningOptions;
  /** Per-key budgets; the defaults where unset. */
  rateLimits?: Partial<RateLimits>;
  /** Where the rate limits are counted (memory when absent, Redis shared by every gateway). */
  rateLimiter?: AdapterConfig["rateLimiter"];
  /** Requests without an API key act as the local tenant (embedded mode). */
  allowAnonymous: boolean;
  /** Public URL, CORS origins and host names (README "Browser safety"); `host` is allowed too. */
  browser?: BrowserOptions;
  /** The web console at `/` (its build folder, the local key offered to it); none when absent. */
  console?: ConsoleOptions;
}

/** The gateway as a role: its rate limiters from the composition root's factory, then listening. */
export function gatewayRole(
  app: { deps: PipelineDeps; services: Services; ready?: () => Promise<void> },
  o: GatewayRoleOptions,
): Role & { url: string; readonly gateway?: Gateway } {
  const allowAnonymous = o.allowAnonymous;
  const { log } = app.deps;
  const store: AdapterConfig["rateLimiter"] = o.rateLimiter ?? { kind: "memory" };
  const budgets = rateBudgets(o.rateLimits);
  // Built at start: the factory imports the Redis adapter only when Redis is configured.
  const owned: RateLimiter[] = [];
  let gateway: Gateway | undefined;
  let server: Server | undefined;
  const role = {
    url: "",
    get gateway() {
      return gateway;
    },
    async start() {
      const limiter = async (budget: RateBudget | undefined) => {
        if (!budget) return undefined;
        const l = await createRateLimiter({ ...store, ...budget }, log);
        owned.push(l);
        return l;
      };
      const limiters = { upload: await limiter(budgets.upload), search: await limiter(budgets.search) };
      const browser = { ...o.browser, allowedHosts: [...(o.browser?.allowedHosts ?? []), o.host] };
      gateway = createGateway({
        app,
        log,
        allowAnonymous,
        hardening: o.hardening,
        rateLimiters: limiters,
        browser,
        console: o.console,
        // `/ready` waits on what the application warms up after listening (Prisma's client).
        ready: app.ready && (() => app.ready!()),
      });
      const listening = await gateway.listen(o.port, o.host);
      server = listening.server;
      role.url = listening.url;
      log.info({ endpoint: `${role.url}/graphql` }, "docfleet gateway is serving");
      if (gateway.consoleDir) log.info({ endpoint: `${role.url}/` }, "web console is serving");
      else if (o.console)
        log.info(
          { dir: o.console.dir ?? null },
          "web console not built (no index.html): `/` answers 404 until `npm run build`; the API is unaffected",
        );
    },
    async stop() {
      await gateway?.close();
      const s = server;
      if (s) {
        await new Promise<void>((r) => {
          s.close(() => r());
          s.closeAllConnections();
        });
      }
      for (const l of owned.splice(0)) await l.close();
    },
  };
  return role;
}
