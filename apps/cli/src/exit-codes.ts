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

/**
 * Stops the command on the first Ctrl-C (SIGINT) or SIGTERM: the signal aborts with an INTERRUPTED
 * CliError (`docfleet: interrupted ...`, exit 130, no stack) that the running work throws where it
 * stands; a second Ctrl-C exits at once. `dispose` removes the handlers.
 */
export function interruptible(what: string): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(ExitCode.INTERRUPTED);
    controller.abort(new CliError(`interrupted: ${what}`, ExitCode.INTERRUPTED));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** The error to report for `err` once `signal` may have been aborted: the interruption wins. */
export function whenInterrupted(err: unknown, signal: AbortSignal): unknown {
  return signal.aborted && signal.reason instanceof CliError ? signal.reason : err;
}
