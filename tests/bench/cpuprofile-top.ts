/**
 * Summarises V8 CPU profiles (`node --cpu-prof` output): self time by function and by package or file
 * group, over every .cpuprofile under the given folders (a process's main thread and its workers).
 *
 *   node --import tsx tests/bench/cpuprofile-top.ts DIR... [--top 25]
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const topAt = args.indexOf("--top");
const TOP = topAt >= 0 ? Number(args[topAt + 1]) : 25;
const dirs = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--top");

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else if (e.name.endsWith(".cpuprofile")) out.push(p);
  }
  return out;
}

/** A package (node_modules/<pkg>), a workspace folder (packages/pipeline/src/repositories) or a V8 bucket. */
function group(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith("node:")) return url;
  const ws = /(apps|packages)\/[^/]+\/(src|dist)\/([^/]+\/)?/.exec(url);
  if (ws) return ws[0].replace(/\/$/, "");
  return url.split("/").slice(-2).join("/");
}

for (const dir of dirs) {
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  let total = 0;
  for (const f of await files(dir)) {
    const p = JSON.parse(await readFile(f, "utf8")) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const n = byId.get(p.samples[i]!)!;
      const us = p.timeDeltas[i] ?? 0;
      const { functionName, url, lineNumber } = n.callFrame;
      if (functionName === "(idle)" || functionName === "(program)") continue;
      const short = url.replace(/^.*node_modules\//, "").replace(/^.*\/(apps|packages)\//, "$1/");
      const key = `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + us);
      const g = group(url, functionName);
      groups.set(g, (groups.get(g) ?? 0) + us);
      total += us;
    }
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  console.log(`\n## ${dir}: ${(total / 1000).toFixed(0)} ms busy (idle and (program) left out)\n`);
  console.log("by package / folder (self time):");
  for (const [k, v] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    console.log(`${ms(v)} ${pct(v)}  ${k}`);
  console.log("\nby function (self time):");
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    console.log(`${ms(v)} ${pct(v)}  ${k}`);
}
