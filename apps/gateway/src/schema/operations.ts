import type { QuarantineGroup, RetryOutcome } from "@docfleet/pipeline";
import { builder } from "../builder.ts";
import { guard } from "../errors.ts";
import { Document, Stage } from "./document.ts";

// Operators' tools: retry failed (or re-run completed) documents, and look at what failed, by reason.

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

const RetryStatus = builder.enumType("RetryStatus", {
  values: {
    QUEUED: { description: "queued again at the requested stage" },
    NOT_FOUND: { description: "no such document for this tenant" },
    IN_FLIGHT: { description: "the document is still being processed; nothing changed" },
    BAD_STAGE: { description: "the stage cannot be run for this document; see message" },
  },
});

const RetryResult = builder.objectRef<RetryOutcome>("RetryResult");
RetryResult.implement({
  fields: (t) => ({
    documentId: t.exposeID("documentId"),
    status: t.expose("status", { type: RetryStatus }),
    message: t.exposeString("message", { nullable: true }),
  }),
});

const QuarantineGroupRef = builder.objectRef<QuarantineGroup>("QuarantineGroup");
QuarantineGroupRef.implement({
  description: "Failed documents sharing one reason code",
  fields: (t) => ({
    code: t.exposeString("code"),
    count: t.exposeInt("count"),
    documents: t.prismaField({
      type: [Document],
      description: "the most recently failed documents of the group (up to `sample`)",
      resolve: (query, g, _args, ctx) =>
        ctx.prisma.document.findMany({
          ...query,
          where: { id: { in: g.documentIds }, tenantId: ctx.tenantId },
          orderBy: { updatedAt: "desc" },
        }),
    }),
  }),
});

builder.queryFields((t) => ({
  quarantine: t.field({
    authScopes: { read: true },
    type: [QuarantineGroupRef],
    description: "The tenant's failed documents grouped by reason code, largest group first",
    args: { batchId: t.arg.id(), sample: t.arg.int({ defaultValue: 10 }) },
    resolve: (_root, args, ctx) =>
      ctx.pipeline.quarantine(ctx.tenantId, {
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
      "Queues failed documents again from the stage they stopped at (or `stage`, an earlier one), or completed documents from `stage`; at most 1000",
    args: {
      ids: t.arg.idList({ required: true }),
      stage: t.arg({ type: Stage }),
      options: t.arg({ type: RetryOptions }),
    },
    resolve: (_root, args, ctx) =>
      guard(() =>
        ctx.pipeline.retryDocuments(ctx.tenantId, args.ids.map(String), {
          stage: args.stage ?? undefined,
          options: retryOptions(args.options),
        }),
      ),
  }),
  retryBatch: t.int({
    authScopes: { admin: true },
    description:
      "Queues a batch's failed documents again (all finished ones from parse when failedOnly is false); returns how many",
    args: {
      batchId: t.arg.id({ required: true }),
      failedOnly: t.arg.boolean({ defaultValue: true }),
      options: t.arg({ type: RetryOptions }),
    },
    resolve: (_root, args, ctx) =>
      guard(() =>
        ctx.pipeline.retryBatch(
          ctx.tenantId,
          String(args.batchId),
          args.failedOnly ?? true,
          retryOptions(args.options),
        ),
      ),
  }),
}));
