// docker/: the Dockerfiles and the compose stack, checked offline (no Docker engine here). Dockerfiles go
// through dockerfile-utils' validator and a parse of their instructions; compose.yaml through dclint (YAML,
// the compose JSON schema, its rules), then its docfleet services' environment through the same config
// parser the processes run (packages/pipeline/src/config.ts), so a missing or misspelt variable fails here.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { adapterConfig, baseEnvSchema, parseEnv } from "@docfleet/pipeline/config";
import { STAGES } from "@docfleet/pipeline/domain/messages";
import { parseRoles } from "@docfleet/worker";
import { DCLinter } from "dclint";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
// yaml is installed with dclint (which parses compose files with it)
import { parse as parseYaml } from "yaml";

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DOCKER = join(ROOT, "docker");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

// ---------------------------------------------------------------------------------------------------
// A small Dockerfile reader: instructions with continuation lines joined and comments dropped.

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}
interface Dockerfile {
  globalArgs: Map<string, string>;
  stages: Stage[];
}

function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let current: Instruction | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line.trim().startsWith("#") || (!current && line.trim() === "")) return;
    const continued = line.endsWith("\\");
    const body = continued ? line.slice(0, -1) : line;
    if (current) current.args += ` ${body.trim()}`;
    else {
      const m = /^\s*(\w+)\s*(.*)$/.exec(body);
      if (!m) throw new Error(`line ${i + 1}: cannot read ${JSON.stringify(raw)}`);
      current = { keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: i + 1 };
    }
    if (!continued) {
      instructions.push(current);
      current = undefined;
    }
  });
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ base: m[1]!, name: m[2]?.toLowerCase(), instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== "ARG") throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      const [name, value = ""] = ins.args.split("=", 2);
      globalArgs.set(name!, value);
    } else stages.at(-1)!.instructions.push(ins);
  }
  return { globalArgs, stages };
}

/** `${NAME}` and `$NAME` replaced from `vars`; an unknown name is an error (the build would get ""). */
function expandArgs(value: string, vars: Map<string, string>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    const v = vars.get(name);
    if (v === undefined) throw new Error(`\${${name}} has no default`);
    return v;
  });
}

/** Exec-form (JSON array) arguments of CMD, ENTRYPOINT or HEALTHCHECK ... CMD. */
function execForm(args: string): string[] {
  const json = args.slice(args.indexOf("["));
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) throw new Error(args);
  return parsed;
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

/** ENV KEY=VALUE pairs of a stage (values without quotes). */
function envOf(stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const ins of all(stage, "ENV")) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env.set(m[1]!, m[2]!.replace(/^"|"$/g, ""));
  }
  return env;
}

/** Root package.json's workspaces, expanded (apps/*, packages/*, tests), with their package.json. */
function workspaces(): { dir: string; pkg: { name: string; scripts?: Record<string, string> } }[] {
  const root = JSON.parse(read("package.json")) as { workspaces: string[] };
  return root.workspaces.flatMap((pattern) => {
    const dirs = pattern.endsWith("/*")
      ? readdirSync(join(ROOT, pattern.slice(0, -2)))
          .map((d) => `${pattern.slice(0, -2)}/${d}`)
          .filter((d) => existsSync(join(ROOT, d, "package.json")))
      : [pattern];
    return dirs.map((dir) => ({ dir, pkg: JSON.parse(read(`${dir}/package.json`)) }));
  });
}

/** `version` (x.y.z) within an engines range made of `^x.y.z` and `>=x.y.z` clauses joined by `||`. */
function satisfies(version: string, range: string): boolean {
  const parse = (v: string) => v.split(".").map(Number) as [number, number, number];
  const cmp = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
  const v = parse(version);
  return range.split("||").some((clause) => {
    const m = /^\s*(\^|>=)(\d+\.\d+\.\d+)\s*$/.exec(clause);
    if (!m) throw new Error(`engines clause not understood: ${clause}`);
    const min = parse(m[2]!);
    return cmp(v, min) >= 0 && (m[1] === ">=" || v[0] === min[0]);
  });
}

/** The defaults the processes use for settings a Dockerfile also names (OLLAMA_*_MODEL...). */
const CONFIG_DEFAULTS = baseEnvSchema.parse({});

const DOCKERFILES = {
  gateway: { file: "docker/gateway.Dockerfile", health: "gateway", command: ["gateway"] },
  worker: { file: "docker/worker.Dockerfile", health: "worker", command: ["worker"] },
  "worker-gpu": {
    file: "docker/worker-gpu.Dockerfile",
    health: "worker-gpu",
    command: ["worker", "--roles", "understand,embed"],
  },
} as const;

describe.each(Object.entries(DOCKERFILES))("%s Dockerfile", (_, spec) => {
  const text = read(spec.file);
  const df = parseDockerfile(text);
  const runtime = df.stages.at(-1)!;
  const names = df.stages.map((s) => s.name);

  it("has no dockerfile-utils diagnostics (errors or warnings)", () => {
    const diagnostics = validate(text).map((d) => `${d.range.start.line + 1}: ${d.message}`);
    expect(diagnostics).toEqual([]);
  });

  it("is multi-stage: deps, generate, prod-deps, then a final runtime stage", () => {
    for (const stage of ["deps", "generate", "prod-deps", "runtime"]) expect(names).toContain(stage);
    expect(runtime.name).toBe("runtime");
    expect(all(df.stages.find((s) => s.name === "generate")!, "FROM")).toEqual([]);
    expect(df.stages.find((s) => s.name === "generate")!.base).toBe("deps");
  });

  it("pins every base image to a versioned tag (no latest, no bare name)", () => {
    for (const stage of df.stages) {
      if (names.includes(stage.base.toLowerCase())) continue; // an earlier stage
      const image = expandArgs(stage.base, df.globalArgs);
      const tag = /:([^/:@]+)$/.exec(image)?.[1];
      expect(tag, image).toBeDefined();
      expect(tag, image).not.toBe("latest");
      expect(tag, image).toMatch(/\d/);
    }
  });

  it("runs on glibc (native sharp and canvas builds), not alpine/musl", () => {
    for (const stage of df.stages) expect(expandArgs(stage.base, df.globalArgs)).not.toMatch(/alpine/);
  });

  it("installs with npm ci from the lockfile, never npm install, and fetches no URL with ADD", () => {
    const runs = df.stages.flatMap((s) => all(s, "RUN")).map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.filter((r) => /\bnpm (install|i|add)\b/.test(r))).toEqual([]);
    const deps = df.stages.find((s) => s.name === "deps")!;
    expect(all(deps, "COPY").some((c) => /\bpackage-lock\.json\b/.test(c.args))).toBe(true);
    const adds = df.stages.flatMap((s) => all(s, "ADD"));
    expect(adds.filter((a) => /https?:\/\/|git@/.test(a.args))).toEqual([]);
    const prod = df.stages.find((s) => s.name === "prod-deps")!;
    expect(all(prod, "RUN").some((r) => /npm ci\b.*--omit=dev/.test(r.args))).toBe(true);
  });

  it("copies every workspace's package.json before npm ci (else the lockfile does not match)", () => {
    const deps = df.stages.find((s) => s.name === "deps")!;
    const copied = all(deps, "COPY").map((c) => c.args);
    for (const { dir } of workspaces()) {
      expect(
        copied.some((c) => c.includes(`${dir}/package.json`)),
        dir,
      ).toBe(true);
    }
  });

  it("generates every workspace that has a generate script, dependencies first", () => {
    const gen = df.stages.find((s) => s.name === "generate")!;
    const script = all(gen, "RUN")
      .map((r) => r.args)
      .join(" && ");
    const order = [...script.matchAll(/npm run generate -w (\S+)/g)].map((m) => m[1]!);
    const needed = workspaces()
      .filter((w) => w.pkg.scripts?.generate)
      .map((w) => w.pkg.name);
    expect([...order].sort()).toEqual([...needed].sort());
    // a workspace's generate runs after the generate of the workspaces it depends on
    for (const { pkg } of workspaces().filter((w) => order.includes(w.pkg.name))) {
      const deps = Object.keys((pkg as { dependencies?: Record<string, string> }).dependencies ?? {});
      for (const d of deps.filter((x) => order.includes(x)))
        expect(order.indexOf(d), `${d} before ${pkg.name}`).toBeLessThan(order.indexOf(pkg.name));
    }
    expect(envOf(gen).get("PRISMA_SCHEMA_ENGINE_BINARY")).toBeTruthy();
  });

  it("runs the final stage as a non-root user, in production, under an init", () => {
    const user = all(runtime, "USER").at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    expect(envOf(runtime).get("NODE_ENV")).toBe("production");
    const entrypoint = execForm(all(runtime, "ENTRYPOINT").at(-1)!.args);
    expect(entrypoint[0]).toBe("tini");
    expect(all(runtime, "RUN").some((r) => /apt-get install .*\btini\b/.test(r.args))).toBe(true);
  });

  it("has a HEALTHCHECK through docker/healthcheck.mjs, which the image contains", () => {
    const hc = all(runtime, "HEALTHCHECK");
    expect(hc).toHaveLength(1);
    expect(hc[0]!.args).not.toMatch(/^NONE/i);
    expect(execForm(hc[0]!.args)).toEqual(["node", "/app/docker/healthcheck.mjs", spec.health]);
    expect(
      all(runtime, "COPY").some((c) => c.args === "docker/healthcheck.mjs ./docker/healthcheck.mjs"),
    ).toBe(true);
  });

  it("copies only files that exist, and runs the CLI entry that exists", () => {
    for (const stage of df.stages) {
      for (const copy of all(stage, "COPY").filter((c) => !c.args.startsWith("--from"))) {
        const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith("--"));
        for (const src of parts.slice(0, -1)) {
          if (src === ".") continue;
          expect(existsSync(join(ROOT, src)), `${spec.file}:${copy.line} ${src}`).toBe(true);
        }
      }
    }
    expect(existsSync(join(ROOT, "apps/cli/bin/docfleet.mjs"))).toBe(true);
    expect(text).toContain("/app/apps/cli/bin/docfleet.mjs");
    expect(execForm(all(runtime, "CMD").at(-1)!.args)).toEqual(spec.command);
  });

  it("runs the compiled CLI: built in the generate stage, only apps/cli/{package.json,bin,dist} in the image", () => {
    const gen = df.stages.find((s) => s.name === "generate")!;
    expect(all(gen, "RUN").some((r) => /&& npm run build -w @docfleet\/cli -- --strict$/.test(r.args))).toBe(
      true,
    );
    const fromBuild = all(runtime, "COPY")
      .map((c) => c.args)
      .filter((c) => c.startsWith("--from=generate"));
    expect(fromBuild.sort()).toEqual([
      "--from=generate /app/apps/cli/bin ./apps/cli/bin",
      "--from=generate /app/apps/cli/dist ./apps/cli/dist",
      "--from=generate /app/apps/cli/package.json ./apps/cli/",
    ]);
    // the bin loads the bundle, never a TypeScript loader
    expect(read("apps/cli/bin/docfleet.mjs")).toContain("../dist/main.mjs");
    expect(read("apps/cli/bin/docfleet.mjs")).not.toMatch(/\btsx\b|\.ts"/);
  });

  it("runs a Node version inside the supported range (root package.json engines)", () => {
    const version = df.globalArgs.get("NODE_VERSION")!;
    const range = (JSON.parse(read("package.json")) as { engines: { node: string } }).engines.node;
    expect(satisfies(version, range), `${version} in ${range}`).toBe(true);
  });
});

describe("worker images", () => {
  it("the CPU worker consumes parse and index; the GPU worker understand and embed: every stage is covered", () => {
    const cpu = parseDockerfile(read("docker/worker.Dockerfile")).stages.at(-1)!;
    const gpuCmd = execForm(
      all(parseDockerfile(read("docker/worker-gpu.Dockerfile")).stages.at(-1)!, "CMD").at(-1)!.args,
    );
    const cpuRoles = parseRoles(envOf(cpu).get("WORKER_ROLES")!);
    const gpuRoles = parseRoles(gpuCmd[gpuCmd.indexOf("--roles") + 1]!);
    expect(new Set([...cpuRoles, ...gpuRoles])).toEqual(new Set(STAGES));
  });

  it("worker-gpu is based on ollama/ollama, can bake models, and defaults to the configured models", () => {
    const df = parseDockerfile(read("docker/worker-gpu.Dockerfile"));
    const runtime = df.stages.at(-1)!;
    expect(expandArgs(runtime.base, df.globalArgs)).toMatch(/^ollama\/ollama:\d/);
    const args = new Map(all(runtime, "ARG").map((a) => a.args.split("=", 2) as [string, string])) as Map<
      string,
      string
    >;
    expect(args.get("BAKE_MODELS")).toBe("0");
    expect(args.get("OLLAMA_TEXT_MODEL")).toBe(CONFIG_DEFAULTS.OLLAMA_TEXT_MODEL);
    expect(args.get("OLLAMA_VISION_MODEL")).toBe(CONFIG_DEFAULTS.OLLAMA_VISION_MODEL);
    expect(args.get("OLLAMA_EMBED_MODEL")).toBe(CONFIG_DEFAULTS.OLLAMA_EMBED_MODEL);
    expect(all(runtime, "RUN").some((r) => /BAKE_MODELS.*= "1".*--pull-only/.test(r.args))).toBe(true);
    const entrypoint = execForm(all(runtime, "ENTRYPOINT").at(-1)!.args);
    expect(entrypoint).toEqual(["tini", "--", "/usr/local/bin/worker-gpu-entrypoint.sh"]);
    expect(all(runtime, "COPY").some((c) => c.args.startsWith("docker/worker-gpu-entrypoint.sh "))).toBe(
      true,
    );
  });

  it("the GPU entrypoint is valid sh, executable, serves, pulls the three models, then execs the CLI", async () => {
    const path = join(DOCKER, "worker-gpu-entrypoint.sh");
    expect(statSync(path).mode & 0o111).not.toBe(0);
    await run("sh", ["-n", path]);
    const script = readFileSync(path, "utf8");
    expect(script).toMatch(/^#!\/bin\/sh\n/);
    // its defaults are the config's, for when the image's ENV is overridden with empty values
    for (const v of ["OLLAMA_TEXT_MODEL", "OLLAMA_VISION_MODEL", "OLLAMA_EMBED_MODEL"] as const)
      expect(script).toContain(`: "\${${v}:=${CONFIG_DEFAULTS[v]}}"`);
  });

  describe("the GPU entrypoint, run with fake ollama and node commands", () => {
    // `ollama` logs each call; `show` succeeds only for the models in $PRESENT; `serve` records its pid
    // and waits (its output detached, or the test would wait for it); `list` answers once serve has
    // started when $NEEDS_SERVE is set. `node` logs its arguments: the entrypoint's last step is `exec node <cli> "$@"`.
    const FAKE_OLLAMA = `#!/bin/sh
echo "ollama $* host=$OLLAMA_HOST" >> "$CALLS"
case "$1" in
  serve) echo $$ > "$SERVE_PID"; exec sleep 30 </dev/null >/dev/null 2>&1 ;;
  list) [ -z "$OLLAMA_DOWN" ] && { [ -z "$NEEDS_SERVE" ] || [ -s "$SERVE_PID" ]; } ;;
  show) case " $PRESENT " in *" $2 "*) exit 0 ;; *) exit 1 ;; esac ;;
  pull) exit 0 ;;
esac
`;
    const FAKE_NODE = `#!/bin/sh
echo "node $*" >> "$CALLS"
`;

    async function entrypoint(args: string[], env: Record<string, string>) {
      const dir = mkdtempSync(join(tmpdir(), "docfleet-entrypoint-"));
      writeFileSync(join(dir, "ollama"), FAKE_OLLAMA, { mode: 0o755 });
      writeFileSync(join(dir, "node"), FAKE_NODE, { mode: 0o755 });
      const calls = join(dir, "calls");
      const servePid = join(dir, "serve.pid");
      const base = {
        PATH: `${dir}:${process.env.PATH}`,
        CALLS: calls,
        SERVE_PID: servePid,
        PRESENT: "",
        OLLAMA_TEXT_MODEL: "text:7b",
        OLLAMA_VISION_MODEL: "vision:7b",
        OLLAMA_EMBED_MODEL: "embed",
      };
      const code = await run("sh", [join(DOCKER, "worker-gpu-entrypoint.sh"), ...args], {
        env: { ...base, ...env },
      }).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
      if (existsSync(servePid)) {
        try {
          process.kill(Number(readFileSync(servePid, "utf8")));
        } catch {
          // already stopped (--pull-only stops it itself)
        }
      }
      const lines = existsSync(calls) ? readFileSync(calls, "utf8").trim().split("\n") : [];
      rmSync(dir, { recursive: true, force: true });
      return { code, lines };
    }

    it("with a remote OLLAMA_URL: no serve, pulls only what the server lacks, then execs the worker", async () => {
      const { code, lines } = await entrypoint(["worker", "--roles", "understand,embed"], {
        OLLAMA_URL: "http://ollama:11434",
        PRESENT: "text:7b",
      });
      expect(code).toBe(0);
      expect(lines.filter((l) => l.startsWith("ollama serve"))).toEqual([]);
      expect(lines.filter((l) => l.startsWith("ollama pull"))).toEqual([
        "ollama pull embed host=http://ollama:11434",
        "ollama pull vision:7b host=http://ollama:11434",
      ]);
      expect(lines.at(-1)).toBe("node /app/apps/cli/bin/docfleet.mjs worker --roles understand,embed");
    });

    it("by default: starts ollama serve on 127.0.0.1 first, and pulls nothing when all is baked in", async () => {
      const { code, lines } = await entrypoint(["worker"], {
        PRESENT: "text:7b vision:7b embed",
        NEEDS_SERVE: "1",
      });
      expect(code).toBe(0);
      expect(lines).toContain("ollama serve host=http://127.0.0.1:11434");
      expect(lines.filter((l) => l.startsWith("ollama pull"))).toEqual([]);
      expect(lines.at(-1)).toBe("node /app/apps/cli/bin/docfleet.mjs worker");
    });

    it("--pull-only (the BAKE_MODELS build step) pulls and stops without running the CLI", async () => {
      const { code, lines } = await entrypoint(["--pull-only"], { NEEDS_SERVE: "1" });
      expect(code).toBe(0);
      expect(lines.filter((l) => l.startsWith("ollama pull"))).toHaveLength(3);
      expect(lines.filter((l) => l.startsWith("node"))).toEqual([]);
    });

    it("fails without starting the worker when Ollama never answers", async () => {
      const { code, lines } = await entrypoint(["worker"], {
        OLLAMA_URL: "http://ollama:11434",
        OLLAMA_DOWN: "1",
        OLLAMA_START_TIMEOUT_S: "1",
      });
      expect(code).toBe(1);
      expect(lines.filter((l) => l.startsWith("node") || l.startsWith("ollama pull"))).toEqual([]);
    });
  });

  it("the three images share their build stages word for word (one builder cache)", () => {
    const shared = (file: string) =>
      parseDockerfile(read(file))
        .stages.filter((st) => st.name && ["deps", "generate", "prod-deps"].includes(st.name))
        .map((st) => ({
          ...st,
          instructions: st.instructions.map(({ keyword, args }) => ({ keyword, args })),
        }));
    const [first, ...rest] = Object.values(DOCKERFILES).map((d) => shared(d.file));
    expect(first).toHaveLength(3);
    for (const other of rest) expect(other).toEqual(first);
  });

  it("the build context leaves out local state and dependencies", () => {
    const ignore = read(".dockerignore").split("\n");
    for (const p of ["**/node_modules", ".git", "**/.docfleet", ".tmp", "docker/.env"])
      expect(ignore).toContain(p);
  });
});

describe("docker/healthcheck.mjs", () => {
  async function withServer(status: number, fn: (port: number) => Promise<void>) {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? "");
      res.writeHead(status).end("{}");
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      await fn((server.address() as AddressInfo).port);
    } finally {
      server.close();
    }
    return seen;
  }
  const check = (args: string[], env: Record<string, string>) =>
    run(process.execPath, [join(DOCKER, "healthcheck.mjs"), ...args], {
      env: { ...process.env, ...env },
    }).then(
      () => 0,
      (err: { code?: number }) => err.code ?? -1,
    );

  it("gateway: 0 when GET /health on PORT answers 200, 1 otherwise", async () => {
    const seen = await withServer(200, async (port) => {
      expect(await check(["gateway"], { PORT: String(port) })).toBe(0);
    });
    expect(seen).toEqual(["/health"]);
    await withServer(503, async (port) => {
      expect(await check(["gateway"], { PORT: String(port) })).toBe(1);
    });
  });

  it("worker-gpu: checks the worker's METRICS_PORT and Ollama at OLLAMA_URL", async () => {
    const seen = await withServer(200, async (port) => {
      const env = { METRICS_PORT: String(port), OLLAMA_URL: `http://127.0.0.1:${port}/` };
      expect(await check(["worker-gpu"], env)).toBe(0);
    });
    expect(seen.sort()).toEqual(["/api/version", "/health"]);
    // nothing listening on OLLAMA_URL: unhealthy
    await withServer(200, async (port) => {
      expect(
        await check(["worker-gpu"], { METRICS_PORT: String(port), OLLAMA_URL: "http://127.0.0.1:9" }),
      ).toBe(1);
    });
  });
});

// ---------------------------------------------------------------------------------------------------
// compose.yaml

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string | number | boolean>;
  command?: string[];
  restart?: string;
  healthcheck?: { test: string[]; disable?: boolean };
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  deploy?: {
    replicas?: number;
    resources?: { reservations?: { devices?: { capabilities: string[]; driver?: string }[] } };
  };
}
interface Compose {
  "x-docfleet-env": Record<string, string | number>;
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

/** docker/.env.example as compose reads docker/.env. */
function envExample(): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of read("docker/.env.example").split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) vars.set(m[1]!, m[2]!);
  }
  return vars;
}

/** Compose interpolation: ${V}, ${V:-d}, ${V-d}, ${V:?e}, ${V?e}, $V, $$. Unset required: throws. */
function interpolate(value: string, vars: Map<string, string>): string {
  return value.replace(
    /\$\$|\$\{(\w+)(?:(:?)([-?])([^}]*))?\}|\$(\w+)/g,
    (all, name?: string, colon?: string, op?: string, word?: string, bare?: string) => {
      if (all === "$$") return "$";
      const n = (name ?? bare)!;
      const v = vars.get(n);
      const unset = v === undefined || (colon === ":" && v === "");
      if (!unset) return v;
      if (op === "-") return word ?? "";
      if (op === "?") throw new Error(`${n} is required: ${word}`);
      throw new Error(`${n} is not set and has no default`);
    },
  );
}

function interpolateAll(node: Json, vars: Map<string, string>): Json {
  if (typeof node === "string") return interpolate(node, vars);
  if (Array.isArray(node)) return node.map((n) => interpolateAll(n, vars));
  if (node && typeof node === "object")
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, vars)]));
  return node;
}

const COMPOSE_TEXT = read("docker/compose.yaml");
const RAW = parseYaml(COMPOSE_TEXT, { merge: true }) as Json;
const COMPOSE = interpolateAll(RAW, envExample()) as unknown as Compose;
const SERVICES = COMPOSE.services;

/** docfleet's own services: those built from this repository. */
const DOCFLEET = Object.entries(SERVICES).filter(([, s]) => s.build);
const envStrings = (s: Service) =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
const configOf = (s: Service) => adapterConfig(parseEnv(baseEnvSchema, envStrings(s)));
const rolesOf = (s: Service) => {
  const cmd = s.command ?? [];
  return cmd[0] === "worker" ? parseRoles(cmd[cmd.indexOf("--roles") + 1] ?? "all") : [];
};

/** Variables a docfleet process reads besides baseEnvSchema: CLI options and the metrics endpoint. */
const PROCESS_VARS = new Set([
  "HOST",
  "PORT",
  "WORKER_ROLES",
  "WORKER_CONCURRENCY",
  "WORKER_UNDERSTAND_CONCURRENCY",
  "DOCFLEET_RELAY_POLL_MS",
  "METRICS_PORT",
]);

describe("docker/compose.yaml", () => {
  it("passes dclint: valid YAML, valid against the compose JSON schema, no rule errors or warnings", () => {
    // every rule at its default level; quotes as Biome (the project's formatter) writes them
    const rules = { "require-quotes-in-ports": [2, { quoteType: "double" }] as [2, Record<string, unknown>] };
    const linter = new DCLinter({ rules, quiet: true, debug: false, exclude: [] });
    // dclint's bundled .d.ts files use extensionless imports that NodeNext cannot follow: typed here
    const results: { messages: { line: number; rule: string; message: string }[] }[] = linter.lintFiles(
      [join(DOCKER, "compose.yaml")],
      false,
    );
    expect(results).toHaveLength(1);
    const messages = results[0]!.messages.map((m) => `${m.line}: ${m.rule}: ${m.message}`);
    expect(messages).toEqual([]);
  });

  it("interpolates with docker/.env.example alone, which holds placeholders, not secrets", () => {
    // interpolateAll above threw for any required variable missing from the example
    for (const [k, v] of envExample()) if (/PASSWORD|SECRET/.test(k)) expect(v, k).toMatch(/^change-me/);
    expect(COMPOSE_TEXT).not.toMatch(/change-me/);
  });

  it("has the whole distributed stack", () => {
    for (const s of ["postgres", "rabbitmq", "minio", "opensearch", "ollama", "migrate", "gateway"])
      expect(Object.keys(SERVICES)).toContain(s);
    expect(SERVICES.postgres!.image).toMatch(/^pgvector\/pgvector:/);
    expect(SERVICES.rabbitmq!.image).toMatch(/management/);
  });

  it("gives every service a health check, except one-shots that others wait for to complete", () => {
    const oneShots = new Set(
      Object.values(SERVICES).flatMap((s) =>
        Object.entries(s.depends_on ?? {})
          .filter(([, d]) => d.condition === "service_completed_successfully")
          .map(([n]) => n),
      ),
    );
    for (const [name, s] of Object.entries(SERVICES)) {
      if (oneShots.has(name)) {
        expect(s.restart, name).toBe("no");
        expect(s.healthcheck, name).toBeUndefined();
      } else {
        expect(s.healthcheck?.test?.length, name).toBeGreaterThan(0);
        expect(s.healthcheck?.disable, name).not.toBe(true);
        expect(s.healthcheck!.test[0], name).toMatch(/^CMD(-SHELL)?$/);
      }
    }
    expect(oneShots).toEqual(new Set(["migrate"]));
  });

  it("depends only on services that exist, are always started, and can meet the condition", () => {
    for (const [name, s] of Object.entries(SERVICES)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        const target = SERVICES[dep];
        expect(target, `${name} -> ${dep}`).toBeDefined();
        // a profiled service is absent unless its profile is on: only profiled services may need one
        if (target!.profiles) expect(s.profiles, `${name} -> ${dep}`).toEqual(target!.profiles);
        if (condition === "service_healthy") expect(target!.healthcheck, `${name} -> ${dep}`).toBeDefined();
        else expect(condition, `${name} -> ${dep}`).toBe("service_completed_successfully");
      }
    }
    for (const [name] of DOCFLEET.filter(([n]) => n !== "migrate"))
      expect(SERVICES[name]!.depends_on?.migrate?.condition, name).toBe("service_completed_successfully");
  });

  it("pins every image to a tag, and builds docfleet's from files that exist in the repository", () => {
    for (const [name, s] of Object.entries(SERVICES)) {
      const tag = /:([^/:@]+)$/.exec(s.image ?? "")?.[1];
      expect(tag, name).toBeDefined();
      expect(tag, name).not.toBe("latest");
      if (s.build) {
        expect(resolve(DOCKER, s.build.context), name).toBe(ROOT);
        expect(existsSync(join(ROOT, s.build.dockerfile)), name).toBe(true);
        expect(s.image, name).toMatch(/^docfleet\//);
      }
    }
  });

  it("sets every variable the distributed mode needs, as config.ts parses them", () => {
    expect(DOCFLEET.length).toBeGreaterThanOrEqual(4);
    for (const [name, s] of DOCFLEET) {
      const cfg = configOf(s);
      expect(cfg.database.kind, name).toBe("postgres");
      expect(cfg.queue.kind, name).toBe("rabbitmq");
      expect(cfg.objectStore.kind, name).toBe("s3");
      expect(cfg.search.kind, name).toBe("opensearch");
      if (rolesOf(s).some((r) => r === "UNDERSTAND" || r === "EMBED"))
        expect(cfg.models.kind, name).toBe("ollama");
    }
  });

  it("gives every docfleet process the same models and search settings (one embedding space)", () => {
    const [first, ...rest] = DOCFLEET.map(([name, s]) => ({ name, cfg: configOf(s) }));
    for (const { name, cfg } of rest) {
      expect(cfg.models, name).toEqual(first!.cfg.models);
      expect(cfg.search, name).toEqual(first!.cfg.search);
      expect(cfg.objectStore, name).toEqual(first!.cfg.objectStore);
    }
  });

  it("takes the shared settings from the x-docfleet-env anchor and sets no unknown variable", () => {
    const known = new Set([...Object.keys(baseEnvSchema.shape), ...PROCESS_VARS]);
    for (const key of Object.keys(COMPOSE["x-docfleet-env"])) expect(known.has(key), key).toBe(true);
    for (const [name, s] of DOCFLEET) {
      for (const [k, v] of Object.entries(COMPOSE["x-docfleet-env"]))
        expect(envStrings(s)[k], `${name} ${k}`).toBe(String(v));
      for (const key of Object.keys(s.environment ?? {})) expect(known.has(key), `${name} ${key}`).toBe(true);
    }
    expect(COMPOSE_TEXT.match(/<<: \*docfleet-env/g)).toHaveLength(DOCFLEET.length);
  });

  it("points every service URL at a service of the stack", () => {
    for (const [name, s] of DOCFLEET) {
      for (const [k, v] of Object.entries(envStrings(s))) {
        // what browsers reach (S3's public name, the pages' origins) is not a service of the stack
        if (!/^[a-z][a-z0-9+]*:\/\//.test(v) || k === "S3_PUBLIC_URL" || k === "DOCFLEET_CORS_ORIGINS")
          continue;
        const host = new URL(v).hostname;
        expect(Object.keys(SERVICES), `${name} ${k}=${v}`).toContain(host);
      }
    }
  });

  it("consumes every stage: CPU workers parse and index, GPU workers understand and embed", () => {
    const workers = DOCFLEET.filter(([, s]) => s.command?.[0] === "worker");
    expect(new Set(workers.flatMap(([, s]) => rolesOf(s)))).toEqual(new Set(STAGES));
    const gpu = workers.filter(([, s]) => rolesOf(s).includes("UNDERSTAND"));
    expect(gpu.length).toBeGreaterThan(0);
    for (const [name, s] of gpu) {
      expect(rolesOf(s), name).toEqual(["UNDERSTAND", "EMBED"]);
      expect(new URL(envStrings(s).OLLAMA_URL!).hostname, name).toBe("ollama");
      expect(s.depends_on?.ollama?.condition, name).toBe("service_healthy");
    }
    expect(rolesOf(SERVICES.worker!)).toEqual(["PARSE", "INDEX"]);
  });

  it("reserves a GPU for Ollama", () => {
    const devices = SERVICES.ollama!.deploy?.resources?.reservations?.devices ?? [];
    expect(devices.some((d) => d.capabilities.includes("gpu"))).toBe(true);
  });

  it("runs two gateways behind one load balancer that finds them by service name", () => {
    const gw = SERVICES.gateway!;
    expect(gw.deploy?.replicas).toBeGreaterThanOrEqual(2);
    expect(gw.ports).toBeUndefined();
    expect(gw.command).toEqual(["gateway"]);
    const port = envStrings(gw).PORT!;
    expect(envStrings(gw).HOST).toBe("0.0.0.0");
    const lb = SERVICES.loadbalancer!;
    expect(lb.depends_on?.gateway?.condition).toBe("service_healthy");
    expect(lb.ports).toEqual([`127.0.0.1:${port}:4000`]);
    const caddyfile = read("docker/Caddyfile");
    expect(caddyfile).toMatch(new RegExp(`dynamic a \\{\\s*name gateway\\s*port ${port}\\s`));
  });

  it("keeps state in declared named volumes and mounts config files that exist", () => {
    const used = new Set<string>();
    for (const [name, s] of Object.entries(SERVICES)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(":")[0]!;
        if (source.startsWith(".") || source.startsWith("/")) {
          expect(existsSync(resolve(DOCKER, source)), `${name} ${source}`).toBe(true);
        } else {
          expect(Object.keys(COMPOSE.volumes), `${name} ${source}`).toContain(source);
          used.add(source);
        }
      }
    }
    expect(new Set(Object.keys(COMPOSE.volumes))).toEqual(used);
    for (const stateful of ["postgres", "rabbitmq", "minio", "opensearch", "ollama"])
      expect(
        SERVICES[stateful]!.volumes?.some((v) => !v.startsWith(".")),
        stateful,
      ).toBe(true);
  });

  it("one origin list (issue 18): MinIO's CORS is the gateway's DOCFLEET_CORS_ORIGINS, from the same variable", () => {
    const gateway = configOf(SERVICES.gateway!);
    const minio = String(SERVICES.minio!.environment?.MINIO_API_CORS_ALLOW_ORIGIN ?? "");
    // the console, served at the load balancer's port, may upload to MinIO
    expect(gateway.browser.corsOrigins).toContain("http://localhost:4000");
    expect(minio.split(",").map((o) => o.trim())).toEqual(gateway.browser.corsOrigins);
    // one variable, not two copies that can drift apart
    const raw = RAW as unknown as {
      services: Record<string, { environment: Record<string, string> }>;
    } & Compose;
    expect(raw.services.minio!.environment.MINIO_API_CORS_ALLOW_ORIGIN).toBe(
      raw["x-docfleet-env"].DOCFLEET_CORS_ORIGINS,
    );
    expect(raw["x-docfleet-env"].DOCFLEET_CORS_ORIGINS).toMatch(/^\$\{DOCFLEET_CORS_ORIGINS\b/);
    // MinIO implements no PutBucketCors: docfleet must not try (S3_CORS_ORIGINS unset)
    for (const [name, s] of DOCFLEET)
      expect(configOf(s).objectStore, name).toMatchObject({ corsOrigins: [] });
  });

  it("publishes ports on 127.0.0.1 only", () => {
    for (const [name, s] of Object.entries(SERVICES))
      for (const p of s.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:/);
  });
});

describe("observability profile", () => {
  const prometheus = parseYaml(read("docker/prometheus.yml")) as {
    scrape_configs: { job_name: string; dns_sd_configs?: { names: string[]; port: number }[] }[];
  };

  it("Prometheus and Grafana run only with --profile observability", () => {
    expect(SERVICES.prometheus!.profiles).toEqual(["observability"]);
    expect(SERVICES.grafana!.profiles).toEqual(["observability"]);
    expect(SERVICES.prometheus!.volumes).toContain("./prometheus.yml:/etc/prometheus/prometheus.yml:ro");
  });

  it("Prometheus scrapes every gateway and worker service on the port it serves /metrics on", () => {
    const targets = new Map<string, number>();
    for (const job of prometheus.scrape_configs)
      for (const sd of job.dns_sd_configs ?? []) for (const n of sd.names) targets.set(n, sd.port);
    for (const [name, s] of DOCFLEET.filter(([n]) => n !== "migrate")) {
      const env = envStrings(s);
      const port = s.command?.[0] === "gateway" ? env.PORT : env.METRICS_PORT;
      expect(targets.get(name), name).toBe(Number(port));
    }
    for (const name of targets.keys()) expect(Object.keys(SERVICES)).toContain(name);
  });

  it("Grafana is provisioned with the Prometheus data source and the dashboards folder", () => {
    const ds = parseYaml(read("docker/grafana/provisioning/datasources/prometheus.yaml")) as {
      datasources: { type: string; url: string; uid: string }[];
    };
    expect(ds.datasources[0]).toMatchObject({
      type: "prometheus",
      url: "http://prometheus:9090",
      uid: "prometheus",
    });
    const dash = parseYaml(read("docker/grafana/provisioning/dashboards/docfleet.yaml")) as {
      providers: { options: { path: string } }[];
    };
    const mount = SERVICES.grafana!.volumes!.find((v) => v.startsWith("./grafana/dashboards:"))!;
    expect(mount.split(":")[1]).toBe(dash.providers[0]!.options.path);
    expect(SERVICES.grafana!.volumes).toContain("./grafana/provisioning:/etc/grafana/provisioning:ro");
  });
});
