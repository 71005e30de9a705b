import { setTimeout as delay } from "node:timers/promises";
import { type Document, Prisma } from "@docfleet/schema";
import type { Logger } from "pino";
import { documentOptions, documentProvenance, documentTimings } from "../domain/codecs.ts";
import { queueDeliveryLimit } from "../domain/context.ts";
import { DocumentError, FailureCode } from "../domain/errors.ts";
import type { EventPayload } from "../domain/events.ts";
import { StaleStateError } from "../domain/lifecycle.ts";
import { EventType, StageMessage, type StageName, stageMessage, stageQueue } from "../domain/messages.ts";
import type { Dependency } from "../domain/outages.ts";
import { nextStage } from "../domain/plan.ts";
import type { Disposition } from "../ports/queue.ts";
import * as deletion from "../repositories/deletion.ts";
import * as documents from "../repositories/documents.ts";
import { transitionOne } from "../repositories/transition.ts";
import { readUnderstandInputsAlso, UNDERSTAND_INPUTS_ALSO } from "../repositories/understand-inputs.ts";
import { backoffMs } from "../retry.ts";
import { STAGE_HANDLERS, type StageHandler, type StageOutput } from "../stages/index.ts";
import { storable } from "../storable.ts";
import { purgeDocumentTraces } from "./deletion.ts";
import type { Outages } from "./outages.ts";
import { type Resources, stageOutbox } from "./resources.ts";
import type { StageChain } from "./stage-chain.ts";
import { type Holding, TenantShares, type TenantSharesOptions } from "./tenant-shares.ts";

/** How long a message waits when its tenant holds its share of the stage while another tenant waits. */
export const FAIR_SHARE_DEFER_MS = 1000;

const LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);
const NOOP = () => {};

/**
 * `parent.child(bindings)`, made on first use: a stage run that writes no line at an enabled level
 * (the usual run: its lines are debug) makes none. pino's child() serialises and redacts the bindings,
 * about 25 us per stage run in the worker's profile (issue 17 goal 1). A line at a disabled level is
 * the no-op pino itself gives; anything else (a line, `child`, `level`, `bindings()`) makes the child
 * and goes to it.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(parent, {
    get(_target, key) {
      if (child === undefined && typeof key === "string" && LEVELS.has(key) && !parent.isLevelEnabled(key))
        return NOOP;
      child ??= parent.child(bindings);
      const v = Reflect.get(child, key, child);
      return typeof v === "function" ? v.bind(child) : v;
    },
    set(_target, key, value) {
      child ??= parent.child(bindings);
      return Reflect.set(child, key, value, child);
    },
  });
}

/** What a claim's statement answered besides the document (`transitionOne`'s `also`). */
interface Claimed {
  row?: Record<string, unknown>;
}

/** Settles a run that gave its slot back to another tenant's waiting work (see `TenantShares`). */
class YieldedToTenant extends Error {}

/** A chained run's slot of its stage and its tenant's holding there, taken before its claim. */
interface ChainSlot {
  shares: TenantShares;
  holding: Holding;
  /** Gives the slot and the holding back (once). */
  release(): void;
}

/** A chained run's next stage, claimed: the runner goes on with it in the slot it took (`StageChain`). */
interface Chained {
  msg: StageMessage;
  doc: Document;
  row?: Record<string, unknown>;
  slot: ChainSlot;
}

/**
 * A stage that reports progress (parse, page by page) may run this many budgets in all: a scan that is
 * slow because the machine is busy finishes, while a stalled one still times out after one budget.
 */
export const STAGE_PROGRESS_CAP = 10;

/**
 * The stage runner: takes a stage message, claims its document, runs the stage within its time budget,
 * then in one transaction saves the result and queues the next stage; decides ack / retry / dead-letter.
 * Also the two ways work comes back: expired leases and, for the in-memory queue, a restart.
 */
export class StageRunner {
  constructor(
    private readonly r: Resources,
    private readonly handlers: Record<StageName, StageHandler> = STAGE_HANDLERS,
    /** Tells infrastructure outages from document failures; without it every error is the document's. */
    private readonly outages?: Outages,
  ) {}

  /**
   * Handles one stage message: claims the document, runs the stage within its time budget, then in one
   * transaction saves the result and queues the next stage. Decides ack / retry / dead-letter, or
   * `defer` when infrastructure was away (an outage confirmed by a probe: never one of the document's
   * attempts). `signal` (the consumer closing) stops a wait for a dependency to come back.
   */
  async processStage(
    body: unknown,
    attempt: number,
    signal?: AbortSignal,
    /** This process's per-tenant shares of the stage's slots (the worker's, one per stage consumer). */
    shares?: TenantShares,
    /** The stages this process also serves, to chain into (`StageChain`); none: every hop is queued. */
    chain?: StageChain,
  ): Promise<Disposition> {
    const parsed = StageMessage.safeParse(body);
    if (!parsed.success)
      return { action: "dead-letter", reason: `invalid stage message: ${parsed.error.message}` };
    const msg = parsed.data;
    const holding = shares ? await shares.admit(msg.tenantId) : undefined;
    if (holding === null) {
      this.r.deps.metrics?.stageRetries.inc({ stage: msg.stage });
      return {
        action: "defer",
        delayMs: FAIR_SHARE_DEFER_MS,
        reason: `tenant holds its share (${shares!.share}) of the ${msg.stage} slots while another tenant's work waits`,
      };
    }
    try {
      return await this.traced(
        msg,
        attempt,
        signal,
        shares && holding ? { shares, holding } : undefined,
        chain,
      );
    } finally {
      if (holding) shares!.release(holding);
    }
  }

  /**
   * The per-tenant shares of `stage`'s `slots` in this process, asking the database whether another
   * tenant's documents wait at the stage. `fraction`: settings.tenantFairShare unless given.
   */
  tenantShares(
    stage: StageName,
    slots: number,
    opts: Partial<Omit<TenantSharesOptions, "slots" | "othersWaiting">> = {},
  ): TenantShares {
    return new TenantShares(stage, {
      slots,
      fraction: this.r.deps.settings.tenantFairShare,
      ...opts,
      othersWaiting: (tenantId) => documents.otherTenantQueued(this.r.deps.db, stage, tenantId),
    });
  }

  private traced(
    msg: StageMessage,
    attempt: number,
    signal: AbortSignal | undefined,
    fair: { shares: TenantShares; holding: Holding } | undefined,
    chain: StageChain | undefined,
  ): Promise<Disposition> {
    const { tracing } = this.r.deps;
    const run = () =>
      this.runStage(msg, attempt, signal, fair, chain).catch(async (err) => {
        // Thrown past the runner's own handling (a failure write during an outage): still not the
        // document's attempt when a probe confirms the outage.
        const dependency = await this.outages?.confirm(err);
        if (!dependency) throw err;
        return this.deferred(dependency, err);
      });
    // The stage continues the trace of the operation that queued the document (a span per stage run).
    return tracing
      ? tracing.span(
          `docfleet.stage.${msg.stage.toLowerCase()}`,
          {
            "docfleet.document_id": msg.documentId,
            "docfleet.tenant_id": msg.tenantId,
            "docfleet.attempt": attempt,
          },
          run,
          tracing.extract(msg.traceparent),
        )
      : run();
  }

  /**
   * Every log line about a document carries the correlation ids; handlers log through `deps.log` too.
   * The child logger is made at its first line at an enabled level (`lazyChild`): most runs write none.
   */
  private logFor(doc: { id: string; batchId: string; tenantId: string }, stage: StageName): Logger {
    return lazyChild(this.r.deps.log, {
      documentId: doc.id,
      batchId: doc.batchId,
      tenantId: doc.tenantId,
      stage,
      traceId: this.r.deps.tracing?.traceId(),
    });
  }

  /** The answer to a message that met an outage of `dependency`: back after a short delay, not counted. */
  private deferred(dependency: Dependency, err: unknown): Disposition {
    return {
      action: "defer",
      delayMs: 1000,
      reason: `${dependency} unavailable: ${(err as Error)?.message ?? String(err)}`.slice(0, 500),
    };
  }

  private async runStage(
    msg: StageMessage,
    attempt: number,
    signal?: AbortSignal,
    fair?: { shares: TenantShares; holding: Holding },
    chain?: StageChain,
  ): Promise<Disposition> {
    const claimed: Claimed = {};
    const doc = await this.claim(msg, claimed);
    if (!doc) return { action: "ack" };
    const run = await this.runClaimed(msg, doc, claimed.row, attempt, signal, fair, chain, false);
    if (!("msg" in run)) return run;
    // Chained: this message is done (its consumer's slot goes to the next message); the next stage
    // goes on detached in the slot it took.
    chain!.detach(this.runChained(run, signal, chain!));
    return { action: "ack" };
  }

  /** Runs a chain from its first chained stage on, each stage in the slot it took, until it stops. */
  private async runChained(
    first: Chained,
    signal: AbortSignal | undefined,
    chain: StageChain,
  ): Promise<void> {
    const { tracing, log } = this.r.deps;
    for (let next: Chained | undefined = first; next; ) {
      const c: Chained = next;
      next = undefined;
      try {
        const fair = { shares: c.slot.shares, holding: c.slot.holding };
        const go = () => this.runClaimed(c.msg, c.doc, c.row, 1, signal, fair, chain, true);
        // A chained stage's span, a child of the span that was current when the chain started.
        const run = tracing
          ? await tracing.span(
              `docfleet.stage.${c.msg.stage.toLowerCase()}`,
              {
                "docfleet.document_id": c.doc.id,
                "docfleet.tenant_id": c.doc.tenantId,
                "docfleet.chained": true,
              },
              go,
            )
          : await go();
        if ("msg" in run) next = run;
      } catch (err) {
        // Thrown past the runner's own handling (a failure write while the database is away): the
        // document stays PROCESSING under its lease, and the reconciler brings it back.
        log.warn(
          { err, documentId: c.doc.id, stage: c.msg.stage },
          "chained stage run failed; the document comes back when its lease expires",
        );
      } finally {
        c.slot.release();
      }
    }
  }

  /**
   * Runs a claimed stage and settles it. `chained`: the claim came from the previous stage's run in this
   * slot (`StageChain`), not from a message of this stage: an outcome that would hand the message back to
   * the queue (a yield, an outage, a retry) writes an outbox row of this stage instead and acks the
   * message that started the chain (its redelivery would be stale).
   */
  private async runClaimed(
    msg: StageMessage,
    doc: Document,
    row: Record<string, unknown> | undefined,
    attempt: number,
    signal: AbortSignal | undefined,
    fair: { shares: TenantShares; holding: Holding } | undefined,
    chain: StageChain | undefined,
    chained: boolean,
  ): Promise<Disposition | Chained> {
    const { settings, metrics } = this.r.deps;
    const log = this.logFor(doc, msg.stage);
    const deps = { ...this.r.deps, log };
    const endTimer = metrics?.stageDuration.startTimer({ stage: msg.stage });
    let outcome = "ok";

    const started = performance.now();
    const controller = new AbortController();
    const budgetMs = documentOptions.read(doc.options)?.stageTimeoutMs ?? settings.stageTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let yieldTimer: NodeJS.Timeout | undefined;
    let settled = false;
    // Progress-aware: the budget counts from the stage's last progress (a page read), never past the cap.
    const cap = Date.now() + budgetMs * STAGE_PROGRESS_CAP;
    let progressed = false;
    try {
      log.debug({ attempt }, "stage started");
      let arm = (_deadline: number) => {};
      const budget = new Promise<never>((_, reject) => {
        arm = (deadline: number) => {
          clearTimeout(timer);
          timer = setTimeout(
            () => {
              // Settle the budget first: a handler that stops at once on abort must not win the race with
              // its own answer or error (the document would then complete, or be retried, not time out).
              const capped = Date.now() >= cap - 5;
              reject(
                new DocumentError(
                  FailureCode.TIMEOUT,
                  capped && progressed
                    ? `${msg.stage} ran past ${STAGE_PROGRESS_CAP} budgets of ${budgetMs} ms while still progressing`
                    : progressed
                      ? `${msg.stage} made no progress for ${budgetMs} ms (its budget)`
                      : `${msg.stage} ran past its ${budgetMs} ms budget`,
                ),
              );
              controller.abort();
            },
            Math.max(0, Math.min(deadline, cap) - Date.now()),
          );
        };
        arm(Date.now() + budgetMs);
      });
      const progress = () => {
        if (controller.signal.aborted) return;
        progressed = true;
        arm(Date.now() + budgetMs);
      };
      // A run beyond its tenant's share while another tenant waits gives its slot back (fairness).
      const yielded = new Promise<never>((_, reject) => {
        if (!fair) return;
        const check = () => {
          yieldTimer = setTimeout(async () => {
            if (settled || controller.signal.aborted) return;
            const give = await fair.shares.shouldYield(fair.holding).catch(() => false);
            if (settled || controller.signal.aborted) return;
            if (!give) return check();
            reject(new YieldedToTenant(`${msg.stage} gave its slot to another tenant's waiting work`));
            controller.abort();
          }, fair.shares.checkEveryMs);
        };
        check();
      });
      const out = await Promise.race([
        this.handlers[msg.stage]({
          doc,
          deps,
          categories: this.r.categories,
          signal: controller.signal,
          progress,
          understandInputs: row ? () => readUnderstandInputsAlso(row) : undefined,
        }),
        budget,
        yielded,
      ]);
      settled = true;
      clearTimeout(yieldTimer);
      const ms = Math.round(performance.now() - started);
      const chainable = (next: StageName) => this.mayChain(doc, next, signal, chain);
      const finished = await this.advance(doc, msg.stage, out, ms, chainable);
      if (finished === true) metrics?.documentsCompleted.inc();
      // debug: four lines a document would flood `serve`'s terminal; failures are warnings.
      log.debug({ ms }, finished === true ? "document completed" : "stage completed");
      if (typeof finished === "object") return { ...finished, msg: { ...msg, stage: finished.doc.stage! } };
      return { action: "ack" };
    } catch (err) {
      // Deleted while this worker held it: what the stage wrote meanwhile must not outlive it.
      if (await this.purgeIfDeleted(doc, log)) {
        outcome = "stale";
        return { action: "ack" };
      }
      if (err instanceof StaleStateError) {
        outcome = "stale";
        return { action: "ack" }; // another delivery finished it first
      }
      if (err instanceof YieldedToTenant) {
        // Back to QUEUED at the same stage, the attempt taken back: the run starts again once the
        // other tenants' waiting work has had its slots.
        outcome = "yielded";
        log.info({ share: fair?.shares.share }, "stage yielded its slot to another tenant");
        await this.requeueAtStage(doc, msg.stage, { reason: err.message }, chained, {
          data: { attempts: { decrement: 1 } },
          where: { leaseExpiresAt: doc.leaseExpiresAt },
        });
        if (chained) return { action: "ack" };
        return { action: "defer", delayMs: FAIR_SHARE_DEFER_MS, reason: err.message };
      }
      const dependency = await this.outages?.confirm(err);
      if (dependency) {
        outcome = "outage";
        log.warn(
          { dependency, reason: (err as Error)?.message },
          "stage met an outage; deferred, not counted",
        );
        await this.releaseClaim(doc, msg.stage, dependency, signal, chained);
        return chained ? { action: "ack" } : this.deferred(dependency, err);
      }
      if (err instanceof DocumentError) {
        outcome = "failed";
        if (await this.fail(doc, msg.stage, err.code, err.message))
          metrics?.documentsFailed.inc({ stage: msg.stage, code: err.code });
        log.warn({ code: err.code, reason: err.message }, "document failed");
        return { action: "ack" };
      }
      const reason = (err as Error)?.message ?? String(err);
      // The document's own failed attempts of this stage, this one included. Not the queue's delivery
      // count (`attempt`): a worker's death redelivers every message it held, and those redeliveries
      // are crashes (counted apart), not failures of the innocent documents.
      const failures = doc.attempts - doc.crashes;
      const queueLimit = queueDeliveryLimit(settings);
      const giveUp =
        failures >= settings.deliveryLimit
          ? `gave up after ${failures} attempts: ${reason}`
          : // The queue would quarantine the message at its own limit: fail the document with it, never
            // leave it QUEUED with no message.
            attempt >= queueLimit
            ? `the queue delivered it ${attempt} times: ${reason}`
            : null;
      if (giveUp) {
        outcome = "failed";
        if (await this.fail(doc, msg.stage, FailureCode.RETRIES_EXHAUSTED, giveUp)) {
          metrics?.documentsFailed.inc({ stage: msg.stage, code: FailureCode.RETRIES_EXHAUSTED });
          log.warn(
            {
              err,
              code: FailureCode.RETRIES_EXHAUSTED,
              attempt: failures,
              delivery: attempt,
              reason: giveUp,
            },
            "document failed",
          );
        } else outcome = "stale";
        return { action: "dead-letter", reason };
      }
      outcome = "retry";
      const delayMs = backoffMs(failures);
      log.warn({ err, attempt: failures, delivery: attempt, delayMs }, "stage failed; will retry");
      metrics?.stageRetries.inc({ stage: msg.stage });
      if (chained) {
        // No message of this stage to redeliver: the backoff here, then an outbox row of this stage.
        // Cut short when the worker stops: the outbox row is written either way.
        await delay(delayMs, undefined, { signal }).catch(() => {});
        await this.requeueAtStage(doc, msg.stage, { attempt: failures, reason }, true);
        return { action: "ack" };
      }
      // The queue redelivers after the backoff: no outbox row.
      await this.requeueAtStage(doc, msg.stage, { attempt: failures, reason }, false);
      return { action: "retry", delayMs, reason };
    } finally {
      settled = true;
      clearTimeout(timer);
      clearTimeout(yieldTimer);
      endTimer?.({ outcome });
    }
  }

  /**
   * Gives back a claim whose stage met an outage: PROCESSING -> QUEUED at the same stage, the attempt
   * taken back, no outbox row (the deferred message comes back by itself). While the database is down
   * the move waits for it (the message is held meanwhile: consumption is paused anyway), so that the
   * redelivery does not find the document PROCESSING and count a crash. Gives up only when `signal`
   * aborts (shutdown): the redelivery then takes the lease over.
   */
  private async releaseClaim(
    doc: Document,
    stage: StageName,
    dependency: Dependency,
    signal?: AbortSignal,
    /** A chained run's claim: an outbox row of the stage goes with it (no message comes back by itself). */
    outbox = false,
  ): Promise<void> {
    for (;;) {
      try {
        await this.requeueAtStage(doc, stage, { reason: `${dependency} unavailable` }, outbox, {
          data: { attempts: { decrement: 1 } },
          where: { leaseExpiresAt: doc.leaseExpiresAt },
        });
        return;
      } catch (err) {
        const down = await this.outages?.confirm(err);
        if (!down) throw err;
        if (!(await this.outages!.whenUp([down], signal))) return;
      }
    }
  }

  /**
   * After a failed or stale run: when the document was deleted meanwhile (deleteDocuments, deleteBatch),
   * removes the objects and index entries this run wrote after the deletion purged them, and answers
   * true. False while the row exists, or when the check itself fails (the usual handling goes on).
   */
  private async purgeIfDeleted(doc: Document, log: { info(o: object, m: string): void }): Promise<boolean> {
    try {
      if (await deletion.documentExists(this.r.prisma, doc.id)) return false;
      await purgeDocumentTraces(this.r.deps, doc.tenantId, [doc.id]);
      log.info({}, "document deleted while its stage ran; removed what the stage wrote");
      return true;
    } catch {
      return false;
    }
  }

  /** Takes the document for this stage, or null when the message is stale (already done, failed, gone). */
  private async claim(msg: StageMessage, claimed: Claimed): Promise<Document | null> {
    const leaseExpiresAt = new Date(Date.now() + this.r.deps.settings.leaseMs);
    // The usual case in one statement: QUEUED at this stage -> PROCESSING, with its event, read back.
    try {
      const taken = await this.r.moveOne(
        {
          tenantId: msg.tenantId,
          documentId: msg.documentId,
          from: { status: "QUEUED", stage: msg.stage },
          to: { status: "PROCESSING", stage: msg.stage },
          data: { leaseExpiresAt, attempts: { increment: 1 } },
          eventType: EventType.STAGE_STARTED,
          // The understand stage's reads in the same statement (read by the stage, not here).
          also:
            msg.stage === "UNDERSTAND"
              ? { select: UNDERSTAND_INPUTS_ALSO, read: (row) => (claimed.row = row) }
              : undefined,
        },
        1,
      );
      if (taken) return taken;
    } catch (err) {
      if (!(err instanceof StaleStateError)) throw err;
    }
    // Not QUEUED at this stage: a redelivery of a document still PROCESSING, or a stale message.
    const doc = await documents.forMessage(this.r.prisma, msg);
    if (!doc || doc.stage !== msg.stage || (doc.status !== "QUEUED" && doc.status !== "PROCESSING"))
      return null;
    if (doc.status === "PROCESSING") {
      // A redelivery after the previous holder died (or a duplicate): one more crash against the
      // document. Past the limit it is not run again: it would take down another worker.
      const crashes = doc.crashes + 1;
      if (crashes >= this.r.deps.settings.maxCrashes) {
        await this.failCrashed(
          doc,
          msg.stage,
          crashes,
          "its message came back while it was still PROCESSING",
          {
            attempts: doc.attempts,
          },
        );
        return null;
      }
      const taken = await documents.takeOverLease(this.r.prisma, doc, msg.stage, leaseExpiresAt);
      return taken ? { ...doc, leaseExpiresAt, attempts: doc.attempts + 1, crashes } : null;
    }
    try {
      await this.r.move(
        {
          tenantId: doc.tenantId,
          batchId: doc.batchId,
          documentIds: [doc.id],
          from: { status: "QUEUED", stage: msg.stage },
          to: { status: "PROCESSING", stage: msg.stage },
          data: { leaseExpiresAt, attempts: { increment: 1 } },
          eventType: EventType.STAGE_STARTED,
        },
        1,
      );
    } catch (err) {
      if (err instanceof StaleStateError) return null;
      throw err;
    }
    return { ...doc, status: "PROCESSING", leaseExpiresAt, attempts: doc.attempts + 1 };
  }

  /**
   * A slot of `next` (and the tenant's holding there) for a run that finished its stage to go on with
   * `next` (`StageChain`), or undefined: this process does not serve `next`, chaining is off, the worker
   * is stopping, another tenant's work waits at `next` (a chain never jumps it; the answer cached by the
   * shares, `TenantSharesOptions.cacheMs`), or no slot of `next` is free.
   */
  private async mayChain(
    doc: Document,
    next: StageName,
    signal: AbortSignal | undefined,
    chain: StageChain | undefined,
  ): Promise<ChainSlot | undefined> {
    if (!chain?.serves(next) || !this.r.deps.settings.stageChaining || signal?.aborted) return undefined;
    const shares = chain.shares[next]!;
    if (await shares.othersWait(doc.tenantId)) return undefined;
    if (!chain.take(next)) return undefined;
    const holding = await shares.admit(doc.tenantId).catch(() => null);
    if (!holding) {
      chain.leave(next);
      return undefined;
    }
    let released = false;
    return {
      shares,
      holding,
      release: () => {
        if (released) return;
        released = true;
        shares.release(holding);
        chain.leave(next);
      },
    };
  }

  /**
   * Saves a finished stage: the document goes QUEUED at its next stage (with the stage message's outbox
   * row) or COMPLETED; true when completed. When `chainable(next)` allows, the document goes PROCESSING
   * at the next stage instead, claimed with a fresh lease in the same statement, and the claimed
   * document is answered (the caller runs that stage now).
   */
  private async advance(
    doc: Document,
    stage: StageName,
    out: StageOutput,
    ms: number,
    chainable?: (next: StageName) => Promise<ChainSlot | undefined>,
  ): Promise<boolean | { doc: Document; row?: Record<string, unknown>; slot: ChainSlot }> {
    const options = documentOptions.read(doc.options);
    const next = nextStage(stage, options);
    const timings = { ...documentTimings.read(doc.timings), [stage]: ms };
    const provenance = out.provenance
      ? {
          ...documentProvenance.read(doc.provenance),
          [stage]: { ...out.provenance, at: new Date().toISOString() },
        }
      : undefined;
    // A finished run's plan and model choice are spent; a later retry starts from the full pipeline.
    const { stages: _s, models: _m, ...rest } = options ?? {};
    const spent = !next && options && (options.stages || options.models);
    const flag = out.needsReview;
    const needsReviewDelta = flag === undefined || flag === doc.needsReview ? 0 : flag ? 1 : -1;
    const completedPayload = () => ({ ...out.payload, stage, nextStage: next, completedStage: stage, ms });
    const slot = next && chainable ? await chainable(next) : undefined;
    if (next && slot) {
      const claimed: Claimed = {};
      let done: Awaited<ReturnType<typeof transitionOne>>;
      try {
        done = await transitionOne(this.r.deps.db, {
          tenantId: doc.tenantId,
          batchId: doc.batchId,
          documentId: doc.id,
          from: { status: "PROCESSING", stage },
          via: {
            state: { status: "QUEUED", stage: next },
            eventType: EventType.STAGE_COMPLETED,
            eventPayload: completedPayload(),
          },
          to: { status: "PROCESSING", stage: next },
          data: {
            ...out.data,
            ...(flag === undefined ? {} : { needsReview: flag }),
            timings: documentTimings.write(timings),
            ...(provenance ? { provenance: documentProvenance.write(provenance) } : {}),
            // The next stage's claim, as `claim` takes it: a fresh lease, its first attempt.
            attempts: 1,
            crashes: 0,
            leaseExpiresAt: new Date(Date.now() + this.r.deps.settings.leaseMs),
          },
          needsReviewDelta,
          eventType: EventType.STAGE_STARTED,
          also:
            next === "UNDERSTAND"
              ? { select: UNDERSTAND_INPUTS_ALSO, read: (row) => (claimed.row = row) }
              : undefined,
        });
        // null: a column only `transition` can write; the hop goes through the queue as usual.
        if (done?.document) await this.r.committed(done.events);
      } catch (err) {
        slot.release();
        throw err;
      }
      if (done?.document) return { doc: done.document, row: claimed.row, slot };
      slot.release();
    }
    await this.r.move(
      {
        tenantId: doc.tenantId,
        batchId: doc.batchId,
        documentIds: [doc.id],
        from: { status: "PROCESSING", stage },
        to: next ? { status: "QUEUED", stage: next } : { status: "COMPLETED", stage: null },
        data: {
          ...out.data,
          ...(flag === undefined ? {} : { needsReview: flag }),
          timings: documentTimings.write(timings),
          ...(provenance ? { provenance: documentProvenance.write(provenance) } : {}),
          ...(spent
            ? { options: Object.keys(rest).length ? documentOptions.write(rest) : Prisma.DbNull }
            : {}),
          attempts: 0,
          crashes: 0,
          leaseExpiresAt: null,
          ...(next ? {} : { completedAt: new Date(), errorCode: null, errorMessage: null }),
        },
        needsReviewDelta,
        eventType: next ? EventType.STAGE_COMPLETED : EventType.DOCUMENT_COMPLETED,
        // `stage` says what finished; the transition's default would be where the document goes next.
        eventPayload: completedPayload,
        outbox: next ? () => stageOutbox(doc, next, this.r.traceparent()) : undefined,
      },
      1,
    );
    return next === null;
  }

  /**
   * Fails a PROCESSING document; false when another delivery moved it first (or it no longer meets
   * `guard.where`). `guard.data`: other columns to set.
   */
  private async fail(
    doc: { id: string; tenantId: string; batchId: string },
    stage: StageName,
    code: string,
    message: string,
    guard: { data?: Prisma.DocumentUncheckedUpdateManyInput; where?: Prisma.DocumentWhereInput } = {},
  ): Promise<boolean> {
    return this.r
      .move(
        {
          tenantId: doc.tenantId,
          batchId: doc.batchId,
          documentIds: [doc.id],
          from: { status: "PROCESSING", stage },
          to: { status: "FAILED", stage },
          where: guard.where,
          // Messages quote the file (zip entry names, parser errors): NUL or a cut surrogate pair in them
          // would fail this write, and the document would stay PROCESSING for ever.
          data: {
            ...guard.data,
            errorCode: code,
            errorMessage: storable(message.slice(0, 2000)),
            leaseExpiresAt: null,
          },
          eventType: EventType.DOCUMENT_FAILED,
          eventPayload: () => ({ code, message: storable(message.slice(0, 500)) }),
        },
        1,
      )
      .then(
        () => true,
        (e) => {
          if (!(e instanceof StaleStateError)) throw e;
          return false;
        },
      );
  }

  /**
   * Fails a document whose workers died `crashes` times holding this stage (WORKER_CRASHED), once;
   * `where`: what must still hold (the attempt read, a lease still expired).
   */
  private async failCrashed(
    doc: { id: string; tenantId: string; batchId: string },
    stage: StageName,
    crashes: number,
    last: string,
    where: Prisma.DocumentWhereInput,
  ): Promise<boolean> {
    const code = FailureCode.WORKER_CRASHED;
    const failed = await this.fail(
      doc,
      stage,
      code,
      `workers died ${crashes} times while they held its ${stage} stage (the last time ${last}); not run again`,
      { data: { crashes }, where },
    );
    if (failed) {
      this.r.deps.metrics?.documentsFailed.inc({ stage, code });
      this.logFor(doc, stage).warn({ code, crashes }, "document failed");
    }
    return failed;
  }

  /**
   * Re-enqueues documents whose stage lease expired (their worker died without a trace), counting a
   * crash each: they go back to QUEUED with a fresh outbox row, or fail with WORKER_CRASHED at the
   * crash limit. Safe to run from several processes: each move is guarded (and only while the lease is
   * still expired: a redelivery may have taken it over since it was read).
   */
  async reconcileExpiredLeases(now = new Date(), limit = 500): Promise<number> {
    const expired = await documents.expiredLeases(this.r.prisma, now, limit);
    let moved = 0;
    for (const d of expired) {
      const stage = d.stage!;
      const crashes = d.crashes + 1;
      const where = { leaseExpiresAt: { lt: now } };
      const done =
        crashes >= this.r.deps.settings.maxCrashes
          ? await this.failCrashed(d, stage, crashes, "its lease expired", where)
          : await this.requeueAtStage(d, stage, { reason: "lease expired" }, true, {
              data: { crashes },
              where,
            });
      if (done) moved++;
    }
    return moved;
  }

  /**
   * Moves a PROCESSING document back to QUEUED at the same stage (a retry, or an expired lease), with
   * an outbox row when no queue message will come back by itself. False when the document moved on
   * meanwhile (another delivery or reconciler got there first). `guard`: as `fail`'s.
   */
  async requeueAtStage(
    d: { id: string; tenantId: string; batchId: string },
    stage: StageName,
    payload: EventPayload,
    outbox: boolean,
    guard: { data?: Prisma.DocumentUncheckedUpdateManyInput; where?: Prisma.DocumentWhereInput } = {},
  ): Promise<boolean> {
    try {
      await this.r.move(
        {
          tenantId: d.tenantId,
          batchId: d.batchId,
          documentIds: [d.id],
          from: { status: "PROCESSING", stage },
          to: { status: "QUEUED", stage },
          where: guard.where,
          data: { ...guard.data, leaseExpiresAt: null },
          eventType: EventType.STAGE_RETRY,
          eventPayload: () => payload,
          outbox: outbox ? () => stageOutbox(d, stage, this.r.traceparent()) : undefined,
        },
        1,
      );
      return true;
    } catch (err) {
      if (err instanceof StaleStateError) return false;
      throw err;
    }
  }

  /**
   * After a restart of the embedded (in-memory) queue every queued message is gone: publish one for
   * each unfinished document again. Duplicates with messages still in the outbox are harmless.
   */
  async requeueUnfinished(): Promise<number> {
    let count = 0;
    let cursor: string | undefined;
    for (;;) {
      const page = await documents.unfinishedPage(this.r.deps.db, cursor, 1000);
      if (page.length === 0) return count;
      for (const d of page) {
        if (d.stage)
          await this.r.deps.queue.publish(
            stageQueue(d.stage),
            stageMessage(d, d.stage, this.r.traceparent()),
          );
      }
      count += page.length;
      cursor = page.at(-1)!.id;
    }
  }
}
