import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildCli } from "../../apps/cli/scripts/build.mjs";
import { deferred } from "./wait.ts";

// The bin runs the compiled CLI (apps/cli/dist), what users run: rebuilt first when a source changed
// since the last build (about a second), so that these tests never run stale JavaScript.
await buildCli({ ifStale: true, log: () => {} });

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CORPUS = fileURLToPath(new URL("../../../shared/corpus/", import.meta.url));
const BIN = `${ROOT}apps/cli/bin/docfleet.mjs`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Upload manifests of this test process: never the home folder's. */
const STATE_DIR = mkdtempSync(join(tmpdir(), "docfleet-state-"));
process.once("exit", () => rmSync(STATE_DIR, { recursive: true, force: true }));

/** Runs `docfleet <args>` to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DOCFLEET_STATE_DIR: STATE_DIR, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export interface Served {
  url: string;
  /** `serve`'s local admin key (`<data dir>/admin-key`): serve refuses requests without a key. */
  apiKey?: string;
  child: ChildProcess;
  /** Everything the server wrote so far. */
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

/** Starts `docfleet serve` on a free port and waits until /ready answers 200; with its admin key. */
export async function startServe(
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
  opts: { readyMs?: number } = {},
): Promise<Served> {
  const port = await freePort();
  const served = await startDocfleet(
    ["serve", "--port", String(port), "--data-dir", dataDir],
    env,
    { port },
    opts.readyMs,
  );
  return { ...served, apiKey: adminKey(dataDir) };
}

/** The admin key `docfleet serve` keeps in its data folder (written before it listens). */
export function adminKey(dataDir: string): string {
  return readFileSync(join(dataDir, "admin-key"), "utf8").trim();
}

/** The environment that gives `docfleet upload|watch|search` a served system's key. */
export function withKey(served: { apiKey?: string }): NodeJS.ProcessEnv {
  return served.apiKey ? { DOCFLEET_API_KEY: served.apiKey } : {};
}

/** The Authorization header of a served system's key, for raw requests (SSE). */
export function bearer(served: { apiKey?: string }): Record<string, string> {
  return served.apiKey ? { authorization: `Bearer ${served.apiKey}` } : {};
}

/**
 * Starts a long-running `docfleet <args>` process and waits until it is ready: with `port` (serve,
 * gateway), it printed its start-up line (`docfleet serving|gateway at`, written once it listens)
 * and then /ready answers 200 on `port`; else it printed `readyLine` (worker, relay).
 */
export async function startDocfleet(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: { port: number } | { readyLine: RegExp },
  /** How long it may take to be ready (a first start creates its database). */
  readyMs = 90_000,
  /** Options for node itself (`--cpu-prof`: Node 20 refuses it in NODE_OPTIONS). */
  nodeArgs: readonly string[] = [],
): Promise<Served> {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], {
    // METRICS_PORT 0: several workers and relays on one machine must not contend for 9464.
    env: { ...process.env, DOCFLEET_LOG_LEVEL: "warn", METRICS_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const line = "port" in ready ? /^docfleet (serving|gateway) at /m : ready.readyLine;
  const printed = deferred();
  const onData = (d: Buffer) => {
    out += d;
    if (line.test(out)) printed.resolve();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  void exited.then((code) => printed.reject(new Error(`docfleet ${args[0]} exited with ${code}:\n${out}`)));
  const url = "port" in ready ? `http://127.0.0.1:${ready.port}` : "";
  const timer = setTimeout(
    () =>
      printed.reject(new Error(`docfleet ${args[0]} did not become ready in ${readyMs / 1000} s:\n${out}`)),
    readyMs,
  );
  try {
    await printed.promise.finally(() => clearTimeout(timer));
    if (url) {
      const res = await fetch(`${url}/ready`);
      if (res.status !== 200)
        throw new Error(`docfleet ${args[0]} started but /ready answered ${res.status}:\n${out}`);
    }
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
  return served(child, url, () => out, exited);
}

/** A started child process as a Served: stop (SIGTERM) and kill (SIGKILL) both wait for its exit. */
export function served(
  child: ChildProcess,
  url: string,
  output: () => string,
  exited: Promise<number | null>,
): Served {
  return {
    url,
    child,
    output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** A GraphQL request over HTTP (with `apiKey` as its Bearer key); throws on GraphQL errors. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  apiKey?: string,
): Promise<T> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data!;
}
