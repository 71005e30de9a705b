import type { GatewayClient } from "../client.ts";
import { CliError, ExitCode } from "../exit-codes.ts";
import { graphql } from "../generated/gql.ts";
import type { DocumentStatus, ListBatchesQuery, ListDocumentsQuery } from "../generated/graphql.ts";
import { plainTable, renderTable } from "../table.ts";

// The operator's commands: `batches`, `documents`, `retry`. Each one typed operation, a table on
// stdout (or --json), nothing on stdout but the answer.

const ListBatches = graphql(`
  query ListBatches($first: Int, $after: String) {
    batches(first: $first, after: $after) {
      edges { node { id name createdAt finished counts { ...BatchCountsFields } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const ListDocuments = graphql(`
  query ListDocuments($f: DocumentFilter, $first: Int, $after: String) {
    documents(filter: $f, first: $first, after: $after) {
      totalCount
      edges { node { id name status stage category errorCode errorMessage needsReview createdAt batch { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

const RetryBatch = graphql(`
  mutation RetryBatch($id: ID!, $includeCompleted: Boolean) {
    retryBatch(batchId: $id, includeCompleted: $includeCompleted)
  }
`);

const RetryDocuments = graphql(`
  mutation RetryDocuments($ids: [ID!]!) {
    retryDocuments(ids: $ids) { documentId status message }
  }
`);

export type BatchRow = ListBatchesQuery["batches"]["edges"][number]["node"];
export type DocumentRow = ListDocumentsQuery["documents"]["edges"][number]["node"];

/** Pages of at most 100 (the gateway's maximum) until `limit` rows. */
async function pages<T>(
  limit: number,
  page: (first: number, after: string | null) => Promise<{ rows: T[]; next: string | null }>,
): Promise<{ rows: T[]; more: boolean }> {
  const rows: T[] = [];
  let after: string | null = null;
  for (;;) {
    const r = await page(Math.min(100, limit - rows.length), after);
    rows.push(...r.rows);
    if (!r.next || rows.length >= limit) return { rows: rows.slice(0, limit), more: r.next !== null };
    after = r.next;
  }
}

/** The tenant's batches, newest first, with their counts. */
export async function listBatches(
  client: GatewayClient,
  limit: number,
): Promise<{ batches: BatchRow[]; more: boolean }> {
  const { rows, more } = await pages(limit, async (first, after) => {
    const { batches } = await client.request(ListBatches, { first, after });
    return {
      rows: batches.edges.map((e) => e.node),
      next: batches.pageInfo.hasNextPage ? (batches.pageInfo.endCursor ?? null) : null,
    };
  });
  return { batches: rows, more };
}

export function batchesTable(rows: readonly BatchRow[]): string {
  const t = plainTable(["ID", "NAME", "CREATED", "DOCS", "DONE", "COMPLETED", "FAILED", "REVIEW", "STATE"]);
  for (const b of rows) {
    const c = b.counts;
    t.push([
      b.id,
      b.name,
      b.createdAt,
      String(c.total),
      String(c.done),
      String(c.completed),
      String(c.failed),
      String(c.needsReview),
      b.finished ? "finished" : c.pendingUpload === c.total ? "uploading" : "processing",
    ]);
  }
  return renderTable(t);
}

export const DOCUMENT_STATUSES = ["PENDING_UPLOAD", "QUEUED", "PROCESSING", "COMPLETED", "FAILED"] as const;

export interface DocumentQuery {
  batchId?: string;
  status?: DocumentStatus[];
  errorCode?: string[];
  category?: string[];
  needsReview?: boolean;
}

export async function listDocuments(
  client: GatewayClient,
  filter: DocumentQuery,
  limit: number,
): Promise<{ documents: DocumentRow[]; total: number; more: boolean }> {
  let total = 0;
  const f = {
    batchId: filter.batchId,
    status: filter.status?.length ? filter.status : undefined,
    errorCode: filter.errorCode?.length ? filter.errorCode : undefined,
    category: filter.category?.length ? filter.category : undefined,
    needsReview: filter.needsReview,
  };
  const { rows, more } = await pages(limit, async (first, after) => {
    const { documents } = await client.request(ListDocuments, { f, first, after });
    total = documents.totalCount;
    return {
      rows: documents.edges.map((e) => e.node),
      next: documents.pageInfo.hasNextPage ? (documents.pageInfo.endCursor ?? null) : null,
    };
  });
  return { documents: rows, total, more };
}

export function documentsTable(rows: readonly DocumentRow[]): string {
  const t = plainTable(["ID", "NAME", "STATUS", "STAGE", "CATEGORY", "ERROR", "BATCH"]);
  for (const d of rows)
    t.push([
      d.id,
      d.name,
      d.status,
      d.stage ?? "-",
      d.category ?? "-",
      d.errorCode ? `${d.errorCode}${d.errorMessage ? `: ${oneLine(d.errorMessage, 60)}` : ""}` : "-",
      d.batch.id,
    ]);
  return renderTable(t);
}

export interface RetryOutcome {
  /** retryBatch: documents queued or resumed. */
  queued: number;
  /** retryDocuments: each document's outcome. */
  results: { documentId: string; status: string; message?: string | null }[];
}

/** Retries a batch's failed (and stuck) documents, or the given documents. */
export async function retry(
  client: GatewayClient,
  target: { batchId?: string; ids: string[]; includeCompleted?: boolean },
): Promise<RetryOutcome> {
  if (target.batchId && target.ids.length)
    throw new CliError("give document ids or --batch, not both", ExitCode.USAGE);
  if (target.batchId) {
    const { retryBatch } = await client.request(
      RetryBatch,
      { id: target.batchId, includeCompleted: target.includeCompleted ?? null },
      { idempotent: false },
    );
    return { queued: retryBatch, results: [] };
  }
  if (target.ids.length === 0) throw new CliError("give document ids or --batch <id>", ExitCode.USAGE);
  const results: RetryOutcome["results"] = [];
  for (let i = 0; i < target.ids.length; i += 1000) {
    const { retryDocuments } = await client.request(
      RetryDocuments,
      { ids: target.ids.slice(i, i + 1000) },
      { idempotent: false },
    );
    results.push(...retryDocuments);
  }
  return {
    queued: results.filter((r) => r.status === "QUEUED" || r.status === "RESUMED").length,
    results,
  };
}

export function formatRetry(r: RetryOutcome, batchId?: string): string {
  if (batchId)
    return `batch ${batchId}: ${r.queued} documents queued again (follow them: docfleet watch ${batchId})`;
  const by: Record<string, number> = {};
  for (const x of r.results) by[x.status] = (by[x.status] ?? 0) + 1;
  const lines = [
    `${r.queued} of ${r.results.length} documents queued again (${Object.entries(by)
      .map(([s, n]) => `${s} ${n}`)
      .join(", ")})`,
  ];
  for (const x of r.results)
    if (x.status !== "QUEUED" && x.status !== "RESUMED")
      lines.push(`  ${x.documentId}: ${x.status}${x.message ? ` ${x.message}` : ""}`);
  return lines.join("\n");
}

function oneLine(s: string, max: number): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
