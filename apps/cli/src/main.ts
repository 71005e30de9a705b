import {
  adapterConfig,
  baseEnvSchema,
  ConfigError,
  parseEnv,
  STAGES,
  type StageName,
} from "@docfleet/pipeline";
import { parseRoles } from "@docfleet/worker";
import { Command, InvalidArgumentError, Option } from "commander";
import { GatewayClient } from "./client.ts";
import { formatSummary, upload } from "./commands/upload.ts";
import { watchBatch } from "./commands/watch.ts";
import { CliError, ExitCode } from "./exit-codes.ts";
import { buildDeps, startSystem } from "./system.ts";

const int =
  (name: string, min = 0) =>
  (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a whole number >= ${min}`);
    return n;
  };

/** Runs the CLI; returns the exit code (see exit-codes.ts). */
export async function main(argv: string[]): Promise<number> {
  const program = new Command("docfleet")
    .description("docfleet: turn a pile of documents into a searchable archive")
    .showHelpAfterError()
    .exitOverride();
  const endpointOption = () =>
    new Option("--endpoint <url>", "gateway URL").env("DOCFLEET_ENDPOINT").default("http://127.0.0.1:4000");
  const keyOption = () =>
    new Option("--api-key <key>", "API key (Authorization: Bearer)").env("DOCFLEET_API_KEY");
  let code: number = ExitCode.OK;

  program
    .command("serve")
    .description("run gateway + workers in one process on the embedded adapters (data under --data-dir)")
    .addOption(new Option("--port <n>", "port").env("PORT").default(4000).argParser(int("port")))
    .addOption(new Option("--host <host>", "interface to listen on").env("HOST").default("127.0.0.1"))
    .addOption(new Option("--data-dir <dir>", "data folder").env("DOCFLEET_DATA_DIR"))
    .option("--public-url <url>", "URL clients reach this server at (default http://host:port)")
    .addOption(
      new Option("--concurrency <n>", "documents per stage at once")
        .default(2)
        .argParser(int("concurrency", 1)),
    )
    .addOption(understandConcurrencyOption())
    .action(async (o) => {
      const system = await serve(o);
      process.stderr.write(`docfleet serving at ${system.url}/graphql (Ctrl-C to stop)\n`);
      await untilSignal(system);
    });

  program
    .command("gateway")
    .description("run a GraphQL gateway (and outbox relay) of the distributed mode; stateless, run several")
    .addOption(new Option("--port <n>", "port").env("PORT").default(4000).argParser(int("port")))
    .addOption(new Option("--host <host>", "interface to listen on").env("HOST").default("127.0.0.1"))
    .option("--public-url <url>", "URL clients reach this gateway at (default http://host:port)")
    .option("--no-relay", "leave the outbox to other processes (e.g. `docfleet relay`)")
    .action(async (o) => {
      const cfg = distributedConfig("gateway");
      const publicUrl = o.publicUrl ?? `http://${o.host}:${o.port}`;
      const system = await startSystem(await buildDeps(cfg, publicUrl), {
        gateway: { port: o.port, host: o.host },
        requeueOnStart: false,
        relay: o.relay,
      });
      process.stderr.write(`docfleet gateway at ${system.url}/graphql\n`);
      await untilSignal(system);
    });

  program
    .command("worker")
    .description("run stage consumers of the distributed mode (SIGTERM drains in-flight work)")
    .addOption(
      new Option("--roles <list>", "stages to consume: all, or a comma list of parse,understand,embed,index")
        .env("WORKER_ROLES")
        .default("all"),
    )
    .addOption(
      new Option("--concurrency <n>", "documents per stage at once (prefetch)")
        .env("WORKER_CONCURRENCY")
        .default(2)
        .argParser(int("concurrency", 1)),
    )
    .addOption(understandConcurrencyOption())
    .option("--no-relay", "leave the outbox to other processes (e.g. `docfleet relay`)")
    .action(async (o) => {
      let roles: StageName[];
      try {
        roles = parseRoles(o.roles);
      } catch (err) {
        throw new CliError((err as Error).message, ExitCode.USAGE);
      }
      const cfg = distributedConfig("worker");
      const system = await startSystem(await buildDeps(cfg, "http://unused.invalid"), {
        worker: { roles, concurrency: perStage(o.concurrency, o.understandConcurrency) },
        requeueOnStart: false,
        relay: o.relay,
      });
      process.stderr.write(`docfleet worker consuming ${roles.join(", ").toLowerCase()}\n`);
      await untilSignal(system);
    });

  program
    .command("relay")
    .description("run only the outbox relay of the distributed mode (publishes committed messages)")
    .addOption(
      new Option("--poll-ms <n>", "how often to look for unpublished rows")
        .env("DOCFLEET_RELAY_POLL_MS")
        .default(100)
        .argParser(int("poll-ms", 10)),
    )
    .action(async (o) => {
      const cfg = distributedConfig("relay");
      const system = await startSystem(await buildDeps(cfg, "http://unused.invalid"), {
        requeueOnStart: false,
        relayPollMs: o.pollMs,
      });
      process.stderr.write("docfleet relay publishing the outbox\n");
      await untilSignal(system);
    });

  program
    .command("upload")
    .description("upload files and folders as one batch and wait for the outcome")
    .argument("<paths...>", "files or folders")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--name <name>", "batch name")
    .addOption(
      new Option("--concurrency <n>", "parallel uploads").default(8).argParser(int("concurrency", 1)),
    )
    .option("--no-wait", "return once uploaded, without waiting for processing")
    .option("--watch", "once uploaded, follow the batch live (as `docfleet watch`) instead of polling")
    .option("--json", "print the summary as JSON")
    .action(async (paths: string[], o) => {
      const client = new GatewayClient(o.endpoint, o.apiKey);
      const tty = process.stderr.isTTY && !o.json;
      const watch = o.watch && o.wait;
      const summary = await upload(client, paths, {
        batchName: o.name,
        concurrency: o.concurrency,
        wait: o.wait && !watch,
        json: !!o.json,
        progress: tty ? (line, final) => process.stderr.write(final ? "\n" : `\r${line.padEnd(90)}`) : null,
      });
      if (watch && summary.uploaded > summary.notQueued.length) {
        if (tty) process.stderr.write("\n");
        const w = await watchBatch({
          endpoint: o.endpoint,
          apiKey: o.apiKey,
          batchId: summary.batchId,
          out: null,
          ignorePendingUpload: true,
        });
        Object.assign(summary, {
          completed: w.counts.completed,
          failed: w.counts.failed,
          needsReview: w.counts.needsReview,
          failuresByCode: w.failuresByCode,
          seconds: summary.seconds + w.seconds,
        });
      }
      process.stdout.write(o.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`);
      if (summary.failed > 0 || summary.rejected.length > 0 || summary.notQueued.length > 0)
        code = ExitCode.PARTIAL;
    });

  program
    .command("watch")
    .description("follow a batch live until it is finished (reconnects and resumes if the gateway restarts)")
    .argument("<batchId>", "batch id (as printed by upload)")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--json", "print the final summary as JSON")
    .action(async (batchId: string, o) => {
      const r = await watchBatch({ endpoint: o.endpoint, apiKey: o.apiKey, batchId, json: !!o.json });
      code = r.exitCode;
    });

  program
    .command("search")
    .description("search the archive")
    .argument("<query>", "words to look for")
    .addOption(endpointOption())
    .addOption(keyOption())
    .addOption(
      new Option("--mode <mode>", "KEYWORD, VECTOR or HYBRID")
        .choices(["KEYWORD", "VECTOR", "HYBRID"])
        .default("HYBRID"),
    )
    .addOption(new Option("--limit <n>", "results").default(10).argParser(int("limit", 1)))
    .option("--json", "print results as JSON")
    .action(async (query: string, o) => {
      const hits = await search(new GatewayClient(o.endpoint, o.apiKey), query, o.mode, o.limit);
      if (o.json) process.stdout.write(`${JSON.stringify(hits, null, 2)}\n`);
      else process.stdout.write(formatHits(query, hits));
    });

  program
    .command("migrate")
    .description("apply pending database migrations (PGlite data folder or DATABASE_URL)")
    .addOption(new Option("--data-dir <dir>", "data folder").env("DOCFLEET_DATA_DIR"))
    .action(async (o) => {
      const cfg = config(o.dataDir);
      const { createDatabase } = await import("@docfleet/pipeline");
      const db = await createDatabase(cfg.database);
      try {
        const applied = await db.migrate();
        process.stdout.write(applied.length ? `applied ${applied.join(", ")}\n` : "database is up to date\n");
      } finally {
        await db.close();
      }
    });

  program
    .command("demo")
    .description("ingest the bundled examples on a fresh embedded server and print search results")
    .option("--data-dir <dir>", "data folder (default: a new temporary folder)")
    .action(async (o) => {
      const { runDemo } = await import("./commands/demo.ts");
      code = await runDemo(o.dataDir);
    });

  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return ExitCode.OK;
    if (e.code?.startsWith("commander.")) return ExitCode.USAGE;
    if (err instanceof CliError) {
      process.stderr.write(`docfleet: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`docfleet: ${err.message}\n`);
      return ExitCode.USAGE;
    }
    process.stderr.write(`docfleet: unexpected error: ${(err as Error)?.stack ?? err}\n`);
    return ExitCode.INTERNAL;
  }
}

function config(dataDir?: string) {
  const env = { ...process.env, ...(dataDir ? { DOCFLEET_DATA_DIR: dataDir } : {}) };
  return adapterConfig(parseEnv(baseEnvSchema, env));
}

export async function serve(o: {
  port: number;
  host: string;
  dataDir?: string;
  publicUrl?: string;
  concurrency: number;
  understandConcurrency?: number;
}) {
  const cfg = config(o.dataDir);
  // With port 0 the public URL is only known once listening: bind first through a fixed port.
  const port = o.port === 0 ? await freePort(o.host) : o.port;
  const publicUrl = o.publicUrl ?? `http://${o.host}:${port}`;
  const deps = await buildDeps(cfg, publicUrl);
  return startSystem(deps, {
    gateway: { port, host: o.host },
    worker: { roles: STAGES, concurrency: perStage(o.concurrency, o.understandConcurrency) },
    requeueOnStart: cfg.queue.kind === "memory",
  });
}

function understandConcurrencyOption(): Option {
  return new Option(
    "--understand-concurrency <n>",
    "documents in the understand stage at once (default: --concurrency); with Ollama about twice its parallel slots keeps them busy",
  )
    .env("WORKER_UNDERSTAND_CONCURRENCY")
    .argParser(int("understand-concurrency", 1));
}

function perStage(n: number, understand?: number): Record<StageName, number> {
  return { PARSE: n, UNDERSTAND: understand ?? n, EMBED: n, INDEX: n };
}

/** Config of a `gateway` or `worker` process: only meaningful with a shared database and broker. */
function distributedConfig(what: string) {
  const cfg = config();
  const missing = [
    cfg.database.kind !== "postgres" && "DATABASE_URL (PostgreSQL)",
    cfg.queue.kind !== "rabbitmq" && "AMQP_URL (RabbitMQ)",
  ].filter(Boolean);
  if (missing.length > 0) {
    throw new ConfigError(
      `docfleet ${what} is a process of the distributed mode and needs ${missing.join(" and ")}; ` +
        "for everything in one process on the embedded adapters, use `docfleet serve`",
    );
  }
  return cfg;
}

/** Resolves after SIGINT/SIGTERM once `system` has drained and stopped. */
function untilSignal(system: { stop(): Promise<void> }): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.stderr.write("stopping: finishing in-flight work...\n");
      system.stop().then(resolve, resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

async function freePort(host: string): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export interface Hit {
  score: number;
  highlight: string | null;
  document: { id: string; name: string; category: string | null; status: string } | null;
}

export async function search(
  client: GatewayClient,
  query: string,
  mode: string,
  limit: number,
): Promise<Hit[]> {
  const { search } = await client.request<{ search: { hits: Hit[] } }>(
    `query($q: String!, $mode: SearchMode, $first: Int) {
      search(query: $q, mode: $mode, first: $first) { hits { score highlight document { id name category status } } }
    }`,
    { q: query, mode, first: limit },
  );
  return search.hits;
}

export function formatHits(query: string, hits: Hit[], color = process.stdout.isTTY === true): string {
  if (hits.length === 0) return `no results for "${query}"\n`;
  return `${hits
    .map((h, i) => {
      const head = `${i + 1}. ${h.document?.name ?? "?"} [${h.document?.category ?? "-"}] score ${h.score.toFixed(4)}`;
      return `${head}\n   ${snippet(h.highlight ?? "", 240, color)}`;
    })
    .join("\n")}\n`;
}

/** A highlight cut to `max` visible characters; <mark> becomes bold on a terminal and vanishes elsewhere. */
function snippet(highlight: string, max: number, color: boolean): string {
  let out = "";
  let visible = 0;
  let bold = false;
  for (const part of highlight.replace(/\s+/g, " ").split(/(<\/?mark>)/)) {
    if (part === "<mark>" || part === "</mark>") {
      bold = part === "<mark>";
      if (color) out += bold ? "\x1b[1m" : "\x1b[0m";
      continue;
    }
    const take = part.slice(0, max - visible);
    out += take;
    visible += take.length;
    if (visible >= max) break;
  }
  return bold && color ? `${out}\x1b[0m` : out;
}
