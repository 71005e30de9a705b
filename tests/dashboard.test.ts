import { readFileSync } from "node:fs";
import { Metrics, SERIES } from "@docfleet/pipeline";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/cli.ts";

// The Grafana dashboard (provisioned by docker/) may only name series our code exports.

const FUNCTIONS_AND_KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "offset",
  "bool",
  "le",
]);

/** Metric names an expression selects: identifiers outside label matchers, not functions, keywords or label lists. */
export function seriesOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, "") // label matchers
    .replace(/\[[^\]]*\]/g, "") // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ""); // label lists
  return [...bare.matchAll(/(?<![\w:.])[a-zA-Z_:][\w:]*\b(?!\s*\()/g)]
    .map((m) => m[0])
    .filter((t) => !FUNCTIONS_AND_KEYWORDS.has(t) && !/^\d/.test(t) && !/^e\d+$/.test(t));
}

describe("Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(`${ROOT}docker/grafana/dashboards/docfleet.json`, "utf8")) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  const exprs = dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
  );

  it("names only series a docfleet process exports", async () => {
    const metrics = new Metrics();
    const exported = new Set<string>();
    for (const m of await metrics.registry.getMetricsAsJSON()) {
      exported.add(m.name);
      if (String(m.type) === "histogram")
        for (const s of ["_bucket", "_count", "_sum"]) exported.add(m.name + s);
    }
    expect(exprs.length).toBeGreaterThan(10);
    for (const { panel, expr } of exprs) {
      const names = seriesOf(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) expect(exported, `${panel}: ${n} in ${expr}`).toContain(n);
    }
  });

  it("covers every docfleet series", () => {
    const used = new Set(
      exprs.flatMap((e) => seriesOf(e.expr)).map((n) => n.replace(/_(bucket|count|sum)$/, "")),
    );
    expect(SERIES.filter((s) => !used.has(s))).toEqual([]);
  });

  it("reads expressions the way PromQL does", () => {
    expect(
      seriesOf(
        'histogram_quantile(0.95, sum by (le, stage) (rate(docfleet_stage_duration_seconds_bucket{outcome="ok"}[5m])))',
      ),
    ).toEqual(["docfleet_stage_duration_seconds_bucket"]);
    expect(seriesOf("max by (instance) (process_resident_memory_bytes) / 1e9")).toEqual([
      "process_resident_memory_bytes",
    ]);
    expect(seriesOf("sum(rate(not_ours_total[5m]))")).toEqual(["not_ours_total"]);
  });
});
