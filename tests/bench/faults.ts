/**
 * Fault injection, the long form (issue 16; tests/e2e/faults.test.ts is the short form CI runs): a
 * gateway, a relay and a worker as processes over this machine's PostgreSQL and RabbitMQ and an s3rver,
 * each reached through a TCP proxy that is cut to take a dependency away (the shared services keep
 * running), or a process killed with SIGKILL. Each fault runs `runs` times on a batch of `docs` documents,
 * mid-batch; then the batch is counted from the database once every document is final, or once none of
 * them changed for `stall` seconds (what is not final then is stuck, not slow), at most `settle` seconds.
 *
 *   npx tsx tests/bench/faults.ts [--docs 1000] [--runs 3] [--down 25] [--settle 900] [--stall 120]
 *        [--faults worker-kill,gateway-kill,relay-kill,database-down,store-down,broker-down]
 *        [--sequence database-down,store-down,worker-kill,database-down,...]
 *        [--bin <another build's apps/cli/bin/docfleet.mjs> --label before]
 *
 * `--sequence` runs the faults in that order, repeats included, instead of each of --faults --runs
 * times: interleaved, a run cut short by time still has each fault at least once. The table so far is
 * printed after each run (and on SIGTERM/SIGINT), so a log cut short still ends with one.
 *
 * `--bin` runs another commit's build (a git worktree with `node apps/cli/scripts/build.mjs`) for a
 * before/after table. Prints one line per run and a table: fault, runs, completed, stuck, failed by the
 * fault, duplicate index entries, worst recovery (seconds from the fault's end to the next completion,
 * and until every document was final).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { FAULTS, type Fault, type FaultOutcome, faultDeployment, formatOutcome } from "../helpers/faults.ts";

const { values } = parseArgs({
  options: {
    docs: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
    down: { type: "string", default: "25" },
    settle: { type: "string", default: "900" },
    stall: { type: "string", default: "120" },
    faults: { type: "string", default: FAULTS.join(",") },
    sequence: { type: "string" },
    bin: { type: "string" },
    label: { type: "string", default: "docfleet" },
  },
});
const docs = Number(values.docs);
const runs = Number(values.runs);
const sequence = (
  values.sequence
    ? values.sequence.split(",").filter(Boolean)
    : values.faults!.split(",").flatMap((f) => (f ? Array<string>(runs).fill(f) : []))
) as Fault[];
for (const f of sequence)
  if (!FAULTS.includes(f)) throw new Error(`unknown fault ${f}; one of ${FAULTS.join(", ")}`);
const faults = [...new Set(sequence)];

const dir = await mkdtemp(join(tmpdir(), "docfleet-bench-faults-"));
const d = await faultDeployment(dir, {}, values.bin);
const results: FaultOutcome[] = [];
let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${values.label}: stopped by ${signal} after ${results.length} of ${sequence.length} runs`);
    table();
    // A watchdog, not a wait: exit once the deployment is closed, or after 20 s if closing hangs.
    setTimeout(() => process.exit(1), 20_000).unref();
    void d.close().finally(() => process.exit(1));
  });
try {
  for (const [i, fault] of sequence.entries()) {
    const o = await d.run(fault, docs, {
      downMs: Number(values.down) * 1000,
      settleMs: Number(values.settle) * 1000,
      stallMs: Number(values.stall) * 1000,
    });
    results.push(o);
    console.log(
      `${values.label} run ${i + 1}/${sequence.length} (${new Date().toISOString()}): ${formatOutcome(o)}`,
    );
    if (o.exited.length)
      console.log(`  processes that exited: ${o.exited.map((e) => e.split(":")[0]).join(", ")}`);
    if (i + 1 < sequence.length) table();
  }
} finally {
  await d.close();
  await rm(dir, { recursive: true, force: true });
}
console.log(`\n${values.label}: all ${sequence.length} runs done`);
table();
process.exit(0);

function table() {
  const s = (v: number | null) => (v === null ? "never" : v.toFixed(1));
  console.log(`\n${values.label}: ${docs} documents a run`);
  console.log(
    "| fault | runs | completed | stuck | failed by the fault | duplicates | completion events ≠ 1 | counters ≠ rows | resumed after (s, worst) | all final after (s, worst) |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const fault of faults) {
    const rs = results.filter((r) => r.fault === fault);
    if (!rs.length) continue;
    const sum = (k: "completed" | "stuck" | "failed" | "duplicates" | "completionMismatches") =>
      rs.reduce((a, r) => a + r[k], 0);
    const worst = (k: "resumedS" | "settledS") =>
      rs.some((r) => r[k] === null) ? null : Math.max(...rs.map((r) => r[k] as number));
    console.log(
      `| ${fault} | ${rs.length} | ${sum("completed")}/${rs.length * docs} | ${sum("stuck")} | ${sum("failed")} | ${sum("duplicates")} | ${sum("completionMismatches")} | ${rs.filter((r) => r.counterMismatches.length).length} | ${s(worst("resumedS"))} | ${s(worst("settledS"))} |`,
    );
  }
}
