import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { LOCAL_TENANT_ID, type PipelineDeps, type Services, tenantClients } from "@docfleet/pipeline";
import { GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import type { Logger } from "pino";
import { WebSocketServer } from "ws";
import { Authenticator, KeyWatch, useKeyRecheck, type WsExtra } from "./auth.ts";
import type { Context } from "./builder.ts";
import { type ConsoleOptions, consoleServer } from "./console.ts";
import { graphiqlOptions, renderGraphiQL, useGraphiQLPage } from "./graphiql.ts";
import {
  type HardeningOptions,
  hardeningPlugins,
  parseOrErrors,
  type RateLimiters,
  resolveHardening,
} from "./hardening.ts";
import { isExpectedError, maskError } from "./mask-error.ts";
import { useObservability } from "./observability.ts";
import { MAX_BUFFERED_EVENTS, ProgressHub } from "./progress.ts";
import { toSchema } from "./schema/index.ts";
import { HOST_REFUSED, hostCheck, useAllowedHosts } from "./use-allowed-hosts.ts";
import { corsPolicy, originCheck } from "./use-cors.ts";
import { useCSRFPrevention } from "./use-csrf-prevention.ts";

/** The tenant requests fall back to when they carry no key (embedded mode only); defined in the pipeline. */
export { LOCAL_TENANT_ID };

export interface GatewayOptions {
  /** The application the gateway serves (the composition root's `createApplication`). */
  app: { deps: PipelineDeps; services: Services };
  log: Logger;
  /** Requests without an API key act as the local tenant (embedded mode). */
  allowAnonymous: boolean;
  /** Profile (introspection, GraphiQL) and query limits; production when absent. */
  hardening?: HardeningOptions;
  /**
   * The rate limits' budgets (`rateBudgets`), a limiter each built by the composition root with the
   * pipeline's createRateLimiter, which also closes them; a kind left out is not limited.
   */
  rateLimiters: RateLimiters;
  /** Readiness: resolves when dependencies answer. */
  ready?: () => Promise<void>;
  /** Which pages and host names get an answer; absent: IP addresses and localhost, no other origin. */
  browser?: BrowserOptions;
  /** Limits on live subscriptions (issue 15); SUBSCRIPTION_LIMITS where unset. */
  subscriptions?: Partial<SubscriptionLimits>;
  /** The web console at `/` (apps/web's build) and the local key it may be offered; none when absent. */
  console?: ConsoleOptions;
}

export interface SubscriptionLimits {
  /** Operations at once on one graphql-ws connection; the next is refused with TOO_MANY_SUBSCRIPTIONS. */
  perConnection: number;
  /** Live events held for one subscriber that reads too slowly before it is dropped (SUBSCRIBER_TOO_SLOW). */
  maxBufferedEvents: number;
}

/**
 * A watching client follows a batch or a few documents per connection: 100 is far above that, and
 * bounds what one socket costs (5,000 subscriptions on one socket took 91 s to set up).
 */
export const SUBSCRIPTION_LIMITS: SubscriptionLimits = {
  perConnection: 100,
  maxBufferedEvents: MAX_BUFFERED_EVENTS,
};

/**
 * What browsers may do (README "Browser safety"). Every request's `Host` must be an IP address,
 * localhost, the public URL's host or one of `allowedHosts` (against DNS rebinding); CORS answers the
 * public URL's origin, the server's own and `corsOrigins` only; WebSocket upgrades from other origins
 * are refused. CSRF prevention (no simple requests) holds whatever these say.
 */
export interface BrowserOptions {
  /** The URL clients reach this server at: its host is allowed, its origin gets CORS. */
  publicUrl?: string;
  /** More origins (`https://app.example.com`) whose pages may call this server. */
  corsOrigins?: readonly string[];
  /** More host names: `name`, `.example.com` (and its subdomains) or `*` (any: a proxy checks). */
  allowedHosts?: readonly string[];
}

export interface Gateway {
  yoga: YogaServerInstance<Record<string, never>, Context>;
  /** This gateway's fan-out of live events to its subscriptions (`listeners()`, `whenIdle()`). */
  progress: ProgressHub;
  /** The console's build folder being served at `/`; undefined when it was not built. */
  consoleDir: string | undefined;
  /** Node request handler: objects (local store), health, then GraphQL. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Listens for HTTP (GraphQL, SSE subscriptions, objects) and graphql-ws WebSockets on /graphql. */
  listen(port: number, host?: string): Promise<{ server: Server; url: string }>;
  /** Ends every subscription and WebSocket and stops following the event bus. */
  close(): Promise<void>;
}

/** Builds the gateway around an application; no socket until `listen`. Tests call `yoga.fetch` directly. */
export function createGateway(opts: GatewayOptions): Gateway {
  const { app, log } = opts;
  const { deps, services } = app;
  const prisma = deps.db.prisma;
  // Resolvers (and the Pothos prisma plugin) only ever get a client scoped to the caller's tenant.
  const tenantClient = tenantClients(prisma);
  const scoped = <C extends { tenantId: string }>(c: C): C => ({ ...c, prisma: tenantClient(c.tenantId) });
  const limits = { ...SUBSCRIPTION_LIMITS, ...opts.subscriptions };
  const progress = new ProgressHub(deps.events, { maxBuffered: limits.maxBufferedEvents });
  // Keys are looked up before the tenant is known: on the unscoped client.
  const keys = services.keys;
  const authn = new Authenticator(keys, {
    allowAnonymous: opts.allowAnonymous,
    localTenantId: LOCAL_TENANT_ID,
  });
  const keyWatch = new KeyWatch(keys, deps.settings.authRecheckMs, log);
  const hardening = resolveHardening(opts.hardening);
  const { allowsHost, allowsOrigin } = browserChecks(opts.browser);
  const web = consoleServer(opts.console);
  const yoga = createYoga<Record<string, never>, Context>({
    schema: toSchema(),
    graphqlEndpoint: "/graphql",
    // The bundled GraphiQL (no CDN), on example operations; the local key for serve's own page only.
    graphiql: graphiqlOptions(hardening.graphiql, opts.console?.localKey),
    renderGraphiQL,
    cors: corsPolicy(allowsOrigin),
    // No Upload scalar: a multipart GraphQL request can only be a form a page sent.
    multipart: false,
    // Expected errors keep their message and get a code; the rest are masked, whatever NODE_ENV says,
    // and logged whole by yoga.
    maskedErrors: { maskError },
    batching: false,
    landingPage: false,
    plugins: [
      useAllowedHosts(allowsHost),
      useGraphiQLPage(),
      useCSRFPrevention(),
      useObservability(deps.tracing, deps.metrics),
      useKeyRecheck(keyWatch),
      ...hardeningPlugins(hardening, opts.rateLimiters),
    ],
    logging: {
      debug: (...a) => log.debug(a.length === 1 ? a[0] : a),
      info: (...a) => log.info(a.length === 1 ? a[0] : a),
      warn: (...a) => log.warn(a.length === 1 ? a[0] : a),
      // yoga logs every error its mask replaced: an expected one (a domain error given its code) is
      // the caller's, not ours.
      error: (...a) => {
        if (a.length === 1 && isExpectedError(a[0])) log.debug(a[0]);
        else log.error(a.length === 1 ? a[0] : a);
      },
    },
    // HTTP and SSE requests carry the key in their Authorization header, checked per request;
    // graphql-ws connections in the connection_init payload, checked once in onConnect (`wsHooks`).
    context: async (init) => {
      const { request, extra } = init as { request?: Request; extra?: Partial<WsExtra> };
      const auth = extra?.auth ?? (await authn.require(request?.headers.get("authorization") ?? null));
      return scoped({
        prisma,
        services,
        progress,
        auth,
        tenantId: auth.tenantId,
        transport: extra?.auth ? ("ws" as const) : ("http" as const),
      });
    },
  });

  const { store, metrics, tracing } = deps;
  const route = async (req: IncomingMessage, res: ServerResponse, path: string | undefined) => {
    // Before any handler, /objects and the probes included: a rebound name gets nothing.
    if (!allowsHost(req.headers.host)) {
      res.writeHead(HOST_REFUSED.status, { "content-type": "text/plain; charset=utf-8" });
      res.end(HOST_REFUSED.message);
      return;
    }
    // Liveness, with what the breakers know of each dependency (an outage is not a reason to restart).
    if (path === "/health") return json(res, 200, { status: "ok", dependencies: services.outages.report() });
    if (path === "/ready") {
      try {
        await opts.ready?.();
        // The gateway's own dependencies, probed now; each one's state in the answer.
        const dependencies = await services.outages.check(["database", "store", "broker"]);
        const down = Object.entries(dependencies).filter(([, d]) => d?.status === "down");
        if (down.length === 0) return json(res, 200, { status: "ready", dependencies });
        log.warn({ down: down.map(([name]) => name) }, "not ready");
        return json(res, 503, { status: "unavailable", dependencies });
      } catch (err) {
        log.warn({ err }, "not ready");
        return json(res, 503, { status: "unavailable" });
      }
    }
    if (path === "/metrics" && metrics) {
      const { contentType, body } = await metrics.expose();
      res.writeHead(200, { "content-type": contentType }).end(body);
      return;
    }
    if (store.handleHttp && (await store.handleHttp(req, res))) return;
    // Everything but the API is the console's (static files, its routes, the local key).
    if (path !== "/graphql" && (await web.handle(req, res, path ?? "/"))) return;
    return yoga(req, res);
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    // A request id per request (the caller's x-request-id when it sends a sane one), echoed back and
    // logged with the trace id, so a client's report can be found in the logs and traces.
    const given = req.headers["x-request-id"];
    const requestId = typeof given === "string" && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    res.setHeader("x-request-id", requestId);
    const started = performance.now();
    // Probes, scrapes and object transfers (one per file of a bulk upload) log at debug.
    const quiet =
      path === "/health" || path === "/ready" || path === "/metrics" || !!path?.startsWith("/objects/");
    let traceId: string | undefined;
    const run = () => {
      traceId = tracing?.traceId();
      return route(req, res, path);
    };
    const header = req.headers.traceparent;
    const traced =
      tracing && path === "/graphql"
        ? tracing.span(
            `HTTP ${req.method} ${path}`,
            { "http.request.method": req.method, "url.path": path, "docfleet.request_id": requestId },
            run,
            tracing.extract(typeof header === "string" ? header : undefined),
          )
        : run();
    res.once("finish", () => {
      const line = { requestId, traceId, method: req.method, path, status: res.statusCode };
      const ms = Math.round(performance.now() - started);
      if (quiet) log.debug({ ...line, ms }, "request");
      else log.info({ ...line, ms }, "request");
    });
    traced.catch((err) => {
      log.error({ err, requestId, traceId }, "request failed");
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.destroy();
    });
  };

  const sockets: WebSocketServer[] = [];
  return {
    yoga,
    progress,
    consoleDir: web.dir,
    handle,
    listen: (port, host = "127.0.0.1") =>
      new Promise((resolve, reject) => {
        const server = createServer(handle);
        // CORS does not cover WebSockets: a page of another origin (or a rebound name) is refused here.
        const wss = new WebSocketServer({
          server,
          path: "/graphql",
          verifyClient: ({ origin, req }: { origin?: string; req: IncomingMessage }, done) => {
            const host = req.headers.host;
            const ok = allowsHost(host) && (!origin || allowsOrigin(origin, host));
            done(ok, ok ? undefined : 403, ok ? undefined : "Forbidden");
          },
        });
        sockets.push(wss);
        useServer({ ...graphqlWs(yoga, limits.perConnection), ...authn.wsHooks(keyWatch) }, wss);
        server.once("error", reject);
        server.listen(port, host, () => {
          const addr = server.address() as AddressInfo;
          resolve({ server, url: `http://${host}:${addr.port}` });
        });
      }),
    close: async () => {
      progress.close();
      keyWatch.close();
      for (const wss of sockets.splice(0)) {
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
      }
    },
  };
}

/** graphql-ws over yoga's envelop, as graphql-yoga documents it: one execution path for both transports. */
function graphqlWs(yoga: YogaServerInstance<Record<string, never>, Context>, perConnection: number) {
  type Enveloped = ReturnType<typeof yoga.getEnveloped>;
  return {
    execute: (args: unknown) => (args as { rootValue: Enveloped }).rootValue.execute(args as never),
    subscribe: (args: unknown) => (args as { rootValue: Enveloped }).rootValue.subscribe(args as never),
    onSubscribe: async (
      ctx: {
        connectionParams?: Record<string, unknown>;
        extra: { request: IncomingMessage };
        subscriptions: Record<string, unknown>;
      },
      _id: string,
      params: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
    ) => {
      // graphql-ws has registered this one already: refused before any work, the others go on.
      if (Object.keys(ctx.subscriptions).length > perConnection)
        return [
          new GraphQLError(
            `at most ${perConnection} subscriptions at once on one connection: complete one first, or open another connection`,
            { extensions: { code: "TOO_MANY_SUBSCRIPTIONS", limit: perConnection } },
          ),
        ];
      const enveloped = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        connectionParams: ctx.connectionParams ?? {},
        params,
      });
      const { schema, execute, subscribe, contextFactory, parse, validate } = enveloped;
      // A syntax error or a refused document (token limit) is answered, not a closed socket.
      const document = parseOrErrors(parse, params.query);
      if (Array.isArray(document)) return document;
      const args = {
        schema,
        operationName: params.operationName,
        document,
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe },
      };
      const errors = validate(args.schema, args.document);
      if (errors.length) return errors;
      return args;
    },
  };
}

/** The Host and Origin checks of `browser`, with its public URL's host and origin added. */
function browserChecks(browser: BrowserOptions = {}) {
  const pub = browser.publicUrl ? new URL(browser.publicUrl) : undefined;
  return {
    allowsHost: hostCheck([...(browser.allowedHosts ?? []), ...(pub ? [pub.hostname] : [])]),
    allowsOrigin: originCheck([...(browser.corsOrigins ?? []), ...(pub ? [pub.origin] : [])]),
  };
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

/** sha256 of a key, as stored (kept here for callers of the gateway package). */
export { hashKey } from "@docfleet/pipeline";
