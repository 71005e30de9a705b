import { type ChatRequest, type Message, Ollama } from "ollama";
import { DocumentError, FailureCode, TransientError } from "../../domain/errors.ts";
import type {
  Category,
  ExtractedField,
  FieldSchema,
  Models,
  PageWord,
  UnderstandInput,
  Understanding,
} from "../../ports/models.ts";
import { extractCategoryFields, normaliseNumber } from "./builtin/index.ts";
import {
  type Answer,
  answerValidator,
  describeCategories,
  type FieldAnswer,
  fieldKind,
  PROMPT_VERSION,
  SYSTEM_PROMPT,
  understandFormat,
} from "./ollama-schema.ts";

export { PROMPT_VERSION } from "./ollama-schema.ts";

export interface OllamaModelsOptions {
  /** Base URL of the Ollama server, e.g. http://gpu-1:11434. */
  url: string;
  textModel: string;
  visionModel: string;
  embedModel: string;
  /** Vector length the embedding model must return (checked at the first call). */
  embedDimensions: number;
  /** Per HTTP call; past it the call is abandoned and counts as transient. */
  timeoutMs: number;
  /** Extra attempts when an answer does not fit the schema. */
  maxRetries: number;
  /** Texts per /api/embed request. */
  embedBatch: number;
  /** Largest page image in pixels (the parse stage downscales to it). */
  visionPixels: number;
  /** Context window requested from Ollama (num_ctx); fixed, since changing it reloads the model. */
  numCtx?: number;
  /** Characters of document text sent; longer texts keep their start (headers, parties, totals on page 1). */
  maxPromptChars?: number;
  /** Page images sent to the vision model at most (the first ones). */
  maxImages?: number;
  /** For tests: the fetch the ollama client uses. */
  fetch?: typeof fetch;
}

/**
 * Models on an Ollama server: classification + extraction in ONE structured chat call per document
 * (`format` = a JSON schema built from the tenant's categories), a vision model when page images are
 * given, and batched embeddings through /api/embed.
 */
export class OllamaModels implements Models {
  readonly names: { understand: string; vision: string; embed: string };
  readonly promptVersion = PROMPT_VERSION;
  readonly embeddingDimensions: number;
  readonly visionPixelBudget: number;
  private readonly opts: Required<Omit<OllamaModelsOptions, "fetch">> & { fetch: typeof fetch };

  constructor(options: OllamaModelsOptions) {
    this.opts = {
      numCtx: 8192,
      maxPromptChars: 16_000,
      maxImages: 4,
      ...options,
      fetch: options.fetch ?? fetch,
    };
    // Names as results record them, so a reprocess can compare the two.
    this.names = {
      understand: this.qualify(options.textModel),
      vision: this.qualify(options.visionModel),
      embed: this.qualify(options.embedModel),
    };
    this.embeddingDimensions = options.embedDimensions;
    this.visionPixelBudget = options.visionPixels;
  }

  qualify(model: string): string {
    return model.startsWith("ollama:") ? model : `ollama:${model}`;
  }

  async understand(input: UnderstandInput): Promise<Understanding> {
    if (input.categories.length === 0) throw new Error("understand needs at least one category");
    const images = (input.images ?? []).slice(0, this.opts.maxImages);
    // Page images only come for pages without a usable text layer: those need eyes. A chosen model
    // (a reprocess) replaces either.
    const model =
      input.model?.replace(/^ollama:/, "") ??
      (images.length > 0 ? this.opts.visionModel : this.opts.textModel);
    const { text: shown, cut } = cutText(input.text, this.opts.maxPromptChars);
    const user: Message = {
      role: "user",
      content: [
        `Categories:\n${describeCategories(input.categories)}`,
        input.name ? `File name: ${input.name}` : "",
        images.length > 0 ? `The document's pages are attached as ${images.length} image(s).` : "",
        `<document>\n${shown}${cut > 0 ? `\n[… ${cut} more characters not shown]` : ""}\n</document>`,
      ]
        .filter(Boolean)
        .join("\n\n"),
      ...(images.length > 0 ? { images: images.map((i) => i.data.toString("base64")) } : {}),
    };
    const messages: Message[] = [{ role: "system", content: SYSTEM_PROMPT }, user];
    const format = understandFormat(input.categories);
    const validate = answerValidator(input.categories);
    let lastReason = "";
    const usage = { promptTokens: 0, completionTokens: 0 };
    for (let attempt = 0; attempt <= this.opts.maxRetries; attempt++) {
      const request: ChatRequest & { stream: false } = {
        model,
        messages,
        format,
        stream: false,
        options: { temperature: 0, num_ctx: this.opts.numCtx },
      };
      const res = await this.call(model, input.signal, (client) => client.chat(request));
      usage.promptTokens += res.prompt_eval_count ?? 0;
      usage.completionTokens += res.eval_count ?? 0;
      const content = res.message?.content ?? "";
      const checked = validate(content);
      if (checked.ok) return { ...this.toUnderstanding(checked.answer, input, model), usage };
      lastReason =
        res.done_reason === "length"
          ? `answer cut off at the token limit; ${checked.reason}`
          : checked.reason;
      // Show the model what was wrong: a second try with the reason usually fixes it.
      messages.splice(
        2,
        messages.length,
        { role: "assistant", content: content.slice(0, 2000) },
        {
          role: "user",
          content: `That answer was invalid: ${lastReason}. Answer again with JSON matching the schema.`,
        },
      );
    }
    throw new DocumentError(
      FailureCode.MODEL_OUTPUT_INVALID,
      `${model} answered invalid output ${this.opts.maxRetries + 1} times; last: ${lastReason}`.slice(
        0,
        1000,
      ),
    );
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    const out: number[][] = [];
    const model = this.opts.embedModel;
    for (let i = 0; i < texts.length; i += this.opts.embedBatch) {
      const batch = texts.slice(i, i + this.opts.embedBatch);
      const res = await this.call(model, signal, (client) =>
        client.embed({ model, input: [...batch], truncate: true }),
      );
      if (!Array.isArray(res.embeddings) || res.embeddings.length !== batch.length)
        throw new TransientError(
          `${model} returned ${res.embeddings?.length ?? 0} embeddings for ${batch.length} texts`,
        );
      for (const v of res.embeddings) {
        if (v.length !== this.embeddingDimensions)
          throw new DocumentError(
            FailureCode.MODEL_UNAVAILABLE,
            `embedding model ${model} returns ${v.length}-dimensional vectors but ${this.embeddingDimensions} are configured (OLLAMA_EMBED_DIMENSIONS): set it to ${v.length} for a new index, or use a model with ${this.embeddingDimensions} dimensions`,
          );
        out.push(normalise(v));
      }
    }
    return out;
  }

  /**
   * One HTTP call through a client whose fetch carries the caller's signal and the per-call timeout
   * (the ollama package aborts only streamed requests by itself). Maps failures onto the port's errors.
   */
  private async call<T>(
    model: string,
    signal: AbortSignal | undefined,
    fn: (c: Ollama) => Promise<T>,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const baseFetch = this.opts.fetch;
    const client = new Ollama({
      host: this.opts.url,
      fetch: (url, init) => baseFetch(url, { ...init, signal: combined }),
    });
    try {
      return await fn(client);
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      if (timeout.aborted)
        throw new TransientError(
          `Ollama at ${this.opts.url} did not answer within ${this.opts.timeoutMs} ms`,
        );
      throw this.mapError(err, model);
    }
  }

  private mapError(err: unknown, model: string): Error {
    const e = err as { name?: string; status_code?: number; message?: string; cause?: { code?: string } };
    const url = this.opts.url;
    if (e?.name === "ResponseError" && typeof e.status_code === "number") {
      const status = e.status_code;
      if (status === 404)
        return new DocumentError(
          FailureCode.MODEL_UNAVAILABLE,
          `model ${model} is not available on the Ollama server at ${url}: run \`ollama pull ${model}\` (${e.message})`,
          { cause: err },
        );
      if (status === 429 || status >= 500)
        return new TransientError(`Ollama at ${url} answered ${status}: ${e.message}`, { cause: err });
      if (status === 400 && /does not support/i.test(e.message ?? ""))
        return new DocumentError(
          FailureCode.MODEL_UNAVAILABLE,
          `model ${model} on ${url} cannot do this: ${e.message}`,
          { cause: err },
        );
      return new DocumentError(
        FailureCode.INTERNAL,
        `Ollama at ${url} rejected the request (${status}): ${e.message}`,
        {
          cause: err,
        },
      );
    }
    // fetch failed: connection refused or reset, DNS, a body cut off mid-way.
    return new TransientError(
      `Ollama at ${url} is unreachable: ${e?.message ?? String(err)}${e?.cause?.code ? ` (${e.cause.code})` : ""}`,
      { cause: err },
    );
  }

  private toUnderstanding(answer: Answer, input: UnderstandInput, model: string): Understanding {
    const category = input.categories.find((c) => c.name === answer.category)!;
    const fields: ExtractedField[] = [];
    for (const [name, schema] of Object.entries(category.fields?.properties ?? {})) {
      const a = answer.fields[name];
      if (a === undefined) continue;
      const items = Array.isArray(a) ? a : [a];
      const itemSchema = schema.type === "array" ? schema.items : schema;
      for (const item of items) {
        const f = toField(name, itemSchema, item, input.text, input.words);
        if (f) fields.push(f);
      }
    }
    return {
      category: answer.category,
      confidence: clamp(answer.confidence),
      fields,
      model: `ollama:${model}`,
      promptVersion: PROMPT_VERSION,
    };
  }
}

export function createOllamaModels(options: OllamaModelsOptions): OllamaModels {
  return new OllamaModels(options);
}

/** Keeps the start of long texts: headers, parties, dates and (mostly) totals live there. */
export function cutText(text: string, max: number): { text: string; cut: number } {
  if (text.length <= max) return { text, cut: 0 };
  // Cut at a line end near the budget when there is one, not mid-word.
  const nl = text.lastIndexOf("\n", max);
  const end = nl > max * 0.8 ? nl : max;
  return { text: text.slice(0, end), cut: text.length - end };
}

// ------------------------------------------------------------------------------------- normalisation

const CURRENCY: Record<string, string> = {
  $: "USD",
  US$: "USD",
  "€": "EUR",
  "£": "GBP",
  "¥": "JPY",
  RM: "MYR",
  "₹": "INR",
};

/** One answered value → an ExtractedField with its normalised value and, when it can be found, its span. */
function toField(
  name: string,
  schema: Exclude<FieldSchema, { type: "array" }>,
  a: FieldAnswer,
  text: string,
  words: readonly PageWord[] | undefined,
): ExtractedField | null {
  if (a.value === null || (typeof a.value === "string" && a.value.trim() === "")) return null;
  const kind = fieldKind(schema);
  const raw = typeof a.value === "number" ? String(a.value) : a.value.trim();
  let value: string | null = raw;
  let currency: string | undefined;
  switch (kind) {
    case "date":
      value = isoDate(raw);
      break;
    case "money": {
      const m = parseMoney(raw);
      value = m?.value ?? null;
      currency =
        m?.currency ??
        (a.currency && /^[A-Za-z]{3}$/.test(a.currency) ? a.currency.toUpperCase() : undefined);
      break;
    }
    case "number":
      value =
        typeof a.value === "number" ? String(a.value) : (normaliseNumber(raw.replace(/^-/, "")) ?? null);
      if (value !== null && typeof a.value === "string" && raw.startsWith("-")) value = `-${value}`;
      break;
    case "string":
      value = raw.replace(/\s+/g, " ");
      break;
  }
  // A value that cannot be normalised (a "date" that is no date) is dropped rather than stored wrong.
  if (value === null) return null;
  const field: ExtractedField = { name, kind, raw, value, confidence: clamp(a.confidence) };
  if (currency) field.currency = currency;
  const span = locate(text, raw, a.evidence, typeof a.value === "number" ? a.value : undefined);
  if (span) {
    field.span = span;
    field.raw = text.slice(span[0], span[1]);
    if (text.includes("\f")) field.page = 1 + countOf(text.slice(0, span[0]), "\f");
  } else {
    // A value docfleet cannot point at in the text is less trustworthy than the model says.
    field.confidence = clamp(field.confidence * 0.75);
  }
  const box = words && boxOf(words, raw);
  if (box) {
    field.bbox = box.bbox;
    field.page ??= box.page;
  }
  return field;
}

/** [start, end) of the value in the text: as printed, then case-insensitive, then inside the evidence. */
function locate(
  text: string,
  raw: string,
  evidence: string | null,
  n?: number,
): [number, number] | undefined {
  const direct = indexOf(text, raw);
  if (direct) return direct;
  const ev = evidence ? indexOf(text, evidence.trim()) : undefined;
  if (ev && n !== undefined) {
    // A number the model rewrote ("1,234.5" → 1234.5): find a printed form of it inside the evidence.
    const slice = text.slice(ev[0], ev[1]);
    for (const m of slice.matchAll(/-?\d[\d,.' ]*\d|\d/g)) {
      const v = normaliseNumber(m[0].replace(/^-/, ""));
      if (v !== null && Number(v) === Math.abs(n)) return [ev[0] + m.index, ev[0] + m.index + m[0].length];
    }
  }
  return ev;
}

function indexOf(text: string, needle: string): [number, number] | undefined {
  if (!needle) return undefined;
  let i = text.indexOf(needle);
  if (i < 0) i = text.toLowerCase().indexOf(needle.toLowerCase());
  return i < 0 ? undefined : [i, i + needle.length];
}

const DATE_ONLY: Category = {
  name: "date",
  description: "",
  fields: { type: "object", properties: { date: { type: "string", format: "date" } } },
};

function isoDate(raw: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(raw);
  if (m) {
    const d = new Date(`${raw}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(raw) ? raw : null;
  }
  // The built-in extractor's date rules (numeric and month-name forms, several languages).
  const best = extractCategoryFields(raw, DATE_ONLY).find((f) => f.kind === "date");
  return best && best.raw.length >= raw.replace(/[^\p{L}\p{N}]/gu, "").length * 0.5 ? best.value : null;
}

function parseMoney(raw: string): { value: string; currency?: string } | null {
  const code = /\b([A-Z]{3})\b/.exec(raw)?.[1];
  const symbol = /(US\$|RM|\$|€|£|¥|₹)/.exec(raw)?.[1];
  const negative = /^\s*-|\(\s*[\d.,]+\s*\)|-\s*[\d]/.test(raw);
  const digits = raw.replace(/[^\d.,' ]/g, "").trim();
  const value = digits ? normaliseNumber(digits) : null;
  if (value === null) return null;
  return { value: negative ? `-${value}` : value, currency: code ?? (symbol ? CURRENCY[symbol] : undefined) };
}

/** The OCR words that spell the value, as one box (first line of words matching it in order). */
function boxOf(
  words: readonly PageWord[],
  raw: string,
): { bbox: [number, number, number, number]; page: number } | undefined {
  const want = raw.split(/\s+/).filter(Boolean);
  if (want.length === 0) return undefined;
  for (let i = 0; i + want.length <= words.length; i++) {
    if (!want.every((w, k) => words[i + k]!.text === w && words[i + k]!.page === words[i]!.page)) continue;
    const span = words.slice(i, i + want.length);
    return {
      page: span[0]!.page,
      bbox: [
        Math.min(...span.map((w) => w.bbox[0])),
        Math.min(...span.map((w) => w.bbox[1])),
        Math.max(...span.map((w) => w.bbox[2])),
        Math.max(...span.map((w) => w.bbox[3])),
      ],
    };
  }
  return undefined;
}

function normalise(v: number[]): number[] {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  return n > 0 && Math.abs(n - 1) > 1e-6 ? v.map((x) => x / n) : v;
}

function clamp(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}

function countOf(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}
