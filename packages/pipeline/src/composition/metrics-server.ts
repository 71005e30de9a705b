import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { PipelineDeps } from "../domain/context.ts";
import type { Outages } from "../services/outages.ts";
import type { Role } from "./application.ts";

/** `/metrics`, `/health` and `/ready` of a process without a gateway (worker, relay), on their own port. */
export interface MetricsServer extends Role {
  /** Where it listens, once started. */
  readonly url: string;
}

/**
 * `/health`: 200 while the process lives, with each dependency's breaker state (`outages`); `/ready`:
 * every dependency probed now, 503 while one does not answer (each one's state in the body).
 */
export function metricsServer(
  deps: PipelineDeps,
  port: number,
  host: string,
  outages?: Outages,
  /** Also awaited by `/ready`: what the application warms up after starting (`Application.ready`). */
  ready?: () => Promise<void>,
): MetricsServer {
  let server: Server | undefined;
  let url = "";
  return {
    get url() {
      return url;
    },
    async start() {
      const s = createServer((req, res) => {
        const path = (req.url ?? "/").split("?")[0];
        const send = (status: number, body: unknown) =>
          res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
        if (path === "/health") {
          send(200, { status: "ok", ...(outages ? { dependencies: outages.report() } : {}) });
        } else if (path === "/ready") {
          (ready?.() ?? Promise.resolve())
            .then(() => outages?.check())
            .then(
              (dependencies) => {
                if (!dependencies) return send(200, { status: "ready" });
                const down = Object.values(dependencies).some((d) => d?.status === "down");
                send(down ? 503 : 200, { status: down ? "unavailable" : "ready", dependencies });
              },
              (err) => {
                deps.log.warn({ err }, "readiness check failed");
                send(503, { status: "unavailable" });
              },
            );
        } else if (path === "/metrics" && deps.metrics) {
          deps.metrics.expose().then(
            ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
            (err) => {
              deps.log.error({ err }, "metrics collection failed");
              res.writeHead(500).end();
            },
          );
        } else res.writeHead(404).end();
      });
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(port, host, () => resolve());
      });
      server = s;
      const addr = s.address() as AddressInfo;
      url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${addr.port}`;
      deps.log.info({ endpoint: `${url}/metrics` }, "metrics are served");
    },
    async stop() {
      const s = server;
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
  };
}
