import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { LocalObjectStore, type Pipeline } from "@docfleet/pipeline";
import { GraphQLError } from "graphql";
import { useServer } from "graphql-ws/use/ws";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import type { Logger } from "pino";
import { WebSocketServer } from "ws";
import type { Context } from "./builder.ts";
import { ProgressHub } from "./progress.ts";
import { toSchema } from "./schema/index.ts";

/** The tenant requests fall back to when they carry no key (embedded mode only). */
export const LOCAL_TENANT_ID = "00000000-0000-4000-8000-000000000001";

export interface GatewayOptions {
  pipeline: Pipeline;
  log: Logger;
  /** Requests without an API key act as the local tenant (embedded mode). */
  allowAnonymous: boolean;
  graphiql: boolean;
  /** Readiness: resolves when dependencies answer. */
  ready?: () => Promise<void>;
}

export interface Gateway {
  yoga: YogaServerInstance<Record<string, never>, Context>;
  /** Node request handler: objects (local store), health, then GraphQL. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /** Listens for HTTP (GraphQL, SSE subscriptions, objects) and graphql-ws WebSockets on /graphql. */
  listen(port: number, host?: string): Promise<{ server: Server; url: string }>;
  /** Ends every subscription and WebSocket and stops following the event bus. */
  close(): Promise<void>;
}

/** Builds the gateway around a pipeline; no socket until `listen`. Tests call `yoga.fetch` directly. */
export function createGateway(opts: GatewayOptions): Gateway {
  const { pipeline, log } = opts;
  const prisma = pipeline.deps.db.prisma;
  const progress = new ProgressHub(pipeline.deps.events);
  const yoga = createYoga<Record<string, never>, Context>({
    schema: toSchema(),
    graphqlEndpoint: "/graphql",
    graphiql: opts.graphiql,
    batching: false,
    landingPage: false,
    logging: {
      debug: (...a) => log.debug(a.length === 1 ? a[0] : a),
      info: (...a) => log.info(a.length === 1 ? a[0] : a),
      warn: (...a) => log.warn(a.length === 1 ? a[0] : a),
      error: (...a) => log.error(a.length === 1 ? a[0] : a),
    },
    // HTTP and SSE requests carry the key in their Authorization header; graphql-ws connections in
    // the connection_init payload ({ authorization: "Bearer ..." }).
    context: async (init) => {
      const { request, connectionParams } = init as {
        request?: Request;
        connectionParams?: Record<string, unknown>;
      };
      const header = connectionParams
        ? (connectionParams.authorization ?? connectionParams.Authorization)
        : request?.headers.get("authorization");
      return {
        prisma,
        pipeline,
        progress,
        tenantId: await resolveTenant(typeof header === "string" ? header : null, opts, prisma),
      };
    },
  });

  const store = pipeline.deps.store;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const path = (req.url ?? "/").split("?")[0];
      if (path === "/health") return json(res, 200, { status: "ok" });
      if (path === "/ready") {
        try {
          await opts.ready?.();
          await pipeline.deps.db.query("SELECT 1");
          return json(res, 200, { status: "ready" });
        } catch (err) {
          log.warn({ err }, "not ready");
          return json(res, 503, { status: "unavailable" });
        }
      }
      if (store instanceof LocalObjectStore && (await store.handleHttp(req, res))) return;
      return yoga(req, res);
    })().catch((err) => {
      log.error({ err }, "request failed");
      if (!res.headersSent) json(res, 500, { error: "internal error" });
      else res.destroy();
    });
  };

  const sockets: WebSocketServer[] = [];
  return {
    yoga,
    handle,
    listen: (port, host = "127.0.0.1") =>
      new Promise((resolve, reject) => {
        const server = createServer(handle);
        const wss = new WebSocketServer({ server, path: "/graphql" });
        sockets.push(wss);
        useServer(graphqlWs(yoga), wss);
        server.once("error", reject);
        server.listen(port, host, () => {
          const addr = server.address() as AddressInfo;
          resolve({ server, url: `http://${host}:${addr.port}` });
        });
      }),
    close: async () => {
      progress.close();
      for (const wss of sockets.splice(0)) {
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((r) => wss.close(() => r()));
      }
    },
  };
}

/** graphql-ws over yoga's envelop, as graphql-yoga documents it: one execution path for both transports. */
function graphqlWs(yoga: YogaServerInstance<Record<string, never>, Context>) {
  type Enveloped = ReturnType<typeof yoga.getEnveloped>;
  return {
    execute: (args: unknown) => (args as { rootValue: Enveloped }).rootValue.execute(args as never),
    subscribe: (args: unknown) => (args as { rootValue: Enveloped }).rootValue.subscribe(args as never),
    onSubscribe: async (
      ctx: { connectionParams?: Record<string, unknown>; extra: { request: IncomingMessage } },
      _id: string,
      params: { query: string; operationName?: string | null; variables?: Record<string, unknown> | null },
    ) => {
      const enveloped = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        connectionParams: ctx.connectionParams ?? {},
        params,
      });
      const { schema, execute, subscribe, contextFactory, parse, validate } = enveloped;
      const args = {
        schema,
        operationName: params.operationName,
        document: parse(params.query),
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

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

async function resolveTenant(
  authorization: string | null,
  opts: GatewayOptions,
  prisma: Context["prisma"],
): Promise<string> {
  if (!authorization) {
    if (opts.allowAnonymous) return LOCAL_TENANT_ID;
    throw new GraphQLError("an API key is required (Authorization: Bearer <key>)", {
      extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
    });
  }
  const m = /^Bearer\s+(\S+)$/i.exec(authorization);
  const key = m ? await prisma.apiKey.findUnique({ where: { hash: hashKey(m[1]!) } }) : null;
  if (!key || key.revokedAt || (key.expiresAt && key.expiresAt < new Date())) {
    throw new GraphQLError("invalid, expired or revoked API key", {
      extensions: { code: "UNAUTHENTICATED", http: { status: 401 } },
    });
  }
  return key.tenantId;
}

export function hashKey(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}
