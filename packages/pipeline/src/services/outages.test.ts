import { describe, expect, it } from "vitest";
import { DependencyUnavailableError } from "../domain/outages.ts";
import { Outages } from "./outages.ts";

const quiet = { warn: () => {}, info: () => {} };
const refused = () => Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });

/** A dependency that answers or not, and a wait for its n-th probe. */
function fakeDependency() {
  let up = true;
  let probes = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    set up(v: boolean) {
      up = v;
    },
    get probes() {
      return probes;
    },
    probe: async () => {
      probes++;
      for (const w of waiters.filter((x) => x.n <= probes)) w.resolve();
      if (!up) throw refused();
    },
    probed: (n: number) =>
      new Promise<void>((resolve) => {
        if (probes >= n) resolve();
        else waiters.push({ n, resolve });
      }),
  };
}

describe("Outages: a circuit breaker per dependency", () => {
  it("a confirmed outage opens the breaker; consumers wait; the breaker closes by itself when the probe answers", async () => {
    const store = fakeDependency();
    const db = fakeDependency();
    const outages = new Outages({ store: store.probe, database: db.probe }, quiet, {
      minProbeMs: 5,
      maxProbeMs: 20,
    });
    store.up = false;
    expect(await outages.confirm(new DependencyUnavailableError("store", refused()))).toBe("store");
    expect(outages.down()).toEqual(["store"]);
    expect(outages.report()).toMatchObject({ store: { status: "down" }, database: { status: "up" } });
    expect(await outages.whenUp(["database"])).toBe(true); // another dependency's breaker does not hold it

    let resumed = false;
    const waiting = outages.whenUp().then((v) => {
      resumed = v;
    });
    await store.probed(3); // the first probe (confirm) and two failed retries
    expect(resumed).toBe(false);
    store.up = true;
    await waiting;
    expect(resumed).toBe(true);
    expect(outages.down()).toEqual([]);
    outages.close();
  });

  it("an untagged socket error probes every dependency and opens the one that does not answer", async () => {
    const store = fakeDependency();
    const db = fakeDependency();
    const outages = new Outages({ store: store.probe, database: db.probe }, quiet, { minProbeMs: 5 });
    db.up = false;
    expect(await outages.confirm(refused())).toBe("database");
    expect(outages.down()).toEqual(["database"]);
    outages.close();
  });

  it("an error no probe confirms is not an outage (the document's attempt); a document error never probes", async () => {
    const store = fakeDependency();
    const outages = new Outages({ store: store.probe }, quiet);
    expect(await outages.confirm(new DependencyUnavailableError("store", refused()))).toBeNull();
    expect(store.probes).toBe(1);
    expect(await outages.confirm(new Error("bad input"))).toBeNull();
    expect(store.probes).toBe(1);
    expect(outages.down()).toEqual([]);
    outages.close();
  });

  it("a probe that hangs past its timeout failed", async () => {
    const outages = new Outages({ broker: () => new Promise(() => {}) }, quiet, {
      probeTimeoutMs: 20,
      minProbeMs: 1000,
    });
    expect(await outages.confirm(Object.assign(new Error("closed"), { name: "AMQPConnectionError" }))).toBe(
      "broker",
    );
    expect(outages.report().broker).toMatchObject({ status: "down" });
    outages.close();
  });

  it("check() probes everything now (readiness); whenUp answers false on abort and after close", async () => {
    const store = fakeDependency();
    const outages = new Outages({ store: store.probe }, quiet, { minProbeMs: 1000 });
    expect(await outages.check()).toEqual({ store: { status: "up" } });
    store.up = false;
    expect((await outages.check()).store).toMatchObject({ status: "down", error: "connect ECONNREFUSED" });
    const ac = new AbortController();
    const aborted = outages.whenUp(undefined, ac.signal);
    ac.abort();
    expect(await aborted).toBe(false);
    const closing = outages.whenUp();
    outages.close();
    expect(await closing).toBe(false);
  });
});
