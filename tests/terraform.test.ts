import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "@cdktf/hcl2json";
import { STAGES, stageQueue } from "@docfleet/pipeline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * infra/terraform checked offline: no Terraform binary and no AWS here, so every .tf file is parsed with
 * @cdktf/hcl2json and the JSON is checked structurally by a small reference resolver (variables,
 * locals, module outputs, resources, data sources, module arguments, template variables), then the
 * wiring the deployment depends on: backlog scaling per pool, GPU user data, spot draining, S3
 * multipart clean-up. The user-data templates are rendered by a tiny templatefile() subset and given
 * to `bash -n`. The last block mutates a copy of the tree and shows each check failing.
 */

const ROOT = fileURLToPath(new URL("../infra/terraform/", import.meta.url));

type Obj = Record<string, unknown>;

interface Module {
  rel: string;
  raw: Obj[];
  variables: Map<string, Obj>;
  outputs: Map<string, Obj>;
  locals: Map<string, unknown>;
  resources: Map<string, Obj>;
  data: Map<string, Obj>;
  calls: Map<string, Obj>;
  templates: Map<string, string>;
}
type Tree = Map<string, Module>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
/** hcl2json gives every block as a list of bodies; a single block is its first. */
const body = (v: unknown): Obj => {
  const b = Array.isArray(v) ? v[0] : v;
  return isObj(b) ? b : {};
};
const bodies = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : isObj(v) ? [v] : []);
const entries = (v: unknown): [string, unknown][] => (isObj(v) ? Object.entries(v) : []);

async function loadModule(root: string, dir: string): Promise<Module> {
  const m: Module = {
    rel: relative(root, dir) || ".",
    raw: [],
    variables: new Map(),
    outputs: new Map(),
    locals: new Map(),
    resources: new Map(),
    data: new Map(),
    calls: new Map(),
    templates: new Map(),
  };
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith(".tftpl")) m.templates.set(f, readFileSync(join(dir, f), "utf8"));
    if (!f.endsWith(".tf")) continue;
    const json = (await parse(f, readFileSync(join(dir, f), "utf8"))) as Obj;
    m.raw.push(json);
    for (const [k, v] of entries(json.variable)) m.variables.set(k, body(v));
    for (const [k, v] of entries(json.output)) m.outputs.set(k, body(v));
    for (const [k, v] of entries(json.module)) m.calls.set(k, body(v));
    for (const l of bodies(json.locals)) for (const [k, v] of Object.entries(l)) m.locals.set(k, v);
    for (const [type, named] of entries(json.resource))
      for (const [name, v] of entries(named)) m.resources.set(`${type}.${name}`, body(v));
    for (const [type, named] of entries(json.data))
      for (const [name, v] of entries(named)) m.data.set(`${type}.${name}`, body(v));
  }
  return m;
}

async function loadTree(root: string): Promise<Tree> {
  const tree: Tree = new Map();
  const walk = async (dir: string) => {
    if (readdirSync(dir).some((f) => f.endsWith(".tf"))) {
      const m = await loadModule(root, dir);
      tree.set(m.rel, m);
    }
    for (const f of readdirSync(dir).sort())
      if (!f.startsWith(".") && statSync(join(dir, f)).isDirectory()) await walk(join(dir, f));
  };
  await walk(root);
  return tree;
}

// --- expressions ---

function* strings(v: unknown): Generator<string> {
  if (typeof v === "string") yield v;
  else if (Array.isArray(v)) for (const x of v) yield* strings(x);
  else if (isObj(v)) for (const x of Object.values(v)) yield* strings(x);
}

interface Ref {
  kind: "var" | "local" | "module" | "data" | "resource";
  parts: string[];
}
const NAMED = /(?<![\w.])(var|local|module|data)((?:\.[A-Za-z_][\w-]*)+)/g;
const RESOURCE = /(?<![\w.$])((?:aws|random)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)/g;

/** References in one hcl2json string; plain literals (no `${`) hold none. */
function refsIn(s: string): Ref[] {
  if (!s.includes("${")) return [];
  const out: Ref[] = [];
  for (const m of s.matchAll(NAMED))
    out.push({ kind: m[1] as Ref["kind"], parts: (m[2] ?? "").slice(1).split(".") });
  for (const m of s.matchAll(RESOURCE)) out.push({ kind: "resource", parts: [m[1] ?? "", m[2] ?? ""] });
  return out;
}
const refsOf = (v: unknown): Ref[] => [...strings(v)].flatMap(refsIn);

/** Everything a module says outside its variable declarations. */
const usage = (m: Module): Ref[] =>
  m.raw.flatMap((j) => Object.entries(j).flatMap(([k, v]) => (k === "variable" ? [] : refsOf(v))));

/**
 * Top-level `key = value` entries of the object literal that opens at `text[open]` ("{"): nested
 * brackets and strings are skipped, values are kept as source text.
 */
function objectEntries(text: string, open: number): Map<string, string> {
  const out = new Map<string, string>();
  let depth = 0;
  let inString = false;
  let segment = "";
  const flush = () => {
    const m = /^\s*([A-Za-z_][\w-]*)\s*=(?![=>])\s*([\s\S]*?)\s*$/.exec(segment);
    if (m) out.set(m[1] ?? "", m[2] ?? "");
    segment = "";
  };
  for (let i = open; i < text.length; i++) {
    const c = text[i] ?? "";
    if (inString) {
      if (c === "\\") {
        segment += c + (text[i + 1] ?? "");
        i++;
        continue;
      }
      if (c === '"') inString = false;
      if (depth >= 1) segment += c;
      continue;
    }
    if (c === '"') inString = true;
    if ("([{".includes(c)) depth++;
    if (")]}".includes(c)) depth--;
    if (depth === 0) {
      flush();
      break;
    }
    if (depth === 1 && (c === "\n" || c === ",")) flush();
    else if (!(depth === 1 && c === "{" && i === open)) segment += c;
  }
  return out;
}

/** Attribute names of an `object({...})` type expression, or null for other types. */
function objectAttributes(type: unknown): string[] | null {
  if (typeof type !== "string") return null;
  const at = type.indexOf("object({");
  return at === 0 || at === 2 ? [...objectEntries(type, at + "object(".length).keys()] : null;
}

/** templatefile("${path.module}/file", { ... }) calls in a module: file and argument expressions. */
function templateCalls(m: Module): { file: string; args: Map<string, string> }[] {
  const out: { file: string; args: Map<string, string> }[] = [];
  for (const s of m.raw.flatMap((j) => [...strings(j)]))
    for (const call of s.matchAll(/templatefile\("\$\{path\.module\}\/([^"]+)",\s*\{/g))
      out.push({ file: call[1] ?? "", args: objectEntries(s, (call.index ?? 0) + call[0].length - 1) });
  return out;
}

// --- templatefile() subset: ${name}, %{ if name }/else/endif, %{ for [k,] v in name }/endfor, ~, $${ ---

type Value = string | number | boolean | string[] | Record<string, string>;
type Token = { text: string } | { expr: string } | { directive: string };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  const re = /\$\$\{|%%\{|(\$|%)\{(~?)\s*([^}]*?)\s*(~?)\}/g;
  let last = 0;
  let stripNext = false;
  const pushText = (t: string, stripEnd: boolean) => {
    let text = stripNext ? t.replace(/^\s+/, "") : t;
    if (stripEnd) text = text.replace(/\s+$/, "");
    tokens.push({ text });
    stripNext = false;
  };
  for (const m of src.matchAll(re)) {
    const i = m.index ?? 0;
    if (m[0] === "$${" || m[0] === "%%{") {
      pushText(`${src.slice(last, i)}${m[0].slice(1)}`, false);
      last = i + 3;
      continue;
    }
    pushText(src.slice(last, i), m[2] === "~");
    tokens.push(m[1] === "$" ? { expr: m[3] ?? "" } : { directive: m[3] ?? "" });
    stripNext = m[4] === "~";
    last = i + m[0].length;
  }
  pushText(src.slice(last), false);
  return tokens;
}

function render(src: string, vars: Record<string, Value>): string {
  const tokens = tokenize(src);
  const lookup = (scope: Record<string, Value>, name: string): Value => {
    if (!/^[A-Za-z_]\w*$/.test(name))
      throw new Error(`template expression not in the tested subset: ${name}`);
    if (!(name in scope)) throw new Error(`template uses ${name}, which is not passed`);
    return scope[name] as Value;
  };
  const run = (from: number, until: string[], scope: Record<string, Value>): [string, number] => {
    let out = "";
    let i = from;
    while (i < tokens.length) {
      const t = tokens[i] as Token;
      if ("text" in t) out += t.text;
      else if ("expr" in t) out += String(lookup(scope, t.expr));
      else {
        const d = t.directive;
        if (until.some((u) => d === u)) return [out, i];
        const ifm = /^if (!?)(\w+)$/.exec(d);
        const form = /^for (\w+)(?:, (\w+))? in (\w+)$/.exec(d);
        if (ifm) {
          const cond = Boolean(lookup(scope, ifm[2] ?? "")) !== (ifm[1] === "!");
          const [yes, j] = run(i + 1, ["else", "endif"], scope);
          let end = j;
          let no = "";
          if ((tokens[j] as { directive?: string }).directive === "else")
            [no, end] = run(j + 1, ["endif"], scope);
          out += cond ? yes : no;
          i = end;
        } else if (form) {
          const coll = lookup(scope, form[3] ?? "");
          const pairs: [string | number, string][] = Array.isArray(coll)
            ? coll.map((v, k) => [k, v])
            : Object.entries(coll as Record<string, string>);
          let end = tokens.length;
          // An empty collection still walks the body once (output dropped) to find its %{ endfor }.
          for (const [k, v] of pairs.length ? pairs : [[0, ""] as [number, string]]) {
            const inner = form[2]
              ? { ...scope, [form[1] ?? ""]: k, [form[2]]: v }
              : { ...scope, [form[1] ?? ""]: v };
            const [text, j] = run(i + 1, ["endfor"], inner);
            if (pairs.length) out += text;
            end = j;
          }
          i = end;
        } else throw new Error(`template directive not in the tested subset: ${d}`);
      }
      i++;
    }
    if (until.length) throw new Error(`template: missing %{ ${until.join(" / ")} }`);
    return [out, i];
  };
  return run(0, [], vars)[0];
}

/** Names a template reads from its arguments (loop variables excluded). */
function templateNames(src: string): Set<string> {
  const names = new Set<string>();
  const loopVars = new Set<string>();
  for (const t of tokenize(src)) {
    const e = "expr" in t ? t.expr : "directive" in t ? t.directive : null;
    if (e === null) continue;
    const form = /^for (\w+)(?:, (\w+))? in (.+)$/.exec(e);
    if (form) for (const v of [form[1], form[2]]) if (v) loopVars.add(v);
    const expr = form ? (form[3] ?? "") : e.replace(/^(if|else|endif|endfor)\b/, "");
    for (const m of expr.replace(/"[^"]*"/g, "").matchAll(/(?<![\w.])([A-Za-z_]\w*)(?!\s*\()/g))
      names.add(m[1] ?? "");
  }
  for (const v of loopVars) names.delete(v);
  for (const k of ["true", "false", "null"]) names.delete(k);
  return names;
}

/** Scripts in a rendered user data: the whole, and every heredoc that starts with a shebang. */
function bashProblems(script: string, label: string): string[] {
  const scripts = [script];
  for (const m of script.matchAll(/<<'?(\w+)'?\n(#!\/bin\/bash\n[\s\S]*?)\n\1\n/g)) scripts.push(m[2] ?? "");
  const out: string[] = [];
  for (const s of scripts) {
    try {
      execFileSync("bash", ["-n"], { input: s, stdio: ["pipe", "pipe", "pipe"] });
    } catch (err) {
      out.push(`${label}: bash -n: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
    }
  }
  return out;
}

// --- checks: each returns problems, so a mutated copy can show them failing ---

const META = new Set(["source", "version", "count", "for_each", "providers", "depends_on"]);

function checkReferences(tree: Tree): string[] {
  const problems: string[] = [];
  for (const m of tree.values()) {
    const used = usage(m);
    const all = [...used, ...m.raw.flatMap((j) => refsOf(j.variable))];
    for (const [name, v] of m.variables) {
      if (!used.some((r) => r.kind === "var" && r.parts[0] === name))
        problems.push(`${m.rel}: variable "${name}" is declared but never used`);
      if (typeof v.description !== "string" || !v.description)
        problems.push(`${m.rel}: variable "${name}" has no description`);
      if (v.type === undefined) problems.push(`${m.rel}: variable "${name}" has no type`);
      const attrs = objectAttributes(v.type);
      if (attrs) {
        const usedAttrs = new Set(
          used.filter((r) => r.kind === "var" && r.parts[0] === name).map((r) => r.parts[1]),
        );
        for (const a of attrs)
          if (!usedAttrs.has(a))
            problems.push(`${m.rel}: attribute "${a}" of variable "${name}" is never used`);
      }
      for (const val of bodies(v.validation))
        if (!refsOf(val.condition).some((r) => r.kind === "var" && r.parts[0] === name))
          problems.push(`${m.rel}: a validation of "${name}" does not test it`);
    }
    for (const r of all) {
      const [a = "", b = ""] = r.parts;
      if (r.kind === "var") {
        const v = m.variables.get(a);
        const attrs = objectAttributes(v?.type);
        if (!v) problems.push(`${m.rel}: var.${a} is not declared`);
        else if (attrs && b && !attrs.includes(b))
          problems.push(`${m.rel}: var.${a}.${b} is not an attribute of its type`);
      } else if (r.kind === "local" && !m.locals.has(a)) problems.push(`${m.rel}: local.${a} is not defined`);
      else if (r.kind === "data" && !m.data.has(`${a}.${b}`))
        problems.push(`${m.rel}: data.${a}.${b} is not declared`);
      else if (r.kind === "resource" && !m.resources.has(`${a}.${b}`))
        problems.push(`${m.rel}: ${a}.${b} is not declared`);
      else if (r.kind === "module") {
        const call = m.calls.get(a);
        const target = call && tree.get(normalize(join(m.rel, String(call.source))));
        if (!call) problems.push(`${m.rel}: module.${a} is not declared`);
        else if (!target) problems.push(`${m.rel}: module.${a} has no source module`);
        else if (!target.outputs.has(b))
          problems.push(`${m.rel}: module.${a}.${b} is not an output of ${target.rel}`);
      }
    }
    for (const [name, call] of m.calls) {
      const target = tree.get(normalize(join(m.rel, String(call.source))));
      if (!target) {
        problems.push(`${m.rel}: module "${name}" source ${String(call.source)} not found`);
        continue;
      }
      const passed = Object.keys(call).filter((k) => !META.has(k));
      for (const k of passed)
        if (!target.variables.has(k))
          problems.push(`${m.rel}: module "${name}" passes unknown variable "${k}"`);
      for (const [k, v] of target.variables)
        if (!("default" in v) && !passed.includes(k))
          problems.push(`${m.rel}: module "${name}" does not pass required variable "${k}"`);
    }
    for (const { file, args } of templateCalls(m)) {
      const src = m.templates.get(file);
      if (src === undefined) {
        problems.push(`${m.rel}: templatefile ${file} not found`);
        continue;
      }
      const names = templateNames(src);
      for (const n of names)
        if (!args.has(n)) problems.push(`${m.rel}/${file}: uses ${n}, which is not passed`);
      for (const n of args.keys())
        if (!names.has(n)) problems.push(`${m.rel}/${file}: ${n} is passed but never used`);
      for (const expr of args.values())
        for (const r of refsIn(`\${${expr}}`))
          if (r.kind === "local" && !m.locals.has(r.parts[0] ?? ""))
            problems.push(`${m.rel}: local.${r.parts[0]} is not defined`);
    }
  }
  return problems;
}

/** Variables of the root module that must be validated, and the attributes their validations must test. */
const VALIDATED: Record<string, string[]> = {
  region: [],
  name: [],
  bucket_name: [],
  gateway_image: [],
  worker_image: [],
  abort_incomplete_multipart_days: [],
  stage_timeout_ms: [],
  ollama_models: ["text", "vision", "embed"],
  cpu_pool: ["instance_types", "min_size", "max_size", "target_backlog_per_worker"],
  gpu_pool: ["instance_types", "min_size", "max_size", "target_backlog_per_worker"],
};

function checkValidations(tree: Tree): string[] {
  const problems: string[] = [];
  const root = tree.get(".");
  for (const [name, attrs] of Object.entries(VALIDATED)) {
    const conditions = bodies(root?.variables.get(name)?.validation).flatMap((v) => refsOf(v.condition));
    if (!conditions.length) problems.push(`variable "${name}" has no validation`);
    for (const a of attrs)
      if (!conditions.some((r) => r.kind === "var" && r.parts[0] === name && r.parts[1] === a))
        problems.push(`no validation of "${name}" tests .${a}`);
  }
  return problems;
}

interface Pool {
  module: Module;
  /** `${prefix}docfleet.<role>` as a function of a role and the queue prefix. */
  queueName: (role: string, prefix: string) => string;
}

const FOR_ROLES = /^\$\{\[for (\w+) in var\.roles : "(.*)"\]\}$/;

/**
 * A worker pool module: an Auto Scaling group with a target-tracking policy whose metric is the
 * AmazonMQ MessageCount of each queue derived from var.roles, summed, divided by the group's
 * GroupInServiceInstances.
 */
function checkPoolModule(m: Module): { problems: string[]; pool?: Pool } {
  const problems: string[] = [];
  const p = (s: string) => problems.push(`${m.rel}: ${s}`);
  const policies = [...m.resources].filter(
    ([k, v]) => k.startsWith("aws_autoscaling_policy.") && v.policy_type === "TargetTrackingScaling",
  );
  const policy = policies.find(([, v]) =>
    body(body(v.target_tracking_configuration).customized_metric_specification),
  );
  if (!policy) {
    p("no target-tracking policy with a customized metric");
    return { problems };
  }
  const asgRef = refsOf(policy[1].autoscaling_group_name).find((r) => r.parts[0] === "aws_autoscaling_group");
  const asg = asgRef && m.resources.get(`aws_autoscaling_group.${asgRef.parts[1]}`);
  if (!asg) p("the scaling policy is not attached to a group of this module");
  const spec = body(body(policy[1].target_tracking_configuration).customized_metric_specification);
  const metricOf = (b: Obj) => {
    const metric = body(body(b.metric_stat).metric);
    const dims = new Map(bodies(metric.dimensions).map((d) => [String(d.name), String(d.value)]));
    return { namespace: metric.namespace, name: metric.metric_name, dims };
  };
  const statics = bodies(spec.metrics);
  const dynamics = bodies(body(spec.dynamic).metrics);
  const backlog = dynamics.find((d) => metricOf(body(d.content)).name === "MessageCount");
  const inService = statics.find((s) => metricOf(s).name === "GroupInServiceInstances");
  const result = statics.find((s) => s.return_data === true);
  let queueName: Pool["queueName"] | undefined;
  if (!backlog) p("no MessageCount metric per consumed queue (dynamic metrics block)");
  else {
    const content = body(backlog.content);
    const metric = metricOf(content);
    if (metric.namespace !== "AWS/AmazonMQ") p("MessageCount is not from AWS/AmazonMQ");
    for (const d of ["Broker", "VirtualHost", "Queue"])
      if (!metric.dims.has(d)) p(`MessageCount lacks the ${d} dimension`);
    if (metric.dims.get("Queue") !== `\${metrics.value}`) p("the Queue dimension is not the iterated queue");
    const local = /^\$\{local\.(\w+)\}$/.exec(String(backlog.for_each))?.[1];
    const def = FOR_ROLES.exec(String(local ? m.locals.get(local) : ""));
    if (!def) p("the backlog metrics do not iterate over queues derived from var.roles");
    else {
      const [, iter, tmpl = ""] = def;
      queueName = (role, prefix) =>
        tmpl.replaceAll(`\${var.queue_prefix}`, prefix).replaceAll(`\${${iter}}`, role);
    }
  }
  if (!inService) p("no GroupInServiceInstances metric");
  else {
    const metric = metricOf(inService);
    if (metric.namespace !== "AWS/AutoScaling") p("GroupInServiceInstances is not from AWS/AutoScaling");
    const dim = refsIn(metric.dims.get("AutoScalingGroupName") ?? "")[0];
    if (dim?.parts[1] !== asgRef?.parts[1])
      p("GroupInServiceInstances is not measured on the policy's group");
    const enabled = asg?.enabled_metrics;
    if (!Array.isArray(enabled) || !enabled.includes("GroupInServiceInstances"))
      p("the group does not publish GroupInServiceInstances (enabled_metrics)");
  }
  if (!result || typeof result.expression !== "string")
    p("no metric-math expression returns the policy's value");
  else if (backlog && inService) {
    // Render for three queues: the numerator must be exactly their ids, the denominator in-service only.
    const n = 3;
    const idTmpl = String(body(backlog.content).id);
    const ids = new Set(Array.from({ length: n }, (_, i) => idTmpl.replace(`\${metrics.key}`, String(i))));
    const expr = result.expression.replace(
      /\$\{join\("([^"]*)", \[for (\w+), \w+ in local\.\w+ : "([^"]*)"\]\)\}/,
      (_, sep: string, i: string, item: string) =>
        Array.from({ length: n }, (_, k) => item.replace(`\${${i}}`, String(k))).join(sep),
    );
    const slash = topLevelSlash(expr);
    const idsIn = (s: string) =>
      new Set([...s.matchAll(/\b[a-z]\w*\b/g)].map((x) => x[0]).filter((x) => !["IF"].includes(x)));
    const num = slash < 0 ? new Set<string>() : idsIn(expr.slice(0, slash));
    const den = slash < 0 ? new Set<string>() : idsIn(expr.slice(slash + 1));
    if (slash < 0 || [...ids].some((id) => !num.has(id)) || [...num].some((id) => !ids.has(id)))
      p(`the expression "${result.expression}" does not sum the MessageCount of every queue`);
    if (slash < 0 || !den.has(String(inService.id)) || [...den].some((id) => id !== inService.id))
      p(`the expression "${result.expression}" is not divided by GroupInServiceInstances`);
  }
  const target = body(policy[1].target_tracking_configuration).target_value;
  if (!refsOf(target).some((r) => r.kind === "var")) p("the target value is not a variable");
  const env = String(m.locals.get("worker_environment") ?? "");
  if (!/WORKER_ROLES\s*=\s*join\(",", var\.roles\)/.test(env)) p("WORKER_ROLES is not var.roles");
  return { problems, pool: queueName && { module: m, queueName } };
}

function topLevelSlash(expr: string): number {
  let depth = 0;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i] ?? "";
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "/" && depth === 0) return i;
  }
  return -1;
}

/** Every stage queue is consumed by exactly one pool, named as the application names it, and scales that pool. */
function checkScaling(tree: Tree): string[] {
  const problems: string[] = [];
  const root = tree.get(".");
  const consumers = new Map<string, string[]>();
  let pools = 0;
  for (const [name, call] of root?.calls ?? []) {
    const m = tree.get(normalize(String(call.source)));
    if (!m?.variables.has("roles")) continue;
    pools++;
    const { problems: own, pool } = checkPoolModule(m);
    problems.push(...own);
    const roles = call.roles;
    if (!Array.isArray(roles) || !roles.every((r) => typeof r === "string")) {
      problems.push(`module "${name}": roles must be a literal list`);
      continue;
    }
    for (const r of roles) {
      consumers.set(r, [...(consumers.get(r) ?? []), name]);
      const stage = STAGES.find((s) => s.toLowerCase() === r);
      if (!stage) problems.push(`module "${name}": unknown role ${r}`);
      else if (pool && pool.queueName(r, "") !== stageQueue(stage))
        problems.push(
          `module "${name}": scales on ${pool.queueName(r, "")}, the worker consumes ${stageQueue(stage)}`,
        );
    }
    const modelRoles = roles.filter((r) => r === "understand" || r === "embed");
    if (modelRoles.length && call.gpu !== true)
      problems.push(`module "${name}": ${modelRoles.join(",")} on a pool without GPU`);
  }
  if (pools < 2) problems.push(`expected a CPU and a GPU worker pool, found ${pools}`);
  for (const s of STAGES) {
    const c = consumers.get(s.toLowerCase()) ?? [];
    if (c.length !== 1)
      problems.push(`stage ${s} is consumed by ${c.length ? c.join(", ") : "no pool"} (want exactly one)`);
  }
  return problems;
}

const POOL_SAMPLE = {
  name: "df-gpu",
  region: "eu-west-1",
  roles: "understand,embed",
  ollama_models: ["qwen2.5:7b-instruct", "nomic-embed-text"],
  ollama_host: "0.0.0.0:11434",
  ollama_num_parallel: 4,
  image: "123.dkr.ecr.eu-west-1.amazonaws.com/docfleet-worker:1",
  environment: { WORKER_ROLES: "understand,embed", OLLAMA_URL: "http://127.0.0.1:11434" },
  secret_environment: { DATABASE_URL: "arn:aws:secretsmanager:eu-west-1:1:secret:db" },
  drain_timeout_seconds: 300,
  stop_timeout_seconds: 330,
  asg_name: "df-gpu",
  hook_name: "df-gpu-drain",
} satisfies Record<string, Value>;

/** The pool's launch template user data, rendered for a GPU and a CPU node. */
function poolUserData(m: Module): { gpu: string; cpu: string; args: Map<string, string> } | null {
  const lt = [...m.resources].find(([k]) => k.startsWith("aws_launch_template."));
  const call = lt && templateCalls({ ...m, raw: [{ lt: lt[1] }] })[0];
  const src = call && m.templates.get(call.file);
  if (!call || src === undefined) return null;
  return {
    gpu: render(src, { ...POOL_SAMPLE, gpu: true }),
    cpu: render(src, { ...POOL_SAMPLE, gpu: false, roles: "parse,index" }),
    args: call.args,
  };
}

/** GPU nodes install Ollama and pull every configured model before the worker starts; CPU nodes do not. */
function checkGpuUserData(tree: Tree): string[] {
  const problems: string[] = [];
  const root = tree.get(".");
  const gpuCall = [...(root?.calls ?? [])].find(([, c]) => c.gpu === true);
  const m = gpuCall && tree.get(normalize(String(gpuCall[1].source)));
  const ud = m && poolUserData(m);
  if (!gpuCall || !m || !ud) return ["no GPU pool with a launch template user data template"];
  problems.push(...bashProblems(ud.gpu, `${m.rel} (GPU)`), ...bashProblems(ud.cpu, `${m.rel} (CPU)`));
  if (!/var\.ollama_models\b/.test(ud.args.get("ollama_models") ?? ""))
    problems.push("user data is not given var.ollama_models");
  const start = ud.gpu.search(/systemctl enable --now docfleet-worker/);
  if (start < 0) problems.push("GPU user data does not start the worker");
  if (!/ExecStart=.*\bworker --roles understand,embed\b/.test(ud.gpu))
    problems.push("the unit does not run `worker --roles <roles>`");
  const install = ud.gpu.search(/ollama\.com\/install\.sh/);
  if (install < 0) problems.push("GPU user data does not install Ollama");
  for (const model of POOL_SAMPLE.ollama_models) {
    const at = ud.gpu.search(new RegExp(`^ollama pull "?${model.replace(/[.]/g, "\\.")}"?$`, "m"));
    if (at < 0) problems.push(`GPU user data does not pull ${model}`);
    else if (start >= 0 && at > start) problems.push(`${model} is pulled after the worker starts`);
  }
  if (/ollama pull|install\.sh/.test(ud.cpu)) problems.push("CPU user data installs Ollama");
  for (const key of [...Object.keys(POOL_SAMPLE.environment), ...Object.keys(POOL_SAMPLE.secret_environment)])
    if (!new RegExp(`printf '%s=%s\\\\n' "${key}"`).test(ud.gpu))
      problems.push(`user data does not write ${key} to the env file`);
  const envFile = /--env-file (\S+)/.exec(ud.gpu)?.[1];
  if (!envFile || !ud.gpu.includes(`} > ${envFile}`))
    problems.push("the worker does not read the env file the user data writes");
  // The root hands the GPU pool every model the workers are configured with.
  const models = String(
    root?.locals.get(/local\.(\w+)/.exec(String(gpuCall[1].ollama_models))?.[1] ?? "") ?? "",
  );
  for (const k of ["text", "vision", "embed"])
    if (!models.includes(`var.ollama_models.${k}`))
      problems.push(`the GPU pool does not pull the ${k} model`);
  const env = String(m.locals.get("worker_environment") ?? "");
  if (!/var\.gpu \? \{ OLLAMA_URL = "http:\/\/127\.0\.0\.1:/.test(env))
    problems.push("GPU workers do not use their local Ollama");
  const rootEnv = {
    ...(root?.locals.get("environment") as Obj),
    ...(root?.locals.get("secret_environment") as Obj),
  };
  for (const key of ["DATABASE_URL", "AMQP_URL", "S3_ENDPOINT", "S3_BUCKET", "OPENSEARCH_URL"])
    if (!(key in rootEnv)) problems.push(`workers are not given ${key}`);
  for (const key of ["WORKER_CONCURRENCY", "WORKER_UNDERSTAND_CONCURRENCY"])
    if (!new RegExp(`\\b${key}\\s*=`).test(env)) problems.push(`workers are not given ${key}`);
  return problems;
}

/** Spot capacity with rebalancing, and a termination lifecycle hook the user data's watcher completes after draining. */
function checkDrain(tree: Tree): string[] {
  const problems: string[] = [];
  const root = tree.get(".");
  const seen = new Set<string>();
  for (const call of root?.calls.values() ?? []) {
    const m = tree.get(normalize(String(call.source)));
    if (!m?.variables.has("roles") || seen.has(m.rel)) continue;
    seen.add(m.rel);
    const p = (s: string) => problems.push(`${m.rel}: ${s}`);
    const [asgKey, asg] = [...m.resources].find(([k]) => k.startsWith("aws_autoscaling_group.")) ?? [];
    if (!asgKey || !asg) {
      p("no Auto Scaling group");
      continue;
    }
    if (asg.capacity_rebalance !== true) p("capacity rebalancing is off");
    const dist = body(body(asg.mixed_instances_policy).instances_distribution);
    if (!("on_demand_base_capacity" in dist) || !("on_demand_percentage_above_base_capacity" in dist))
      p("no on-demand base / spot above it (mixed instances policy)");
    const hook = [...m.resources].find(
      ([k, v]) =>
        k.startsWith("aws_autoscaling_lifecycle_hook.") &&
        v.lifecycle_transition === "autoscaling:EC2_INSTANCE_TERMINATING",
    )?.[1];
    const ud = poolUserData(m);
    if (!hook) p("no termination lifecycle hook");
    else {
      if (!refsOf(hook.autoscaling_group_name).some((r) => `${r.parts[0]}.${r.parts[1]}` === asgKey))
        p("the lifecycle hook is not on the pool's group");
      if (ud && `\${${ud.args.get("hook_name")}}` !== hook.name)
        p("the watcher completes a different hook than the one declared");
      if (ud && `\${${ud.args.get("asg_name")}}` !== asg.name) p("the watcher names a different group");
    }
    if (!ud) {
      p("no user data template");
      continue;
    }
    const watcher = /<<'?WATCH'?\n([\s\S]*?)\nWATCH\n/.exec(ud.gpu)?.[1] ?? "";
    for (const [what, re] of [
      ["poll IMDSv2 for a token", /X-aws-ec2-metadata-token-ttl-seconds/],
      ["poll spot/instance-action", /spot\/instance-action/],
      ["poll the group's target lifecycle state", /autoscaling\/target-lifecycle-state/],
      ["stop (SIGTERM) the worker", /systemctl stop docfleet-worker/],
      [
        "complete the lifecycle action",
        /complete-lifecycle-action[\s\S]*--lifecycle-hook-name "\$HOOK_NAME"/,
      ],
    ] as const)
      if (!re.test(watcher)) p(`the drain watcher does not ${what}`);
    if (!new RegExp(`HOOK_NAME=${POOL_SAMPLE.hook_name}\\b`).test(ud.gpu))
      p("the watcher is not told the hook name");
    if (!/systemctl enable --now [^\n]*docfleet-drain-watch/.test(ud.gpu))
      p("the drain watcher is not started");
    const unit = /docfleet-worker\.service <<'?UNIT'?\n([\s\S]*?)\nUNIT\n/.exec(ud.gpu)?.[1] ?? "";
    const stop = Number(/TimeoutStopSec=(\d+)/.exec(unit)?.[1]);
    if (!(stop > POOL_SAMPLE.drain_timeout_seconds)) p("TimeoutStopSec does not exceed the drain budget");
    if (!/KillSignal=SIGTERM|docker stop/.test(unit)) p("the worker is not stopped with SIGTERM");
    const pre = bodies(
      body(
        m.resources.get([...m.resources.keys()].find((k) => k.startsWith("aws_launch_template.")) ?? "")
          ?.lifecycle,
      ).precondition,
    );
    if (
      !pre.some((c) => /var\.drain_timeout_seconds \* 1000 > var\.stage_timeout_ms/.test(String(c.condition)))
    )
      p("nothing requires the drain budget to exceed the stage timeout");
    // The pool's instance role (modules/instance_role) gets the pool's own statements.
    const iam = [...m.calls.values()]
      .filter((call) => String(call.source) === "../instance_role")
      .map((call) => JSON.stringify(call.extra_statements ?? ""));
    if (!iam.some((s) => s.includes("autoscaling:CompleteLifecycleAction")))
      p("instances may not complete lifecycle actions");
  }
  if (!seen.size) problems.push("no worker pool module");
  return problems;
}

function checkStorage(tree: Tree): string[] {
  const problems: string[] = [];
  const m = [...tree.values()].find((x) =>
    [...x.resources.keys()].some((k) => k.startsWith("aws_s3_bucket.")),
  );
  if (!m) return ["no S3 bucket"];
  const forBucket = (type: string) =>
    [...m.resources]
      .filter(
        ([k, v]) => k.startsWith(`${type}.`) && refsOf(v.bucket).some((r) => r.parts[0] === "aws_s3_bucket"),
      )
      .map(([, v]) => v);
  const rules = forBucket("aws_s3_bucket_lifecycle_configuration").flatMap((v) => bodies(v.rule));
  const abort = rules.find(
    (r) => r.status === "Enabled" && "days_after_initiation" in body(r.abort_incomplete_multipart_upload),
  );
  if (!abort) problems.push("the bucket does not abort incomplete multipart uploads");
  else if (
    !refsOf(body(abort.abort_incomplete_multipart_upload).days_after_initiation).some((r) => r.kind === "var")
  )
    problems.push("the multipart abort age is not a variable");
  const pab = forBucket("aws_s3_bucket_public_access_block")[0];
  for (const k of [
    "block_public_acls",
    "block_public_policy",
    "ignore_public_acls",
    "restrict_public_buckets",
  ])
    if (pab?.[k] !== true) problems.push(`public access block: ${k} is not true`);
  if (body(forBucket("aws_s3_bucket_versioning")[0]?.versioning_configuration).status !== "Enabled")
    problems.push("versioning is off");
  if (!forBucket("aws_s3_bucket_server_side_encryption_configuration").length)
    problems.push("no default encryption");
  return problems;
}

/**
 * S3 without static keys: no IAM user or access key anywhere (its secret would sit in state), no S3 keys in
 * the processes' environment, the storage module's access statements on the bucket's objects, handed by
 * the root to every module whose instances run docfleet and by each to its instance role, and IMDSv2
 * reachable from the container on every launch template (the S3 adapter reads the role's keys there).
 */
function checkStorageAccess(tree: Tree): string[] {
  const problems: string[] = [];
  for (const m of tree.values())
    for (const k of m.resources.keys())
      if (/^aws_iam_(user|access_key|user_policy|user_policy_attachment)\./.test(k))
        problems.push(`${m.rel}: ${k} (an IAM user or key: S3 access belongs to the instance roles)`);
  const root = tree.get(".");
  for (const local of ["environment", "secret_environment"])
    for (const key of ["S3_ACCESS_KEY", "S3_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
      if (key in ((root?.locals.get(local) as Obj | undefined) ?? {}))
        problems.push(`the processes are given ${key} (${local}): they take the instance role's keys`);
  const [storageKey] =
    [...(root?.calls ?? [])].find(([, c]) => normalize(String(c.source)) === "modules/storage") ?? [];
  const sm = tree.get("modules/storage");
  if (!storageKey || !sm) return [...problems, "no storage module"];
  // the output holding the statements, and what they grant
  const [output] =
    [...sm.outputs].find(([, o]) => JSON.stringify(o.value ?? "").includes("access_statements")) ?? [];
  const statements = JSON.stringify(sm.locals.get("access_statements") ?? "");
  if (!output) problems.push("modules/storage has no output of the bucket's access statements");
  for (const action of [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:ListBucket",
  ])
    if (!statements.includes(`"${action}"`)) problems.push(`the bucket's access statements lack ${action}`);
  if (!statements.includes(`\${aws_s3_bucket.this.arn}/*`))
    problems.push("the bucket's access statements do not cover its objects");
  // every module the root calls with a docfleet image hands the statements to its instance role
  for (const [name, call] of root?.calls ?? []) {
    if (!("image" in call)) continue;
    const m = tree.get(normalize(String(call.source)));
    const passed = [...Object.entries(call)].find(([, v]) =>
      refsOf(v).some((r) => r.kind === "module" && r.parts[0] === storageKey && r.parts[1] === output),
    )?.[0];
    if (!passed || !m) {
      problems.push(`module "${name}" is not given module.${storageKey}.${output}`);
      continue;
    }
    const roles = [...m.calls.values()].filter((c) => String(c.source) === "../instance_role");
    if (!roles.some((c) => refsOf(c.extra_statements).some((r) => r.kind === "var" && r.parts[0] === passed)))
      problems.push(`${m.rel}: the instance role does not get var.${passed} (no access to the bucket)`);
    for (const [k, lt] of m.resources) {
      if (!k.startsWith("aws_launch_template.")) continue;
      const md = body(lt.metadata_options);
      if (md.http_tokens !== "required") problems.push(`${m.rel}: IMDSv2 is not required`);
      if (!(Number(md.http_put_response_hop_limit) >= 2))
        problems.push(`${m.rel}: IMDS hop limit under 2: the container cannot reach the role's keys`);
    }
  }
  return problems;
}

/**
 * Browsers (issue 18): the gateway's DOCFLEET_CORS_ORIGINS and the bucket's CORS rule come from the one
 * variable cors_allowed_origins; the rule allows the presigned POST, the part PUTs, GET and HEAD, and
 * exposes ETag (a page completing a multipart upload reads each part's).
 */
function checkCors(tree: Tree): string[] {
  const problems: string[] = [];
  const fromVar = (v: unknown) =>
    refsOf(v).some((r) => r.kind === "var" && r.parts[0] === "cors_allowed_origins");
  const root = tree.get(".");
  const env = (root?.locals.get("environment") as Obj | undefined) ?? {};
  if (!fromVar(env.DOCFLEET_CORS_ORIGINS))
    problems.push("the gateway's DOCFLEET_CORS_ORIGINS is not var.cors_allowed_origins");
  const storage = [...(root?.calls.values() ?? [])].find((c) => String(c.source) === "./modules/storage");
  if (!fromVar(storage?.cors_allowed_origins))
    problems.push("the storage module's cors_allowed_origins is not var.cors_allowed_origins");
  const m = [...tree.values()].find((x) =>
    [...x.resources.keys()].some((k) => k.startsWith("aws_s3_bucket.")),
  );
  const cors = [...(m?.resources ?? [])].find(([k]) =>
    k.startsWith("aws_s3_bucket_cors_configuration."),
  )?.[1];
  if (!cors) return [...problems, "the bucket has no CORS configuration"];
  const rule = body(cors.cors_rule);
  if (!fromVar(rule.allowed_origins)) problems.push("the bucket's CORS origins are not cors_allowed_origins");
  const methods = Array.isArray(rule.allowed_methods) ? rule.allowed_methods.map(String) : [];
  for (const method of ["POST", "PUT", "GET", "HEAD"])
    if (!methods.includes(method)) problems.push(`the bucket's CORS rule does not allow ${method}`);
  const exposed = Array.isArray(rule.expose_headers) ? rule.expose_headers.map(String) : [];
  if (!exposed.includes("ETag")) problems.push("the bucket's CORS rule does not expose ETag");
  return problems;
}

function checkGateway(tree: Tree): string[] {
  const m = [...tree.values()].find(
    (x) =>
      [...x.resources.keys()].some((k) => k.startsWith("aws_lb_target_group.")) && x.rel.includes("gateway"),
  );
  if (!m) return ["no gateway module with a target group"];
  const tgs = [...m.resources].filter(([k]) => k.startsWith("aws_lb_target_group."));
  const ready = tgs.find(([, v]) => body(v.health_check).path === "/ready");
  if (!ready) return ["the gateway target group does not health-check /ready"];
  const src = m.templates.get("user_data.sh.tftpl");
  const script =
    src === undefined
      ? ""
      : render(src, {
          region: "eu-west-1",
          image: "123.dkr.ecr.eu-west-1.amazonaws.com/docfleet-gateway:1",
          public_url: "https://docfleet.example.com",
          environment: { HOST: "0.0.0.0", PORT: "4000" },
          secret_environment: { DATABASE_URL: "arn:aws:secretsmanager:eu-west-1:1:secret:db" },
        });
  const problems = bashProblems(script, `${m.rel} user data`);
  if (!/ExecStart=.* gateway --public-url https:\/\/docfleet\.example\.com/.test(script))
    problems.push("the gateway user data does not start `gateway --public-url`");
  const asgs = [...m.resources].filter(([k]) => k.startsWith("aws_autoscaling_group."));
  if (
    !asgs.some(([, v]) => refsOf(v.target_group_arns).some((r) => `${r.parts[0]}.${r.parts[1]}` === ready[0]))
  )
    problems.push("the gateway group is not registered with the /ready target group");
  return problems;
}

async function checkExampleTfvars(tree: Tree, root: string): Promise<string[]> {
  const vars = tree.get(".")?.variables ?? new Map<string, Obj>();
  const json = (await parse(
    "terraform.tfvars",
    readFileSync(join(root, "terraform.tfvars.example"), "utf8"),
  )) as Obj;
  const problems = Object.keys(json)
    .filter((k) => !vars.has(k))
    .map((k) => `terraform.tfvars.example sets unknown variable ${k}`);
  for (const [k, v] of vars)
    if (!("default" in v) && !(k in json)) problems.push(`terraform.tfvars.example lacks required ${k}`);
  for (const [k, v] of Object.entries(json)) {
    const attrs = objectAttributes(vars.get(k)?.type);
    if (attrs && isObj(v))
      for (const a of Object.keys(v))
        if (!attrs.includes(a)) problems.push(`terraform.tfvars.example: ${k}.${a} is not an attribute`);
  }
  return problems;
}

async function allProblems(root: string): Promise<string[]> {
  const tree = await loadTree(root);
  return [
    ...checkReferences(tree),
    ...checkValidations(tree),
    ...checkScaling(tree),
    ...checkGpuUserData(tree),
    ...checkDrain(tree),
    ...checkStorage(tree),
    ...checkStorageAccess(tree),
    ...checkCors(tree),
    ...checkGateway(tree),
    ...(await checkExampleTfvars(tree, root)),
  ];
}

// --- the tests ---

describe("infra/terraform (parsed offline with @cdktf/hcl2json)", () => {
  let tree: Tree;
  beforeAll(async () => {
    tree = await loadTree(ROOT);
  });

  it("parses every module the deployment needs, with versions pinned", () => {
    expect([...tree.keys()].sort()).toEqual(
      [
        ".",
        ...[
          "broker",
          "database",
          "gateway",
          "instance_role",
          "network",
          "search",
          "storage",
          "worker_pool",
        ].map((x) => `modules/${x}`),
      ].sort(),
    );
    const terraform = tree.get(".")?.raw.flatMap((j) => bodies(j.terraform)) ?? [];
    expect(terraform.map((t) => t.required_version)).toContain(">= 1.6.0");
    const providers = body(terraform[0]?.required_providers);
    expect(providers.aws).toMatchObject({ source: "hashicorp/aws", version: "~> 5.0" });
    // Every module declares the providers whose resources it uses, at the root's versions.
    for (const m of tree.values()) {
      const declared = body(m.raw.flatMap((j) => bodies(j.terraform))[0]?.required_providers);
      const used = new Set([...m.resources.keys(), ...m.data.keys()].map((k) => k.split("_")[0] ?? ""));
      for (const p of used) expect(declared[p], `${m.rel} uses ${p}_*`).toEqual(providers[p]);
    }
  });

  it("every variable is used, typed and described; every reference resolves; module calls pass exactly their variables", () => {
    expect(checkReferences(tree)).toEqual([]);
  });

  it("key variables are validated", () => {
    expect(checkValidations(tree)).toEqual([]);
  });

  it("each pool scales on the AmazonMQ MessageCount of the queues its roles consume, per in-service instance", () => {
    expect(checkScaling(tree)).toEqual([]);
  });

  it("GPU user data installs Ollama, pulls each configured model, writes the env and starts the worker (bash -n clean)", () => {
    expect(checkGpuUserData(tree)).toEqual([]);
  });

  it("spot interruption and scale-in drain the worker: rebalancing, lifecycle hook, watcher, systemd stop timeout", () => {
    expect(checkDrain(tree)).toEqual([]);
  });

  it("the bucket aborts incomplete multipart uploads, is versioned, encrypted and not public", () => {
    expect(checkStorage(tree)).toEqual([]);
  });

  it("S3 without keys: no IAM user or key in state, every instance role gets the bucket's access, IMDSv2 reachable", () => {
    expect(checkStorageAccess(tree)).toEqual([]);
  });

  it("one origin list: the gateway's DOCFLEET_CORS_ORIGINS and the bucket's CORS rule (POST, PUT, GET, HEAD; ETag exposed)", () => {
    expect(checkCors(tree)).toEqual([]);
  });

  it("gateways sit behind a load balancer that health-checks /ready; their user data passes bash -n", () => {
    expect(checkGateway(tree)).toEqual([]);
  });

  it("terraform.tfvars.example sets only declared variables and every required one", async () => {
    expect(await checkExampleTfvars(tree, ROOT)).toEqual([]);
  });
});

describe("the checks catch mistakes (mutated copies of infra/terraform)", () => {
  const copies: string[] = [];
  afterAll(() => {
    for (const c of copies) rmSync(c, { recursive: true, force: true });
  });

  /** Copies the tree, replaces `from` with `to` in `file` (which must contain it) and returns every problem. */
  async function mutate(file: string, from: string | RegExp, to: string): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), "docfleet-tf-"));
    copies.push(dir);
    cpSync(ROOT, dir, { recursive: true });
    const path = join(dir, file);
    const before = readFileSync(path, "utf8");
    const after = before.replace(from, to);
    expect(after, `mutation of ${file} must change it`).not.toBe(before);
    writeFileSync(path, after);
    return allProblems(dir);
  }

  it("a misspelt variable reference", async () => {
    const problems = await mutate(
      "modules/worker_pool/main.tf",
      "target_value = var.target_backlog_per_worker",
      "target_value = var.target_backlog_per_workr",
    );
    expect(problems).toContain("modules/worker_pool: var.target_backlog_per_workr is not declared");
    expect(problems).toContain(
      'modules/worker_pool: variable "target_backlog_per_worker" is declared but never used',
    );
  });

  it("a module output that does not exist", async () => {
    const problems = await mutate("main.tf", "module.search.url", "module.search.endpoint");
    expect(problems).toContain(".: module.search.endpoint is not an output of modules/search");
  });

  it("a required module argument left out, an unknown one passed", async () => {
    const problems = await mutate(
      "main.tf",
      /( {2}drain_timeout_seconds\s+= var.drain_timeout_seconds\n)/,
      "  drain_timeout_second = 1\n",
    );
    expect(problems).toContain(
      '.: module "cpu_pool" does not pass required variable "drain_timeout_seconds"',
    );
    expect(problems).toContain('.: module "cpu_pool" passes unknown variable "drain_timeout_second"');
  });

  it("a stage no pool consumes", async () => {
    const problems = await mutate("main.tf", '["understand", "embed"]', '["understand"]');
    expect(problems).toContain("stage EMBED is consumed by no pool (want exactly one)");
  });

  it("scaling on the raw backlog, not per in-service instance", async () => {
    const problems = await mutate("modules/worker_pool/main.tf", " / IF(in_service > 0, in_service, 1)", "");
    expect(problems.some((p) => p.includes("is not divided by GroupInServiceInstances"))).toBe(true);
  });

  it("a queue name that differs from the application's", async () => {
    const problems = await mutate(
      "modules/worker_pool/main.tf",
      `"\${var.queue_prefix}docfleet.\${r}"`,
      `"\${var.queue_prefix}docfleet-\${r}"`,
    );
    expect(
      problems.some((p) =>
        p.includes("scales on docfleet-understand, the worker consumes docfleet.understand"),
      ),
    ).toBe(true);
  });

  it("models no longer pulled", async () => {
    const problems = await mutate(
      "modules/worker_pool/user_data.sh.tftpl",
      /%\{ for model in ollama_models ~\}\nollama pull "\$\{model\}"\n%\{ endfor ~\}\n/,
      "",
    );
    expect(problems).toContain("GPU user data does not pull nomic-embed-text");
    expect(problems).toContain(
      "modules/worker_pool/user_data.sh.tftpl: ollama_models is passed but never used",
    );
  });

  it("a watcher that never completes the lifecycle action", async () => {
    const problems = await mutate(
      "modules/worker_pool/user_data.sh.tftpl",
      "aws autoscaling complete-lifecycle-action",
      "echo",
    );
    expect(problems).toContain(
      "modules/worker_pool: the drain watcher does not complete the lifecycle action",
    );
  });

  it("a shell syntax error in the user data", async () => {
    const problems = await mutate("modules/worker_pool/user_data.sh.tftpl", "esac\n", "\n");
    expect(problems.some((p) => p.includes("bash -n"))).toBe(true);
  });

  it("an IAM user with an access key for S3, its keys in the processes' secrets", async () => {
    const problems = await mutate(
      "modules/storage/main.tf",
      "locals {",
      'resource "aws_iam_user" "docfleet" {\n  name = "docfleet"\n}\n\nresource "aws_iam_access_key" "docfleet" {\n  user = aws_iam_user.docfleet.name\n}\n\nlocals {',
    );
    expect(problems).toContain(
      "modules/storage: aws_iam_access_key.docfleet (an IAM user or key: S3 access belongs to the instance roles)",
    );
    const env = await mutate(
      "main.tf",
      "  secret_environment = {\n",
      '  secret_environment = {\n    S3_SECRET_KEY = "arn"\n',
    );
    expect(env).toContain(
      "the processes are given S3_SECRET_KEY (secret_environment): they take the instance role's keys",
    );
  });

  it("a pool whose instance role lacks the bucket's access", async () => {
    const problems = await mutate("modules/worker_pool/main.tf", "}], var.storage_statements)", "}], [])");
    expect(problems).toContain(
      "modules/worker_pool: the instance role does not get var.storage_statements (no access to the bucket)",
    );
    expect(problems).toContain(
      'modules/worker_pool: variable "storage_statements" is declared but never used',
    );
  });

  it("an IMDS hop limit the gateway's container cannot cross", async () => {
    const problems = await mutate(
      "modules/gateway/main.tf",
      "http_put_response_hop_limit = 2",
      "http_put_response_hop_limit = 1",
    );
    expect(problems).toContain(
      "modules/gateway: IMDS hop limit under 2: the container cannot reach the role's keys",
    );
  });

  it("the gateway's origins not from the bucket's list, and a CORS rule that hides ETag", async () => {
    expect(
      await mutate(
        "main.tf",
        /DOCFLEET_CORS_ORIGINS = join\(",", var\.cors_allowed_origins\)/,
        'DOCFLEET_CORS_ORIGINS = ""',
      ),
    ).toContain("the gateway's DOCFLEET_CORS_ORIGINS is not var.cors_allowed_origins");
    expect(
      await mutate("modules/storage/main.tf", /expose_headers\s*=\s*\["ETag"\]/, "expose_headers = []"),
    ).toContain("the bucket's CORS rule does not expose ETag");
  });

  it("no multipart clean-up on the bucket", async () => {
    const problems = await mutate(
      "modules/storage/main.tf",
      /abort_incomplete_multipart_upload \{[^}]*\}/,
      "",
    );
    expect(problems).toContain("the bucket does not abort incomplete multipart uploads");
  });
});
