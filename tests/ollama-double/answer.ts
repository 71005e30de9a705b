/**
 * How the Ollama double makes up an answer that fits a `format` JSON schema: deterministic and
 * plausible, nothing more. anyOf branches and enum members are chosen by keyword overlap between the
 * document text and their descriptions; leaf values are looked up in the text next to a label that
 * matches the property's name ("invoice_number" → a line with "invoice" and "number"/"no"), else null.
 */

export type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
};

/** The document the prompt is about: inside <document>…</document> when marked, else the whole prompt. */
export function documentText(prompt: string): string {
  const m = /<document[^>]*>([\s\S]*?)<\/document>/i.exec(prompt);
  return m ? m[1]! : prompt;
}

export function answerFor(schema: JsonSchema, text: string): unknown {
  const ctx: Ctx = { text, folded: fold(text), words: new Set(words(fold(text))), found: new Map() };
  return gen(schema, ctx, undefined);
}

interface Found {
  raw: string;
  line: string;
}
interface Ctx {
  text: string;
  folded: string;
  words: Set<string>;
  found: Map<string, Found | null>;
  /** Overlap score of the chosen anyOf branch, for a plausible top-level confidence. */
  choice?: number;
}

const WRAPPER_KEYS = new Set(["value", "raw", "evidence", "confidence", "currency"]);

function gen(s: JsonSchema, ctx: Ctx, label: string | undefined, key?: string): unknown {
  const alts = s.anyOf ?? s.oneOf;
  if (alts && alts.length > 0) return gen(pickBranch(alts, ctx), ctx, label, key);
  if (s.const !== undefined) return s.const;
  if (s.enum) return pickEnum(s.enum, ctx, label);
  const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : ["object"];
  const nullable = types.includes("null");
  const type = types.find((t) => t !== "null") ?? "null";
  switch (type) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [k, sub] of Object.entries(s.properties ?? {}))
        out[k] = gen(sub, ctx, WRAPPER_KEYS.has(k) && label ? label : k, k);
      return out;
    }
    case "array": {
      const item = s.items ? gen(s.items, ctx, label, key) : null;
      return item === null || isEmptyWrapper(item) ? [] : [item];
    }
    case "number":
    case "integer": {
      if (key === "confidence") return label && find(ctx, label, s) ? 0.9 : label ? 0.3 : confidence(ctx);
      const f = label ? find(ctx, label, { type: "number" }) : null;
      const n = f ? Number(f.raw.replace(/[^\d.-]/g, "")) : Number.NaN;
      if (Number.isFinite(n)) return type === "integer" ? Math.trunc(n) : n;
      return nullable ? null : 0;
    }
    case "boolean":
      return false;
    case "string": {
      const f = label ? find(ctx, label, s) : null;
      if (key === "evidence") return f ? f.line : nullable ? null : "";
      if (key === "currency")
        return f ? (currencyIn(f.line) ?? (nullable ? null : "")) : nullable ? null : "";
      if (f) return f.raw;
      return nullable ? null : "";
    }
    default:
      return null;
  }
}

function isEmptyWrapper(v: unknown): boolean {
  return typeof v === "object" && v !== null && "value" in v && (v as { value: unknown }).value === null;
}

function confidence(ctx: Ctx): number {
  return ctx.choice === undefined ? 0.8 : Math.min(0.95, 0.5 + 0.1 * ctx.choice);
}

/** The branch whose description (and single enum / const values) shares the most words with the text. */
function pickBranch(alts: JsonSchema[], ctx: Ctx): JsonSchema {
  let best = alts[0]!;
  let bestScore = -1;
  for (const alt of alts) {
    const score = overlap(ctx, describe(alt));
    if (score > bestScore) {
      best = alt;
      bestScore = score;
    }
  }
  ctx.choice = bestScore;
  return best;
}

function describe(s: JsonSchema): string {
  const parts = [s.description ?? ""];
  for (const sub of Object.values(s.properties ?? {})) {
    if (sub.const !== undefined) parts.push(String(sub.const));
    if (sub.enum?.length === 1) parts.push(String(sub.enum[0]));
    if (sub.const !== undefined || sub.enum?.length === 1) parts.push(sub.description ?? "");
  }
  return parts.join(" ");
}

function pickEnum(values: unknown[], ctx: Ctx, label: string | undefined): unknown {
  const strings = values.filter((v): v is string => typeof v === "string");
  if (strings.length === 0) return values[0] ?? null;
  if (strings.length === 1 && !values.includes(null)) return strings[0];
  // A field's enum: the member printed in the text, else null when allowed.
  let best: string | undefined;
  let bestScore = 0;
  for (const v of strings) {
    const score = overlap(ctx, v.replace(/_/g, " "));
    if (score > bestScore) {
      best = v;
      bestScore = score;
    }
  }
  if (best !== undefined) return best;
  return values.includes(null) && label ? null : strings[0];
}

function overlap(ctx: Ctx, description: string): number {
  let n = 0;
  for (const w of new Set(words(fold(description)))) if (!STOP.has(w) && ctx.words.has(w)) n++;
  return n;
}

// ------------------------------------------------------------------------------------ value finding

const SYNONYMS: Record<string, string[]> = {
  number: ["number", "no", "nr", "#", "num"],
  date: ["date", "dated"],
  total: ["total", "amount due", "balance due", "grand total"],
  tax: ["tax", "vat", "gst", "sst"],
  vendor: ["vendor", "from", "seller", "supplier"],
  name: ["name"],
};
const DATE_RE =
  /\b(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4})\b/;
const MONEY_RE =
  /(?:(?:US\$|\$|€|£|¥|RM|USD|EUR|GBP|CHF|MYR)\s?)?-?\d{1,3}(?:[,.' ]\d{3})*(?:[.,]\d{1,2})?(?:\s?(?:USD|EUR|GBP|CHF|MYR|€))?/;
const NUMBER_RE = /-?\d+(?:[.,]\d+)?/;

function find(ctx: Ctx, label: string, s: JsonSchema): Found | null {
  const kind = s.format === "date" ? "date" : s.format === "money" ? "money" : (typeOf(s) ?? "string");
  const key = `${label}\u0000${kind}`;
  if (ctx.found.has(key)) return ctx.found.get(key)!;
  const f = findUncached(ctx, label, kind);
  ctx.found.set(key, f);
  return f;
}

function typeOf(s: JsonSchema): string | undefined {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  return t;
}

function findUncached(ctx: Ctx, label: string, kind: string): Found | null {
  const parts = label
    .toLowerCase()
    .split(/[_\s-]+/)
    .filter(Boolean);
  const isDate = kind === "date" || parts.includes("date");
  const isMoney =
    kind === "money" || parts.some((p) => ["total", "amount", "tax", "subtotal", "price"].includes(p));
  const lines = ctx.text.split(/[\n\f]/);
  for (const line of lines) {
    const folded = fold(line);
    const at = labelAt(folded, parts);
    if (at < 0) continue;
    const rest = line.slice(at).replace(/^[^:#\s]*\s*[:#]?\s*/, "");
    const after = line.slice(at);
    let raw: string | undefined;
    if (isDate) raw = DATE_RE.exec(after)?.[0];
    else if (isMoney) raw = [...after.matchAll(new RegExp(MONEY_RE, "g"))].find((m) => /\d/.test(m[0]))?.[0];
    else if (kind === "number" || kind === "integer") raw = NUMBER_RE.exec(after)?.[0];
    else {
      const m = /[:#]\s*(.+)$/.exec(after);
      raw = (m?.[1] ?? rest).trim() || undefined;
    }
    if (raw) return { raw: raw.trim(), line: line.trim() };
  }
  if (isDate) {
    const m = DATE_RE.exec(ctx.text);
    if (m) return { raw: m[0], line: lineAround(ctx.text, m.index) };
  }
  return null;
}

/** Where the label's words start on the line (every word, or a synonym of it), else -1. */
function labelAt(foldedLine: string, parts: string[]): number {
  let first = -1;
  for (const p of parts) {
    const options = SYNONYMS[p] ?? [p];
    let hit = -1;
    for (const o of options) {
      const re = new RegExp(`(^|[^a-z0-9])${o.replace(/[#]/g, "\\#")}([^a-z0-9]|$)`);
      const m = re.exec(foldedLine);
      if (m) {
        hit = m.index + m[1]!.length;
        break;
      }
    }
    if (hit < 0) return -1;
    if (first < 0 || hit < first) first = hit;
  }
  return first;
}

function lineAround(text: string, at: number): string {
  const start = Math.max(text.lastIndexOf("\n", at), text.lastIndexOf("\f", at)) + 1;
  let end = text.slice(at).search(/[\n\f]/);
  end = end < 0 ? text.length : at + end;
  return text.slice(start, end).trim();
}

function currencyIn(line: string): string | undefined {
  const m = /(USD|EUR|GBP|CHF|MYR|US\$|\$|€|£|RM)/.exec(line);
  if (!m) return undefined;
  return (
    ({ US$: "USD", $: "USD", "€": "EUR", "£": "GBP", RM: "MYR" } as Record<string, string>)[m[1]!] ?? m[1]
  );
}

function fold(s: string): string {
  return s
    .normalize("NFD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase();
}

function words(folded: string): string[] {
  return folded.split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 2);
}

const STOP = new Set(
  "the and for with from that this are was were has have its their usually any all one not but into out about per who what when which".split(
    " ",
  ),
);
