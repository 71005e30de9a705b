import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Database } from "@docfleet/pipeline";
import { afterAll, beforeAll, expect, it } from "vitest";
import { inProcessSystem, type System } from "./helpers/system.ts";

// Start-up runs raw SQL only (local tenant, admin key, re-queue) and leaves Prisma's client to be
// initialised after listening (composition/application.ts `ready`): /health (liveness) answers at once,
// /ready waits for that client and says 503 while it fails, 200 once it answers.

let dir: string;
let system: System;
let broken = true;

/**
 * `db` whose Prisma client fails every query while `broken` (as when it cannot initialise): start-up
 * must not need it.
 */
function withBrokenClient(db: Database): Database {
  const bind = (t: object, k: string | symbol) => {
    const v = Reflect.get(t, k);
    return typeof v === "function" ? v.bind(t) : v;
  };
  const fail = (what: string) => Promise.reject(new Error(`Prisma client failed to initialise (${what})`));
  const delegates = new Map<string | symbol, object>();
  const real = db.prisma;
  const prisma = new Proxy(real, {
    get: (t, k) => {
      const v = bind(t, k);
      if (typeof v === "function")
        return (...args: unknown[]) =>
          broken ? fail(String(k)) : (v as (...a: unknown[]) => unknown)(...args);
      if (
        typeof k !== "string" ||
        k.startsWith("$") ||
        k.startsWith("_") ||
        v === null ||
        typeof v !== "object"
      )
        return v;
      // a model delegate (prisma.tenant, prisma.document, ...): each of its methods fails while broken
      if (!delegates.has(k))
        delegates.set(
          k,
          new Proxy(v, {
            get: (d, m) => {
              const f = bind(d, m);
              return typeof f === "function"
                ? (...args: unknown[]) =>
                    broken ? fail(`${k}.${String(m)}`) : (f as (...a: unknown[]) => unknown)(...args)
                : f;
            },
          }),
        );
      return delegates.get(k);
    },
  });
  return new Proxy(db, { get: (t, k) => (k === "prisma" ? prisma : bind(t, k)) });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "docfleet-ready-"));
  system = await inProcessSystem(dir, {
    env: { DOCFLEET_LOG_LEVEL: "silent" },
    requeueOnStart: true,
    prepare: (deps) => ({ ...deps, db: withBrokenClient(deps.db) }),
  });
}, 120_000);

afterAll(async () => {
  await system?.stop();
  await rm(dir, { recursive: true, force: true });
});

it("starts with a Prisma client that fails; /health answers, /ready is 503 while it fails and 200 once it answers", async () => {
  expect((await fetch(`${system.url}/health`)).status).toBe(200);
  const notReady = await fetch(`${system.url}/ready`);
  expect(notReady.status).toBe(503);
  expect(await notReady.json()).toMatchObject({ status: "unavailable" });
  broken = false;
  const ready = await fetch(`${system.url}/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: "ready" });
});
