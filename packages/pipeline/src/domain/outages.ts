/**
 * Infrastructure outages, told apart from document failures. A document must never pay for a database,
 * broker, store or model server that was away: such an error is not one of its attempts, and its
 * message is never quarantined for it (`services/outages.ts` confirms the outage with a probe, the stage
 * runner defers the message).
 */

/** The services a docfleet process depends on, one circuit breaker each. */
export const DEPENDENCIES = ["database", "broker", "store", "models"] as const;
export type Dependency = (typeof DEPENDENCIES)[number];

/**
 * Thrown (by the composition root's wrappers around the store and model ports) when a dependency did
 * not answer: connection refused or reset, a timeout, a 502/503/504.
 */
export class DependencyUnavailableError extends Error {
  override name = "DependencyUnavailableError";
  constructor(
    readonly dependency: Dependency,
    override readonly cause: unknown,
  ) {
    super(`${dependency} unavailable: ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/** Socket-level failures: the peer is not there (or went away mid-request), whoever the peer is. */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
]);
/** S3 error codes of a store that is there but not serving. */
const STORE_UNAVAILABLE_CODES = new Set([
  "ServiceUnavailable",
  "SlowDown",
  "RequestTimeout",
  "InternalError",
]);
/**
 * File-system errors of a store's own folder (the local store, `serve`'s data folder) that say the folder
 * is unavailable, not that a document is wrong: full (ENOSPC, EDQUOT), read-only or not writable for a
 * while (EROFS, EACCES, EPERM), failing or gone away (EIO, ESTALE, ENOTCONN, ENXIO), busy, out of file
 * handles (EMFILE, ENFILE). A missing object (ENOENT) is not one: it names one key.
 */
const STORAGE_UNAVAILABLE_CODES = new Set([
  "ENOSPC",
  "EDQUOT",
  "EROFS",
  "EACCES",
  "EPERM",
  "EIO",
  "ESTALE",
  "ENOTCONN",
  "ENXIO",
  "EBUSY",
  "EMFILE",
  "ENFILE",
]);
/** Prisma's codes for a database it cannot reach or lost (P2024: no pool connection in time). */
const PRISMA_CONNECTION_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);
/** The driver adapter's kinds for the same. */
const ADAPTER_CONNECTION_KINDS = new Set([
  "DatabaseNotReachable",
  "ConnectionClosed",
  "SocketTimeout",
  "TooManyConnections",
]);
/** node-postgres's own messages when a connection dies or cannot be had. */
const PG_CONNECTION_MESSAGES =
  /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Client was closed and is not queryable|Connection refused|server closed the connection unexpectedly/i;

interface ErrorLike {
  name?: string;
  code?: unknown;
  message?: string;
  status?: unknown;
  statusCode?: unknown;
  cause?: unknown;
  meta?: {
    driverAdapterError?: { cause?: { kind?: string; originalCode?: string; code?: string } };
    code?: string;
  };
  errors?: unknown[];
}

/** A PostgreSQL SQLSTATE of a lost or refused connection: class 08, admin shutdown, cannot connect now. */
function pgConnectionState(code: unknown): boolean {
  return typeof code === "string" && (/^08...$/.test(code) || /^57P0[1-3]$/.test(code) || code === "53300");
}

/** Whether `err` says a peer did not answer (socket errors, fetch failures, 502/503/504), whoever it is. */
export function isConnectivityError(err: unknown): boolean {
  return walk(err, (e) => {
    if (typeof e.code === "string" && SOCKET_CODES.has(e.code)) return true;
    if (typeof e.code === "string" && STORE_UNAVAILABLE_CODES.has(e.code)) return true;
    const status = Number(e.status ?? e.statusCode);
    if (status === 502 || status === 503 || status === 504) return true;
    return /socket hang up|other side closed|ECONNREFUSED|ECONNRESET/.test(e.message ?? "");
  });
}

/**
 * Whether `err` (or a cause) is a file-system error that says a store's folder is unavailable (full, not
 * writable, failing): an outage of the store when a store's method throws it, not the document's failure.
 */
export function isStorageUnavailableError(err: unknown): boolean {
  return walk(
    err,
    (e) =>
      typeof e.code === "string" &&
      STORAGE_UNAVAILABLE_CODES.has(e.code) &&
      typeof (e as { syscall?: unknown }).syscall === "string",
  );
}

/**
 * Which dependency `err` says is away: `database` for Prisma's and node-postgres's connection errors,
 * `broker` for rabbitmq-client's connection and channel errors, the tagged dependency of a
 * `DependencyUnavailableError`, `unknown` for a bare socket error of an untagged peer, null for anything
 * else (a document failure). Walks causes (`cause`, Prisma's driver adapter error, aggregate errors).
 */
export function outageOf(err: unknown): Dependency | "unknown" | null {
  let found: Dependency | null = null;
  walk(err, (e) => {
    if (e instanceof DependencyUnavailableError) found = e.dependency;
    else if (isDatabaseConnectionError(e)) found = "database";
    else if (typeof e.name === "string" && /^AMQP(Connection|Channel)?Error$/.test(e.name)) found = "broker";
    return found !== null;
  });
  if (found) return found;
  return isConnectivityError(err) ? "unknown" : null;
}

function isDatabaseConnectionError(e: ErrorLike): boolean {
  const name = e.name ?? "";
  if (name === "PrismaClientInitializationError") return true;
  if (name.startsWith("PrismaClient")) {
    if (typeof e.code === "string" && PRISMA_CONNECTION_CODES.has(e.code)) return true;
    const cause = e.meta?.driverAdapterError?.cause;
    if (cause?.kind && ADAPTER_CONNECTION_KINDS.has(cause.kind)) return true;
    if (pgConnectionState(cause?.originalCode) || pgConnectionState(cause?.code)) return true;
    if (pgConnectionState(e.meta?.code)) return true;
    return PG_CONNECTION_MESSAGES.test(e.message ?? "");
  }
  if (name === "DriverAdapterError") {
    const cause = e.cause as { kind?: string; originalCode?: string; code?: string } | undefined;
    return (
      !!cause &&
      ((!!cause.kind && ADAPTER_CONNECTION_KINDS.has(cause.kind)) ||
        pgConnectionState(cause.originalCode) ||
        pgConnectionState(cause.code))
    );
  }
  // node-postgres: a DatabaseError carries `severity` and the SQLSTATE; its connection errors are plain.
  if (typeof (e as { severity?: unknown }).severity === "string" && pgConnectionState(e.code)) return true;
  return PG_CONNECTION_MESSAGES.test(e.message ?? "");
}

/** Calls `test` on `err` and its causes (depth-bounded) until one answers true. */
function walk(err: unknown, test: (e: ErrorLike) => boolean, depth = 0): boolean {
  if (depth > 6 || err === null || typeof err !== "object") return false;
  const e = err as ErrorLike;
  if (test(e)) return true;
  if (e.cause !== undefined && walk(e.cause, test, depth + 1)) return true;
  if (Array.isArray(e.errors)) return e.errors.some((x) => walk(x, test, depth + 1));
  return false;
}
