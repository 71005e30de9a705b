import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type DocumentNode, print } from "graphql";
import { CliError, ExitCode } from "./exit-codes.ts";
import { requestBuffered } from "./upload/http.ts";
import {
  DEFAULT_RETRY,
  isTransientStatus,
  type RetryPolicy,
  retryAfterMs,
  TransientError,
  withRetry,
} from "./upload/retry.ts";

export interface RequestOptions {
  /**
   * Safe to send twice (the default). A request that is not (createBatch) is retried only when the
   * connection was refused, since then the gateway cannot have seen it.
   */
  idempotent?: boolean;
  signal?: AbortSignal;
}

/** A GraphQL error the gateway answered, with its code. */
export class GatewayError extends CliError {
  override name = "GatewayError";
  constructor(
    message: string,
    readonly code: string | undefined,
    exitCode: number,
  ) {
    super(message, exitCode);
  }
}

/** The gateway's rate limit refused a request before running it: wait `afterMs`, then send it again. */
export class RateLimitedError extends TransientError {
  override name = "RateLimitedError";
}

/** Variables and options of a request; the variables may be left out when the operation requires none. */
type RequestArgs<V> =
  Record<string, never> extends V
    ? [variables?: V, opts?: RequestOptions]
    : [variables: V, opts?: RequestOptions];

const printed = new WeakMap<DocumentNode, string>();

/** The text of an operation (printed once: the same documents go out thousands of times in an upload). */
export function operationText(doc: DocumentNode): string {
  let text = printed.get(doc);
  if (text === undefined) {
    text = print(doc);
    printed.set(doc, text);
  }
  return text;
}

/** A minimal GraphQL-over-HTTP client for the gateway; retries what a retry can cure. */
export class GatewayClient {
  constructor(
    readonly endpoint: string,
    private readonly apiKey?: string,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    /** Told about each retry (for a progress line). */
    private readonly onRetry?: (message: string) => void,
  ) {}

  /** Sends one operation (a `graphql()` document, typed from the gateway's schema); answers its data. */
  async request<R, V>(doc: TypedDocumentNode<R, V>, ...[variables, opts = {}]: RequestArgs<V>): Promise<R> {
    const query = operationText(doc);
    try {
      return await withRetry(
        () => this.once<R>(query, variables, opts),
        this.retry,
        opts.signal,
        (err, attempt, wait) => this.onRetry?.(`gateway: ${err.message}; retry ${attempt} in ${wait} ms`),
      );
    } catch (err) {
      if (err instanceof RateLimitedError)
        throw new GatewayError(
          `${err.message} (still refused after ${this.retry.retries} retries)`,
          "RATE_LIMITED",
          ExitCode.UNREACHABLE,
        );
      if (err instanceof TransientError)
        throw new CliError(
          `cannot reach the gateway at ${this.endpoint}: ${err.message}` +
            " (is it running? set --endpoint or DOCFLEET_ENDPOINT)",
          ExitCode.UNREACHABLE,
        );
      throw err;
    }
  }

  private async once<T>(query: string, variables: unknown, opts: RequestOptions) {
    let res: { status: number; retryAfter: string | null; text: string };
    try {
      // node:http with keep-alive, not fetch: a bulk upload sends two of these per chunk of files and
      // the CLI's CPU per request counts (upload/http.ts).
      const r = await requestBuffered(`${this.endpoint.replace(/\/$/, "")}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/graphql-response+json, application/json",
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
        signal: opts.signal,
      });
      res = { status: r.status, retryAfter: r.headers.get("retry-after"), text: r.body.toString("utf8") };
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
      const message = cause?.code ?? cause?.message ?? (err as Error).message;
      if (opts.idempotent === false && cause?.code !== "ECONNREFUSED")
        throw new CliError(
          `lost the connection to the gateway at ${this.endpoint} mid-request (${message})`,
          ExitCode.UNREACHABLE,
        );
      throw new TransientError(message);
    }
    const { text } = res;
    let body: {
      data?: T;
      errors?: { message: string; extensions?: { code?: string; retryAfterMs?: number } }[];
    };
    try {
      body = JSON.parse(text);
    } catch {
      if (isTransientStatus(res.status) && opts.idempotent !== false)
        throw new TransientError(`HTTP ${res.status}`, retryAfterMs(res.retryAfter));
      throw new CliError(
        `the gateway at ${this.endpoint} answered ${res.status} with a body that is not JSON (is it a docfleet gateway?)`,
        ExitCode.UNREACHABLE,
      );
    }
    if (body.errors?.length) {
      const e = body.errors[0]!;
      const code = e.extensions?.code;
      // Refused before anything ran: safe to send again, even when not idempotent.
      if (code === "RATE_LIMITED")
        throw new RateLimitedError(`${code}: ${e.message}`, e.extensions?.retryAfterMs);
      // A dependency of the gateway away for a moment (store, database, broker): the requests docfleet
      // sends again are safe to repeat (requestUploads, completeUploads are idempotent).
      if (code === "SERVICE_UNAVAILABLE" && opts.idempotent !== false)
        throw new TransientError(`${code}: ${e.message}`, e.extensions?.retryAfterMs);
      if (code === "UNAUTHENTICATED")
        throw new GatewayError(
          `the gateway refused the API key: ${e.message} (set --api-key or DOCFLEET_API_KEY; ` +
            "`docfleet serve` keeps an admin key in <data dir>/admin-key)",
          code,
          ExitCode.UNREACHABLE,
        );
      throw new GatewayError(
        `${code ? `${code}: ` : ""}${e.message}`,
        code,
        code === "FORBIDDEN"
          ? ExitCode.UNREACHABLE
          : code === "BAD_REQUEST" || code === "NOT_FOUND"
            ? ExitCode.USAGE
            : ExitCode.INTERNAL,
      );
    }
    if (!body.data) throw new CliError(`the gateway answered ${res.status} without data`, ExitCode.INTERNAL);
    return body.data;
  }
}
