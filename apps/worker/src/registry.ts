import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Database, StageName } from "@docfleet/pipeline";

/** What a worker tells operators about itself (the `worker` table). */
export interface WorkerInfo {
  id: string;
  roles: readonly StageName[];
  concurrency: Record<StageName, number>;
}

/**
 * Registers this worker in the shared `worker` table, heartbeats its in-flight count every
 * `everyMs`, and removes the row at stop. Rows of processes that died without stopping age out: the
 * `workers` query only lists heartbeats younger than three intervals, and `register` sweeps older ones.
 */
export class WorkerRegistry {
  readonly id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Database,
    private readonly info: Omit<WorkerInfo, "id">,
    private readonly inFlight: () => number,
    private readonly everyMs = 10_000,
  ) {}

  async register(): Promise<void> {
    await this.db.query("DELETE FROM worker WHERE heartbeat_at < now() - make_interval(secs => $1)", [
      (this.everyMs * 30) / 1000,
    ]);
    await this.db.query(
      `INSERT INTO worker (id, hostname, pid, roles, concurrency, in_flight)
       VALUES ($1, $2, $3, $4::text[], $5::jsonb, 0)`,
      [this.id, hostname(), process.pid, [...this.info.roles], JSON.stringify(this.info.concurrency)],
    );
    this.timer = setInterval(() => void this.beat().catch(() => {}), this.everyMs);
    this.timer.unref();
  }

  /** Writes the heartbeat and in-flight count now. */
  async beat(): Promise<void> {
    await this.db.query("UPDATE worker SET heartbeat_at = now(), in_flight = $2 WHERE id = $1", [
      this.id,
      this.inFlight(),
    ]);
  }

  async unregister(): Promise<void> {
    clearInterval(this.timer);
    await this.db.query("DELETE FROM worker WHERE id = $1", [this.id]).catch(() => {});
  }
}
