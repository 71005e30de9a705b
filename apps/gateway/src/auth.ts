import type { IncomingMessage } from "node:http";
import { type ApiKeys, type KeyFailure, SCOPES, type Scope } from "@docfleet/pipeline";
import { type AuthFailure, AuthScopeFailureType } from "@pothos/plugin-scope-auth";
import { type ExecutionResult, GraphQLError } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import type { Auth, Context } from "./context.ts";

export type { Auth } from "./context.ts";

const REFUSED: Record<KeyFailure, string> = {
  missing: "an API key is required (Authorization: Bearer <key>)",
  malformed: "the API key is malformed (expected Authorization: Bearer dfk_...)",
  unknown: "the API key is unknown",
  expired: "the API key has expired",
  revoked: "the API key has been revoked",
};

/** graphql-ws close codes: 4401 a refused key at connection_init, 4403 a key lost while connected. */
export const WS_UNAUTHORIZED = 4401;
export const WS_KEY_LOST = 4403;

export function unauthenticated(reason: KeyFailure): GraphQLError {
  return new GraphQLError(REFUSED[reason], {
    extensions: { code: "UNAUTHENTICATED", reason, http: { status: 401 } },
  });
}

/**
 * Scope-auth's refusal as a coded GraphQLError naming the missing scopes (a plain ForbiddenError
 * would be masked as an internal error).
 */
export function forbidden(ctx: Context, field: string, failure: AuthFailure): GraphQLError {
  const missing = [...new Set(scopesIn(failure))].filter((s) => !ctx.auth.scopes.includes(s as Scope));
  const held = ctx.auth.scopes.length ? ctx.auth.scopes.join(", ") : "none";
  return new GraphQLError(
    `${field} needs the ${missing.map((s) => `"${s}"`).join(" and ") || "required"} scope (this key has: ${held})`,
    { extensions: { code: "FORBIDDEN", missingScopes: missing, http: { status: 403 } } },
  );
}

function scopesIn(f: AuthFailure): string[] {
  if (f.kind === AuthScopeFailureType.AuthScope) return [f.scope];
  if (f.kind === AuthScopeFailureType.AnyAuthScopes || f.kind === AuthScopeFailureType.AllAuthScopes)
    return f.failures.flatMap(scopesIn);
  return [];
}

/**
 * Turns an `Authorization` value into an {@link Auth}. No header: the local tenant with every scope
 * when `allowAnonymous`, else refused. A header that is present but bad is always refused (never a
 * silent fallback to anonymous).
 */
export class Authenticator {
  constructor(
    private readonly keys: ApiKeys,
    private readonly opts: { allowAnonymous: boolean; localTenantId: string },
  ) {}

  async check(
    authorization: string | null,
  ): Promise<{ ok: true; auth: Auth } | { ok: false; reason: KeyFailure }> {
    if (!authorization?.trim() && this.opts.allowAnonymous)
      return { ok: true, auth: { tenantId: this.opts.localTenantId, keyId: null, scopes: [...SCOPES] } };
    const v = await this.keys.verify(authorization);
    if (!v.ok) return v;
    return { ok: true, auth: v.principal };
  }

  /** As `check`, throwing UNAUTHENTICATED (HTTP 401) when refused. */
  async require(authorization: string | null): Promise<Auth> {
    const r = await this.check(authorization);
    if (!r.ok) throw unauthenticated(r.reason);
    return r.auth;
  }

  /**
   * graphql-ws hooks: the key comes in the connection_init payload ({ authorization: "Bearer ..." }),
   * is checked once (a refused one closes the socket with 4401 and the reason) and kept for the
   * connection; `watch` closes the socket with 4403 once the key is revoked or expires.
   */
  wsHooks(watch: KeyWatch) {
    return {
      onConnect: async (ctx: { connectionParams?: Record<string, unknown>; extra: unknown }) => {
        const extra = ctx.extra as WsExtra;
        const p = ctx.connectionParams ?? {};
        const header = p.authorization ?? p.Authorization;
        const r = await this.check(typeof header === "string" ? header : null);
        if (!r.ok) {
          extra.socket.close(WS_UNAUTHORIZED, REFUSED[r.reason]);
          return false;
        }
        extra.auth = r.auth;
        if (r.auth.keyId)
          extra.stopWatch = watch.watch(r.auth.keyId, (reason) =>
            extra.socket.close(WS_KEY_LOST, `key ${reason}`),
          );
        return true;
      },
      onClose: (ctx: { extra: unknown }) => {
        (ctx.extra as WsExtra).stopWatch?.();
      },
    };
  }
}

/** What graphql-ws/use/ws puts in `extra`, and what the hooks above add to it. */
export interface WsExtra {
  socket: WebSocket;
  request: IncomingMessage;
  auth?: Auth;
  stopWatch?: () => void;
}

/**
 * Re-checks the keys of live subscriptions every `everyMs`, all of them in one query, and tells each
 * watcher once when its key is revoked, expires or disappears.
 */
export class KeyWatch {
  private readonly watchers = new Map<string, Set<(reason: KeyFailure) => void>>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private checking = false;

  constructor(
    private readonly keys: ApiKeys,
    private readonly everyMs: number,
    private readonly log: Logger,
  ) {}

  /** Calls `onLost` (at most once) when the key stops being valid; answers the unwatch function. */
  watch(keyId: string, onLost: (reason: KeyFailure) => void): () => void {
    let once = false;
    const fn = (reason: KeyFailure) => {
      if (once) return;
      once = true;
      onLost(reason);
    };
    let set = this.watchers.get(keyId);
    if (!set) {
      set = new Set();
      this.watchers.set(keyId, set);
    }
    set.add(fn);
    if (!this.timer) {
      this.timer = setInterval(() => void this.check(), this.everyMs);
      this.timer.unref();
    }
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.watchers.get(keyId) === set) this.watchers.delete(keyId);
      if (this.watchers.size === 0) this.stopTimer();
    };
  }

  close(): void {
    this.watchers.clear();
    this.stopTimer();
  }

  private stopTimer() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async check(): Promise<void> {
    if (this.checking || this.watchers.size === 0) return;
    this.checking = true;
    try {
      const status = await this.keys.status([...this.watchers.keys()]);
      for (const [keyId, reason] of status) {
        if (!reason) continue;
        const set = this.watchers.get(keyId);
        this.watchers.delete(keyId);
        for (const fn of set ?? []) fn(reason);
      }
      if (this.watchers.size === 0) this.stopTimer();
    } catch (err) {
      // A database hiccup keeps connections open until the next check; it never closes them.
      this.log.warn({ err }, "re-checking API keys failed");
    } finally {
      this.checking = false;
    }
  }
}

/**
 * Ends an HTTP (SSE) subscription whose key is revoked or expires while it lives: its last message
 * is an UNAUTHENTICATED error, then the stream completes. The context's `authLost` signal lets the
 * subscription's own source stop at once. graphql-ws connections are watched by their socket instead.
 */
export function useKeyRecheck(watch: KeyWatch): Plugin<Context> {
  return {
    onSubscribe({ args, extendContext }) {
      const ctx = args.contextValue as Context;
      if (ctx.transport !== "http" || !ctx.auth.keyId) return;
      const lost = new AbortController();
      const stop = watch.watch(ctx.auth.keyId, (reason) => lost.abort(unauthenticated(reason)));
      extendContext({ authLost: lost.signal });
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable<ExecutionResult>(result)) return stop();
          setResult(endWhenLost(result, lost.signal, stop));
        },
      };
    },
  };
}

function isAsyncIterable<T>(v: unknown): v is AsyncIterable<T> {
  return v != null && typeof (v as AsyncIterable<T>)[Symbol.asyncIterator] === "function";
}

async function* endWhenLost(
  source: AsyncIterable<ExecutionResult>,
  signal: AbortSignal,
  stop: () => void,
): AsyncGenerator<ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  const lost = new Promise<"lost">((resolve) => {
    if (signal.aborted) resolve("lost");
    else signal.addEventListener("abort", () => resolve("lost"), { once: true });
  });
  try {
    for (;;) {
      const next = it.next();
      next.catch(() => undefined); // once the key is lost, nobody reads a later failure of the source
      const r = await Promise.race([next, lost]);
      if (r === "lost" || signal.aborted) {
        yield { errors: [signal.reason as GraphQLError] };
        return;
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    stop();
    // Not awaited: a source waiting for its next event would hold this stream open until then.
    void it.return?.()?.catch(() => undefined);
  }
}
