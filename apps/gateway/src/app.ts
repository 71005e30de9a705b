import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { LocalObjectStore, type Pipeline } from "@docfleet/pipeline";
import { GraphQLError } from "graphql";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import type { Logger } from "pino";
import type { Context } from "./builder.ts";
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
  listen(port: number, host?: string): Promise<{ server: Server; url: string }>;
}

/** Builds the gateway around a pipeline; no socket until `listen`. Tests call `yoga.fetch` directly. */
export function createGateway(opts: GatewayOptions): Gateway {
  const { pipeline, log } = opts;
  const prisma = pipeline.deps.db.prisma;
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
    context: async ({ request }) => ({
      prisma,
      pipeline,
      tenantId: await resolveTenant(request.headers.get("authorization"), opts, prisma),
    }),
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

  return {
    yoga,
    handle,
    listen: (port, host = "127.0.0.1") =>
      new Promise((resolve, reject) => {
        const server = createServer(handle);
        server.once("error", reject);
        server.listen(port, host, () => {
          const addr = server.address() as AddressInfo;
          resolve({ server, url: `http://${host}:${addr.port}` });
        });
      }),
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
