// Prints one closing line "N passed, N failed" (", N skipped") summed over every test file of the
// vitest JSON report, for CI. A missing report counts as a failure.
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? ".tmp/vitest.json";
let report;
try {
  report = JSON.parse(readFileSync(file, "utf8"));
} catch {
  console.log("0 passed, 1 failed");
  console.error(`test-summary: no vitest report at ${file}`);
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
// a file that failed to load has no tests but is a failure
const failed =
  (report.numFailedTests ?? 0) +
  (report.testResults ?? []).filter((f) => f.status === "failed" && f.assertionResults?.length === 0).length;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
