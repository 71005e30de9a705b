import { readFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { expiryArg, parseScopesArg } from "./args.ts";
import { GatewayClient } from "./client.ts";
import { formatFacets, formatHits, parseFieldCondition, searchAll } from "./commands/search.ts";
import {
  dryRun,
  formatDryRun,
  formatSummary,
  isForbidden,
  NO_READ_SCOPE,
  parseBytes,
  UPLOAD_DEFAULTS,
  upload,
  uploadExitCode,
} from "./commands/upload.ts";
import { watchBatch } from "./commands/watch.ts";
import { CliError, ExitCode, interruptible, whenInterrupted } from "./exit-codes.ts";
import { checkPort } from "./listen-check.ts";
import { clientApiKey } from "./local-key.ts";
import { defaultStateDir } from "./upload/manifest.ts";
import { DEFAULT_RETRY } from "./upload/retry.ts";
import { resolveSources } from "./upload/sources.ts";

const int =
  (name: string, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        `${name} must be a whole number ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}`,
      );
    return n;
  };

const dateArg = (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(v)))
    throw new InvalidArgumentError("must be a date YYYY-MM-DD");
  return v;
};

const fieldArg = (v: string) => {
  try {
    return parseFieldCondition(v);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

const facetArg = (v: string) => {
  if (v !== "category" && v !== "batch" && !/^field:[a-z][a-z0-9_]*$/i.test(v))
    throw new InvalidArgumentError("must be category, batch or field:<name>");
  return v;
};

/** The CLI's version (its package.json), for --version. */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    return pkg.version;
  } catch {
    return "unknown";
  }
}

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
    .version(version(), "-V, --version", "print the version")
    // A usage error is one line (commander's `error: ...`), never the whole help after it.
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
      await checkPort(o.host, o.port);
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
      await checkPort(o.host, o.port);
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
    .addOption(metricsPortOption())
    .addOption(metricsHostOption())
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
    .addOption(metricsPortOption())
    .addOption(metricsHostOption())
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
      new Option(
        "--chunk-size <n>",
        "files per requestUploads/completeUploads call (at most 1000; a run starts at 32 and doubles up to it)",
      )
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
      const interrupt = interruptible(
        "the upload's manifest keeps what was done; rerun the same command to go on",
      );
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
        if (watch && !summary.interrupted && !summary.notFollowed && summary.totals.queued > 0) {
          try {
            const w = await watchBatch({
              endpoint: common.endpoint,
              apiKey,
              batchId: summary.batchId,
              out: null,
              view: progress,
              ignorePendingUpload: true,
              signal: interrupt.signal,
            });
            Object.assign(summary, {
              completed: w.counts.completed,
              failed: w.counts.failed,
              needsReview: w.counts.needsReview,
              failuresByCode: w.failuresByCode,
              seconds: summary.seconds + w.watchedSeconds,
            });
          } catch (err) {
            if (!isForbidden(err)) throw err;
            summary.notFollowed = NO_READ_SCOPE.replace("<batch>", summary.batchId);
          }
        }
        if (summary.interrupted && !o.json) throw interrupt.signal.reason;
        process.stdout.write(
          o.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`,
        );
        code = uploadExitCode(summary);
      } catch (err) {
        throw whenInterrupted(err, interrupt.signal);
      } finally {
        interrupt.dispose();
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
      const interrupt = interruptible(`stopped watching batch ${batchId} (it goes on processing)`);
      try {
        const r = await watchBatch({
          endpoint: normaliseEndpoint(o.endpoint),
          apiKey,
          batchId,
          json: !!o.json,
          signal: interrupt.signal,
        });
        code = r.exitCode;
      } catch (err) {
        throw whenInterrupted(err, interrupt.signal);
      } finally {
        interrupt.dispose();
      }
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
    .addOption(new Option("--limit <n>", "results (1..100)").default(10).argParser(int("limit", 1, 100)))
    .option("--category <name>", "only documents of this category; repeatable (any of)", collect, [])
    .option("--batch <id>", "only documents of this batch; repeatable (any of)", collect, [])
    .addOption(
      new Option("--from <date>", "the document's own date on or after (YYYY-MM-DD)").argParser(dateArg),
    )
    .addOption(
      new Option("--to <date>", "the document's own date on or before (YYYY-MM-DD)").argParser(dateArg),
    )
    .option(
      "--field <condition>",
      "a field condition: total>=100, vendor=ACME, currency=EUR|USD, iban? (exists); repeatable (all hold)",
      (v: string, prev: ReturnType<typeof parseFieldCondition>[]) => [...prev, fieldArg(v)],
      [],
    )
    .option(
      "--facet <name>",
      "count the matches by category, batch or field:<name>; repeatable",
      (v: string, prev: string[]) => [...prev, facetArg(v)],
      [],
    )
    .option("--json", "print results as JSON ({ query, totalCount, hits, facets })")
    .action(async (query: string, o) => {
      const endpoint = normaliseEndpoint(o.endpoint);
      const client = new GatewayClient(endpoint, clientApiKey(o.apiKey, endpoint));
      const filter = {
        ...(o.category.length ? { category: o.category } : {}),
        ...(o.batch.length ? { batchId: o.batch } : {}),
        ...(o.from ? { dateFrom: o.from } : {}),
        ...(o.to ? { dateTo: o.to } : {}),
        ...(o.field.length ? { fields: o.field } : {}),
      };
      const r = await searchAll(client, query, {
        mode: o.mode,
        limit: o.limit,
        filter: Object.keys(filter).length ? filter : undefined,
        facets: o.facet,
      });
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      process.stdout.write(formatHits(query, r.hits));
      if (r.facets.length) process.stdout.write(`${formatFacets(r.facets)}\n`);
    });

  program
    .command("batches")
    .description("list the batches, newest first, with their counts")
    .addOption(endpointOption())
    .addOption(keyOption())
    .addOption(new Option("--limit <n>", "batches").default(20).argParser(int("limit", 1)))
    .option("--json", "print as JSON")
    .action(async (o) => {
      const op = await import("./commands/operator.ts");
      const endpoint = normaliseEndpoint(o.endpoint);
      const client = new GatewayClient(endpoint, clientApiKey(o.apiKey, endpoint));
      const { batches, more } = await op.listBatches(client, o.limit);
      if (o.json) process.stdout.write(`${JSON.stringify(batches, null, 2)}\n`);
      else if (batches.length === 0) process.stderr.write("no batches\n");
      else {
        process.stdout.write(`${op.batchesTable(batches)}\n`);
        if (more) process.stderr.write(`(more: --limit ${o.limit * 2})\n`);
      }
    });

  program
    .command("documents")
    .description("list documents: of a batch, by status, error code or category (failures: --status FAILED)")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--batch <id>", "only this batch's documents")
    .addOption(
      new Option("--status <status>", "only documents in this status; repeatable")
        .choices(["PENDING_UPLOAD", "QUEUED", "PROCESSING", "COMPLETED", "FAILED"])
        .argParser((v: string, prev: string[] = []) => {
          const u = v.toUpperCase();
          if (!["PENDING_UPLOAD", "QUEUED", "PROCESSING", "COMPLETED", "FAILED"].includes(u))
            throw new InvalidArgumentError("must be PENDING_UPLOAD, QUEUED, PROCESSING, COMPLETED or FAILED");
          return [...prev, u];
        }),
    )
    .option("--error-code <code>", "only documents that failed with this code; repeatable", collect, [])
    .option("--category <name>", "only documents of this category; repeatable", collect, [])
    .option("--needs-review", "only documents flagged for review")
    .addOption(new Option("--limit <n>", "documents").default(50).argParser(int("limit", 1)))
    .option("--json", "print as JSON")
    .action(async (o) => {
      const op = await import("./commands/operator.ts");
      const endpoint = normaliseEndpoint(o.endpoint);
      const client = new GatewayClient(endpoint, clientApiKey(o.apiKey, endpoint));
      const r = await op.listDocuments(
        client,
        {
          batchId: o.batch,
          status: o.status,
          errorCode: o.errorCode,
          category: o.category,
          needsReview: o.needsReview ? true : undefined,
        },
        o.limit,
      );
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else if (r.documents.length === 0) process.stderr.write("no documents match\n");
      else {
        process.stdout.write(`${op.documentsTable(r.documents)}\n`);
        process.stderr.write(
          `${r.documents.length} of ${r.total} shown${r.more ? ` (more: --limit ${r.total})` : ""}\n`,
        );
      }
    });

  program
    .command("retry")
    .description(
      "queue failed documents again: a batch's (--batch, also its stuck ones) or these ids (admin key)",
    )
    .argument("[ids...]", "document ids (as listed by `docfleet documents --status FAILED`)")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--batch <id>", "retry this batch's failed documents and resume its stuck ones")
    .option("--include-completed", "with --batch: also run its completed documents again")
    .option("--json", "print as JSON")
    .action(async (ids: string[], o) => {
      const op = await import("./commands/operator.ts");
      const endpoint = normaliseEndpoint(o.endpoint);
      const client = new GatewayClient(endpoint, clientApiKey(o.apiKey, endpoint));
      const r = await op.retry(client, { batchId: o.batch, ids, includeCompleted: o.includeCompleted });
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else process.stdout.write(`${op.formatRetry(r, o.batch)}\n`);
      if (r.results.some((x) => x.status === "NOT_FOUND" || x.status === "BAD_STAGE"))
        code = ExitCode.PARTIAL;
    });

  program
    .command("consume")
    .description(
      "a hot folder: upload what is in DIR, then each file that appears, once each, after it is fully written (Ctrl-C stops; a restart uploads nothing twice)",
    )
    .argument("<dir>", "the folder to watch")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--name <name>", "name of the folder's batch (made at the first run)")
    .addOption(
      new Option("--stable-ms <ms>", "how long a file's size must stay the same before it is uploaded")
        .default(1000)
        .argParser(int("stable-ms", 50)),
    )
    .addOption(new Option("--state-dir <dir>", "where upload manifests are kept").env("DOCFLEET_STATE_DIR"))
    .option("--json", "one JSON line per run on stdout")
    .action(async (dir: string, o) => {
      const { consume } = await import("./commands/consume.ts");
      const endpoint = normaliseEndpoint(o.endpoint);
      const client = new GatewayClient(endpoint, clientApiKey(o.apiKey, endpoint), DEFAULT_RETRY);
      const interrupt = interruptible("the folder's manifest keeps what was uploaded; rerun to go on");
      try {
        await consume(client, {
          dir,
          stableMs: o.stableMs,
          filter: { include: [], exclude: [], hidden: false },
          endpoint,
          batchName: o.name,
          stateDir: o.stateDir ?? defaultStateDir(),
          concurrency: UPLOAD_DEFAULTS.concurrency,
          chunkSize: UPLOAD_DEFAULTS.chunkSize,
          retry: DEFAULT_RETRY,
          multipartThreshold: UPLOAD_DEFAULTS.multipartThreshold,
          signal: interrupt.signal,
          onError: (err) =>
            process.stderr.write(`docfleet consume: ${(err as Error)?.message ?? String(err)}\n`),
          onRun: (r) => {
            const line = {
              batchId: r.batchId,
              uploaded: r.uploaded,
              skipped: r.skipped,
              duplicates: r.duplicates,
            };
            if (o.json) process.stdout.write(`${JSON.stringify(line)}\n`);
            else if (r.uploaded || r.duplicates)
              process.stdout.write(
                `batch ${r.batchId}: ${r.uploaded} uploaded, ${r.duplicates} duplicates\n`,
              );
          },
        });
      } finally {
        interrupt.dispose();
      }
      if (interrupt.signal.aborted) code = ExitCode.INTERRUPTED;
    });

  program
    .command("delete")
    .description(
      "delete documents, or a batch with all its documents, leaving nothing of them in any store (admin key)",
    )
    .argument("[ids...]", "document ids")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--batch <id>", "delete this batch and all its documents")
    .option("--json", "print as JSON")
    .action(async (ids: string[], o) => {
      const op = await import("./commands/delete.ts");
      const endpoint = normaliseEndpoint(o.endpoint);
      const client = new GatewayClient(endpoint, clientApiKey(o.apiKey, endpoint));
      const r = await op.deleteTarget(client, { batchId: o.batch, ids });
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else process.stdout.write(`${op.formatDelete(r)}\n`);
      if (r.notFound.length > 0) code = ExitCode.PARTIAL;
    });

  program
    .command("cancel")
    .description(
      "cancel a batch: its unfinished documents fail with CANCELLED, completed ones stay (admin key; `retry --batch` runs them again)",
    )
    .argument("<batch>", "the batch id")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--json", "print as JSON")
    .action(async (batchId: string, o) => {
      const op = await import("./commands/delete.ts");
      const endpoint = normaliseEndpoint(o.endpoint);
      const client = new GatewayClient(endpoint, clientApiKey(o.apiKey, endpoint));
      const cancelled = await op.cancelBatch(client, batchId);
      if (o.json) process.stdout.write(`${JSON.stringify({ batchId, cancelled }, null, 2)}\n`);
      else process.stdout.write(`batch ${batchId}: ${cancelled} unfinished documents cancelled\n`);
    });

  const webhooks = program
    .command("webhooks")
    .description("webhooks: signed POSTs of the tenant's document and batch events to your URLs (admin key)");
  const hookClient = (o: { endpoint: string; apiKey?: string }) => {
    const endpoint = normaliseEndpoint(o.endpoint);
    return new GatewayClient(endpoint, clientApiKey(o.apiKey, endpoint));
  };
  webhooks
    .command("add")
    .description("add an endpoint and print its signing secret once (stored only encrypted)")
    .argument("<url>", "http:// or https:// URL that receives the POSTs")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--events <list>", "comma list of event types (default document.completed,document.failed)")
    .option("--description <text>", "a note for people")
    .option("--secret <secret>", "use this signing secret (16 to 200 characters) instead of a new one")
    .option("--disabled", "add it disabled (nothing is sent until `webhooks enable`)")
    .option("--json", "print the secret and the endpoint as JSON")
    .action(async (url: string, o) => {
      const op = await import("./commands/webhooks.ts");
      const events = o.events ? op.parseWebhookEvents(o.events) : undefined;
      const r = await op.addWebhook(hookClient(o), {
        url,
        events,
        description: o.description,
        secret: o.secret,
        disabled: o.disabled,
      });
      if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      else {
        process.stdout.write(`${r.secret}\n`);
        process.stderr.write(
          `webhook ${r.webhook.id} -> ${r.webhook.url} (${r.webhook.events.join(", ")})\nthe line above is its signing secret: shown this once (verify Docfleet-Signature with it)\n`,
        );
      }
    });
  webhooks
    .command("list")
    .description("list the endpoints (never their secrets)")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--json", "print as JSON")
    .action(async (o) => {
      const op = await import("./commands/webhooks.ts");
      const rows = await op.listWebhooks(hookClient(o));
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (rows.length === 0) process.stderr.write("no webhooks\n");
      else process.stdout.write(`${op.webhooksTable(rows)}\n`);
    });
  for (const [name, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const)
    webhooks
      .command(name)
      .description(
        enabled
          ? "resume an endpoint (its waiting deliveries go out)"
          : "pause an endpoint (deliveries wait)",
      )
      .argument("<id>", "the endpoint's id")
      .addOption(endpointOption())
      .addOption(keyOption())
      .option("--json", "print the endpoint as JSON")
      .action(async (id: string, o) => {
        const op = await import("./commands/webhooks.ts");
        const w = await op.setEnabled(hookClient(o), id, enabled);
        if (o.json) process.stdout.write(`${JSON.stringify(w, null, 2)}\n`);
        else process.stdout.write(`webhook ${w.id} ${w.enabled ? "enabled" : "disabled"}\n`);
      });
  webhooks
    .command("remove")
    .description("delete an endpoint and its delivery log")
    .argument("<id>", "the endpoint's id")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--json", "print as JSON")
    .action(async (id: string, o) => {
      const op = await import("./commands/webhooks.ts");
      await op.removeWebhook(hookClient(o), id);
      if (o.json) process.stdout.write(`${JSON.stringify({ id, removed: true })}\n`);
      else process.stdout.write(`webhook ${id} removed\n`);
    });
  webhooks
    .command("deliveries")
    .description("the delivery log, newest first: status, attempts, last answer, next attempt")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--webhook <id>", "only this endpoint's deliveries")
    .addOption(
      new Option("--status <status>", "only deliveries in this status").choices([
        "PENDING",
        "DELIVERED",
        "FAILED",
      ]),
    )
    .addOption(new Option("--limit <n>", "deliveries (at most 200)").default(50).argParser(int("limit", 1)))
    .option("--json", "print as JSON")
    .action(async (o) => {
      const op = await import("./commands/webhooks.ts");
      const rows = await op.listDeliveries(hookClient(o), {
        webhookId: o.webhook,
        status: o.status,
        limit: o.limit,
      });
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (rows.length === 0) process.stderr.write("no deliveries\n");
      else process.stdout.write(`${op.deliveriesTable(rows)}\n`);
    });
  webhooks
    .command("redeliver")
    .description("send a delivery again now, under the same id (a FAILED one, or any)")
    .argument("<delivery>", "the delivery's id (as `webhooks deliveries` lists it)")
    .addOption(endpointOption())
    .addOption(keyOption())
    .option("--json", "print the delivery as JSON")
    .action(async (id: string, o) => {
      const op = await import("./commands/webhooks.ts");
      const d = await op.redeliver(hookClient(o), id);
      if (o.json) process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      else process.stdout.write(`delivery ${d.id} queued again (${d.eventType} to webhook ${d.webhookId})\n`);
    });

  const keys = program
    .command("keys")
    .description(
      "manage API keys (on the database; while `serve` holds the embedded one, the local tenant's through it)",
    );
  keys
    .command("create")
    .description("create an API key and print it once (creates the tenant when no tenant has that name)")
    .requiredOption("--tenant <name>", "tenant name (`local`: the embedded mode's tenant)")
    .requiredOption(
      "--scopes <list>",
      "comma list of read, upload, admin (admin implies the others)",
      parseScopesArg,
    )
    .option("--name <name>", "what the key is for")
    .option("--expires <when>", "30d, 12h, 90m, 2w from now, or a date (2027-01-01)", expiryArg)
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
    // A port taken between the start-up check and listening.
    if (
      (err as NodeJS.ErrnoException)?.code === "EADDRINUSE" ||
      (err as NodeJS.ErrnoException)?.code === "EACCES"
    ) {
      const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
      process.stderr.write(
        `docfleet: cannot listen on ${e.address ?? "?"}:${e.port ?? "?"} (${e.code}); pick another --port\n`,
      );
      return ExitCode.USAGE;
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

function metricsPortOption(): Option {
  return new Option("--metrics-port <n>", "port of /metrics and /health (0: any free port; default 9464)")
    .env("METRICS_PORT")
    .argParser(int("metrics-port", 0));
}

function metricsHostOption(): Option {
  return new Option(
    "--metrics-host <address>",
    "address /metrics and /health listen on (default 127.0.0.1; 0.0.0.0 for a scraper on another host)",
  ).env("METRICS_HOST");
}

function understandConcurrencyOption(): Option {
  return new Option(
    "--understand-concurrency <n>",
    "documents in the understand stage at once (default: --concurrency); with Ollama about twice its parallel slots keeps them busy",
  )
    .env("WORKER_UNDERSTAND_CONCURRENCY")
    .argParser(int("understand-concurrency", 1));
}
