import { type AddressInfo, createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP forwarder in this process, to cut a shared service (PostgreSQL, RabbitMQ, an S3 server) off
 * from the system under test without stopping it for everyone else: `cut()` closes every connection
 * and refuses new ones (ECONNREFUSED, as a stopped server); `restore()` listens again on the same port.
 */
export interface TcpProxy {
  /** The port clients connect to (127.0.0.1). */
  readonly port: number;
  /** Closes the listener and destroys every open connection. Idempotent. */
  cut(): Promise<void>;
  /** Listens again on the same port. Idempotent. */
  restore(): Promise<void>;
  /** Connections forwarded so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }, port = 0): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let connections = 0;
  let server: Server | undefined;
  let bound = port;

  const listen = async () => {
    const s = createServer((client) => {
      connections++;
      const upstream = createConnection(target);
      sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(bound, "127.0.0.1", () => resolve());
    });
    bound = (s.address() as AddressInfo).port;
    server = s;
  };
  await listen();

  const cut = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  return {
    cut,
    close: cut,
    get port() {
      return bound;
    },
    get connections() {
      return connections;
    },
    async restore() {
      if (!server) await listen();
    },
  };
}
