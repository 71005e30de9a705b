import { type Client, createClient } from "graphql-ws";
import { createLogUpdate } from "log-update";
import picocolors from "picocolors";
import WebSocket from "ws";
import { seconds as secondsText } from "../args.ts";
import type { BatchCounts } from "../batch-counts.ts";
import { operationText } from "../client.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { graphql } from "../generated/gql.ts";
import type { BatchProgressSubscription, BatchProgressSubscriptionVariables } from "../generated/graphql.ts";

export interface WatchOptions {
  /** Gateway URL (http[s]://host:port); the WebSocket is ws[s]://host:port/graphql. */
  endpoint: string;
  apiKey?: string;
  batchId: string;
  /** Print the final report as one JSON object instead of text. */
  json?: boolean;
  /** Where the final report goes (default stdout); null for none (the caller reports). */
  out?: NodeJS.WritableStream | null;
  /** Where the live view goes (default stderr); null for none. */
  view?: NodeJS.WritableStream | null;
  /** Redraw one block in place (ANSI); otherwise plain periodic lines. Default: `view` is a TTY. */
  isTTY?: boolean;
  /** How long to keep reconnecting after losing a connection that worked. Default 2 minutes. */
  retryForMs?: number;
  /**
   * Also end once every uploaded document is done, even if some never got uploaded (they stay
   * PENDING_UPLOAD and the batch never reads `finished`): for `upload --watch`, whose uploads are over.
   */
  ignorePendingUpload?: boolean;
  /** Aborts the watch: it rejects with the signal's reason (Ctrl-C: an INTERRUPTED CliError). */
  signal?: AbortSignal;
}

export interface WatchResult {
  batchId: string;
  counts: BatchCounts;
  failuresByCode: Record<string, number>;
  /**
   * The batch's own time: from its creation to its last event (null when the gateway told neither).
   * Not the watch's: a watch started late, or on a finished batch, takes far less.
   */
  seconds: number | null;
  /** How long this watch ran. */
  watchedSeconds: number;
  reconnects: number;
  /** OK when nothing failed, PARTIAL when some documents failed. */
  exitCode: number;
}

const BatchProgress = graphql(`
  subscription BatchProgress($id: ID!, $after: Int) {
    batchProgress(id: $id, after: $after) {
      cursor
      events { seq type documentId code createdAt }
      batch { createdAt }
      counts { ...BatchCountsFields }
      stages { parse understand embed index }
      finished documentsPerMinute etaSeconds
    }
  }
`);

type Progress = BatchProgressSubscription["batchProgress"];
type StageCounts = Progress["stages"];

/** A first connection that never worked is given up on sooner: likely a wrong endpoint. */
const FIRST_CONNECT_MS = 10_000;
const REDRAW_MS = 250;
const PLAIN_EVERY_MS = 2_000;

/** Why one subscription ended. */
type Ended = { kind: "finished" } | { kind: "dropped"; reason: string };

/**
 * Follows a batch over the gateway's `batchProgress` subscription until it is finished, drawing a
 * live view. Keeps the cursor (seq of the last event applied) and, when the connection drops,
 * reconnects with backoff and resumes with `after: cursor`, so no event is lost or applied twice.
 * Throws CliError: NOT_FOUND/BAD_REQUEST → USAGE, unreachable or refused → UNREACHABLE.
 */
export async function watchBatch(opts: WatchOptions): Promise<WatchResult> {
  const started = Date.now();
  const out = opts.out === undefined ? process.stdout : opts.out;
  const viewStream = opts.view === undefined ? process.stderr : opts.view;
  const isTTY = opts.isTTY ?? (viewStream as { isTTY?: boolean } | null)?.isTTY === true;
  const retryForMs = opts.retryForMs ?? 120_000;
  const url = wsUrl(opts.endpoint);

  const state: ViewState = {
    batchId: opts.batchId,
    cursor: 0,
    counts: null,
    stages: null,
    perMinute: 0,
    etaSeconds: null,
    failedDocs: new Map(),
    disconnected: null,
    createdAt: null,
    lastEventAt: null,
  };
  const view = viewStream ? new LiveView(viewStream, isTTY, state) : null;
  let reconnects = 0;
  let everConnected = false;
  let downSince: number | null = null;
  let attempt = 0;

  try {
    for (;;) {
      const ended = await subscribeOnce(url, opts, state, {
        connected: () => {
          if (everConnected) reconnects++;
          everConnected = true;
          downSince = null;
          attempt = 0;
          state.disconnected = null;
          view?.update();
        },
        progress: (p) => {
          if (applyProgress(state, p, opts.ignorePendingUpload === true)) return true;
          view?.update();
          return false;
        },
      });
      if (ended.kind === "finished") break;
      const now = Date.now();
      const since: number = downSince ?? now;
      downSince = since;
      const budget = everConnected ? retryForMs : FIRST_CONNECT_MS;
      if (now - since >= budget)
        throw new CliError(
          `gateway unreachable at ${url}: ${ended.reason} (gave up after ${Math.round((now - since) / 1000)} s)`,
          ExitCode.UNREACHABLE,
        );
      // 0.25 s, 0.5 s, 1 s ... capped at 5 s, with jitter so many watchers do not reconnect in step
      const wait = Math.min(250 * 2 ** attempt++, 5_000) * (0.75 + Math.random() * 0.5);
      state.disconnected = { since, reason: ended.reason, attempt };
      view?.update();
      await pause(Math.min(wait, Math.max(0, since + budget - now)), opts.signal);
    }
  } finally {
    view?.close();
  }

  const counts = state.counts!;
  const result: WatchResult = {
    batchId: opts.batchId,
    counts,
    failuresByCode: failuresByCode(state),
    seconds:
      state.createdAt !== null && state.lastEventAt !== null
        ? Math.max(0, state.lastEventAt - state.createdAt) / 1000
        : null,
    watchedSeconds: (Date.now() - started) / 1000,
    reconnects,
    exitCode: counts.failed > 0 ? ExitCode.PARTIAL : ExitCode.OK,
  };
  if (out) out.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${formatWatchSummary(result)}\n`);
  return result;
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** http://h:p[/graphql] → ws://h:p/graphql (https → wss). */
export function wsUrl(endpoint: string): string {
  const u = new URL(endpoint);
  u.protocol = u.protocol === "https:" ? "wss:" : u.protocol === "http:" ? "ws:" : u.protocol;
  u.pathname = `${u.pathname.replace(/\/+$/, "").replace(/\/graphql$/, "")}/graphql`;
  return u.toString();
}

/**
 * One connection and one subscription from `state.cursor`. Resolves when the batch is finished or the
 * connection is lost; rejects (CliError) on an answer that retrying will not change.
 */
function subscribeOnce(
  url: string,
  opts: WatchOptions,
  state: ViewState,
  on: { connected: () => void; progress: (p: Progress) => boolean },
): Promise<Ended> {
  return new Promise<Ended>((resolve, reject) => {
    let settled = false;
    let client: Client | null = null;
    let unsubscribe: (() => void) | null = null;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener("abort", abort);
      unsubscribe?.();
      // terminate, not dispose: a dead gateway would never answer a graceful close
      client?.terminate();
      fn();
    };
    const abort = () => settle(() => reject(opts.signal!.reason));
    if (opts.signal?.aborted) return reject(opts.signal.reason);
    opts.signal?.addEventListener("abort", abort, { once: true });
    const lost = (err: unknown) => {
      const code = (err as { code?: unknown } | null)?.code;
      if (code === 4401 || code === 4403)
        settle(() =>
          reject(new CliError(`the gateway refused the connection: ${describe(err)}`, ExitCode.UNREACHABLE)),
        );
      else settle(() => resolve({ kind: "dropped", reason: describe(err) }));
    };
    client = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : undefined,
      lazy: true,
      // reconnecting is ours: it resubscribes from the cursor, where graphql-ws would replay the old `after`
      retryAttempts: 0,
      // notice a gateway that vanished without closing its sockets
      keepAlive: 10_000,
      on: {
        connected: () => on.connected(),
        closed: (e) => lost(e),
      },
    });
    const variables: BatchProgressSubscriptionVariables = { id: opts.batchId, after: state.cursor };
    unsubscribe = client.subscribe<BatchProgressSubscription>(
      { query: operationText(BatchProgress), variables },
      {
        next: (r) => {
          if (r.errors?.length) return settle(() => reject(graphqlError(r.errors!)));
          if (r.data?.batchProgress && on.progress(r.data.batchProgress))
            settle(() => resolve({ kind: "finished" }));
        },
        error: (err) => {
          if (Array.isArray(err)) settle(() => reject(graphqlError(err)));
          else lost(err);
        },
        // the server ends the stream once the batch is finished; if it ends otherwise, resume
        complete: () =>
          settle(() => resolve({ kind: "dropped", reason: "the gateway ended the subscription" })),
      },
    );
  });
}

function graphqlError(
  errors: readonly { message: string; extensions?: Record<string, unknown> }[],
): CliError {
  const e = errors[0]!;
  const code = e.extensions?.code as string | undefined;
  return new CliError(
    `${code ? `${code}: ` : ""}${e.message}`,
    code === "UNAUTHENTICATED" || code === "FORBIDDEN"
      ? ExitCode.UNREACHABLE
      : code === "BAD_REQUEST" || code === "NOT_FOUND"
        ? ExitCode.USAGE
        : ExitCode.INTERNAL,
  );
}

function describe(err: unknown): string {
  if (err && typeof err === "object") {
    const e = err as { code?: unknown; reason?: unknown; message?: unknown; error?: { message?: unknown } };
    if (typeof e.code === "number") return `connection closed (${e.code}${e.reason ? ` ${e.reason}` : ""})`;
    if (typeof e.error?.message === "string") return e.error.message;
    if (typeof e.message === "string" && e.message) return e.message;
  }
  return "connection lost";
}

interface ViewState {
  batchId: string;
  cursor: number;
  counts: BatchCounts | null;
  stages: StageCounts | null;
  perMinute: number;
  etaSeconds: number | null;
  /** Failed documents and their codes, as of the cursor: a retried document leaves it. */
  failedDocs: Map<string, string>;
  disconnected: { since: number; reason: string; attempt: number } | null;
  /** The batch's creation and its latest event seen (ms since the epoch). */
  createdAt: number | null;
  lastEventAt: number | null;
}

/** Applies one message; returns true when the batch is finished. Events at or before the cursor are old news. */
function applyProgress(state: ViewState, p: Progress, ignorePendingUpload: boolean): boolean {
  if (p.cursor <= state.cursor && state.counts) return false;
  for (const e of p.events) {
    if (e.seq <= state.cursor) continue;
    state.cursor = e.seq;
    const at = Date.parse(e.createdAt);
    if (Number.isFinite(at)) state.lastEventAt = Math.max(state.lastEventAt ?? at, at);
    const key = e.documentId ?? `#${e.seq}`;
    if (e.type === "document.failed") state.failedDocs.set(key, e.code ?? "UNKNOWN");
    else if (
      e.documentId &&
      (e.type === "document.retried" || e.type === "document.queued" || e.type === "document.completed")
    )
      state.failedDocs.delete(e.documentId);
  }
  state.cursor = Math.max(state.cursor, p.cursor);
  if (p.batch) state.createdAt = Date.parse(p.batch.createdAt);
  state.counts = p.counts;
  state.stages = p.stages;
  state.perMinute = p.documentsPerMinute;
  state.etaSeconds = p.etaSeconds;
  const c = p.counts;
  return (
    p.finished ||
    (ignorePendingUpload &&
      c.pendingUpload > 0 &&
      c.queued + c.processing === 0 &&
      c.done === c.total - c.pendingUpload)
  );
}

function failuresByCode(state: ViewState): Record<string, number> {
  const out: Record<string, number> = {};
  for (const code of [...state.failedDocs.values()].sort()) out[code] = (out[code] ?? 0) + 1;
  return out;
}

/** Draws the state at most every REDRAW_MS: one block redrawn in place on a TTY, else a line now and then. */
class LiveView {
  private last = 0;
  /** Redraws the block in place (log-update: erases what it drew, hides the cursor meanwhile). */
  private readonly logUpdate: ReturnType<typeof createLogUpdate> | null;
  private timer: NodeJS.Timeout | null = null;
  private lastPlain = "";

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly tty: boolean,
    private readonly state: ViewState,
  ) {
    this.logUpdate = tty ? createLogUpdate(stream as NodeJS.WriteStream, { showCursor: false }) : null;
  }

  update(): void {
    if (this.timer) return;
    const wait = this.last + (this.tty ? REDRAW_MS : PLAIN_EVERY_MS) - Date.now();
    // a lost connection is news worth printing at once
    if (wait <= 0 || (!this.tty && this.state.disconnected && !this.lastPlain.includes("reconnecting")))
      this.draw();
    else this.timer = setTimeout(() => this.draw(), wait);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.draw();
    this.logUpdate?.done();
  }

  private draw(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.last = Date.now();
    if (this.logUpdate) {
      const block = renderBlock(this.state, (this.stream as { columns?: number }).columns || 100);
      this.logUpdate(block.join("\n"));
    } else {
      const line = renderLine(this.state);
      // "connecting" is no news on a log; an error right after says more
      if (line !== this.lastPlain && (this.state.counts || this.state.disconnected))
        this.stream.write(`${line}\n`);
      this.lastPlain = line;
    }
  }
}

/** Colours on a terminal, none with NO_COLOR (https://no-color.org) or FORCE_COLOR=0. */
const colors = picocolors.createColors(
  !process.env.NO_COLOR && process.env.FORCE_COLOR !== "0" && process.stderr.isTTY === true,
);

function renderBlock(s: ViewState, columns = 100): string[] {
  const c = s.counts;
  const lines: string[] = [];
  if (!c) {
    lines.push(`batch ${s.batchId}: connecting...`);
  } else {
    const expected = c.total - c.pendingUpload;
    const pct = expected > 0 ? Math.floor((c.done / expected) * 100) : 0;
    const width = Math.max(10, Math.min(40, columns - 40));
    lines.push(`batch ${s.batchId}`);
    lines.push(`  ${bar(c.done, expected, width)} ${c.done}/${expected} done (${pct}%)`);
    lines.push(
      `  status   pending upload ${c.pendingUpload}  queued ${c.queued}  processing ${c.processing}  completed ${c.completed}  failed ${c.failed}  needs review ${c.needsReview}`,
    );
    if (s.stages) {
      const st = s.stages;
      lines.push(
        `  stages   parse ${st.parse}  understand ${st.understand}  embed ${st.embed}  index ${st.index}`,
      );
    }
    lines.push(`  rate     ${s.perMinute.toFixed(1)} documents/min  ETA ${eta(s.etaSeconds)}`);
    const f = Object.entries(failuresByCode(s));
    if (f.length > 0) lines.push(colors.red(`  failures ${f.map(([code, n]) => `${code} ${n}`).join("  ")}`));
  }
  if (s.disconnected)
    lines.push(
      `  reconnecting… (${s.disconnected.reason}; attempt ${s.disconnected.attempt}, ${Math.round((Date.now() - s.disconnected.since) / 1000)} s)`,
    );
  return lines.map((l) => (l.length > columns ? `${l.slice(0, columns - 1)}…` : l));
}

function renderLine(s: ViewState): string {
  if (s.disconnected) return `batch ${s.batchId}: reconnecting… (${s.disconnected.reason})`;
  const c = s.counts;
  if (!c) return `batch ${s.batchId}: connecting...`;
  const f = Object.entries(failuresByCode(s));
  return (
    `batch ${s.batchId}: ${c.done}/${c.total - c.pendingUpload} done (completed ${c.completed}, failed ${c.failed}` +
    `${f.length ? `: ${f.map(([code, n]) => `${code} ${n}`).join(", ")}` : ""}), queued ${c.queued}, processing ${c.processing}, ` +
    `${s.perMinute.toFixed(1)}/min, ETA ${eta(s.etaSeconds)}`
  );
}

function bar(done: number, total: number, width: number): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
}

function eta(seconds: number | null): string {
  if (seconds === null) return "unknown";
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(seconds % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

export function formatWatchSummary(r: WatchResult): string {
  const c = r.counts;
  const took =
    r.seconds === null ? "" : ` in ${secondsText(r.seconds)} (the batch's time, from its creation)`;
  const lines = [
    `batch ${r.batchId}: ${c.done} of ${c.total} documents done${took}${r.reconnects ? ` (${r.reconnects} reconnect${r.reconnects > 1 ? "s" : ""})` : ""}`,
    `  completed ${c.completed}, failed ${c.failed}, needs review ${c.needsReview}${c.pendingUpload ? `, never uploaded ${c.pendingUpload}` : ""}`,
  ];
  for (const [code, n] of Object.entries(r.failuresByCode)) lines.push(`    ${code}: ${n}`);
  return lines.join("\n");
}
