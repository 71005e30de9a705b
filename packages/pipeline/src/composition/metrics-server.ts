import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { PipelineDeps } from "../domain/context.ts";
import type { Role } from "./application.ts";

/** `/metrics` and `/health` of a process without a gateway (worker, relay), on their own port. */
export interface MetricsServer extends Role {
  /** Where it listens, once started. */
  readonly url: string;
}

export function metricsServer(deps: PipelineDeps, port: number, host: string): MetricsServer {
  let server: Server | undefined;
  let url = "";
  return {
    get url() {
      return url;
    },
    async start() {
      const s = createServer((req, res) => {
        const path = (req.url ?? "/").split("?")[0];
        if (path === "/health") {
          res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
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
