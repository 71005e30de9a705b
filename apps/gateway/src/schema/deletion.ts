import type { DeleteOutcome } from "@docfleet/pipeline";
import { builder } from "../builder.ts";

// Deleting documents and batches without a trace, and cancelling a batch: operators' tools (admin).

const DeleteDocumentsResult = builder.objectRef<DeleteOutcome>("DeleteDocumentsResult");
DeleteDocumentsResult.implement({
  description: "What deleteDocuments removed",
  fields: (t) => ({
    deleted: t.exposeIDList("deleted", {
      description:
        "the documents removed: rows, events, pending messages, objects (original, text, pages, thumbnail, unfinished uploads) and index entries",
    }),
    notFound: t.exposeIDList("notFound", {
      description: "ids that are not (or no longer) the tenant's documents; nothing of them is left either",
    }),
  }),
});

builder.mutationFields((t) => ({
  deleteDocuments: t.field({
    authScopes: { admin: true },
    type: DeleteDocumentsResult,
    description:
      "Deletes documents leaving no trace: their rows and events, pending stage messages, every stored object and their search index entries; a worker holding one drops its work. At most 1000 ids (more: BAD_REQUEST). Scope: admin",
    args: {
      ids: t.arg.idList({ required: true, description: "the documents, at most 1000" }),
    },
    resolve: (_root, args, ctx) => ctx.services.deletion.deleteDocuments(ctx.tenantId, args.ids.map(String)),
  }),
  deleteBatch: t.int({
    authScopes: { admin: true },
    description:
      "Deletes a batch with all its documents, as deleteDocuments does for each, and its events; returns how many documents went. NOT_FOUND if not the tenant's. Scope: admin",
    args: { id: t.arg.id({ required: true, description: "the batch" }) },
    resolve: (_root, args, ctx) => ctx.services.deletion.deleteBatch(ctx.tenantId, String(args.id)),
  }),
  cancelBatch: t.int({
    authScopes: { admin: true },
    description:
      "Stops a batch's unfinished documents (waiting for upload, queued or processing): each becomes FAILED with code CANCELLED and its pending message is dropped; completed and failed ones stay. retryBatch runs them again. Returns how many it cancelled; NOT_FOUND if not the tenant's. Scope: admin",
    args: { id: t.arg.id({ required: true, description: "the batch" }) },
    resolve: (_root, args, ctx) => ctx.services.deletion.cancelBatch(ctx.tenantId, String(args.id)),
  }),
}));
