import type { Logger } from "pino";
import { DEPENDENCIES, type Dependency, outageOf } from "../domain/outages.ts";

/** Asks a dependency whether it answers: resolves when it does, rejects (or hangs past the timeout) when not. */
export type Probe = () => Promise<unknown>;

export interface OutageOptions {
  /** First wait between probes of an open breaker; doubles up to `maxProbeMs`. */
  minProbeMs?: number;
  maxProbeMs?: number;
  /** A probe not answered in this time failed. */
  probeTimeoutMs?: number;
  /** Told on every change (metrics). */
  onChange?: (dependency: Dependency, down: boolean) => void;
}

/** What `/health` and `/ready` say about one dependency. */
export interface DependencyState {
  status: "up" | "down";
  /** When it was found down (ISO), while down. */
  since?: string;
  /** The error that opened the breaker, or the last failed probe's. */
  error?: string;
  /** Probes since it went down. */
  probes?: number;
}

interface Breaker {
  probe: Probe;
  down: boolean;
  since?: Date;
  error?: string;
  probes: number;
  timer?: NodeJS.Timeout;
  waiters: Set<() => void>;
}

/**
 * One circuit breaker per dependency (database, broker, store, models). An error the stage runner or
 * the relay meets is `confirm`ed: classified (`outageOf`), then the dependency it points at (every one
 * for an untagged socket error) is probed at once; a failed probe opens that breaker. An open breaker
 * probes again with exponential backoff (`minProbeMs` doubling to `maxProbeMs`) and closes by itself on
 * the first answer. Consumers wait on `whenUp` before taking the next message, so an outage pauses
 * consumption instead of spending documents' attempts. An error no probe confirms is not an outage.
 */
export class Outages {
  private readonly breakers = new Map<Dependency, Breaker>();
  private readonly minProbeMs: number;
  private readonly maxProbeMs: number;
  private readonly probeTimeoutMs: number;
  private closed = false;

  constructor(
    probes: Partial<Record<Dependency, Probe>>,
    private readonly log: Pick<Logger, "warn" | "info">,
    private readonly opts: OutageOptions = {},
  ) {
    for (const d of DEPENDENCIES) {
      const probe = probes[d];
      if (probe) this.breakers.set(d, { probe, down: false, probes: 0, waiters: new Set() });
    }
    this.minProbeMs = opts.minProbeMs ?? 250;
    this.maxProbeMs = opts.maxProbeMs ?? 5000;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 5000;
  }

  /** Dependencies whose breaker is open. */
  down(): Dependency[] {
    return [...this.breakers].filter(([, b]) => b.down).map(([d]) => d);
  }

  /** Every probed dependency's state. */
  report(): Partial<Record<Dependency, DependencyState>> {
    const out: Partial<Record<Dependency, DependencyState>> = {};
    for (const [d, b] of this.breakers)
      out[d] = b.down
        ? { status: "down", since: b.since?.toISOString(), error: b.error, probes: b.probes }
        : { status: "up" };
    return out;
  }

  /**
   * Probes `dependencies` (default: every one) now (readiness); opens the breaker of each that does not
   * answer. Answers every dependency's state.
   */
  async check(dependencies?: readonly Dependency[]): Promise<Partial<Record<Dependency, DependencyState>>> {
    await Promise.all(
      [...this.breakers.keys()]
        .filter((d) => !dependencies || dependencies.includes(d))
        .map(async (d) => {
          const err = await this.probeOnce(d);
          if (err !== null) this.open(d, err);
        }),
    );
    return this.report();
  }

  /**
   * Whether `err` is an outage: the dependency it points at (all of them for an untagged socket error)
   * does not answer a probe right now. Opens that breaker and answers the dependency, else null (a
   * document's own failure, or a blip already over: counted as an ordinary attempt).
   */
  async confirm(err: unknown): Promise<Dependency | null> {
    const kind = outageOf(err);
    if (kind === null) return null;
    const candidates = kind === "unknown" ? [...this.breakers.keys()] : [kind];
    for (const d of candidates) {
      const b = this.breakers.get(d);
      if (!b) continue;
      if (b.down) return d;
      const probeErr = await this.probeOnce(d);
      if (probeErr !== null) {
        this.open(d, err);
        return d;
      }
    }
    return null;
  }

  /**
   * Resolves once `dependencies` (default: all) are up; at once when they are. Resolves early, answering
   * false, when `signal` aborts or the breakers are closed for good (shutdown).
   */
  async whenUp(dependencies?: readonly Dependency[], signal?: AbortSignal): Promise<boolean> {
    for (;;) {
      if (this.closed || signal?.aborted) return false;
      const b = [...this.breakers]
        .filter(([d, x]) => x.down && (!dependencies || dependencies.includes(d)))
        .map(([, x]) => x)[0];
      if (!b) return true;
      await new Promise<void>((resolve) => {
        const done = () => {
          b.waiters.delete(done);
          signal?.removeEventListener("abort", done);
          resolve();
        };
        b.waiters.add(done);
        signal?.addEventListener("abort", done, { once: true });
      });
    }
  }

  /** Stops probing and releases every waiter (process shutdown). */
  close(): void {
    this.closed = true;
    for (const b of this.breakers.values()) {
      clearTimeout(b.timer);
      for (const w of [...b.waiters]) w();
    }
  }

  private open(d: Dependency, err: unknown) {
    const b = this.breakers.get(d)!;
    b.error = (err as Error)?.message ?? String(err);
    if (b.down || this.closed) return;
    b.down = true;
    b.since = new Date();
    b.probes = 0;
    this.log.warn({ dependency: d, reason: b.error }, "dependency unavailable: pausing until it answers");
    this.opts.onChange?.(d, true);
    this.schedule(d, this.minProbeMs);
  }

  private schedule(d: Dependency, delayMs: number) {
    const b = this.breakers.get(d)!;
    b.timer = setTimeout(async () => {
      if (this.closed) return;
      b.probes++;
      const err = await this.probeOnce(d);
      if (this.closed) return;
      if (err === null) {
        const downMs = Date.now() - (b.since?.getTime() ?? Date.now());
        b.down = false;
        b.since = undefined;
        b.error = undefined;
        this.log.info({ dependency: d, downMs, probes: b.probes }, "dependency is back: resuming");
        this.opts.onChange?.(d, false);
        for (const w of [...b.waiters]) w();
        return;
      }
      b.error = (err as Error)?.message ?? String(err);
      this.schedule(d, Math.min(this.maxProbeMs, delayMs * 2));
    }, delayMs);
    b.timer.unref();
  }

  /** null when `d` answered, else the error (a timeout counts). */
  private async probeOnce(d: Dependency): Promise<unknown> {
    const b = this.breakers.get(d)!;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        b.probe(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${d} did not answer a probe in ${this.probeTimeoutMs} ms`)),
            this.probeTimeoutMs,
          );
        }),
      ]);
      return null;
    } catch (err) {
      return err ?? new Error(`${d} probe failed`);
    } finally {
      clearTimeout(timer);
    }
  }
}
