import { mkdtemp, rm } from "node:fs/promises";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The part of s3rver's API used here (it ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
const S3rver = createRequire(import.meta.url)("s3rver") as new (opts: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
}) => S3rverInstance;

export interface RunningS3rver {
  endPoint: string;
  /** s3rver knows one account and refuses other access keys. */
  accessKey: string;
  secretKey: string;
  close(): Promise<void>;
}

/**
 * s3rver in this process on a free port, over a temporary folder. It speaks the S3 protocol but checks
 * neither V4 signatures nor POST-policy conditions.
 */
export async function startS3rver(): Promise<RunningS3rver> {
  const directory = await mkdtemp(join(tmpdir(), "docfleet-s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, directory, silent: true });
  const { port } = await server.run();
  return {
    endPoint: `http://127.0.0.1:${port}`,
    accessKey: "S3RVER",
    secretKey: "S3RVER",
    close: async () => {
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
