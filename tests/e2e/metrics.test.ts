import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { ApiKeys, createLogger, InMemorySpanExporter, SERIES, STAGES } from "@docfleet/pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../helpers/cli.ts";
import { recordEvents } from "../helpers/events.ts";
import { inProcessSystem, type System } from "../helpers/system.ts";

/** Samples of a Prometheus exposition: name, labels, value. */
function parseExposition(text: string) {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  const pick = (name: string, where: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    pick,
    sum: (name: string, where?: Record<string, string>) => pick(name, where).reduce((a, s) => a + s.value, 0),
  };
}

const GOOD = [
  "Invoice 2024-117 from Acme GmbH. Total due: 1,250.00 EUR by 2024-07-01.",
  "Dear Ms Smith, thank you for your letter of 3 May. Kind regards, Bob.",
  "Quarterly report: revenue grew 12 percent; the board met on 2024-04-10.",
];

describe("observability: /metrics, traces and correlated logs during an end-to-end run", () => {
  let dir: string;
  let system: System;
  let url: string;
  let tenantId: string;
  const admin = { bearer: "" };
  const reader = { bearer: "" };
  const spans = new InMemorySpanExporter();
  const logs: Record<string, unknown>[] = [];
  let events: ReturnType<typeof recordEvents>;
  const traceId = randomBytes(16).toString("hex");
  const requestId = `test-${randomUUID()}`;
  let batchId: string;
  let completeResponse: Response;
  const docIds: string[] = [];

  async function call<T>(
    bearer: string,
    query: string,
    variables: Record<string, unknown> = {},
    headers = {},
  ) {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: bearer, ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as {
      data?: T;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    return { res, body };
  }
  async function ok<T>(query: string, variables: Record<string, unknown> = {}, headers = {}) {
    const { res, body } = await call<T>(admin.bearer, query, variables, headers);
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return { res, data: body.data! };
  }
  async function scrape(base = url) {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/plain/);
    return parseExposition(await res.text());
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-metrics-"));
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line));
        done();
      },
    });
    const started = await inProcessSystem(dir, {
      env: { DOCFLEET_LOG_LEVEL: "debug" },
      overrides: { log: createLogger("debug", "docfleet", sink), spanExporter: spans },
      worker: { roles: STAGES, concurrency: { PARSE: 2, UNDERSTAND: 2, EMBED: 2, INDEX: 2 } },
      allowAnonymous: false,
    });
    system = started;
    url = started.url;
    const { deps } = started;
    events = recordEvents(deps.events);
    const keys = new ApiKeys(deps.db);
    tenantId = (await keys.tenantByName(`obs-${randomUUID()}`, { create: true }))!.id;
    admin.bearer = `Bearer ${(await keys.create({ tenantId, name: "admin", scopes: ["admin"] })).secret}`;
    reader.bearer = `Bearer ${(await keys.create({ tenantId, name: "read", scopes: ["read"] })).secret}`;

    // Three ordinary documents and one binary that fails (UNSUPPORTED_TYPE).
    const files = [
      ...GOOD.map((t, i) => ({ name: `doc-${i}.txt`, bytes: Buffer.from(`${t}\n`.repeat(20)) })),
      {
        name: "bad.pdf",
        bytes: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), randomBytes(4096)]),
      },
    ];
    const { data: b } = await ok<{ createBatch: { id: string } }>(
      'mutation { createBatch(input: { name: "observed" }) { id } }',
    );
    batchId = b.createBatch.id;
    const { data: r } = await ok<{
      requestUploads: {
        status: string;
        documentId: string;
        target: { url: string; fields: { name: string; value: string }[] };
      }[];
    }>(
      `mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) {
        status documentId target { url fields { name value } } } }`,
      {
        b: batchId,
        f: files.map((f) => ({
          name: f.name,
          size: f.bytes.length,
          sha256: createHash("sha256").update(f.bytes).digest("hex"),
        })),
      },
    );
    for (const [i, u] of r.requestUploads.entries()) {
      expect(u.status).toBe("UPLOAD");
      const form = new FormData();
      for (const f of u.target.fields) form.append(f.name, f.value);
      form.append("file", new Blob([files[i]!.bytes]), files[i]!.name);
      expect((await fetch(u.target.url, { method: "POST", body: form })).status).toBe(204);
      docIds.push(u.documentId);
    }
    const settled = events.settled(batchId);
    // The client's trace context and request id: the gateway continues the one and echoes the other.
    const done = await ok<{ completeUploads: { status: string }[] }>(
      "mutation Complete($ids: [ID!]!) { completeUploads(documentIds: $ids) { status } }",
      { ids: docIds },
      { traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`, "x-request-id": requestId },
    );
    completeResponse = done.res;
    expect(done.data.completeUploads.map((c) => c.status)).toEqual(files.map(() => "QUEUED"));
    await settled;
  }, 180_000);

  afterAll(async () => {
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("exposes every named series with values that match the run", async () => {
    const m = await scrape();
    const names = new Set(m.samples.map((s) => s.name.replace(/_(bucket|count|sum)$/, "")));
    for (const series of SERIES) expect(names, series).toContain(series);
    // default process metrics
    expect(names).toContain("process_cpu_user_seconds_total");
    expect(names).toContain("nodejs_eventloop_lag_seconds");

    // 3 good documents × 4 stages ran ok; the bad one failed at parse with its code.
    expect(m.sum("docfleet_stage_duration_seconds_count", { outcome: "ok" })).toBe(
      GOOD.length * STAGES.length,
    );
    for (const stage of STAGES)
      expect(m.sum("docfleet_stage_duration_seconds_count", { outcome: "ok", stage })).toBe(GOOD.length);
    expect(m.sum("docfleet_stage_duration_seconds_count", { outcome: "failed", stage: "PARSE" })).toBe(1);
    expect(m.sum("docfleet_documents_completed_total")).toBe(GOOD.length);
    expect(m.pick("docfleet_documents_failed_total")).toEqual([
      {
        name: "docfleet_documents_failed_total",
        labels: { stage: "PARSE", code: "UNSUPPORTED_TYPE" },
        value: 1,
      },
    ]);
    // Queues drained, the failure counted as quarantined, the outbox published.
    for (const stage of STAGES) {
      expect(m.sum("docfleet_queue_depth", { stage })).toBe(0);
      expect(m.sum("docfleet_queue_oldest_age_seconds", { stage })).toBe(0);
      expect(m.sum("docfleet_documents_processing", { stage })).toBe(0);
    }
    expect(m.sum("docfleet_documents_quarantined", { stage: "PARSE" })).toBe(1);
    expect(m.pick("docfleet_outbox_unpublished")[0]?.value).toBe(0);
    expect(m.pick("docfleet_outbox_oldest_age_seconds")[0]?.value).toBe(0);
    // Models: one understand call per good document; built-in tokens are words read.
    expect(m.sum("docfleet_model_request_duration_seconds_count", { role: "understand" })).toBe(GOOD.length);
    expect(m.sum("docfleet_model_request_duration_seconds_count", { role: "embed" })).toBeGreaterThanOrEqual(
      GOOD.length,
    );
    expect(m.sum("docfleet_model_tokens_total", { role: "understand", kind: "prompt" })).toBeGreaterThan(100);
    expect(m.sum("docfleet_model_tokens_total", { role: "understand", kind: "completion" })).toBe(0);
    expect(m.sum("docfleet_uploads_requested_total")).toBe(4);
    expect(m.sum("docfleet_uploads_completed_total")).toBe(4);
    expect(
      m.sum("docfleet_graphql_request_duration_seconds_count", { operation: "mutation" }),
    ).toBeGreaterThanOrEqual(3);
  });

  it("carries the trace from the GraphQL operation through every stage to the model calls", () => {
    const all = spans.getFinishedSpans();
    const op = all.find((s) => s.name === "graphql.mutation Complete");
    expect(op?.spanContext().traceId).toBe(traceId);
    for (const stage of STAGES) {
      const runs = all.filter((s) => s.name === `docfleet.stage.${stage.toLowerCase()}`);
      const ours = runs.filter((s) => s.spanContext().traceId === traceId);
      // every good document's run of every stage (the bad one stops at parse)
      expect(ours.length, stage).toBe(stage === "PARSE" ? GOOD.length + 1 : GOOD.length);
    }
    const understand = all.filter((s) => s.name === "docfleet.stage.understand");
    const models = all.filter((s) => s.name === "docfleet.model.understand");
    expect(models).toHaveLength(GOOD.length);
    for (const m of models) {
      expect(m.spanContext().traceId).toBe(traceId);
      expect(understand.map((u) => u.spanContext().spanId)).toContain(m.parentSpanContext?.spanId);
    }
  });

  it("writes the correlation ids on every log line of a stage run, and request ids on the gateway's", () => {
    expect(completeResponse.headers.get("x-request-id")).toBe(requestId);
    const request = logs.find((l) => l.msg === "request" && l.requestId === requestId);
    expect(request).toMatchObject({ traceId, method: "POST", path: "/graphql", status: 200 });
    const generated = logs.filter((l) => l.msg === "request" && typeof l.requestId === "string");
    expect(generated.length).toBeGreaterThan(3);

    const stageLines = logs.filter(
      (l) => l.msg === "stage completed" || l.msg === "document completed" || l.msg === "document failed",
    );
    expect(stageLines.length).toBe(GOOD.length * STAGES.length + 1);
    for (const l of stageLines) {
      expect(docIds).toContain(l.documentId);
      expect(l).toMatchObject({ batchId, tenantId, traceId });
      expect(STAGES).toContain(l.stage);
    }
    expect(stageLines.find((l) => l.msg === "document failed")).toMatchObject({
      stage: "PARSE",
      code: "UNSUPPORTED_TYPE",
    });
    // Keys never reach the logs.
    expect(JSON.stringify(logs)).not.toContain(admin.bearer.slice(7));
  });

  it("answers the operators' queues and workers queries for an admin key, FORBIDDEN for a read key", async () => {
    const query = `{ queues { stage depth oldestAgeSeconds processing quarantined }
      workers { id hostname pid roles concurrency startedAt lastHeartbeat inFlight } }`;
    const { data } = await ok<{
      queues: {
        stage: string;
        depth: number;
        oldestAgeSeconds: number;
        processing: number;
        quarantined: number;
      }[];
      workers: {
        id: string;
        roles: string[];
        concurrency: Record<string, number>;
        pid: number;
        lastHeartbeat: string;
      }[];
    }>(query);
    expect(data.queues.map((q) => q.stage)).toEqual([...STAGES]);
    for (const q of data.queues) {
      expect(q).toMatchObject({ depth: 0, oldestAgeSeconds: 0, processing: 0 });
      expect(q.quarantined).toBe(q.stage === "PARSE" ? 1 : 0);
    }
    const self = data.workers.find((w) => w.pid === process.pid);
    expect(self).toMatchObject({
      roles: [...STAGES],
      concurrency: { PARSE: 2, UNDERSTAND: 2, EMBED: 2, INDEX: 2 },
    });
    expect(Date.now() - Date.parse(self!.lastHeartbeat)).toBeLessThan(60_000);

    for (const field of ["queues { depth }", "workers { id }"]) {
      const { res, body } = await call(reader.bearer, `{ ${field} }`);
      expect(res.status).toBe(403);
      expect(body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    }
  });

  it("serves /metrics and /health on the metrics port of a process without a gateway (worker)", async () => {
    const wdir = await mkdtemp(join(tmpdir(), "docfleet-metrics-worker-"));
    const worker = await inProcessSystem(wdir, {
      env: { DOCFLEET_LOG_LEVEL: "silent" },
      gateway: false,
      worker: { roles: ["PARSE"], concurrency: { PARSE: 1, UNDERSTAND: 1, EMBED: 1, INDEX: 1 } },
      requeueOnStart: false,
      relay: false,
      metrics: { port: 0, host: "127.0.0.1" },
    });
    try {
      expect(worker.url).toBe("");
      expect((await fetch(`${worker.metricsUrl}/health`)).status).toBe(200);
      const m = await scrape(worker.metricsUrl);
      expect(m.pick("docfleet_queue_depth").map((s) => s.labels.stage)).toEqual([...STAGES]);
      expect(m.pick("docfleet_outbox_unpublished")).toHaveLength(1);
      expect((await fetch(`${worker.metricsUrl}/graphql`)).status).toBe(404);
    } finally {
      await worker.stop();
      await rm(wdir, { recursive: true, force: true });
    }
  });
});

describe("observability of a distributed worker process", () => {
  /** The local address a TCP port listens on, read from the kernel's table (IPv4). */
  async function listeningOn(port: number): Promise<string[]> {
    const { readFile } = await import("node:fs/promises");
    const hex = port.toString(16).toUpperCase().padStart(4, "0");
    return (await readFile("/proc/net/tcp", "utf8"))
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1]?.endsWith(`:${hex}`) && f[3] === "0A") // 0A: LISTEN
      .map((f) => {
        const a = f[1]!.split(":")[0]!;
        return [6, 4, 2, 0].map((i) => Number.parseInt(a.slice(i, i + 2), 16)).join(".");
      });
  }

  it("serves a relay's /metrics on loopback unless --metrics-host says otherwise", async () => {
    const { distributedEnv } = await import("../helpers/distributed.ts");
    const { startDocfleet } = await import("../helpers/cli.ts");
    const deployment = await distributedEnv("metricshost");
    try {
      for (const [args, expected] of [
        [[], "127.0.0.1"],
        [["--metrics-host", "0.0.0.0"], "0.0.0.0"],
      ] as const) {
        const port = await freePort();
        const relay = await startDocfleet(
          ["relay", ...args],
          { ...deployment.env, METRICS_PORT: String(port) },
          { readyLine: /docfleet relay publishing the outbox/ },
        );
        try {
          expect(await listeningOn(port)).toEqual([expected]);
          expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
        } finally {
          expect(await relay.stop()).toBe(0);
        }
      }
    } finally {
      await deployment.close();
    }
  }, 180_000);

  it("answers /metrics with the stage series on METRICS_PORT, and lists itself in the worker table", async () => {
    const { distributedEnv } = await import("../helpers/distributed.ts");
    const { startDocfleet } = await import("../helpers/cli.ts");
    const pg = (await import("pg")).default;
    const deployment = await distributedEnv("metrics");
    const port = await freePort();
    const worker = await startDocfleet(
      ["worker", "--roles", "parse,index", "--no-relay"],
      { ...deployment.env, METRICS_PORT: String(port) },
      { readyLine: /docfleet worker consuming/ },
    );
    try {
      const base = `http://127.0.0.1:${port}`;
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const res = await fetch(`${base}/metrics`);
      const text = await res.text();
      expect(text).toContain("# TYPE docfleet_stage_duration_seconds histogram");
      const m = parseExposition(text);
      expect(m.pick("docfleet_queue_depth").map((s) => s.labels.stage)).toEqual([...STAGES]);
      expect(m.pick("docfleet_stage_retries_total").map((s) => s.labels.stage)).toEqual([...STAGES]);
      const db = new pg.Client({ connectionString: deployment.env.DATABASE_URL });
      await db.connect();
      try {
        const { rows } = await db.query("SELECT roles, pid FROM worker");
        expect(rows).toEqual([{ roles: ["PARSE", "INDEX"], pid: worker.child.pid }]);
      } finally {
        await db.end();
      }
    } finally {
      expect(await worker.stop()).toBe(0);
      await deployment.close();
    }
  }, 120_000);
});
