import { Command, InvalidArgumentError, Option } from "commander";
import { GatewayClient } from "./client.ts";
import { formatHits, search } from "./commands/search.ts";
import {
  dryRun,
  formatDryRun,
  formatSummary,
  parseBytes,
  UPLOAD_DEFAULTS,
  upload,
  uploadExitCode,
} from "./commands/upload.ts";
import { watchBatch } from "./commands/watch.ts";
import { CliError, ExitCode } from "./exit-codes.ts";
import { clientApiKey } from "./local-key.ts";
import { defaultStateDir } from "./upload/manifest.ts";
import { DEFAULT_RETRY } from "./upload/retry.ts";
import { resolveSources } from "./upload/sources.ts";

const int =
  (name: string, min = 0) =>
  (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${name} must be a whole number >= ${min}`);
    return n;
  };

const collect = (v: string, prev: string[]) => [...prev, v];

const bytesArg = (v: string) => {
  try {
    return parseBytes(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

/** The gateway URL without a trailing slash, so that a rerun finds its manifest either way. */
function normaliseEndpoint(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return u.toString().replace(/\/+$/, "");
  } catch {
    throw new CliError(`--endpoint must be an http(s) URL, got ${JSON.stringify(url)}`, ExitCode.USAGE);
  }
}

/** `docfleet serve` in this process (tests, the demo); loads the pipeline on first use. */
export async function serve(o: Parameters<typeof import("./commands/server.ts")["serve"]>[0]) {
  return (await import("./commands/server.ts")).serve(o);
}

/** Runs the CLI; returns the exit code (see exit-codes.ts). Commands load what they need. */
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
    .addOption(
      new Option("--public-url <url>", "URL clients reach this server at (default http://host:port)").env(
        "DOCFLEET_PUBLIC_URL",
      ),
    )
    .addOption(
      new Option("--concurrency <n>", "documents per stage at once")
        .default(2)
        .argParser(int("concurrency", 1)),
    )
    .addOption(understandConcurrencyOption())
    .action(async (o) => {
      const server = await import("./commands/server.ts");
      const system = await server.serve(o);
      process.stderr.write(`docfleet serving at ${system.url}/graphql (Ctrl-C to stop)\n`);
      if (system.adminKey) {
        const { adminKeyNotice } = await import("./admin-key.ts");
        process.stderr.write(`${adminKeyNotice(system.adminKey)}\n`);
      }
      await server.untilSignal(system);
    });

  program
    .command("gateway")
    .description("run a GraphQL gateway (and outbox relay) of the distributed mode; stateless, run several")
    .addOption(new Option("--port <n>", "port").env("PORT").default(4000).argParser(int("port")))
    .addOption(new Option("--host <host>", "interface to listen on").env("HOST").default("127.0.0.1"))
    .addOption(
      new Option("--public-url <url>", "URL clients reach this gateway at (default http://host:port)").env(
        "DOCFLEET_PUBLIC_URL",
      ),
    )
    .option("--no-relay", "leave the outbox to other processes (e.g. `docfleet relay`)")
    .action(async (o) => {
      const server = await import("./commands/server.ts");
      const system = await server.gateway(o);
      process.stderr.write(`docfleet gateway at ${system.url}/graphql\n`);
      await server.untilSignal(system);
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
    .addOption(
      new Option("--metrics-port <n>", "port of /metrics and /health (0: any free port; default 9464)")
        .env("METRICS_PORT")
        .argParser(int("metrics-port", 0)),
    )
    .addOption(
      new Option(
        "--metrics-host <address>",
        "address /metrics and /health listen on (default 127.0.0.1; 0.0.0.0 for a scraper on another host)",
      ).env("METRICS_HOST"),
    )
    .action(async (o) => {
      const server = await import("./commands/server.ts");
      const { system, roles } = await server.worker(o);
      process.stderr.write(
        `docfleet worker consuming ${roles.join(", ").toLowerCase()}; metrics at ${system.metricsUrl}/metrics\n`,
      );
      await server.untilSignal(system);
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
    .addOption(
      new Option("--metrics-port <n>", "port of /metrics and /health (0: any free port; default 9464)")
        .env("METRICS_PORT")
        .argParser(int("metrics-port", 0)),
    )
    .addOption(
      new Option(
        "--metrics-host <address>",
        "address /metrics and /health listen on (default 127.0.0.1; 0.0.0.0 for a scraper on another host)",
      ).env("METRICS_HOST"),
    )
    .action(async (o) => {
      const server = await import("./commands/server.ts");
      const system = await server.relay(o);
      process.stderr.write(`docfleet relay publishing the outbox; metrics at ${system.metricsUrl}/metrics\n`);
      await server.untilSignal(system);
    });

  program
    .command("upload")
    .description(
      "upload files, folders and globs as one batch, resumably, and wait for the outcome (see README: Bulk upload)",
    )
    .argument("<paths...>", "files, folders or quoted globs ('scans/**/*.pdf')")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--name <name>", "name of a new batch")
    .option("--batch <id>", "add to (or continue) this batch")
    .option(
      "--new-batch",
      "start a new batch even if an unfinished upload of the same paths could be resumed",
    )
    .option(
      "--include <glob>",
      "only files whose path (relative to its folder) matches; repeatable",
      collect,
      [],
    )
    .option("--exclude <glob>", "leave out matching files and folders; repeatable", collect, [])
    .option("--hidden", "also upload files and folders whose name starts with a dot")
    .addOption(
      new Option("--concurrency <n>", "files (or parts) in flight at once")
        .default(UPLOAD_DEFAULTS.concurrency)
        .argParser(int("concurrency", 1)),
    )
    .addOption(
      new Option("--chunk-size <n>", "files per requestUploads/completeUploads call (at most 1000)")
        .default(UPLOAD_DEFAULTS.chunkSize)
        .argParser(int("chunk-size", 1)),
    )
    .addOption(
      new Option("--retries <n>", "retries of a request that failed for a transient reason")
        .default(UPLOAD_DEFAULTS.retry.retries)
        .argParser(int("retries", 0)),
    )
    .addOption(
      new Option("--multipart-threshold <size>", "send files of this size or more in parts")
        .default(UPLOAD_DEFAULTS.multipartThreshold, "64MiB")
        .argParser(bytesArg),
    )
    .addOption(new Option("--part-size <size>", "part size (default: the gateway's)").argParser(bytesArg))
    .addOption(new Option("--state-dir <dir>", "where upload manifests are kept").env("DOCFLEET_STATE_DIR"))
    .option("--dry-run", "list what would be uploaded, without contacting the gateway")
    .option("--no-wait", "return once uploaded, without waiting for processing")
    .option("--watch", "once uploaded, follow the batch live (as `docfleet watch`) instead of polling")
    .option("--no-progress", "no progress bar or progress lines on stderr")
    .option("--json", "print the summary as JSON")
    .action(async (paths: string[], o) => {
      if (o.chunkSize > 1000) throw new CliError("--chunk-size must be at most 1000", ExitCode.USAGE);
      const common = {
        sources: await resolveSources(paths),
        filter: { include: o.include, exclude: o.exclude, hidden: !!o.hidden },
        endpoint: normaliseEndpoint(o.endpoint),
        batchId: o.batch,
        resume: !o.newBatch,
        stateDir: o.stateDir ?? defaultStateDir(),
      };
      if (o.dryRun) {
        const r = await dryRun(
          common,
          o.json ? null : (name, size) => process.stdout.write(`${name}\t${size}\n`),
        );
        if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else process.stderr.write(`${formatDryRun(r)}\n`);
        return;
      }
      const interrupt = new AbortController();
      const onSignal = () => {
        if (interrupt.signal.aborted) process.exit(ExitCode.INTERRUPTED);
        process.stderr.write("\nstopping: keeping the manifest (Ctrl-C again to quit at once)...\n");
        interrupt.abort(new Error("interrupted"));
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        const watch = o.watch && o.wait;
        const progress = o.progress && !o.json ? process.stderr : null;
        const retry = { ...DEFAULT_RETRY, retries: o.retries };
        const apiKey = clientApiKey(o.apiKey, common.endpoint);
        const client = new GatewayClient(common.endpoint, apiKey, retry);
        const summary = await upload(client, {
          ...common,
          batchName: o.name,
          concurrency: o.concurrency,
          chunkSize: o.chunkSize,
          retry,
          multipartThreshold: o.multipartThreshold,
          partSize: o.partSize,
          wait: o.wait && !watch,
          progress,
          notices: process.stderr,
          signal: interrupt.signal,
        });
        if (watch && !summary.interrupted && summary.totals.queued > 0) {
          const w = await watchBatch({
            endpoint: common.endpoint,
            apiKey,
            batchId: summary.batchId,
            out: null,
            view: progress,
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
        process.stdout.write(
          o.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`,
        );
        code = uploadExitCode(summary);
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });

  program
    .command("watch")
    .description("follow a batch live until it is finished (reconnects and resumes if the gateway restarts)")
    .argument("<batchId>", "batch id (as printed by upload)")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--json", "print the final summary as JSON")
    .action(async (batchId: string, o) => {
      const apiKey = clientApiKey(o.apiKey, o.endpoint);
      const r = await watchBatch({ endpoint: o.endpoint, apiKey, batchId, json: !!o.json });
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
      const client = new GatewayClient(o.endpoint, clientApiKey(o.apiKey, o.endpoint));
      const hits = await search(client, query, o.mode, o.limit);
      if (o.json) process.stdout.write(`${JSON.stringify(hits, null, 2)}\n`);
      else process.stdout.write(formatHits(query, hits));
    });

  const keys = program
    .command("keys")
    .description(
      "manage API keys (server side, straight on the database like migrate; stop `serve` first on PGlite)",
    );
  keys
    .command("create")
    .description("create an API key and print it once (creates the tenant when no tenant has that name)")
    .requiredOption("--tenant <name>", "tenant name (`local`: the embedded mode's tenant)")
    .requiredOption("--scopes <list>", "comma list of read, upload, admin (admin implies the others)")
    .option("--name <name>", "what the key is for")
    .option("--expires <when>", "30d, 12h, 90m, 2w from now, or a date (2027-01-01)")
    .addOption(new Option("--data-dir <dir>", "data folder").env("DOCFLEET_DATA_DIR"))
    .option("--json", "print the key and its details as JSON")
    .action(async (o) => (await import("./commands/keys.ts")).createKey(o));
  keys
    .command("list")
    .description("list API keys (never their secrets)")
    .option("--tenant <name>", "only this tenant's keys")
    .addOption(new Option("--data-dir <dir>", "data folder").env("DOCFLEET_DATA_DIR"))
    .option("--json", "print as JSON")
    .action(async (o) => (await import("./commands/keys.ts")).listKeys(o));
  keys
    .command("revoke")
    .description("revoke an API key at once, by id or listed prefix (idempotent)")
    .argument("<key>", "key id, or its prefix as listed (dfk_...)")
    .addOption(new Option("--data-dir <dir>", "data folder").env("DOCFLEET_DATA_DIR"))
    .option("--json", "print the revoked key as JSON")
    .action(async (key: string, o) => (await import("./commands/keys.ts")).revokeKey({ ...o, key }));

  program
    .command("migrate")
    .description("apply pending database migrations (PGlite data folder or DATABASE_URL)")
    .addOption(new Option("--data-dir <dir>", "data folder").env("DOCFLEET_DATA_DIR"))
    .action(async (o) => {
      const { migrate } = await import("./commands/server.ts");
      const applied = await migrate(o.dataDir);
      process.stdout.write(applied.length ? `applied ${applied.join(", ")}\n` : "database is up to date\n");
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
    // By name: the class lives in @docfleet/pipeline, which commands that do not need it never load.
    if ((err as Error)?.name === "ConfigError") {
      process.stderr.write(`docfleet: ${(err as Error).message}\n`);
      return ExitCode.USAGE;
    }
    process.stderr.write(`docfleet: unexpected error: ${(err as Error)?.stack ?? err}\n`);
    return ExitCode.INTERNAL;
  }
}

function understandConcurrencyOption(): Option {
  return new Option(
    "--understand-concurrency <n>",
    "documents in the understand stage at once (default: --concurrency); with Ollama about twice its parallel slots keeps them busy",
  )
    .env("WORKER_UNDERSTAND_CONCURRENCY")
    .argParser(int("understand-concurrency", 1));
}
