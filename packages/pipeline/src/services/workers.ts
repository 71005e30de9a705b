import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { StageName } from "../domain/messages.ts";
import type { Database } from "../ports/database.ts";
import * as workers from "../repositories/workers.ts";

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
    await workers.sweep(this.db, (this.everyMs * 30) / 1000);
    await workers.register(this.db, {
      id: this.id,
      hostname: hostname(),
      pid: process.pid,
      roles: this.info.roles,
      concurrency: this.info.concurrency,
    });
    this.timer = setInterval(() => void this.beat().catch(() => {}), this.everyMs);
    this.timer.unref();
  }

  /** Writes the heartbeat and in-flight count now. */
  async beat(): Promise<void> {
    await workers.heartbeat(this.db, this.id, this.inFlight());
  }

  async unregister(): Promise<void> {
    clearInterval(this.timer);
    await workers.unregister(this.db, this.id).catch(() => {});
  }
}
