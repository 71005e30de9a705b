import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
// The CLI's modules by their paths: its barrel (@docfleet/cli) also loads its system starter.
import { GatewayClient } from "@docfleet/cli/client";
import { UPLOAD_DEFAULTS, type UploadOptions, upload, uploadExitCode } from "@docfleet/cli/commands/upload";
import { resolveSources } from "@docfleet/cli/upload/sources";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, runCli } from "../helpers/cli.ts";
import { batchDocuments, embeddedGateway, writeFiles } from "../helpers/upload.ts";
import { whenFiles } from "../helpers/wait.ts";

/**
 * A proxy in front of the gateway that misbehaves on purpose: `fault(n, req)` decides, for the n-th
 * request, to answer 503, to drop the connection, or to pass it on. It counts what went through.
 */
type Fault = (n: number, method: string, path: string) => "503" | "drop" | "slow" | null;

async function faultyProxy(port: number, target: string, fault: Fault) {
  const seen: { method: string; path: string; outcome: string }[] = [];
  const server: Server = createServer((req, res) => {
    const n = seen.length + 1;
    const what = fault(n, req.method ?? "", req.url ?? "");
    seen.push({ method: req.method ?? "", path: req.url ?? "", outcome: what ?? "ok" });
    if (what === "503") {
      req.resume();
      res.writeHead(503, { "retry-after": "0", "content-type": "text/plain" }).end("try again");
      return;
    }
    if (what === "drop") {
      req.resume();
      req.once("end", () => req.socket.destroy());
      return;
    }
    const forward = () => {
      const up = httpRequest(
        `${target}${req.url}`,
        { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    };
    if (what === "slow") setTimeout(forward, 250);
    else forward();
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe("docfleet upload through a faulty network", () => {
  let dir: string;
  let proxyPort: number;
  let gateway: Awaited<ReturnType<typeof embeddedGateway>>;
  let proxy: Awaited<ReturnType<typeof faultyProxy>> | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-upload-"));
    proxyPort = await freePort();
    // Signed upload URLs point at the proxy, so the bytes go through it as well as GraphQL.
    gateway = await embeddedGateway(join(dir, "data"), () => `http://127.0.0.1:${proxyPort}`);
  }, 120_000);

  afterAll(async () => {
    await proxy?.close();
    await gateway?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("retries 503s and dropped connections and lands every file exactly once", async () => {
    // every 5th request answers 503, every 7th loses its connection after the request was sent
    proxy = await faultyProxy(proxyPort, gateway.url, (n) =>
      n % 5 === 0 ? "503" : n % 7 === 0 ? "drop" : null,
    );
    const files = await writeFiles(join(dir, "flaky"), 300);
    const res = await runCli([
      "upload",
      join(dir, "flaky"),
      "--endpoint",
      proxy.url,
      "--json",
      "--no-wait",
      "--chunk-size",
      "50",
    ]);
    expect(res.code, res.stderr).toBe(0);
    const s = JSON.parse(res.stdout);
    expect([s.files, s.uploaded, s.duplicates]).toEqual([300, 300, 0]);
    expect(proxy.seen.filter((r) => r.outcome === "503").length).toBeGreaterThan(50);
    expect(proxy.seen.filter((r) => r.outcome === "drop").length).toBeGreaterThan(30);
    // Dropped uploads and dropped requestUploads/completeUploads were all retried; nothing doubled.
    const docs = await batchDocuments(gateway.url, s.batchId);
    expect(docs.map((d) => d.name).sort()).toEqual([...files.keys()].sort());
    for (const d of docs) expect(d.sha256).toBe(files.get(d.name));
    expect(new Set(docs.map((d) => d.status))).toEqual(new Set(["QUEUED"]));
  }, 120_000);

  it("sends a large file in parts and, after a crash mid-file, sends only the parts it lacks", async () => {
    await proxy?.close();
    // part PUTs take a while, so that the stop below lands mid-file
    let slow = true;
    proxy = await faultyProxy(proxyPort, gateway.url, (_n, method) =>
      slow && method === "PUT" ? "slow" : null,
    );
    const big = join(dir, "big");
    await mkdir(big);
    const body = randomBytes(23 * 1024 * 1024); // 5 parts of 5 MiB
    await writeFile(join(big, "scan.tif"), body);
    await writeFile(join(big, "small.txt"), "a small one");
    const stateDir = join(dir, "state-big");
    const opts: UploadOptions = {
      ...UPLOAD_DEFAULTS,
      sources: await resolveSources([big]),
      endpoint: `http://127.0.0.1:${proxyPort}`,
      stateDir,
      multipartThreshold: 6 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
      concurrency: 2,
      wait: false,
      progress: null,
    };
    // First run: stop it (as Ctrl-C does) once two parts are recorded in the manifest.
    const stop = new AbortController();
    const manifests = join(stateDir, "uploads");
    await mkdir(manifests, { recursive: true }); // there to be watched before the run writes to it
    const watcher = whenFiles(
      manifests,
      "two parts recorded in the manifest",
      async () => {
        const names = await readdir(manifests).catch(() => [] as string[]);
        const text = names[0] ? await readFile(join(manifests, names[0]), "utf8").catch(() => "") : "";
        return (text.match(/"t":"pt"/g) ?? []).length >= 2;
      },
      { stop: stop.signal, timeoutMs: 100_000 },
    ).then((two) => {
      if (two) stop.abort(new Error("interrupted"));
    });
    const url = proxy.url;
    const first = await upload(new GatewayClient(url), { ...opts, signal: stop.signal });
    stop.abort();
    await watcher;
    expect(first.interrupted).toBe(true);
    const putsBefore = proxy.seen.filter((r) => r.method === "PUT").length;
    expect(putsBefore).toBeGreaterThanOrEqual(2);

    slow = false;
    const second = await upload(new GatewayClient(url), opts);
    expect(second.interrupted).toBe(false);
    expect(second.resumed).toBe(true);
    const putsAfter = proxy.seen.filter((r) => r.method === "PUT").length - putsBefore;
    // Five parts in all: the resumed run sent at most the ones not recorded (a part in flight at the
    // stop may have been stored without being recorded, and goes again).
    expect(putsAfter).toBeLessThanOrEqual(5 - 2);
    expect(second.totals.queued).toBe(2);
    const docs = await batchDocuments(gateway.url, second.batchId);
    const scan = docs.find((d) => d.name === "scan.tif");
    expect(scan?.sha256).toBe(createHash("sha256").update(body).digest("hex"));
    expect(scan?.status).toBe("QUEUED");
    expect(scan?.size).toBe(body.length);
  }, 120_000);
});

describe("docfleet upload: errors people meet", () => {
  let dir: string;
  let gateway: Awaited<ReturnType<typeof embeddedGateway>>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "docfleet-upload-err-"));
    gateway = await embeddedGateway(join(dir, "data"));
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("an unreachable gateway exits 3 with a hint and no manifest is lost", async () => {
    const port = await freePort();
    await writeFiles(join(dir, "a"), 3);
    const res = await runCli([
      "upload",
      join(dir, "a"),
      "--endpoint",
      `http://127.0.0.1:${port}`,
      "--retries",
      "1",
    ]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it("a bad API key exits 3 and says which setting to fix", async () => {
    const res = await runCli(["upload", join(dir, "a"), "--endpoint", gateway.url, "--api-key", "nope"]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/refused the API key.*DOCFLEET_API_KEY/);
  });

  it("a missing path or a bad option exits 2", async () => {
    expect((await runCli(["upload", join(dir, "missing"), "--endpoint", gateway.url])).code).toBe(2);
    expect((await runCli(["upload", join(dir, "a"), "--chunk-size", "5000"])).code).toBe(2);
    expect((await runCli(["upload", join(dir, "a"), "--multipart-threshold", "lots"])).code).toBe(2);
    const r = await runCli([
      "upload",
      join(dir, "a"),
      "--endpoint",
      gateway.url,
      "--batch",
      crypto.randomUUID(),
    ]);
    expect([r.code, /not found/.test(r.stderr)]).toEqual([2, true]);
  });

  it("a file that vanished before it was read fails alone; the rest lands and the exit code is 4", async () => {
    const src = join(dir, "vanish");
    await writeFiles(src, 5);
    await writeFile(join(src, "gone.txt"), "soon gone");
    const sources = await resolveSources([src, join(src, "gone.txt")]);
    await unlink(join(src, "gone.txt"));
    const s = await upload(new GatewayClient(gateway.url), {
      ...UPLOAD_DEFAULTS,
      sources,
      endpoint: gateway.url,
      stateDir: join(dir, "state-vanish"),
      wait: false,
      progress: null,
    });
    expect(s.uploaded).toBe(5);
    expect(s.problems.unreadable).toBe(1);
    expect(s.unreadable[0]).toMatchObject({ name: "gone.txt", code: "UNREADABLE" });
    expect(s.unreadable[0]!.message).toMatch(/ENOENT/);
    expect(uploadExitCode(s)).toBe(4);
  });

  it("the same bytes under several names, registered in different chunks: one document, the rest duplicates", async () => {
    // One file per chunk and three chunks in flight: a later chunk registers the content while the first
    // document is still PENDING_UPLOAD, which the gateway answers with that document's target (a rerun's
    // resume); the CLI must count it a duplicate, not send and count the one document twice.
    const src = join(dir, "twins");
    await mkdir(src, { recursive: true });
    for (let i = 0; i < 8; i++) await writeFile(join(src, `twin-${i}.txt`), "the very same bytes\n");
    await writeFile(join(src, "other.txt"), "different bytes\n");
    const s = await upload(new GatewayClient(gateway.url), {
      ...UPLOAD_DEFAULTS,
      sources: await resolveSources([src]),
      endpoint: gateway.url,
      stateDir: join(dir, "state-twins"),
      chunkSize: 1,
      wait: false,
      progress: null,
    });
    expect([s.files, s.uploaded, s.duplicates, s.uploadFailed.length]).toEqual([9, 2, 7, 0]);
    expect(s.totals.queued).toBe(2);
    const docs = await batchDocuments(gateway.url, s.batchId);
    expect(docs.map((d) => d.size).sort()).toEqual([16, 20]);
  });

  it("files queued by a run killed before it recorded so are done on the rerun, not left pending", async () => {
    // A SIGKILL within the manifest's flush interval loses the last `u` and `q` lines: the documents are queued at
    // the gateway, the manifest still holds them pending. The rerun registers them again, the gateway
    // answers "already in this batch", and they must leave the pending set (pendingLeft 0, manifest done).
    const src = join(dir, "lost-q");
    await writeFiles(src, 6);
    const opts: UploadOptions = {
      ...UPLOAD_DEFAULTS,
      sources: await resolveSources([src]),
      endpoint: gateway.url,
      stateDir: join(dir, "state-lost-q"),
      wait: false,
      progress: null,
    };
    const first = await upload(new GatewayClient(gateway.url), opts);
    expect([first.uploaded, first.pendingLeft]).toEqual([6, 0]);
    const done = first.manifest;
    const kept = (await readFile(done, "utf8")).split("\n").filter((l) => !/^\{"t":"[quw]"/.test(l));
    await writeFile(done.replace(/\.done\.jsonl$/, ".jsonl"), kept.join("\n"));
    await unlink(done);
    const again = await upload(new GatewayClient(gateway.url), opts);
    expect([again.batchId, again.resumed, again.uploaded, again.inBatch]).toEqual([
      first.batchId,
      true,
      0,
      6,
    ]);
    expect(again.pendingLeft).toBe(0);
    expect(again.manifest).toMatch(/\.done\.jsonl$/);
    expect(await batchDocuments(gateway.url, first.batchId)).toHaveLength(6);
  });

  it("globs, include and exclude pick the files; --dry-run lists them and contacts nobody", async () => {
    const src = join(dir, "mixed");
    await mkdir(join(src, "keep"), { recursive: true });
    await mkdir(join(src, "node_modules"), { recursive: true });
    await mkdir(join(src, ".git"), { recursive: true });
    for (const f of ["keep/a.pdf", "keep/b.txt", "c.pdf", "node_modules/d.pdf", ".git/e.pdf", "keep/.f.pdf"])
      await writeFile(join(src, f), f);
    await symlink(join(src, "c.pdf"), join(src, "link.pdf"));
    const dry = await runCli([
      "upload",
      `${src}/**/*.pdf`,
      "--exclude",
      "node_modules",
      "--dry-run",
      "--endpoint",
      "http://127.0.0.1:9",
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(
      dry.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t")[0])
        .sort(),
    ).toEqual(["c.pdf", "keep/a.pdf"]);
    expect(dry.stderr).toMatch(/would upload 2/);

    const res = await runCli([
      "upload",
      src,
      "--include",
      "*.pdf",
      "--include",
      "keep/*.txt",
      "--exclude",
      "node_modules/**",
      "--hidden",
      "--endpoint",
      gateway.url,
      "--no-wait",
      "--json",
    ]);
    expect(res.code, res.stderr).toBe(0);
    const s = JSON.parse(res.stdout);
    const names = (await batchDocuments(gateway.url, s.batchId)).map((d) => d.name).sort();
    expect(names).toEqual([".git/e.pdf", "c.pdf", "keep/.f.pdf", "keep/a.pdf", "keep/b.txt"]);
    expect(s.passedOver.special).toBe(1); // the link, not followed
  });

  it("--batch adds to an existing batch; rerunning the same command adds only what is new", async () => {
    const src = join(dir, "grow");
    await writeFiles(src, 4);
    const first = JSON.parse(
      (await runCli(["upload", src, "--endpoint", gateway.url, "--no-wait", "--json"])).stdout,
    );
    await writeFile(join(src, "late.txt"), "arrived later");
    const again = await runCli(["upload", src, "--endpoint", gateway.url, "--no-wait", "--json"]);
    const s = JSON.parse(again.stdout);
    expect([s.batchId, s.skipped, s.uploaded]).toEqual([first.batchId, 4, 1]);
    const other = join(dir, "other");
    await writeFiles(other, 2);
    const added = JSON.parse(
      (
        await runCli([
          "upload",
          other,
          "--batch",
          first.batchId,
          "--endpoint",
          gateway.url,
          "--no-wait",
          "--json",
        ])
      ).stdout,
    );
    expect([added.batchId, added.uploaded]).toEqual([first.batchId, 2]);
    expect(await batchDocuments(gateway.url, first.batchId)).toHaveLength(7);
  });
});
