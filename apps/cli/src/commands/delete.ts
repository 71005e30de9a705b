import type { GatewayClient } from "../client.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { graphql } from "../generated/gql.ts";

// `delete` (documents or a batch) and `cancel` (a batch): each one typed operation; the answer on
// stdout (or --json), nothing else there.

const DeleteDocuments = graphql(`
  mutation DeleteDocuments($ids: [ID!]!) {
    deleteDocuments(ids: $ids) { deleted notFound }
  }
`);

const DeleteBatch = graphql(`
  mutation DeleteBatch($id: ID!) {
    deleteBatch(id: $id)
  }
`);

const CancelBatch = graphql(`
  mutation CancelBatch($id: ID!) {
    cancelBatch(id: $id)
  }
`);

export interface DeleteResult {
  /** The batch deleted, with --batch. */
  batchId?: string;
  /** Documents removed. */
  deleted: number;
  /** Without --batch: the ids that were not the tenant's documents. */
  notFound: string[];
}

/** Deletes the given documents (1,000 per request) or a whole batch. */
export async function deleteTarget(
  client: GatewayClient,
  target: { batchId?: string; ids: string[] },
): Promise<DeleteResult> {
  if (target.batchId && target.ids.length)
    throw new CliError("give document ids or --batch, not both", ExitCode.USAGE);
  if (target.batchId) {
    const { deleteBatch } = await client.request(DeleteBatch, { id: target.batchId }, { idempotent: true });
    return { batchId: target.batchId, deleted: deleteBatch, notFound: [] };
  }
  if (target.ids.length === 0) throw new CliError("give document ids or --batch <id>", ExitCode.USAGE);
  let deleted = 0;
  const notFound: string[] = [];
  for (let i = 0; i < target.ids.length; i += 1000) {
    // Idempotent: deleting again purges again and finds the rows gone.
    const { deleteDocuments } = await client.request(
      DeleteDocuments,
      { ids: target.ids.slice(i, i + 1000) },
      { idempotent: true },
    );
    deleted += deleteDocuments.deleted.length;
    notFound.push(...deleteDocuments.notFound);
  }
  return { deleted, notFound };
}

export function formatDelete(r: DeleteResult): string {
  if (r.batchId) return `batch ${r.batchId} deleted with its ${r.deleted} documents`;
  const lines = [`${r.deleted} documents deleted`];
  for (const id of r.notFound) lines.push(`  ${id}: NOT_FOUND`);
  return lines.join("\n");
}

/** Cancels a batch's unfinished documents; answers how many. */
export async function cancelBatch(client: GatewayClient, batchId: string): Promise<number> {
  const { cancelBatch } = await client.request(CancelBatch, { id: batchId }, { idempotent: true });
  return cancelBatch;
}
