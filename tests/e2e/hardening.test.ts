import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import {
  createGateway,
  DEFAULT_LIMITS,
  type Gateway,
  type HardeningOptions,
  LOCAL_TENANT_ID,
  queryCost,
  type RateLimiters,
  type RateLimits,
  rateBudgets,
} from "@docfleet/gateway";
import {
  ApiKeys,
  adapterConfig,
  baseEnvSchema,
  ConfigError,
  createRateLimiter,
  parseEnv,
  type RateLimiter,
} from "@docfleet/pipeline";
import { RedisRateLimiter } from "@docfleet/pipeline/adapters/rate-limiter/redis";
import { type GraphQLError, getIntrospectionQuery, parse } from "graphql";
import { createClient } from "graphql-ws";
import pino from "pino";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { ROOT, type Served, startServe } from "../helpers/cli.ts";
import { inProcessSystem, type System } from "../helpers/system.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

/** The GraphQL surface of one gateway (no socket: yoga.fetch), over one embedded pipeline. */
describe("hardened GraphQL surface", () => {
  let dir: string;
  let system: System;
  const gateways: Gateway[] = [];
  const limiters: RateLimiter[] = [];
  const quiet = pino({ level: "silent" });
  let keyA: string;
  let keyB: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-hardening-"));
    // No gateway, worker or relay: each test builds the gateways it needs over this pipeline.
    system = await inProcessSystem(dir, {
      env: { DOCFLEET_LOG_LEVEL: "warn" },
      publicUrl: "http://127.0.0.1:9",
      gateway: false,
      requeueOnStart: false,
      relay: false,
    });
    const keys = new ApiKeys(system.app.deps.db);
    keyA = (await keys.create({ tenantId: LOCAL_TENANT_ID, name: "a", scopes: ["read", "upload"] })).secret;
    keyB = (await keys.create({ tenantId: LOCAL_TENANT_ID, name: "b", scopes: ["read", "upload"] })).secret;
  }, 120_000);

  afterAll(async () => {
    for (const g of gateways) await g.close();
    for (const l of limiters) await l.close();
    await system?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function gateway(hardening: HardeningOptions = {}, log = quiet, rateLimiters: RateLimiters = {}): Gateway {
    const g = createGateway({
      app: system.app,
      log,
      allowAnonymous: true,
      hardening,
      rateLimiters,
    });
    gateways.push(g);
    return g;
  }

  async function post(g: Gateway, body: unknown, key?: string, accept = "application/graphql-response+json") {
    const res = await g.yoga.fetch("http://localhost/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept,
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: JSON.parse(text) } as Answer;
  }
  const codes = (a: Answer) => (a.body.errors ?? []).map((e) => e.extensions?.code);

  describe("limits", () => {
    let g: Gateway;
    beforeAll(() => {
      g = gateway({ profile: "production" });
    });

    /**
     * A valid query exactly `depth` levels deep: batches → edges → node, then batch → documents → ...
     * Pages of 1, so that only its depth is at a limit (default pages nested this deep cost far more).
     */
    function deepQuery(depth: number): string {
      // Below a Batch: a leaf of 1 to 4 levels, then 4 more per round trip through a document.
      const leaves = [
        "id",
        "documents(first: 1) { totalCount }",
        "documents(first: 1) { edges { cursor } }",
        "documents(first: 1) { edges { node { id } } }",
      ];
      let rest = depth - 3;
      const leaf = (rest - 1) % 4;
      let inner = leaves[leaf]!;
      for (rest -= leaf + 1; rest > 0; rest -= 4)
        inner = `documents(first: 1) { edges { node { batch { ${inner} } } } }`;
      return `{ batches(first: 1) { edges { node { ${inner} } } } }`;
    }

    it("refuses a query deeper than the limit, and accepts one at it", async () => {
      const tooDeep = await post(g, { query: deepQuery(DEFAULT_LIMITS.maxDepth + 1) });
      expect(codes(tooDeep)).toEqual(["BAD_REQUEST"]);
      expect(tooDeep.body.errors?.[0]?.extensions?.limit).toBe("maxDepth");
      expect(tooDeep.body.data).toBeUndefined();
      expect(tooDeep.status).toBe(400);
      const atLimit = await post(g, { query: deepQuery(DEFAULT_LIMITS.maxDepth) });
      expect(atLimit.body.errors).toBeUndefined();
    });

    it("refuses a costly query: pages of 100 inside pages of 100", async () => {
      const search = vi.spyOn(system.app.deps.search, "search");
      try {
        const a = await post(g, {
          query: `{ search(query: "x", first: 100) { hits { document { batch {
            documents(first: 100) { edges { node { id name } } } } } } } }`,
        });
        expect(codes(a)).toEqual(["BAD_REQUEST"]);
        expect(a.body.errors?.[0]?.extensions?.limit).toBe("maxCost");
        expect(search).not.toHaveBeenCalled();
      } finally {
        search.mockRestore();
      }
    });

    // Issue 15: the cost counts variables and defaults and multiplies nested connections; no text with
    // a NUL character reaches a resolver. Each row is refused before execution (no `data` at all) or
    // answered.
    const NESTED = (first: string) =>
      `batch(id: $b) { documents${first} { edges { node { name text
        batch { documents${first} { edges { node { name text } } } } } } } }`;
    const aliases = (first: string) => [1, 2, 3, 4, 5].map((i) => `a${i}: ${NESTED(first)}`).join(" ");
    const b = randomUUID();
    const SEARCH_VARS =
      "query($q: String!, $f: SearchFilter, $n: Int) { search(query: $q, filter: $f, first: $n) { totalCount hits { document { name } } } }";
    const COST_AND_TEXT: {
      name: string;
      body: { query: string; variables?: Record<string, unknown> };
      refused: "maxCost" | "NUL" | null;
    }[] = [
      {
        name: "five aliases of batch → documents → batch → documents, first a variable (issue 15's attack)",
        body: { query: `query($b: ID!, $n: Int) { ${aliases("(first: $n)")} }`, variables: { b, n: 30 } },
        refused: "maxCost",
      },
      {
        name: "the same with first a variable defaulting to 30, not sent",
        body: { query: `query($b: ID!, $n: Int = 30) { ${aliases("(first: $n)")} }`, variables: { b } },
        refused: "maxCost",
      },
      {
        name: "the same with first left out (each connection counts its default page of 20)",
        body: { query: `query($b: ID!) { ${aliases("")} }`, variables: { b } },
        refused: "maxCost",
      },
      {
        name: "one chain of the attack with first: $n = 5",
        body: { query: `query($b: ID!, $n: Int) { a1: ${NESTED("(first: $n)")} }`, variables: { b, n: 5 } },
        refused: null,
      },
      {
        name: "a page of 100 documents, first a variable",
        body: {
          query: `query($n: Int) { documents(first: $n) { edges { node { id name status errorCode text } } pageInfo { endCursor } } }`,
          variables: { n: 100 },
        },
        refused: null,
      },
      {
        name: "a search of 100 hits with their documents, everything a variable",
        body: { query: SEARCH_VARS, variables: { q: "invoice", n: 100, f: { category: ["invoice"] } } },
        refused: null,
      },
      {
        name: "a NUL in a variable (the search text)",
        body: { query: SEARCH_VARS, variables: { q: "in\u0000voice" } },
        refused: "NUL",
      },
      {
        name: "a NUL deep in an input variable (a field condition's value)",
        body: {
          query: SEARCH_VARS,
          variables: { q: "x", f: { fields: [{ name: "total", op: "EQ", value: "1\u0000" }] } },
        },
        refused: "NUL",
      },
      {
        name: "a NUL in a string literal (a mutation's input)",
        body: { query: 'mutation { createBatch(input: { name: "a\\u0000b" }) { id } }' },
        refused: "NUL",
      },
    ];

    it.each(COST_AND_TEXT)("$name: refused $refused", async ({ body, refused }) => {
      const search = vi.spyOn(system.app.services.search, "search");
      const createBatch = vi.spyOn(system.app.services.intake, "createBatch");
      try {
        const a = await post(g, body);
        if (refused === null) {
          expect(a.body.errors).toBeUndefined();
          expect(a.body.data).toBeTruthy();
          return;
        }
        expect(codes(a)).toEqual(["BAD_REQUEST"]);
        expect(a.status).toBe(400);
        expect(a.body.data).toBeUndefined();
        expect(search).not.toHaveBeenCalled();
        expect(createBatch).not.toHaveBeenCalled();
        const error = a.body.errors?.[0];
        if (refused === "maxCost") {
          expect(error?.extensions?.limit).toBe("maxCost");
          expect(error?.extensions?.cost).toBeGreaterThan(DEFAULT_LIMITS.maxCost);
        } else expect(error?.message).toMatch(/NUL character \(U\+0000\)/);
      } finally {
        search.mockRestore();
        createBatch.mockRestore();
      }
    });

    it("refuses an alias flood", async () => {
      const fields = (n: number) =>
        Array.from({ length: n }, (_, i) => `a${i}: categories { name }`).join(" ");
      const a = await post(g, { query: `{ ${fields(DEFAULT_LIMITS.maxAliases + 1)} }` });
      expect(codes(a)).toEqual(["BAD_REQUEST"]);
      expect(a.body.errors?.[0]?.extensions?.limit).toBe("maxAliases");
      expect(
        (await post(g, { query: `{ ${fields(DEFAULT_LIMITS.maxAliases)} }` })).body.errors,
      ).toBeUndefined();
    });

    it("refuses a token flood before validating it", async () => {
      const a = await post(g, { query: `{ categories { ${"name ".repeat(DEFAULT_LIMITS.maxTokens)} } }` });
      expect(codes(a)).toEqual(["BAD_REQUEST"]);
      expect(a.body.errors?.[0]?.extensions?.limit).toBe("maxTokens");
      expect(a.status).toBe(400);
    });

    it("refuses a directive flood", async () => {
      const a = await post(g, {
        query: `{ categories { ${"name @include(if: true) ".repeat(DEFAULT_LIMITS.maxDirectives + 1)} } }`,
      });
      expect(codes(a)).toEqual(["BAD_REQUEST"]);
      expect(a.body.errors?.[0]?.extensions?.limit).toBe("maxDirectives");
    });

    it("refuses a batched (array) body", async () => {
      const a = await post(g, [{ query: "{ categories { name } }" }, { query: "{ categories { name } }" }]);
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(a.body.data).toBeUndefined();
      expect(a.body.errors?.length).toBeGreaterThan(0);
    });

    it("takes overrides", async () => {
      const strict = gateway({ profile: "production", limits: { maxDepth: 2 } });
      const a = await post(strict, { query: "{ batches { edges { node { id } } } }" });
      expect(a.body.errors?.[0]?.extensions?.limit).toBe("maxDepth");
    });

    it("accepts every query the CLI, the watch subscription, the tests and GraphiQL send", async () => {
      const queries = await realQueries();
      // The CLI's and the tests' queries are found (the test cannot pass by finding none).
      expect(queries.filter((q) => q.file.startsWith("apps/cli")).length).toBeGreaterThanOrEqual(10);
      expect(queries.some((q) => q.query.includes("batchProgress"))).toBe(true);
      expect(queries.length).toBeGreaterThanOrEqual(40);
      const dev = gateway({ profile: "development" });
      queries.push({ file: "GraphiQL", query: getIntrospectionQuery(FULL_INTROSPECTION) });
      const refused: string[] = [];
      for (const { file, query } of queries) {
        // Parse and validate as the gateway does, with its plugins (the limits) and its schema.
        const enveloped = dev.yoga.getEnveloped({});
        let errors: readonly GraphQLError[];
        try {
          const document = enveloped.parse(query);
          errors = enveloped.validate(enveloped.schema, document);
          // the cost, checked at execution with the variables: here with none (defaults apply), and
          // with every page variable at the largest page a connection answers
          for (const variables of [{}, PAGE_VARIABLES]) {
            const cost = queryCost(enveloped.schema, document, variables) ?? 0;
            if (cost > DEFAULT_LIMITS.maxCost)
              refused.push(`${file}: cost ${cost} with ${JSON.stringify(variables)}\n${query}`);
          }
        } catch (err) {
          errors = [err as GraphQLError];
        }
        for (const e of errors) if (e.extensions?.limit) refused.push(`${file}: ${e.message}\n${query}`);
      }
      expect(refused).toEqual([]);
    });
  });

  describe("profiles", () => {
    it("production refuses introspection, serves no GraphiQL and suggests nothing", async () => {
      const g = gateway({ profile: "production" });
      for (const query of [getIntrospectionQuery(), '{ __type(name: "Query") { name } }']) {
        const a = await post(g, { query });
        expect(codes(a)).toContain("GRAPHQL_VALIDATION_FAILED");
        expect(a.text).toMatch(/introspection has been disabled/);
        expect(a.body.data).toBeUndefined();
      }
      const page = await g.yoga.fetch("http://localhost/graphql", { headers: { accept: "text/html" } });
      expect(page.headers.get("content-type") ?? "").not.toMatch(/text\/html/);
      expect((await page.text()).toLowerCase()).not.toContain("graphiql");
      for (const body of MISSPELLED) {
        const a = await post(g, body);
        expect(a.body.errors?.length).toBeGreaterThan(0);
        expect(a.text).not.toMatch(/Did you mean/);
      }
    });

    it("production refuses introspection and oversized documents over graphql-ws too, as errors", async () => {
      const g = gateway({ profile: "production" });
      const { server, url } = await g.listen(0);
      let closed = 0;
      const client = createClient({
        url: `${url.replace(/^http/, "ws")}/graphql`,
        webSocketImpl: WebSocket,
        lazy: false,
        retryAttempts: 0,
        on: { closed: () => void closed++ },
      });
      const run = (query: string) =>
        new Promise<{ result?: unknown[]; error?: unknown }>((resolve) => {
          const result: unknown[] = [];
          client.subscribe(
            { query },
            {
              next: (v) => void result.push(v),
              error: (error) => resolve({ error }),
              complete: () => resolve({ result }),
            },
          );
        });
      try {
        expect(JSON.stringify(await run("{ __schema { queryType { name } } }"))).toMatch(
          /introspection has been disabled/,
        );
        expect(
          JSON.stringify(await run(`{ categories { ${"name ".repeat(DEFAULT_LIMITS.maxTokens)} } }`)),
        ).toMatch(/Token limit of \d+ exceeded/);
        // Answered, not a closed socket: the same connection goes on.
        expect(await run("{ categories { name } }")).toMatchObject({
          result: [{ data: { categories: expect.any(Array) } }],
        });
        expect(closed).toBe(0);
      } finally {
        await client.dispose();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });

    it("development allows introspection, serves GraphiQL and suggests", async () => {
      const g = gateway({ profile: "development" });
      const a = await post(g, { query: getIntrospectionQuery(FULL_INTROSPECTION) });
      expect(a.body.errors).toBeUndefined();
      expect((a.body.data!.__schema as { types: unknown[] }).types.length).toBeGreaterThan(10);
      const page = await g.yoga.fetch("http://localhost/graphql", { headers: { accept: "text/html" } });
      expect(page.headers.get("content-type")).toMatch(/text\/html/);
      expect((await page.text()).toLowerCase()).toContain("graphiql");
      // The misspellings production hides do suggest here: the check above can fail.
      for (const body of MISSPELLED) expect((await post(g, body)).text).toMatch(/Did you mean/);
    });

    it("`docfleet serve` is development, with DOCFLEET_* read from the environment, and browser-safe", async () => {
      // The `docfleet serve` program (a child process), with DOCFLEET_PROFILE unset ("" is unset).
      const served = await startServe(join(dir, "serve"), {
        DOCFLEET_LOG_LEVEL: "warn",
        DOCFLEET_GRAPHQL_MAX_ALIASES: "1",
        DOCFLEET_PROFILE: "",
      });
      try {
        const call = async (query: string) => {
          const res = await fetch(`${served.url}/graphql`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${served.apiKey}` },
            body: JSON.stringify({ query }),
          });
          return (await res.json()) as Answer["body"];
        };
        expect((await call("{ __schema { queryType { name } } }")).errors).toBeUndefined();
        expect(
          (await call("{ a: categories { name } b: categories { name } }")).errors?.[0]?.extensions,
        ).toMatchObject({ code: "BAD_REQUEST", limit: "maxAliases" });
        // What any web page could do to serve's defaults (issue 15), each refused now.
        const answers = [];
        for (const attack of SERVE_ATTACKS) {
          const a = await raw(Number(new URL(served.url).port), attack.request(served));
          answers.push({
            attack: attack.name,
            status: a.status,
            data: /"data"/.test(a.text),
            cors: a.headers["access-control-allow-origin"] ?? null,
          });
        }
        expect(answers).toEqual(SERVE_ATTACKS.map((x) => ({ attack: x.name, ...x.expect })));
      } finally {
        await served.stop();
      }
    }, 120_000);

    it("the booleans override the profile", async () => {
      const g = gateway({ profile: "production", introspection: true, graphiql: true });
      expect((await post(g, { query: "{ __schema { queryType { name } } }" })).body.errors).toBeUndefined();
      const dev = gateway({ profile: "development", introspection: false });
      expect(codes(await post(dev, { query: "{ __schema { queryType { name } } }" }))).toContain(
        "GRAPHQL_VALIDATION_FAILED",
      );
    });

    it("reads them from the environment, booleans only from true/1/false/0", () => {
      const cfg = (env: Record<string, string>) => adapterConfig(parseEnv(baseEnvSchema, env)).gateway;
      expect(cfg({})).toMatchObject({ profile: undefined, introspection: undefined, graphiql: undefined });
      expect(
        cfg({
          DOCFLEET_PROFILE: "production",
          DOCFLEET_INTROSPECTION: "1",
          DOCFLEET_GRAPHIQL: "false",
          DOCFLEET_GRAPHQL_MAX_DEPTH: "7",
          DOCFLEET_RATE_SEARCHES_PER_MIN: "0",
          REDIS_URL: "redis://r:6379",
        }),
      ).toMatchObject({
        profile: "production",
        introspection: true,
        graphiql: false,
        limits: { maxDepth: 7, maxCost: undefined },
        rateLimits: { searchesPerMin: 0 },
      });
      expect(() => cfg({ DOCFLEET_INTROSPECTION: "yes", DOCFLEET_PROFILE: "prod" })).toThrow(
        /DOCFLEET_INTROSPECTION[\s\S]*DOCFLEET_PROFILE|DOCFLEET_PROFILE[\s\S]*DOCFLEET_INTROSPECTION/,
      );
      expect(() => cfg({ DOCFLEET_INTROSPECTION: "yes" })).toThrow(ConfigError);
    });
  });

  /**
   * What a web page can make a browser send (issue 15), against a gateway on a socket that even lets
   * requests without a key act as the local tenant's admin: the browser defences alone must stop it.
   */
  describe("browser safety", () => {
    let g: Gateway;
    let server: Server;
    let port: number;
    const PUBLIC = "https://docfleet.example.com";
    const APP = "https://app.example.com";
    const EVIL = "https://evil.example";
    beforeAll(async () => {
      g = createGateway({
        app: system.app,
        log: quiet,
        allowAnonymous: true,
        hardening: { profile: "development" },
        rateLimiters: {},
        browser: { publicUrl: PUBLIC, corsOrigins: [APP], allowedHosts: ["api.internal", ".corp.example"] },
      });
      gateways.push(g);
      const listening = await g.listen(0);
      server = listening.server;
      port = Number(new URL(listening.url).port);
    });
    afterAll(async () => {
      server?.closeAllConnections();
      await new Promise((r) => server?.close(r));
    });

    const own = () => `127.0.0.1:${port}`;
    const query = (q: string) => `/graphql?query=${encodeURIComponent(q)}`;
    const define = (name: string) =>
      `mutation { defineCategory(input: { name: "${name}", description: "planted by a page" }) { name } }`;
    const json = { "content-type": "application/json" };

    /** Requests a page can make, and what the gateway must answer; `ran`: data came back. */
    const SIMPLE: {
      name: string;
      method: "GET" | "POST";
      path: string;
      headers?: Record<string, string>;
      body?: () => { type?: string; data: string | Buffer };
      status: number;
      ran: boolean;
    }[] = [
      {
        name: "a cross-site GET query",
        method: "GET",
        path: query('{ search(query: "private") { totalCount } }'),
        headers: { origin: EVIL },
        status: 403,
        ran: false,
      },
      {
        name: "a GET SSE subscription without a preflight header",
        method: "GET",
        path: query(`subscription { batchProgress(id: "${randomUUID()}") { cursor } }`),
        headers: { accept: "text/event-stream", origin: EVIL },
        status: 403,
        ran: false,
      },
      {
        name: "a form-encoded POST of defineCategory",
        method: "POST",
        path: "/graphql",
        headers: { origin: EVIL },
        body: () => ({
          type: "application/x-www-form-urlencoded",
          data: new URLSearchParams({ query: define("planted_form") }).toString(),
        }),
        status: 415,
        ran: false,
      },
      {
        name: "a form-encoded POST even with a preflight header",
        method: "POST",
        path: "/graphql",
        headers: { "x-graphql-yoga-csrf": "1" },
        body: () => ({
          type: "application/x-www-form-urlencoded",
          data: new URLSearchParams({ query: define("planted_form2") }).toString(),
        }),
        status: 415,
        ran: false,
      },
      {
        name: "a multipart POST of defineCategory",
        method: "POST",
        path: "/graphql",
        headers: { origin: EVIL },
        body: () => ({
          type: "multipart/form-data; boundary=x",
          data: `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: define("planted_multipart") })}\r\n--x\r\nContent-Disposition: form-data; name="map"\r\n\r\n{}\r\n--x--\r\n`,
        }),
        status: 415,
        ran: false,
      },
      {
        name: "a text/plain POST of JSON",
        method: "POST",
        path: "/graphql",
        headers: { origin: EVIL },
        body: () => ({
          type: "text/plain;charset=UTF-8",
          data: JSON.stringify({ query: define("planted_text") }),
        }),
        status: 415,
        ran: false,
      },
      {
        name: "a POST without a content type",
        method: "POST",
        path: "/graphql",
        body: () => ({ data: JSON.stringify({ query: define("planted_untyped") }) }),
        status: 403,
        ran: false,
      },
      // What clients send: a preflighted browser request, or any non-browser client.
      {
        name: "a JSON POST",
        method: "POST",
        path: "/graphql",
        body: () => ({
          type: "application/json",
          data: JSON.stringify({ query: "{ categories { name } }" }),
        }),
        status: 200,
        ran: true,
      },
      {
        name: "a GET query with x-graphql-yoga-csrf",
        method: "GET",
        path: query("{ categories { name } }"),
        headers: { "x-graphql-yoga-csrf": "1" },
        status: 200,
        ran: true,
      },
      {
        name: "a GET SSE subscription with graphql-require-preflight",
        method: "GET",
        path: query(`subscription { batchProgress(id: "${randomUUID()}") { cursor } }`),
        headers: { accept: "text/event-stream", "graphql-require-preflight": "1" },
        status: 200,
        ran: true,
      },
    ];

    it.each(SIMPLE)("$name: $status", async (row) => {
      const body = row.body?.();
      const a = await raw(port, {
        method: row.method,
        path: row.path,
        headers: { ...row.headers, ...(body?.type ? { "content-type": body.type } : {}) },
        body: body?.data,
        firstChunkOnly: row.headers?.accept === "text/event-stream",
      });
      // A stream ran once it answers as one (its first event may be a keep-alive).
      const stream = /^text\/event-stream/.test(String(a.headers["content-type"]));
      const ran = a.status < 400 && (/"data"/.test(a.text) || stream);
      expect({ status: a.status, ran }, a.text).toEqual({
        status: row.status,
        ran: row.ran,
      });
    });

    it("ran none of the refused mutations", async () => {
      const a = await post(g, { query: "{ categories { name } }" });
      const names = (a.body.data!.categories as { name: string }[]).map((c) => c.name);
      expect(names.filter((n) => n.startsWith("planted_"))).toEqual([]);
    });

    /** CORS: which Origin gets `access-control-allow-origin`, on a preflight and on the request. */
    const CORS: { name: string; origin: string; host?: string; allowed: boolean }[] = [
      { name: "another site", origin: EVIL, allowed: false },
      { name: "another local port", origin: "http://localhost:3000", allowed: false },
      { name: "a DOCFLEET_CORS_ORIGINS origin", origin: APP, allowed: true },
      { name: "the public URL's origin", origin: PUBLIC, host: "docfleet.example.com", allowed: true },
      { name: "the server's own origin", origin: "http://127.0.0.1:PORT", allowed: true },
    ];

    it.each(CORS)("CORS for $name: allowed $allowed, never with credentials", async (row) => {
      const origin = row.origin.replace("PORT", String(port));
      const host = row.host ?? own();
      const preflight = await raw(port, {
        method: "OPTIONS",
        path: "/graphql",
        headers: {
          host,
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, authorization",
        },
      });
      const actual = await raw(port, {
        method: "POST",
        path: "/graphql",
        headers: { host, origin, ...json },
        body: JSON.stringify({ query: "{ categories { name } }" }),
      });
      for (const a of [preflight, actual]) {
        expect(a.headers["access-control-allow-origin"]).toBe(row.allowed ? origin : undefined);
        expect(a.headers["access-control-allow-credentials"]).toBeUndefined();
      }
      if (row.allowed) expect(preflight.headers["access-control-allow-headers"]).toMatch(/authorization/);
    });

    /** Host names: a rebound name gets 403 before any handler; IPs, localhost and the configured ones pass. */
    const HOSTS: { host: string; allowed: boolean }[] = [
      { host: "evil.example:PORT", allowed: false },
      { host: "docfleet.example.com.evil.example", allowed: false },
      { host: "corp.example.evil", allowed: false },
      { host: "", allowed: false },
      { host: "127.0.0.1:PORT", allowed: true },
      { host: "localhost:PORT", allowed: true },
      { host: "[::1]:PORT", allowed: true },
      { host: "10.1.2.3:PORT", allowed: true },
      { host: "docfleet.example.com", allowed: true },
      { host: "api.internal:PORT", allowed: true },
      { host: "eu.corp.example", allowed: true },
    ];
    const PATHS = ["/graphql", "/health", "/ready", "/metrics", "/objects/t/d/original?sig=x"];

    it.each(HOSTS)("Host $host: allowed $allowed, on every path", async ({ host, allowed }) => {
      for (const path of PATHS) {
        const a = await raw(port, {
          method: path === "/graphql" ? "POST" : "GET",
          path,
          headers: { host: host.replace("PORT", String(port)), ...json },
          body: path === "/graphql" ? JSON.stringify({ query: "{ categories { name } }" }) : undefined,
        });
        // Allowed: whatever the handler says (the objects route wants a signature), not the Host refusal.
        if (allowed) expect(a.text, path).not.toMatch(/DOCFLEET_ALLOWED_HOSTS/);
        else
          expect({ path, status: a.status, text: a.text }).toEqual({
            path,
            status: 403,
            text: expect.stringMatching(/DOCFLEET_ALLOWED_HOSTS/),
          });
      }
    });

    it("reads DOCFLEET_CORS_ORIGINS and DOCFLEET_ALLOWED_HOSTS, refusing what is neither an origin nor a host", () => {
      const cfg = (env: Record<string, string>) => adapterConfig(parseEnv(baseEnvSchema, env)).browser;
      expect(cfg({})).toEqual({ corsOrigins: [], allowedHosts: [] });
      expect(
        cfg({
          DOCFLEET_CORS_ORIGINS: "https://App.example.com, http://localhost:3000/",
          DOCFLEET_ALLOWED_HOSTS: "Docfleet.Internal,.corp.example,*",
        }),
      ).toEqual({
        corsOrigins: ["https://app.example.com", "http://localhost:3000"],
        allowedHosts: ["docfleet.internal", ".corp.example", "*"],
      });
      expect(() => cfg({ DOCFLEET_CORS_ORIGINS: "*", DOCFLEET_ALLOWED_HOSTS: "http://x" })).toThrow(
        /DOCFLEET_CORS_ORIGINS[\s\S]*DOCFLEET_ALLOWED_HOSTS/,
      );
      expect(() => cfg({ DOCFLEET_CORS_ORIGINS: "https://app.example.com/path" })).toThrow(ConfigError);
    });

    /** graphql-ws upgrades: CORS does not apply to WebSockets, so the gateway checks Origin and Host. */
    const SOCKETS: { name: string; headers: Record<string, string>; opens: boolean }[] = [
      { name: "a page of another site", headers: { origin: EVIL }, opens: false },
      { name: "a rebound host name", headers: { host: "evil.example" }, opens: false },
      { name: "a DOCFLEET_CORS_ORIGINS page", headers: { origin: APP }, opens: true },
      { name: "the server's own page", headers: { origin: "http://127.0.0.1:PORT" }, opens: true },
      { name: "a client that is not a browser (no Origin)", headers: {}, opens: true },
    ];

    it.each(SOCKETS)("WebSocket from $name: opens $opens", async ({ headers, opens }) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, "graphql-transport-ws", {
        headers: Object.fromEntries(
          Object.entries(headers).map(([k, v]) => [k, v.replace("PORT", String(port))]),
        ),
      });
      const outcome = await new Promise<string>((resolve) => {
        ws.once("open", () => resolve("open"));
        ws.once("unexpected-response", (_req, res) => resolve(`refused ${res.statusCode}`));
        ws.once("error", (err) => resolve(`error ${err.message}`));
      });
      ws.terminate();
      expect(outcome).toBe(opens ? "open" : "refused 403");
    });
  });

  it("masks an internal error in the answer and logs it whole", async () => {
    const lines: string[] = [];
    const log = pino({ level: "error" }, { write: (s: string) => void lines.push(s) });
    const g = gateway({ profile: "development" }, log);
    const search = vi
      .spyOn(system.app.deps.search, "search")
      .mockRejectedValueOnce(new Error("connect ECONNREFUSED 10.1.2.3:5432 password=hunter2"));
    // NODE_ENV=development would have yoga put the original error into the answer: not here.
    vi.stubEnv("NODE_ENV", "development");
    try {
      const a = await post(g, { query: '{ search(query: "x") { totalCount } }' });
      expect(a.body.errors).toEqual([
        expect.objectContaining({
          message: "Unexpected error.",
          extensions: { code: "INTERNAL_SERVER_ERROR" },
        }),
      ]);
      expect(a.text).not.toMatch(/hunter2|ECONNREFUSED|10\.1\.2\.3|stack|\.ts:\d+/);
      const logged = lines.join("");
      expect(logged).toContain("password=hunter2");
      expect(logged).toMatch(/"stack":"[^"]*hardening\.test\.ts/);
    } finally {
      vi.unstubAllEnvs();
      search.mockRestore();
    }
  });

  describe("rate limits", () => {
    const SEARCH = '{ search(query: "invoice", mode: KEYWORD) { totalCount } }';
    const prefix = () => `docfleet-test:${randomUUID()}`;
    /** In-memory limiters for `limits`' budgets, as the composition root builds them. */
    const inMemory = async (limits: Partial<RateLimits>): Promise<RateLimiters> => {
      const budgets = rateBudgets({
        uploadFilesPerMin: 0,
        searchesPerMin: 0,
        keyPrefix: prefix(),
        ...limits,
      });
      const make = async (b: (typeof budgets)["search"]) => {
        if (!b) return undefined;
        const l = await createRateLimiter({ kind: "memory", ...b }, quiet);
        limiters.push(l);
        return l;
      };
      return { upload: await make(budgets.upload), search: await make(budgets.search) };
    };

    it("refuses the N+1-th search of a key in the window, before any resolver; other keys go on", async () => {
      const g = gateway({ profile: "production" }, quiet, await inMemory({ searchesPerMin: 3 }));
      const search = vi.spyOn(system.app.deps.search, "search");
      try {
        for (let i = 0; i < 3; i++)
          expect((await post(g, { query: SEARCH }, keyA)).body.errors).toBeUndefined();
        const refused = await post(g, { query: SEARCH }, keyA);
        expect(codes(refused)).toEqual(["RATE_LIMITED"]);
        const retryAfterMs = refused.body.errors?.[0]?.extensions?.retryAfterMs as number;
        expect(retryAfterMs).toBeGreaterThan(0);
        expect(retryAfterMs).toBeLessThanOrEqual(60_000);
        expect(refused.status).toBe(429);
        expect(Number(refused.headers.get("retry-after"))).toBe(Math.ceil(retryAfterMs / 1000));
        expect(refused.body.data).toBeUndefined();
        expect(search).toHaveBeenCalledTimes(3);
        // `similar` takes from the same budget; so do two aliased searches in one request.
        expect(codes(await post(g, { query: '{ similar(documentId: "x") { totalCount } }' }, keyA))).toEqual([
          "RATE_LIMITED",
        ]);
        // Another key of the same tenant, and the tenant's anonymous callers, have budgets of their own.
        expect((await post(g, { query: SEARCH }, keyB)).body.errors).toBeUndefined();
        expect((await post(g, { query: SEARCH })).body.errors).toBeUndefined();
        const two = '{ a: search(query: "x") { totalCount } b: search(query: "y") { totalCount } }';
        expect((await post(g, { query: two }, keyB)).body.errors).toBeUndefined();
        expect(codes(await post(g, { query: two }, keyB))).toEqual(["RATE_LIMITED"]);
      } finally {
        search.mockRestore();
      }
    });

    it("counts uploads in files: requestUploads' files and createBatch", async () => {
      const g = gateway({ profile: "production" }, quiet, await inMemory({ uploadFilesPerMin: 5 }));
      const batch = await post(g, { query: 'mutation { createBatch(input: { name: "rl" }) { id } }' }, keyA);
      const batchId = (batch.body.data!.createBatch as { id: string }).id;
      const REQUEST =
        "mutation($b: ID!, $f: [FileInput!]!) { requestUploads(batchId: $b, files: $f) { status } }";
      const files = (n: number) =>
        Array.from({ length: n }, () => {
          const name = `${randomUUID()}.txt`;
          return { name, size: 10, sha256: createHash("sha256").update(name).digest("hex") };
        });
      const four = await post(g, { query: REQUEST, variables: { b: batchId, f: files(4) } }, keyA);
      expect(four.body.errors).toBeUndefined();
      const fifth = await post(g, { query: REQUEST, variables: { b: batchId, f: files(1) } }, keyA);
      expect(codes(fifth)).toEqual(["RATE_LIMITED"]);
      // More files in one request than a whole minute's budget can never pass: a clear BAD_REQUEST.
      const six = await post(g, { query: REQUEST, variables: { b: batchId, f: files(6) } }, keyB);
      expect(codes(six)).toEqual(["BAD_REQUEST"]);
      expect(six.body.errors?.[0]?.message).toMatch(/6 files registered, more than the 5/);
      expect(
        (await post(g, { query: REQUEST, variables: { b: batchId, f: files(5) } }, keyB)).body.errors,
      ).toBe(undefined);
    });

    it("shares one budget between two gateways through Redis", async () => {
      const budget = rateBudgets({ keyPrefix: prefix(), searchesPerMin: 4 }).search!;
      const l1 = new RedisRateLimiter(budget, { url: REDIS_URL, log: quiet });
      const l2 = new RedisRateLimiter(budget, { url: REDIS_URL, log: quiet });
      limiters.push(l1, l2);
      await Promise.all([l1.ready(), l2.ready()]);
      const g1 = gateway({ profile: "production" }, quiet, { search: l1 });
      const g2 = gateway({ profile: "production" }, quiet, { search: l2 });
      for (const g of [g1, g2, g1, g2])
        expect((await post(g, { query: SEARCH }, keyA)).body.errors).toBeUndefined();
      // Each alone would allow 4: together they have had 4.
      expect(codes(await post(g1, { query: SEARCH }, keyA))).toEqual(["RATE_LIMITED"]);
      expect(codes(await post(g2, { query: SEARCH }, keyA))).toEqual(["RATE_LIMITED"]);
      expect((await post(g2, { query: SEARCH }, keyB)).body.errors).toBeUndefined();
    });
  });
});

/** One HTTP request with exactly these headers (Host included); `firstChunkOnly` for streams. */
function raw(
  port: number,
  o: {
    method: string;
    path: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    firstChunkOnly?: boolean;
  },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: o.method,
        path: o.path,
        headers: o.headers,
        setHost: !("host" in (o.headers ?? {})),
      },
      (res) => {
        let text = "";
        const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        res.on("data", (d) => {
          text += d;
          if (o.firstChunkOnly) {
            done();
            res.destroy();
          }
        });
        res.once("end", done);
        res.once("error", () => done());
      },
    );
    req.once("error", reject);
    req.end(o.body);
  });
}

/** The attacks on a default `docfleet serve`, and the CLI's own request beside them. */
const SERVE_ATTACKS: {
  name: string;
  request: (s: Served) => Parameters<typeof raw>[1];
  expect: { status: number; data: boolean; cors: string | null };
}[] = [
  {
    name: "a request without a key (anonymous was the local admin)",
    request: () => ({
      method: "POST",
      path: "/graphql",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ categories { name } }" }),
    }),
    expect: { status: 401, data: false, cors: null },
  },
  {
    name: "a cross-site GET search",
    request: () => ({
      method: "GET",
      path: `/graphql?query=${encodeURIComponent('{ search(query: "private") { hits { document { text } } } }')}`,
      headers: { origin: "https://evil.example" },
    }),
    expect: { status: 403, data: false, cors: null },
  },
  {
    name: "a cross-site form POST of defineCategory",
    request: () => ({
      method: "POST",
      path: "/graphql",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
      body: new URLSearchParams({
        query: 'mutation { defineCategory(input: { name: "planted", description: "x" }) { name } }',
      }).toString(),
    }),
    expect: { status: 415, data: false, cors: null },
  },
  {
    name: "a cross-site JSON POST (what a preflight would have stopped) gets no CORS answer",
    request: (s) => ({
      method: "POST",
      path: "/graphql",
      headers: {
        "content-type": "application/json",
        origin: "https://evil.example",
        authorization: `Bearer ${s.apiKey}`,
      },
      body: JSON.stringify({ query: "{ categories { name } }" }),
    }),
    expect: { status: 200, data: true, cors: null },
  },
  {
    name: "a rebound host name (DNS rebinding)",
    request: (s) => ({
      method: "POST",
      path: "/graphql",
      headers: {
        host: `evil.example:${new URL(s.url).port}`,
        "content-type": "application/json",
        authorization: `Bearer ${s.apiKey}`,
      },
      body: JSON.stringify({ query: "{ categories { name } }" }),
    }),
    expect: { status: 403, data: false, cors: null },
  },
  {
    name: "the CLI's request: JSON with the admin key",
    request: (s) => ({
      method: "POST",
      path: "/graphql",
      headers: { "content-type": "application/json", authorization: `Bearer ${s.apiKey}` },
      body: JSON.stringify({ query: "{ categories { name } }" }),
    }),
    expect: { status: 200, data: true, cors: null },
  },
];

/** The page variables our own queries use, at the largest page a connection answers. */
const PAGE_VARIABLES = { first: 100, n: 100, pageSize: 100, last: 100 };

const FULL_INTROSPECTION = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
};

/** A misspelled field, enum value (inline and as a variable): each earns a "Did you mean" in development. */
const MISSPELLED = [
  { query: '{ serch(query: "x") { totalCount } }' },
  { query: '{ search(query: "x", mode: HYBRD) { totalCount } }' },
  {
    query: 'query($m: SearchMode) { search(query: "x", mode: $m) { totalCount } }',
    variables: { m: "HYBRD" },
  },
];

/**
 * Every GraphQL document written as a string literal in the CLI, the tests and the benches: what our
 * own clients send. Read with the TypeScript parser; literals that interpolate or do not parse as
 * GraphQL are left out.
 */
async function realQueries(): Promise<{ file: string; query: string }[]> {
  const files: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && e.name !== "node_modules") await walk(p);
      else if (e.isFile() && e.name.endsWith(".ts") && e.name !== "hardening.test.ts") files.push(p);
    }
  };
  await walk(join(ROOT, "apps/cli/src"));
  await walk(join(ROOT, "tests"));
  const found: { file: string; query: string }[] = [];
  for (const file of files) {
    const source = ts.createSourceFile(file, await readFile(file, "utf8"), ts.ScriptTarget.Latest);
    const visit = (node: ts.Node) => {
      if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
        const query = node.text;
        if (/^\s*(query|mutation|subscription|\{)/.test(query)) {
          try {
            parse(query);
            found.push({ file: relative(ROOT, file), query });
          } catch {
            // not GraphQL
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}
