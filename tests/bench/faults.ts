/**
 * Fault injection, the long form (issue 16; tests/e2e/faults.test.ts is the short form CI runs): a
 * gateway, a relay and a worker as processes over this machine's PostgreSQL and RabbitMQ and an s3rver,
 * each reached through a TCP proxy that is cut to take a dependency away (the shared services keep
 * running), or a process killed with SIGKILL. Each fault runs `runs` times on a batch of `docs` documents,
 * mid-batch; then the batch is counted from the database once every document is final, or once none of
 * them changed for `stall` seconds (what is not final then is stuck, not slow), at most `settle` seconds.
 *
 *   npx tsx tests/bench/faults.ts [--docs 1000] [--runs 3] [--down 25] [--settle 900] [--stall 120]
 *        [--faults worker-kill,relay-kill,database-down,store-down,broker-down]
 *        [--bin <another build's apps/cli/bin/docfleet.mjs> --label before]
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
    bin: { type: "string" },
    label: { type: "string", default: "docfleet" },
  },
});
const docs = Number(values.docs);
const runs = Number(values.runs);
const faults = values.faults!.split(",").filter(Boolean) as Fault[];
for (const f of faults)
  if (!FAULTS.includes(f)) throw new Error(`unknown fault ${f}; one of ${FAULTS.join(", ")}`);

const dir = await mkdtemp(join(tmpdir(), "docfleet-bench-faults-"));
const d = await faultDeployment(dir, {}, values.bin);
const results: FaultOutcome[] = [];
try {
  for (const fault of faults)
    for (let i = 1; i <= runs; i++) {
      const o = await d.run(fault, docs, {
        downMs: Number(values.down) * 1000,
        settleMs: Number(values.settle) * 1000,
        stallMs: Number(values.stall) * 1000,
      });
      results.push(o);
      console.log(`${values.label} run ${i}/${runs}: ${formatOutcome(o)}`);
      if (o.exited.length)
        console.log(`  processes that exited: ${o.exited.map((e) => e.split(":")[0]).join(", ")}`);
    }
} finally {
  await d.close();
  await rm(dir, { recursive: true, force: true });
}

const s = (v: number | null) => (v === null ? "never" : v.toFixed(1));
console.log(`\n${values.label}: ${docs} documents a run`);
console.log(
  "| fault | runs | completed | stuck | failed by the fault | duplicates | completion events ≠ 1 | counters ≠ rows | resumed after (s, worst) | all final after (s, worst) |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const fault of faults) {
  const rs = results.filter((r) => r.fault === fault);
  const sum = (k: "completed" | "stuck" | "failed" | "duplicates" | "completionMismatches") =>
    rs.reduce((a, r) => a + r[k], 0);
  const worst = (k: "resumedS" | "settledS") =>
    rs.some((r) => r[k] === null) ? null : Math.max(...rs.map((r) => r[k] as number));
  console.log(
    `| ${fault} | ${rs.length} | ${sum("completed")}/${rs.length * docs} | ${sum("stuck")} | ${sum("failed")} | ${sum("duplicates")} | ${sum("completionMismatches")} | ${rs.filter((r) => r.counterMismatches.length).length} | ${s(worst("resumedS"))} | ${s(worst("settledS"))} |`,
  );
}
process.exit(0);
