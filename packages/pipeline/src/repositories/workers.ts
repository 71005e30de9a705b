import type { Database } from "../ports/database.ts";
import type { Db } from "./db.ts";

/** Removes rows of workers whose heartbeat is older than `seconds` (processes that died without stopping). */
export async function sweep(db: Database, seconds: number): Promise<void> {
  await db.query("DELETE FROM worker WHERE heartbeat_at < now() - make_interval(secs => $1)", [seconds]);
}

export async function register(
  db: Database,
  w: {
    id: string;
    hostname: string;
    pid: number;
    roles: readonly string[];
    concurrency: Record<string, number>;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO worker (id, hostname, pid, roles, concurrency, in_flight)
     VALUES ($1, $2, $3, $4::text[], $5::jsonb, 0)`,
    [w.id, w.hostname, w.pid, [...w.roles], JSON.stringify(w.concurrency)],
  );
}

export async function heartbeat(db: Database, id: string, inFlight: number): Promise<void> {
  await db.query("UPDATE worker SET heartbeat_at = now(), in_flight = $2 WHERE id = $1", [id, inFlight]);
}

export async function unregister(db: Database, id: string): Promise<void> {
  await db.query("DELETE FROM worker WHERE id = $1", [id]);
}

/** Workers whose heartbeat is younger than `staleMs`, oldest start first. */
export function alive(db: Db, staleMs: number) {
  return db.worker.findMany({
    where: { heartbeatAt: { gte: new Date(Date.now() - staleMs) } },
    orderBy: { startedAt: "asc" },
  });
}
