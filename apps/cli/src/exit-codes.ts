/** Exit codes of every docfleet command, documented in the README. */
export const ExitCode = {
  OK: 0,
  /** Unexpected error (a bug, or a service failing in an unexpected way). */
  INTERNAL: 1,
  /** Bad arguments or configuration. */
  USAGE: 2,
  /** The gateway could not be reached or refused the request (network, authentication). */
  UNREACHABLE: 3,
  /** The command finished, but some documents failed or were rejected. */
  PARTIAL: 4,
  /** Stopped by Ctrl-C (SIGINT) or SIGTERM; an upload's manifest keeps its progress for a rerun. */
  INTERRUPTED: 130,
} as const;

export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}
