import { CategoryError, DocumentError, FailureCode, outageOf, RequestError } from "@docfleet/pipeline";
import { GraphQLError } from "graphql";

// The gateway's one error mask (graphql-yoga's `maskedErrors.maskError`, the shape of its
// utils/mask-error.ts): every error of every transport passes here before it reaches a client.

/**
 * The innermost cause: graphql-js wraps what a resolver throws in a located GraphQLError (path,
 * locations) with the thrown value as `originalError`, sometimes twice.
 */
function unwrap(error: unknown): unknown {
  let e = error;
  while (e instanceof GraphQLError && e.originalError) e = e.originalError;
  return e;
}

/** How long a client should wait before it retries a request refused by an outage (SERVICE_UNAVAILABLE). */
const OUTAGE_RETRY_AFTER_MS = 5000;

/** The code of an expected domain failure (the caller's mistake, said in words meant for it), if it is one. */
function domainCode(error: unknown): string | undefined {
  if (error instanceof RequestError || error instanceof CategoryError) return error.code;
  // INTERNAL is docfleet's own fault: masked like any unexpected error.
  if (error instanceof DocumentError && error.code !== FailureCode.INTERNAL) return error.code;
  return undefined;
}

/**
 * Whether `error` is an expected domain error, which the mask replaces by a coded GraphQLError: yoga
 * then logs it as it logs every replaced error, but it is the caller's failure, not ours.
 */
export function isExpectedError(error: unknown): boolean {
  return domainCode(unwrap(error)) !== undefined;
}

/**
 * - A GraphQLError of our own or of graphql-js (a code such as UNAUTHENTICATED, FORBIDDEN, NOT_FOUND,
 *   RATE_LIMITED, GRAPHQL_VALIDATION_FAILED, or an invalid variable) passes as it is, even wrapped.
 * - An expected domain error (RequestError, CategoryError, DocumentError) keeps its message and gets
 *   its code in `extensions.code`, and the wrapper's path and locations.
 * - Anything else becomes "Unexpected error." (INTERNAL_SERVER_ERROR), whatever NODE_ENV says: yoga
 *   logs the original whole since it was replaced, and the answer carries no message, stack or cause.
 */
export function maskError(error: unknown, message: string): Error {
  const cause = unwrap(error);
  if (cause instanceof GraphQLError) return error as GraphQLError;
  const located = error instanceof GraphQLError ? error : undefined;
  const where = located && {
    nodes: located.nodes,
    source: located.source,
    positions: located.positions,
    path: located.path,
  };
  const code = domainCode(cause);
  if (code !== undefined)
    return new GraphQLError((cause as Error).message, { ...where, extensions: { code } });
  // A dependency away for a moment (the store, the database, the broker: outages.ts) is no bug of ours
  // and no fault of the request: SERVICE_UNAVAILABLE, HTTP 503 with Retry-After, which clients retry.
  // A bare socket error of a peer no adapter tagged stays an internal error (it could be anything).
  const away = outageOf(cause);
  if (away !== null && away !== "unknown")
    return new GraphQLError(`the ${away} is unavailable for the moment: retry shortly`, {
      ...where,
      extensions: {
        code: "SERVICE_UNAVAILABLE",
        retryAfterMs: OUTAGE_RETRY_AFTER_MS,
        http: { status: 503, headers: { "retry-after": String(OUTAGE_RETRY_AFTER_MS / 1000) } },
      },
    });
  // `unexpected` (never sent) makes an answer without data a 500, as yoga's own mask does.
  return new GraphQLError(message, {
    ...where,
    extensions: { code: "INTERNAL_SERVER_ERROR", unexpected: true },
  });
}
