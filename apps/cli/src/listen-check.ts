import { createServer } from "node:net";
import { CliError, ExitCode } from "./exit-codes.ts";

// A taken port is a start-up error found in milliseconds, before the pipeline loads (main.ts checks
// it first) and again by the command itself. Loads nothing heavy.

/** Answers `port` once it is seen free on `host`; a taken one is a usage error (exit 2), at once. */
export async function checkPort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", (err: NodeJS.ErrnoException) => reject(portError(err, host, port)));
    s.listen(port, host, () => s.close(() => resolve(port)));
  });
}

/** A listen error as the one line the CLI prints (exit 2), or the error itself. */
export function portError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  if (err.code === "EADDRINUSE")
    return new CliError(
      `port ${port} on ${host} is in use (another docfleet serve?); pick another with --port or PORT`,
      ExitCode.USAGE,
    );
  if (err.code === "EACCES")
    return new CliError(`no permission to listen on ${host}:${port}; use a port above 1023`, ExitCode.USAGE);
  if (err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND")
    return new CliError(`cannot listen on ${host}: no such local address (--host)`, ExitCode.USAGE);
  return err;
}
