/**
 * Issue 15, hole 6 rerun: one tenant's multi-page TIFFs against another tenant's one-line text.
 *
 *   node --import tsx tests/bench/tenant-fairness.ts [pages=1990] [fractions=0.5,0] [stage budget ms=15000]
 *
 * For each DOCFLEET_TENANT_FAIR_SHARE in `fractions` (side by side, in this order, one fresh deployment
 * each): docfleet in this process (tests/helpers/system.ts: PGlite, memory queue, every worker role, two
 * slots per stage, the real sandboxed parser with OCR). The heavy tenant uploads 4 TIFFs of `pages` pages
 * of noise (sharp); once both parse slots hold its documents the other tenant uploads a one-line text.
 * Reported: the other tenant's latency (upload completed -> COMPLETED), what the heavy documents were
 * doing meanwhile, and how many heavy runs gave their slot back (STAGE_RETRY events naming it).
 * The stage budget defaults to 15000 ms here (a progress-aware parse may run 10 budgets).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import sharp from "sharp";
import { inProcessSystem, perStage } from "../helpers/system.ts";
import { pollUntil } from "../helpers/wait.ts";

const pages = Number(process.argv[2] ?? 1990);
const fractions = (process.argv[3] ?? "0.5,0").split(",").map(Number);
const timeoutMs =
  process.env.DOCFLEET_STAGE_TIMEOUT_MS ??
  (process.argv[4] !== "--one" ? process.argv[4] : undefined) ??
  "15000";
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function tiff(seed: number): Promise<Buffer> {
  return sharp({
    create: {
      width: 64,
      height: 64 * pages,
      channels: 3,
      background: { r: 255 - seed, g: 255, b: 255 },
      noise: { type: "gaussian", mean: 128, sigma: 90 },
      pageHeight: 64,
    },
  })
    .greyscale()
    .tiff({ compression: "deflate" })
    .toBuffer();
}

// Each setting in a child process of its own (`--one F`), in turn: a deployment whose heavy parses may
// still run for 10 budgets is left behind by exiting, not waited for.
if (process.argv[4] !== "--one") {
  const rows = fractions.map(
    (f) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [...process.execArgv, process.argv[1]!, String(pages), String(f), "--one"],
          {
            encoding: "utf8",
            env: { ...process.env, DOCFLEET_STAGE_TIMEOUT_MS: timeoutMs, DOCFLEET_LOG_LEVEL: "error" },
            stdio: ["ignore", "pipe", "inherit"],
          },
        )
          .trim()
          .split("\n")
          .at(-1)!,
      ) as Awaited<ReturnType<typeof run>>,
  );
  console.log(`heavy tenant: 4 TIFFs of ${pages} pages; stage budget ${timeoutMs} ms`);
  console.log(
    "\n| DOCFLEET_TENANT_FAIR_SHARE | other tenant's text: latency s | its end | heavy runs that yielded | heavy documents then |",
  );
  console.log("|---|---|---|---|---|");
  for (const r of rows)
    console.log(`| ${r.fraction} | ${r.latencyS} | ${r.small} | ${r.heavyYields} | ${r.heavy.join(", ")} |`);
  process.exit(0);
}

const heavyFiles = await Promise.all([1, 2, 3, 4].map(tiff));
console.error(
  `heavy tenant: 4 TIFFs of ${pages} pages, ${heavyFiles.map((b) => Math.round(b.length / 1024)).join("/")} KiB; stage budget ${timeoutMs} ms`,
);

async function run(fraction: number) {
  const dir = await mkdtemp(join(tmpdir(), "docfleet-fairness-"));
  const system = await inProcessSystem(dir, {
    env: { DOCFLEET_TENANT_FAIR_SHARE: String(fraction), DOCFLEET_STAGE_TIMEOUT_MS: timeoutMs },
    gateway: false,
    worker: { roles: ["PARSE", "UNDERSTAND", "EMBED", "INDEX"], concurrency: perStage(2) },
  });
  const { intake } = system.app.services;
  const prisma = system.app.deps.db.prisma;
  const upload = async (tenantId: string, files: { name: string; bytes: Buffer }[]) => {
    const batch = await intake.createBatch(tenantId, { name: "fairness" });
    const out = await intake.requestUploads(
      tenantId,
      batch.id,
      files.map((f) => ({ name: f.name, size: f.bytes.length, sha256: sha(f.bytes) })),
    );
    const ids: string[] = [];
    for (const [i, o] of out.entries()) {
      if (o.status !== "UPLOAD") throw new Error(`unexpected ${o.status}`);
      await system.app.deps.store.put(o.document.objectKey, files[i]!.bytes);
      ids.push(o.document.id);
    }
    await intake.completeUploads(tenantId, ids);
    return ids;
  };
  try {
    await intake.ensureTenant("00000000-0000-4000-8000-00000000000a", "heavy");
    await intake.ensureTenant("00000000-0000-4000-8000-00000000000b", "small");
    const heavy = await upload(
      "00000000-0000-4000-8000-00000000000a",
      heavyFiles.map((bytes, i) => ({ name: `scan-${i + 1}.tiff`, bytes })),
    );
    // The attack's shape: both parse slots already hold the heavy tenant's documents (a row state no
    // event announces: the claim that sets PROCESSING emits nothing).
    await pollUntil(
      "both parse slots held by the heavy tenant",
      async () => (await prisma.document.count({ where: { id: { in: heavy }, status: "PROCESSING" } })) >= 2,
      { timeoutMs: 600_000, intervalMs: 100 },
    );
    const t0 = performance.now();
    const [small] = await upload("00000000-0000-4000-8000-00000000000b", [
      { name: "note.txt", bytes: Buffer.from("A one-line note from the other tenant.\n") },
    ]);
    const doc = await pollUntil(
      "the other tenant's document to finish",
      async () => {
        const d = await prisma.document.findUnique({
          where: { id: small! },
          select: { status: true, stage: true },
        });
        return d?.status === "COMPLETED" || d?.status === "FAILED" ? d : undefined;
      },
      { timeoutMs: 1_800_000, intervalMs: 100 },
    );
    const latency = performance.now() - t0;
    const heavyRows = await prisma.document.findMany({
      where: { id: { in: heavy } },
      select: { status: true, stage: true, errorCode: true },
    });
    const yields = await prisma.event.count({
      where: { documentId: { in: heavy }, type: "stage.retry" },
    });
    return {
      fraction,
      latencyS: (latency / 1000).toFixed(1),
      small: doc.status,
      heavy: heavyRows.map(
        (r) => `${r.status}${r.stage ? `@${r.stage}` : ""}${r.errorCode ? `(${r.errorCode})` : ""}`,
      ),
      heavyYields: yields,
    };
  } finally {
    // Not stopped: the heavy documents' parses may run 10 budgets more; the process exits instead.
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
  }
}

console.log(JSON.stringify(await run(fractions[0]!)));
process.exit(0);
