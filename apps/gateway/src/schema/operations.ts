import {
  graphReads,
  type OperationsService,
  type QuarantineGroup,
  type RetryOutcome,
  type StageBacklog,
  type StageName,
} from "@docfleet/pipeline";
import { builder } from "../builder.ts";
import { Document, Stage } from "./document.ts";

// Operators' tools: retry failed (or re-run completed) documents, resume stuck ones, and look at what
// failed, by reason.

const RetryOptions = builder.inputType("RetryOptions", {
  description: "Options kept on each retried document for its next runs",
  fields: (t) => ({
    stageTimeoutMs: t.int({
      description: "time budget of each stage run, 100..3600000 ms (default: deployment's)",
    }),
  }),
});

function retryOptions(o: { stageTimeoutMs?: number | null } | null | undefined) {
  return o?.stageTimeoutMs == null ? undefined : { stageTimeoutMs: o.stageTimeoutMs };
}

const STUCK_AFTER =
  "seconds a QUEUED document may go unchanged before it counts as stuck (its message was lost) and is resumed; default: the deployment's lease (DOCFLEET_LEASE_MS). A PROCESSING document is stuck once its lease expired";

function stuckAfterMs(seconds: number | null | undefined) {
  return seconds == null ? undefined : seconds * 1000;
}

const RetryStatus = builder.enumType("RetryStatus", {
  description: "What retryDocuments did with one document",
  values: {
    QUEUED: { description: "queued again at the requested stage" },
    RESUMED: {
      description:
        "the document was stuck (QUEUED or PROCESSING, no longer moving): its stage message was published again, where it was",
    },
    NOT_FOUND: { description: "no such document for this tenant" },
    IN_FLIGHT: {
      description: "the document is still being processed (it moved recently); nothing changed",
    },
    BAD_STAGE: { description: "the stage cannot be run for this document; see message" },
  },
});

const RetryResult = builder.objectRef<RetryOutcome>("RetryResult");
RetryResult.implement({
  description: "The outcome of retryDocuments for one of its ids",
  fields: (t) => ({
    documentId: t.exposeID("documentId", { description: "the id as given" }),
    status: t.expose("status", { type: RetryStatus, description: "what was done" }),
    message: t.exposeString("message", { nullable: true, description: "why, for BAD_STAGE and RESUMED" }),
  }),
});

const QuarantineGroupRef = builder.objectRef<QuarantineGroup>("QuarantineGroup");
QuarantineGroupRef.implement({
  description: "Failed documents sharing one reason code",
  fields: (t) => ({
    code: t.exposeString("code", {
      description:
        "the failure reason code (UNSUPPORTED_TYPE, CORRUPT, TIMEOUT, ...; UNKNOWN when none was recorded)",
    }),
    count: t.exposeInt("count", {
      description: "failed documents with this code (all of them, not just the sample)",
    }),
    documents: t.prismaField({
      type: [Document],
      description: "the most recently failed documents of the group (up to `sample`)",
      resolve: (query, g, _args, ctx) =>
        graphReads.documentsByIds(ctx.prisma, query, ctx.tenantId, g.documentIds),
    }),
  }),
});

builder.queryFields((t) => ({
  quarantine: t.field({
    authScopes: { read: true },
    type: [QuarantineGroupRef],
    description: "The tenant's failed documents grouped by reason code, largest group first. Scope: read",
    args: {
      batchId: t.arg.id({ description: "only this batch's failures (default: the whole tenant)" }),
      sample: t.arg.int({
        defaultValue: 10,
        description: "documents listed per group, 0..100 (default 10); more is refused with BAD_REQUEST",
      }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.operations.quarantine(ctx.tenantId, {
        batchId: args.batchId == null ? undefined : String(args.batchId),
        sample: args.sample ?? 10,
      }),
  }),
}));

builder.mutationFields((t) => ({
  retryDocuments: t.field({
    authScopes: { admin: true },
    type: [RetryResult],
    description:
      "Queues failed documents again from the stage they stopped at (or `stage`, an earlier one), or completed documents from `stage`; resumes stuck ones (RESUMED: QUEUED or PROCESSING but no longer moving, see stuckAfterSeconds); documents still moving are left alone (IN_FLIGHT); at most 1000. Scope: admin",
    args: {
      ids: t.arg.idList({ required: true, description: "the documents, at most 1000 (more: BAD_REQUEST)" }),
      stage: t.arg({
        type: Stage,
        description:
          "where to start: for a failed document its own stage or an earlier one; required for a completed one",
      }),
      options: t.arg({
        type: RetryOptions,
        description: "options kept on the documents for their next runs",
      }),
      stuckAfterSeconds: t.arg.int({ description: STUCK_AFTER }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.operations.retryDocuments(ctx.tenantId, args.ids.map(String), {
        stage: args.stage ?? undefined,
        options: retryOptions(args.options),
        stuckAfterMs: stuckAfterMs(args.stuckAfterSeconds),
      }),
  }),
  retryBatch: t.int({
    authScopes: { admin: true },
    description:
      "Sets a batch going again: queues its failed documents from the stage they stopped at, resumes its stuck ones (QUEUED or PROCESSING but no longer moving: their stage message is published again) and, only with includeCompleted, runs its completed ones again from parse; returns how many documents it queued or resumed. Scope: admin",
    args: {
      batchId: t.arg.id({ required: true, description: "the batch (NOT_FOUND if not the tenant's)" }),
      includeCompleted: t.arg.boolean({
        description: "also run the batch's completed documents again, from parse (default false)",
      }),
      failedOnly: t.arg.boolean({
        defaultValue: true,
        description: "false: the same as includeCompleted: true (its first spelling)",
        deprecationReason: "Use includeCompleted.",
      }),
      stuckAfterSeconds: t.arg.int({ description: STUCK_AFTER }),
      options: t.arg({
        type: RetryOptions,
        description: "options kept on the documents for their next runs",
      }),
    },
    resolve: (_root, args, ctx) =>
      ctx.services.operations.retryBatch(ctx.tenantId, String(args.batchId), {
        includeCompleted: args.includeCompleted ?? args.failedOnly === false,
        stuckAfterMs: stuckAfterMs(args.stuckAfterSeconds),
        options: retryOptions(args.options),
      }),
  }),
}));

const StageQueueRef = builder.objectRef<StageBacklog>("StageQueue");
StageQueueRef.implement({
  description: "One stage's backlog, counted from the tenant's documents (the same for both queue adapters)",
  fields: (t) => ({
    stage: t.expose("stage", { type: Stage, description: "the stage" }),
    depth: t.exposeInt("depth", { description: "documents waiting for this stage (QUEUED)" }),
    oldestAgeSeconds: t.exposeFloat("oldestAgeSeconds", {
      description: "how long the oldest waiting document has waited, in seconds (0 when none waits)",
    }),
    processing: t.exposeInt("processing", {
      description: "documents a worker holds at this stage (in flight)",
    }),
    quarantined: t.exposeInt("quarantined", {
      description: "documents that failed at this stage (dead-lettered); see `quarantine` for reasons",
    }),
  }),
});

type WorkerRow = Awaited<ReturnType<OperationsService["workers"]>>[number];
const WorkerRef = builder.objectRef<WorkerRow>("Worker");
WorkerRef.implement({
  description: "A live worker process (deployment-wide; `docfleet serve` lists itself)",
  fields: (t) => ({
    id: t.exposeID("id", { description: "the worker's id, new at each start" }),
    hostname: t.exposeString("hostname", { description: "the machine (or container) it runs on" }),
    pid: t.exposeInt("pid", { description: "its operating-system process id" }),
    roles: t.field({
      type: [Stage],
      description: "the stages it consumes",
      resolve: (w) => w.roles as StageName[],
    }),
    concurrency: t.field({
      type: "JSON",
      description: "messages handled at once per stage",
      resolve: (w) => w.concurrency,
    }),
    startedAt: t.field({ type: "DateTime", description: "when it started", resolve: (w) => w.startedAt }),
    lastHeartbeat: t.field({
      type: "DateTime",
      description:
        "its latest heartbeat (sent every few seconds; a minute without one drops it from the list)",
      resolve: (w) => w.heartbeatAt,
    }),
    inFlight: t.exposeInt("inFlight", { description: "stage runs in progress at the last heartbeat" }),
  }),
});

builder.queryFields((t) => ({
  queues: t.field({
    authScopes: { admin: true },
    type: [StageQueueRef],
    description:
      "Per stage: the tenant's waiting, in-flight and failed documents and the oldest wait. Scope: admin",
    resolve: (_root, _args, ctx) => ctx.services.operations.queues(ctx.tenantId),
  }),
  workers: t.field({
    authScopes: { admin: true },
    type: [WorkerRef],
    description:
      "Worker processes that sent a heartbeat in the last minute, oldest first (deployment-wide). Scope: admin",
    resolve: (_root, _args, ctx) => ctx.services.operations.workers(),
  }),
}));
