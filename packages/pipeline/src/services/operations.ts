import { type DocumentOptions, documentOptions, documentProvenance } from "../domain/codecs.ts";
import { RequestError } from "../domain/errors.ts";
import { isUuid } from "../domain/ids.ts";
import { StaleStateError } from "../domain/lifecycle.ts";
import { EventType, STAGES, type StageName } from "../domain/messages.ts";
import { planFor } from "../domain/plan.ts";
import { readBacklog, type StageBacklog } from "../repositories/backlog.ts";
import * as batches from "../repositories/batches.ts";
import * as documents from "../repositories/documents.ts";
import * as workers from "../repositories/workers.ts";
import { type Resources, stageOutbox } from "./resources.ts";

export interface RetryRequest {
  /** Stage to start again from; default: the stage a failed document stopped at. Required for completed documents. */
  stage?: StageName;
  /** Kept on each queued document for its next runs (a resumed document keeps its own). */
  options?: DocumentOptions;
  /**
   * How long a QUEUED document may go unchanged before it counts as stuck (its message was lost: the
   * broker quarantined it, or the memory queue went with its process) and is resumed; default the lease
   * (`DOCFLEET_LEASE_MS`). A PROCESSING document is stuck once its lease expired.
   */
  stuckAfterMs?: number;
}

export type RetryOutcome = {
  documentId: string;
  /**
   * QUEUED: a failed or completed document queued again; RESUMED: a stuck document's stage message
   * published again, where it was; IN_FLIGHT: still moving (nothing changed); NOT_FOUND; BAD_STAGE.
   */
  status: "QUEUED" | "RESUMED" | "NOT_FOUND" | "IN_FLIGHT" | "BAD_STAGE";
  message?: string;
};

export interface RetryBatchRequest {
  /** Also run the batch's COMPLETED documents again, from parse (default false: finished work stays). */
  includeCompleted?: boolean;
  /** Kept on each queued document for its next runs. */
  options?: DocumentOptions;
  /** As `RetryRequest.stuckAfterMs`. */
  stuckAfterMs?: number;
}

export interface QuarantineGroup {
  code: string;
  count: number;
  /** Up to `sample` of the group's documents, most recent first. */
  documentIds: string[];
}

/**
 * What operators do: read the backlog and the workers, retry failed (or re-run completed) documents,
 * reprocess where models or definitions changed, and look at the quarantine.
 */
export class OperationsService {
  constructor(private readonly r: Resources) {}

  /** Per stage: the tenant's waiting, running and failed documents and the oldest wait (operators). */
  queues(tenantId: string): Promise<StageBacklog[]> {
    return readBacklog(this.r.deps.db, tenantId);
  }

  /** Worker processes whose heartbeat is younger than `staleMs` (deployment-wide: no tenant data). */
  workers(staleMs = 60_000) {
    return workers.alive(this.r.prisma, staleMs);
  }

  /**
   * Queues finished documents again (operators' retry and release from quarantine): FAILED ones from
   * the stage they stopped at (or an earlier one), COMPLETED ones from the given stage (e.g. to
   * understand again with other options). Clears the error, resets attempts and crashes and stores
   * `options` on the document. Resumes stuck ones (RESUMED: QUEUED or PROCESSING documents that stopped
   * moving, see `stuckAfterMs`): their stage message is published again through the outbox, where they
   * are (stages are idempotent; a PROCESSING one is taken over from its dead holder, a crash counted).
   * Documents genuinely in flight are left alone (IN_FLIGHT). Tenant-scoped.
   */
  async retryDocuments(
    tenantId: string,
    documentIds: readonly string[],
    req: RetryRequest = {},
  ): Promise<RetryOutcome[]> {
    if (documentIds.length > 1000)
      throw new RequestError("BAD_REQUEST", "at most 1000 documents per request");
    const timeout = req.options?.stageTimeoutMs;
    if (timeout !== undefined && !(Number.isInteger(timeout) && timeout >= 100 && timeout <= 3_600_000)) {
      throw new RequestError(
        "BAD_REQUEST",
        "stageTimeoutMs must be a whole number of ms between 100 and 3600000",
      );
    }
    const stuckAfterMs = this.stuckAfterMs(req.stuckAfterMs);
    const docs = new Map(
      (await documents.statesOwned(this.r.prisma, tenantId, documentIds)).map((d) => [d.id, d]),
    );
    // Which of those in flight stopped moving: the rule that selects them also guards their resume.
    const now = new Date();
    const stuckRule = documents.stuckWhere(now, stuckAfterMs);
    const moving = [...docs.values()].filter((d) => d.status === "QUEUED" || d.status === "PROCESSING");
    const stuck = new Set(
      await documents.stuckAmong(
        this.r.prisma,
        tenantId,
        moving.map((d) => d.id),
        stuckRule,
      ),
    );
    const resumes = new Map<
      string,
      { batchId: string; status: "QUEUED" | "PROCESSING"; stage: StageName; ids: string[] }
    >();
    const outcomes = new Map<string, RetryOutcome>();
    const groups = new Map<
      string,
      {
        batchId: string;
        from: { status: "FAILED" | "COMPLETED"; stage: StageName | null };
        to: StageName;
        ids: string[];
      }
    >();
    // Each document once: an id named twice would make the move see one row fewer than it expects.
    for (const id of new Set(documentIds)) {
      const d = docs.get(id);
      if (!d) {
        outcomes.set(id, { documentId: id, status: "NOT_FOUND" });
        continue;
      }
      if ((d.status === "QUEUED" || d.status === "PROCESSING") && d.stage && stuck.has(id)) {
        if (req.stage && req.stage !== d.stage) {
          outcomes.set(id, {
            documentId: id,
            status: "BAD_STAGE",
            message: `document is stuck at ${d.stage}; it resumes there`,
          });
          continue;
        }
        const key = `${d.batchId}|${d.status}|${d.stage}`;
        const g = resumes.get(key) ?? { batchId: d.batchId, status: d.status, stage: d.stage, ids: [] };
        g.ids.push(id);
        resumes.set(key, g);
        continue;
      }
      if (d.status !== "FAILED" && d.status !== "COMPLETED") {
        outcomes.set(id, { documentId: id, status: "IN_FLIGHT", message: `document is ${d.status}` });
        continue;
      }
      const to = req.stage ?? (d.status === "FAILED" ? (d.stage ?? "PARSE") : undefined);
      if (!to) {
        outcomes.set(id, {
          documentId: id,
          status: "BAD_STAGE",
          message: "a completed document needs the stage to run again from",
        });
        continue;
      }
      // A stage needs the artifacts of the stages before it: a failed document can only go back.
      if (d.status === "FAILED" && STAGES.indexOf(to) > STAGES.indexOf(d.stage ?? "PARSE")) {
        outcomes.set(id, {
          documentId: id,
          status: "BAD_STAGE",
          message: `document failed at ${d.stage}; it cannot skip to ${to}`,
        });
        continue;
      }
      const key = `${d.batchId}|${d.status}|${d.stage}|${to}`;
      const g = groups.get(key) ?? {
        batchId: d.batchId,
        from: { status: d.status, stage: d.stage },
        to,
        ids: [],
      };
      g.ids.push(id);
      groups.set(key, g);
    }
    for (const g of groups.values()) {
      await this.moveEach(g.ids, "QUEUED", outcomes, (ids) =>
        this.r.move(
          {
            tenantId,
            batchId: g.batchId,
            documentIds: ids,
            from: g.from,
            to: { status: "QUEUED", stage: g.to },
            data: {
              errorCode: null,
              errorMessage: null,
              attempts: 0,
              crashes: 0,
              completedAt: null,
              leaseExpiresAt: null,
              ...(req.options ? { options: documentOptions.write(req.options) } : {}),
            },
            eventType: EventType.DOCUMENT_RETRIED,
            eventPayload: () => ({ fromStatus: g.from.status, stage: g.to, options: req.options ?? null }),
            outbox: (id) => stageOutbox({ id, tenantId }, g.to, this.r.traceparent()),
          },
          1,
        ),
      );
    }
    const lease = new Date(now.getTime() + this.r.deps.settings.leaseMs);
    for (const g of resumes.values()) {
      await this.moveEach(g.ids, "RESUMED", outcomes, (ids) =>
        this.r.move(
          {
            tenantId,
            batchId: g.batchId,
            documentIds: ids,
            from: { status: g.status, stage: g.stage },
            to: { status: g.status, stage: g.stage },
            where: stuckRule,
            // Moved now: not stuck again before the threshold. A PROCESSING one gets a new lease, which
            // the message takes over at its claim; lost as well, the reconciler finds it expired.
            data: { updatedAt: new Date(), ...(g.status === "PROCESSING" ? { leaseExpiresAt: lease } : {}) },
            eventType: EventType.DOCUMENT_RETRIED,
            eventPayload: () => ({ fromStatus: g.status, stage: g.stage, reason: "resumed: stuck" }),
            outbox: (id) => stageOutbox({ id, tenantId }, g.stage, this.r.traceparent()),
          },
          1,
        ),
      );
    }
    return documentIds.map((id) => outcomes.get(id)!);
  }

  /**
   * Moves a group of documents at once; when some of them moved meanwhile, each alone, so that the rest
   * still go. Those that moved are IN_FLIGHT.
   */
  private async moveEach(
    ids: string[],
    status: "QUEUED" | "RESUMED",
    outcomes: Map<string, RetryOutcome>,
    move: (ids: string[]) => Promise<void>,
  ): Promise<void> {
    const attempt = async (part: string[]) => {
      try {
        await move(part);
        for (const id of part) outcomes.set(id, { documentId: id, status });
        return true;
      } catch (err) {
        if (!(err instanceof StaleStateError)) throw err;
        return false;
      }
    };
    if (await attempt(ids)) return;
    for (const id of ids) {
      if (ids.length > 1 && (await attempt([id]))) continue;
      outcomes.set(id, {
        documentId: id,
        status: "IN_FLIGHT",
        message: "document changed state concurrently; try again",
      });
    }
  }

  /** A request's `stuckAfterMs`, checked; default the lease. */
  private stuckAfterMs(ms: number | undefined): number {
    if (ms === undefined) return this.r.deps.settings.leaseMs;
    if (!(Number.isInteger(ms) && ms >= 1000))
      throw new RequestError("BAD_REQUEST", "stuckAfter must be a whole number of seconds, at least 1");
    return ms;
  }

  /**
   * Sets a batch going again: queues its FAILED documents from the stage they stopped at, resumes its
   * stuck ones (see `retryDocuments`) and, only with `includeCompleted`, runs its COMPLETED ones again
   * from parse. Answers how many documents it queued or resumed. A boolean `req` is the first spelling,
   * `failedOnly` (false: completed ones too), with `options` as a fourth argument.
   */
  async retryBatch(
    tenantId: string,
    batchId: string,
    req: RetryBatchRequest | boolean = {},
    options?: DocumentOptions,
  ): Promise<number> {
    const r: RetryBatchRequest = typeof req === "boolean" ? { includeCompleted: !req, options } : req;
    const stuckAfterMs = this.stuckAfterMs(r.stuckAfterMs);
    const batch = await batches.findOwned(this.r.prisma, tenantId, batchId);
    if (!batch) throw new RequestError("NOT_FOUND", `batch ${batchId} not found`);
    let queued = 0;
    // By id, so that a document that could not be resumed (it moved) is not read again. Before the
    // failed and completed ones: those are queued now, never stuck.
    for (let cursor: string | undefined; ; ) {
      const page = await documents.stuckInBatch(this.r.prisma, {
        tenantId,
        batchId,
        stuck: documents.stuckWhere(new Date(), stuckAfterMs),
        cursor,
        take: 500,
      });
      if (page.length === 0) break;
      cursor = page.at(-1);
      const res = await this.retryDocuments(tenantId, page, { stuckAfterMs });
      queued += res.filter((x) => x.status === "RESUMED").length;
    }
    for (const status of r.includeCompleted ? (["FAILED", "COMPLETED"] as const) : (["FAILED"] as const)) {
      for (;;) {
        const page = await documents.idsInBatch(this.r.prisma, { tenantId, batchId, status, take: 500 });
        if (page.length === 0) break;
        const res = await this.retryDocuments(tenantId, page, {
          stage: status === "COMPLETED" ? "PARSE" : undefined,
          options: r.options,
        });
        const n = res.filter((r) => r.status === "QUEUED").length;
        queued += n;
        if (n === 0) break; // nothing movable left (raced with another retry)
      }
    }
    return queued;
  }

  /**
   * Runs chosen stages again for the documents a filter selects, and only where it changes something:
   * understand where the model, its prompt version or the category's definition differ from what the
   * document was understood with (or `models.understand` names another model); embed where the
   * embedding model or chunking changed; parse where the parser changed (then every later stage too).
   * Index follows whichever of them runs. `force` re-runs the chosen stages regardless. Only COMPLETED
   * documents are reprocessed (failed ones are retried); documents in flight are left alone.
   */
  async reprocess(
    tenantId: string,
    req: {
      filter: ReprocessFilter;
      stages: readonly StageName[];
      models?: { understand?: string | null; embed?: string | null } | null;
      force?: boolean | null;
    },
  ): Promise<{ queued: number; upToDate: number; inFlight: number; documentIds: string[] }> {
    if (req.stages.length === 0)
      throw new RequestError("BAD_REQUEST", "name at least one stage to run again");
    if ((req.filter.documentIds?.length ?? 0) > 1000)
      throw new RequestError("BAD_REQUEST", "at most 1000 documents per request; select more with a filter");
    const { models } = this.r.deps;
    if (req.models?.embed && req.models.embed !== models.names.embed) {
      throw new RequestError(
        "BAD_REQUEST",
        `the embedding model is fixed per index (${models.names.embed}); another one needs a reindex`,
      );
    }
    const understandModel = req.models?.understand ?? undefined;
    const current = new Map((await this.r.categories.list(tenantId)).map((c) => [c.name, c.version]));
    const selection = reprocessSelection(tenantId, req.filter);
    const out = { queued: 0, upToDate: 0, inFlight: 0, documentIds: [] as string[] };
    let cursor: string | undefined;
    for (;;) {
      const page = await documents.reprocessPage(this.r.prisma, selection, cursor, 500);
      if (page.length === 0) break;
      cursor = page.at(-1)!.id;
      const plans = new Map<string, string[]>();
      for (const d of page) {
        // The filter selects COMPLETED documents and those in flight (counted, left alone).
        if (d.status !== "COMPLETED") {
          out.inFlight++;
          continue;
        }
        const provenance = documentProvenance.read(d.provenance);
        const plan = planFor({ category: d.category, provenance }, req.stages, {
          force: req.force ?? false,
          understandModels: understandModel
            ? [models.qualify(understandModel)]
            : [models.names.understand, ...(models.names.vision ? [models.names.vision] : [])],
          promptVersion: understandModel ? undefined : models.promptVersion,
          embedModel: models.names.embed,
          categoryVersion: d.category ? current.get(d.category) : undefined,
        });
        if (plan.length === 0) {
          out.upToDate++;
          continue;
        }
        const key = plan.join(",");
        plans.set(key, [...(plans.get(key) ?? []), d.id]);
      }
      for (const [key, ids] of plans) {
        const stages = key.split(",") as StageName[];
        const res = await this.retryDocuments(tenantId, ids, {
          stage: stages[0],
          options: { stages, ...(understandModel ? { models: { understand: understandModel } } : {}) },
        });
        for (const r of res) {
          if (r.status === "QUEUED") {
            out.queued++;
            if (out.documentIds.length < 1000) out.documentIds.push(r.documentId);
          } else out.inFlight++;
        }
      }
    }
    return out;
  }

  /**
   * The tenant's failed documents grouped by reason code, largest group first, with up to `sample`
   * (0..QUARANTINE_MAX_SAMPLE; more is refused with BAD_REQUEST, never cut silently) of each group's ids.
   */
  async quarantine(
    tenantId: string,
    opts: { batchId?: string; sample?: number } = {},
  ): Promise<QuarantineGroup[]> {
    if ((opts.sample ?? 0) > QUARANTINE_MAX_SAMPLE)
      throw new RequestError(
        "BAD_REQUEST",
        `sample may be at most ${QUARANTINE_MAX_SAMPLE} (asked ${opts.sample}); a group's documents: documents(filter: { errorCode })`,
      );
    if (opts.batchId !== undefined && !isUuid(opts.batchId)) return [];
    const sample = Math.max(opts.sample ?? 10, 0);
    const groups = await documents.failuresByCode(this.r.prisma, { tenantId, batchId: opts.batchId, sample });
    const out = groups.map((g) => ({ ...g, code: g.code ?? "UNKNOWN" }));
    return out.sort((a, b) => b.count - a.count || a.code.localeCompare(b.code));
  }
}

/** The most documents `quarantine` lists per group. */
export const QUARANTINE_MAX_SAMPLE = 100;

export interface ReprocessFilter {
  batchId?: string | null;
  documentIds?: readonly string[] | null;
  category?: readonly string[] | null;
  needsReview?: boolean | null;
}

function reprocessSelection(tenantId: string, f: ReprocessFilter): documents.ReprocessSelection {
  if (f.batchId && !isUuid(f.batchId)) throw new RequestError("NOT_FOUND", `batch ${f.batchId} not found`);
  return {
    tenantId,
    batchId: f.batchId ?? undefined,
    documentIds: f.documentIds ?? undefined,
    categories: f.category ?? undefined,
    needsReview: typeof f.needsReview === "boolean" ? f.needsReview : undefined,
  };
}
