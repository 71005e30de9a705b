import { STAGES, type StageName } from "../domain/messages.ts";
import type { Database } from "../ports/database.ts";

/** Per stage, from the database: what waits, how long the oldest has waited, what runs, what failed. */
export interface StageBacklog {
  stage: StageName;
  depth: number;
  oldestAgeSeconds: number;
  processing: number;
  quarantined: number;
}

/**
 * Reads queue depth, age and quarantine per stage from the document table, which both queue adapters
 * share (the broker cannot tell a message's age, the memory queue lives in one process).
 */
export async function readBacklog(
  db: Database,
  tenantId?: string,
  now = Date.now(),
): Promise<StageBacklog[]> {
  const rows = await db.query<{ stage: StageName; status: string; n: number; oldest: Date | string | null }>(
    `SELECT stage::text AS stage, status::text AS status, count(*)::int AS n, min(updated_at) AS oldest
       FROM document WHERE stage IS NOT NULL AND status IN ('QUEUED', 'PROCESSING', 'FAILED')
        ${tenantId ? "AND tenant_id = $1::uuid" : ""}
      GROUP BY stage, status`,
    tenantId ? [tenantId] : undefined,
  );
  return STAGES.map((stage) => {
    const of = (status: string) => rows.find((r) => r.stage === stage && r.status === status);
    const queued = of("QUEUED");
    return {
      stage,
      depth: queued?.n ?? 0,
      oldestAgeSeconds: queued?.oldest ? Math.max(0, (now - new Date(queued.oldest).getTime()) / 1000) : 0,
      processing: of("PROCESSING")?.n ?? 0,
      quarantined: of("FAILED")?.n ?? 0,
    };
  });
}
