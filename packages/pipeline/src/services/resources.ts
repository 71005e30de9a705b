import type { Document, PrismaClient } from "@docfleet/schema";
import type { PipelineDeps } from "../domain/context.ts";
import { StaleStateError, type TransitionSpec } from "../domain/lifecycle.ts";
import { type StageName, stageMessage, stageQueue } from "../domain/messages.ts";
import type { PipelineEvent } from "../ports/event-bus.ts";
import { isUniqueViolation, type Tx } from "../repositories/db.ts";
import { type OneTransition, transition, transitionOne } from "../repositories/transition.ts";
import { CategoriesService } from "./categories.ts";

/** What every service shares: the ports, the database, one transaction helper and the tenants' categories. */
export interface Resources {
  readonly deps: PipelineDeps;
  readonly prisma: PrismaClient;
  readonly categories: CategoriesService;
  /**
   * Runs `fn` in a transaction; after the commit publishes the events `fn` collected and calls the
   * after-commit hook (the relay publishes the outbox rows now). Retries when it lost a race.
   */
  tx<T>(fn: (tx: Tx, events: PipelineEvent[]) => Promise<T>, attempts?: number): Promise<T>;
  /**
   * One transition in its own transaction (retried on a lost race up to `attempts` times); a single
   * document's in one statement where `transitionOne` can say it.
   */
  move(spec: TransitionSpec, attempts?: number): Promise<void>;
  /**
   * One document's transition, in one statement where `transitionOne` can say it (else as `move`, which
   * needs `spec.batchId`); answers the document as it is after the move, when the statement read it.
   */
  moveOne(spec: OneTransition, attempts?: number): Promise<Document | undefined>;
  /**
   * After a raw statement that wrote events and outbox rows and committed on its own (outside `tx`):
   * publishes its events and calls the after-commit hook, as `tx` does after its commit.
   */
  committed(events: readonly PipelineEvent[]): Promise<void>;
  /** The current span as a W3C traceparent, carried by the outbox rows written now. */
  traceparent(): string | undefined;
}

export interface ResourceOptions {
  /** Called after every transaction that may have written outbox rows (the relay's `kick`). */
  afterCommit?: () => void;
}

export function createResources(deps: PipelineDeps, opts: ResourceOptions = {}): Resources {
  const prisma = deps.db.prisma;
  const afterCommit = opts.afterCommit ?? (() => {});
  const tx: Resources["tx"] = async (fn, attempts = 3) => {
    for (let i = 1; ; i++) {
      const events: PipelineEvent[] = [];
      try {
        const result = await prisma.$transaction((t) => fn(t, events), { timeout: 30_000, maxWait: 30_000 });
        if (events.length > 0) await deps.events.publish(events);
        afterCommit();
        return result;
      } catch (err) {
        if (i >= attempts || !(err instanceof StaleStateError || isUniqueViolation(err))) throw err;
      }
    }
  };
  const move: Resources["move"] = (spec, attempts = 3) =>
    tx(async (t, events) => {
      events.push(...(await transition(t, spec)));
    }, attempts);
  const moveOne: Resources["moveOne"] = async (spec, attempts = 3) => {
    for (let i = 1; ; i++) {
      let done: Awaited<ReturnType<typeof transitionOne>>;
      try {
        done = await transitionOne(deps.db, spec);
      } catch (err) {
        if (i >= attempts || !(err instanceof StaleStateError)) throw err;
        continue;
      }
      if (!done) {
        const { documentId, batchId, readRow: _r, also: _a, ...rest } = spec;
        if (!batchId) throw new Error("moveOne: a transition only `transition` can say needs its batchId");
        await move({ ...rest, batchId, documentIds: [documentId] }, attempts);
        return undefined;
      }
      await deps.events.publish(done.events);
      afterCommit();
      return done.document;
    }
  };
  return {
    deps,
    prisma,
    categories: new CategoriesService(prisma, deps.categories),
    tx,
    move: (spec, attempts = 3) =>
      spec.documentIds.length === 1 && !spec.batchEvent
        ? moveOne({ ...spec, documentId: spec.documentIds[0]!, readRow: false }, attempts).then(
            () => undefined,
          )
        : move(spec, attempts),
    moveOne,
    committed: async (events) => {
      if (events.length > 0) await deps.events.publish(events);
      afterCommit();
    },
    traceparent: () => deps.tracing?.traceparent(),
  };
}

/** Outbox row of a stage message: the stage's queue. */
export function stageOutbox(doc: { id: string; tenantId: string }, stage: StageName, traceparent?: string) {
  return { topic: stageQueue(stage), key: doc.id, payload: stageMessage(doc, stage, traceparent) };
}
