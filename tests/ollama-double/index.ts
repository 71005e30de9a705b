/**
 * The Ollama DOUBLE: a node:http server that speaks Ollama's HTTP API closely enough to test and
 * benchmark docfleet's Ollama adapter where no Ollama server or model weights exist. It is not a
 * model: answers are made up from the `format` schema and the prompt (see answer.ts), and timings come
 * from a latency model built on published figures (../../../shared/FIGURES.md). See README.md.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { answerFor, documentText, type JsonSchema } from "./answer.ts";

export interface DoubleModel {
  name: string;
  /** "completion" (text LLM), "vision" (LLM that also takes images) or "embedding". */
  kind: "completion" | "vision" | "embedding";
  /** Embedding length (embedding models). */
  dimensions?: number;
  /** Context length in tokens (default 8192; embedding models 2048). */
  contextLength?: number;
}

/**
 * Service time of one request on one slot, in seconds before `timeScale`. Defaults: decode 190 tok/s
 * (single-stream 8-9B Q4_K_M on an H100, FIGURES.md), vision tokens 1 per 28×28 px (Qwen2.5-VL,
 * FIGURES.md), embeddings 15 ms per request + 8 ms per text (derived from FIGURES.md's batched /api/embed
 * figure: 10 texts 95 ms batched vs 227 ms one by one). Prompt evaluation 2,000 tok/s per slot and
 * 20 ms per request are assumptions (no published figure in FIGURES.md). Slots run independently: the
 * double does not model how concurrent streams share the GPU.
 */
export interface LatencyModel {
  promptTokensPerSecond: number;
  decodeTokensPerSecond: number;
  pixelsPerVisionToken: number;
  requestOverheadMs: number;
  embedRequestMs: number;
  embedPerTextMs: number;
}

export const DEFAULT_LATENCY: LatencyModel = {
  promptTokensPerSecond: 2000,
  decodeTokensPerSecond: 190,
  pixelsPerVisionToken: 28 * 28,
  requestOverheadMs: 20,
  embedRequestMs: 15,
  embedPerTextMs: 8,
};

export const DEFAULT_DOUBLE_MODELS: DoubleModel[] = [
  { name: "qwen2.5:7b-instruct", kind: "completion" },
  { name: "qwen2.5vl:7b", kind: "vision" },
  { name: "nomic-embed-text", kind: "embedding", dimensions: 768, contextLength: 2048 },
];

export interface OllamaDoubleOptions {
  models?: DoubleModel[];
  /** Parallel slots per loaded model (OLLAMA_NUM_PARALLEL). Default 4. */
  parallel?: number;
  /** Requests that may wait for a slot (OLLAMA_MAX_QUEUE); beyond it 503. Default 512. */
  maxQueue?: number;
  latency?: Partial<LatencyModel>;
  /** Multiplies every modelled duration: 1 = the latency model as is, 0 = no waiting. Default 1. */
  timeScale?: number;
  port?: number;
  host?: string;
}

/** Misbehaviour to inject; counters count down per inference request (chat, generate, embed). */
export interface DoubleBehaviour {
  /** The next N chat/generate answers are cut-off, unparseable JSON. */
  invalidJson?: number;
  /** The next N chat/generate answers are valid JSON that breaks the schema. */
  schemaViolation?: number;
  /** The next N inference requests fail with 500. */
  serverErrors?: number;
  /** Added to every inference request's service time, unscaled (a slow server). */
  extraLatencyMs?: number;
  /** Models that are not pulled: every request naming one gets 404. */
  missing?: string[];
}

export interface ModelStats {
  requests: number;
  /** Integral of busy slots over time, in slot-milliseconds. */
  busySlotMs: number;
  /** Sum of modelled service times of requests that finished. */
  serviceMs: number;
  promptTokens: number;
  evalTokens: number;
  visionTokens: number;
  embedInputs: number;
  /** performance.now() when a slot was first taken, and when one was last given back (0: never). */
  firstSlotAt: number;
  lastReleaseAt: number;
}

export interface DoubleStats {
  /** Requests received, by path. */
  requests: Record<string, number>;
  /** Responses with an error status, by status. */
  errors: Record<number, number>;
  /** 503: queue full. */
  rejected: number;
  /** Requests whose client went away before the answer. */
  aborted: number;
  inFlight: number;
  queued: number;
  maxQueued: number;
  parallel: number;
  busySlotMs: number;
  models: Record<string, ModelStats>;
}

export interface OllamaDouble {
  url: string;
  stats(): DoubleStats;
  /**
   * Resolves with the stats once `check` holds for them: looked at now and at each request that takes
   * or leaves a slot, or goes away (in-flight and aborted counts). Rejects naming `what` after `timeoutMs`.
   */
  until(what: string, check: (s: DoubleStats) => boolean, timeoutMs?: number): Promise<DoubleStats>;
  setBehaviour(b: DoubleBehaviour): void;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** N slots for one loaded model, with a busy-slot time integral. */
class Slots {
  busy = 0;
  private integral = 0;
  private since = performance.now();
  private readonly waiting: { grant: () => void }[] = [];
  constructor(readonly size: number) {}

  private mark() {
    const now = performance.now();
    this.integral += this.busy * (now - this.since);
    this.since = now;
  }
  busyMs(): number {
    return this.integral + this.busy * (performance.now() - this.since);
  }
  get queued() {
    return this.waiting.length;
  }
  /** Resolves when a slot is held; rejects with the signal's abort. */
  acquire(signal: AbortSignal): Promise<void> {
    if (this.busy < this.size) {
      this.mark();
      this.busy++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(entry);
    });
  }
  release() {
    const next = this.waiting.shift();
    if (next)
      next.grant(); // the slot passes on: busy stays the same
    else {
      this.mark();
      this.busy--;
    }
  }
}

export async function startOllamaDouble(opts: OllamaDoubleOptions = {}): Promise<OllamaDouble> {
  const models = new Map((opts.models ?? DEFAULT_DOUBLE_MODELS).map((m) => [m.name, m]));
  const parallel = opts.parallel ?? 4;
  const maxQueue = opts.maxQueue ?? 512;
  const latency = { ...DEFAULT_LATENCY, ...opts.latency };
  const timeScale = opts.timeScale ?? 1;
  const behaviour: Required<DoubleBehaviour> = {
    invalidJson: 0,
    schemaViolation: 0,
    serverErrors: 0,
    extraLatencyMs: 0,
    missing: [],
  };
  const slots = new Map<string, Slots>();
  const loadedAt = new Map<string, number>();
  const perModel = new Map<string, ModelStats>();
  const counts = { requests: {} as Record<string, number>, errors: {} as Record<number, number> };
  let rejected = 0;
  let aborted = 0;
  let inFlight = 0;
  let maxQueued = 0;
  const watchers = new Set<() => void>();
  const changed = () => {
    for (const w of [...watchers]) w();
  };

  const modelStats = (name: string) => {
    let s = perModel.get(name);
    if (!s) {
      s = {
        requests: 0,
        busySlotMs: 0,
        serviceMs: 0,
        promptTokens: 0,
        evalTokens: 0,
        visionTokens: 0,
        embedInputs: 0,
        firstSlotAt: 0,
        lastReleaseAt: 0,
      };
      perModel.set(name, s);
    }
    return s;
  };
  const queuedNow = () => [...slots.values()].reduce((n, s) => n + s.queued, 0);

  function requireModel(name: unknown): DoubleModel {
    if (typeof name !== "string" || name === "") throw new HttpError(400, "model is required");
    const m = models.get(name) ?? models.get(`${name}:latest`);
    if (!m || behaviour.missing.includes(m.name) || behaviour.missing.includes(name))
      throw new HttpError(404, `model "${name}" not found, try pulling it first`);
    return m;
  }

  /** Holds a slot of `model` for the request's service time; `work` runs once the slot is held. */
  async function onSlot<T>(model: DoubleModel, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    let pool = slots.get(model.name);
    if (!pool) {
      pool = new Slots(parallel);
      slots.set(model.name, pool);
    }
    if (pool.busy >= pool.size && queuedNow() >= maxQueue) {
      rejected++;
      throw new HttpError(503, "server busy, please try again.  maximum pending requests exceeded");
    }
    const wait = pool.acquire(signal);
    maxQueued = Math.max(maxQueued, queuedNow());
    await wait;
    loadedAt.set(model.name, Date.now());
    const ms = modelStats(model.name);
    ms.firstSlotAt ||= performance.now();
    if (behaviour.serverErrors > 0) {
      behaviour.serverErrors--;
      pool.release();
      throw new HttpError(500, "llama runner process has terminated: exit status 2");
    }
    inFlight++;
    changed();
    try {
      return await work();
    } finally {
      inFlight--;
      pool.release();
      ms.lastReleaseAt = performance.now();
      changed();
    }
  }

  function sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (ms <= 0) return signal.aborted ? Promise.reject(new Error("aborted")) : Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  const scaled = (ms: number) => ms * timeScale + behaviour.extraLatencyMs;

  async function complete(
    kind: "chat" | "generate",
    body: Record<string, unknown>,
    res: ServerResponse,
    signal: AbortSignal,
  ) {
    const model = requireModel(body.model);
    const format = body.format;
    if (
      format !== undefined &&
      format !== null &&
      format !== "" &&
      format !== "json" &&
      (typeof format !== "object" || Array.isArray(format))
    )
      throw new HttpError(
        400,
        `invalid format: ${JSON.stringify(JSON.stringify(format))}; expected "json" or a valid JSON Schema object`,
      );
    let prompt = "";
    const images: string[] = [];
    if (kind === "chat") {
      const messages = body.messages ?? [];
      if (!Array.isArray(messages)) throw new HttpError(400, "messages must be an array");
      for (const m of messages as { content?: unknown; images?: unknown }[]) {
        prompt += `${typeof m.content === "string" ? m.content : ""}\n`;
        if (Array.isArray(m.images)) images.push(...m.images.map(String));
      }
      if (messages.length === 0) return sendJson(res, 200, loadResponse(model.name, "chat"));
    } else {
      prompt = typeof body.prompt === "string" ? body.prompt : "";
      if (Array.isArray(body.images)) images.push(...body.images.map(String));
      if (!prompt && images.length === 0) return sendJson(res, 200, loadResponse(model.name, "generate"));
    }
    if (model.kind === "embedding") throw new HttpError(400, `"${model.name}" does not support ${kind}`);
    if (images.length > 0 && model.kind !== "vision")
      throw new HttpError(500, `model "${model.name}" does not support image input`);
    let visionTokens = 0;
    for (const img of images) {
      const size = imageSize(Buffer.from(img, "base64"));
      if (!size) throw new HttpError(400, "illegal base64 data or unsupported image format");
      visionTokens += Math.ceil((size.width * size.height) / latency.pixelsPerVisionToken);
    }

    // The answer, possibly spoilt on purpose.
    let content: string;
    let doneReason = "stop";
    // One spoilt answer per request: cut-off JSON first, then schema violations.
    const cutOff = behaviour.invalidJson > 0;
    if (cutOff) behaviour.invalidJson--;
    if (format && typeof format === "object") {
      let answer = answerFor(format as JsonSchema, documentText(prompt));
      if (!cutOff && behaviour.schemaViolation > 0) {
        behaviour.schemaViolation--;
        answer = { ...(answer as object), category: "__not_a_category__", confidence: 7 };
      }
      content = JSON.stringify(answer);
    } else if (format === "json") content = JSON.stringify({ answer: documentText(prompt).slice(0, 80) });
    else content = `This is the Ollama double answering: ${documentText(prompt).slice(0, 120)}`;
    if (cutOff) {
      content = content.slice(0, Math.max(1, Math.floor(content.length / 2)));
      doneReason = "length";
    }

    const promptTokens = tokens(prompt) + 8 * ((body.messages as unknown[] | undefined)?.length ?? 1);
    const evalTokens = tokens(content);
    const promptMs =
      latency.requestOverheadMs + ((promptTokens + visionTokens) / latency.promptTokensPerSecond) * 1000;
    const decodeMs = (evalTokens / latency.decodeTokensPerSecond) * 1000;
    const stats = modelStats(model.name);
    stats.requests++;
    const stream = body.stream !== false;

    await onSlot(model, signal, async () => {
      const started = performance.now();
      await sleep(scaled(promptMs), signal);
      const base = { model: model.name };
      const message = (c: string) =>
        kind === "chat" ? { message: { role: "assistant", content: c } } : { response: c };
      const finalFields = (totalNs: number) => ({
        done: true,
        done_reason: doneReason,
        total_duration: totalNs,
        load_duration: 0,
        prompt_eval_count: promptTokens + visionTokens,
        prompt_eval_duration: Math.round(promptMs * 1e6),
        eval_count: evalTokens,
        eval_duration: Math.round(decodeMs * 1e6),
        ...(kind === "generate" ? { context: [1, 2, 3] } : {}),
      });
      if (stream) {
        res.writeHead(200, { "content-type": "application/x-ndjson" });
        const pieces = content.match(/[\s\S]{1,16}/g) ?? [];
        const pause = scaled(decodeMs) / Math.max(1, pieces.length);
        for (const p of pieces) {
          res.write(`${JSON.stringify({ ...base, created_at: now(), ...message(p), done: false })}\n`);
          if (pause >= 1) await sleep(pause, signal);
        }
        if (pause < 1) await sleep(scaled(decodeMs), signal);
        const ns = Math.round((performance.now() - started) * 1e6);
        res.end(`${JSON.stringify({ ...base, created_at: now(), ...message(""), ...finalFields(ns) })}\n`);
      } else {
        await sleep(scaled(decodeMs), signal);
        const ns = Math.round((performance.now() - started) * 1e6);
        sendJson(res, 200, { ...base, created_at: now(), ...message(content), ...finalFields(ns) });
      }
      stats.serviceMs += scaled(promptMs + decodeMs);
      stats.promptTokens += promptTokens;
      stats.visionTokens += visionTokens;
      stats.evalTokens += evalTokens;
    });
  }

  async function embed(body: Record<string, unknown>, res: ServerResponse, signal: AbortSignal) {
    const model = requireModel(body.model);
    if (model.kind !== "embedding") throw new HttpError(400, `"${model.name}" does not support embeddings`);
    const input = body.input;
    const texts = typeof input === "string" ? [input] : input;
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string"))
      throw new HttpError(400, "invalid input type");
    const ctx = model.contextLength ?? 2048;
    if (body.truncate === false && texts.some((t) => tokens(t as string) > ctx))
      throw new HttpError(400, "the input length exceeds the context length");
    const dims = typeof body.dimensions === "number" ? body.dimensions : (model.dimensions ?? 768);
    const serviceMs = latency.embedRequestMs + latency.embedPerTextMs * texts.length;
    const stats = modelStats(model.name);
    stats.requests++;
    await onSlot(model, signal, async () => {
      await sleep(scaled(serviceMs), signal);
      const promptTokens = texts.reduce((n: number, t) => n + Math.min(ctx, tokens(t as string)), 0);
      sendJson(res, 200, {
        model: model.name,
        embeddings: texts.map((t) => hashVector(t as string, Math.min(dims, model.dimensions ?? dims))),
        total_duration: Math.round(scaled(serviceMs) * 1e6),
        load_duration: 0,
        prompt_eval_count: promptTokens,
      });
      stats.serviceMs += scaled(serviceMs);
      stats.promptTokens += promptTokens;
      stats.embedInputs += texts.length;
    });
  }

  function describeModel(m: DoubleModel) {
    return {
      name: m.name,
      model: m.name,
      modified_at: "2025-01-01T00:00:00Z",
      size: m.kind === "embedding" ? 274_302_450 : 4_683_087_332,
      digest: digestOf(m.name),
      details: {
        parent_model: "",
        format: "gguf",
        family: m.kind === "embedding" ? "nomic-bert" : "qwen2",
        families: [m.kind === "embedding" ? "nomic-bert" : "qwen2"],
        parameter_size: m.kind === "embedding" ? "137M" : "7.6B",
        quantization_level: m.kind === "embedding" ? "F16" : "Q4_K_M",
      },
    };
  }

  async function route(req: IncomingMessage, res: ServerResponse, signal: AbortSignal) {
    const path = (req.url ?? "/").split("?")[0]!;
    counts.requests[path] = (counts.requests[path] ?? 0) + 1;
    if (req.method === "GET" && path === "/") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      return res.end("Ollama is running");
    }
    if (req.method === "GET" && path === "/api/version") return sendJson(res, 200, { version: "0.12.0" });
    // Not Ollama: the double's own counters, for a benchmark running it in another process.
    if (req.method === "GET" && path === "/_double/stats") return sendJson(res, 200, stats());
    if (req.method === "GET" && path === "/api/tags") {
      const list = [...models.values()].filter((m) => !behaviour.missing.includes(m.name));
      return sendJson(res, 200, { models: list.map(describeModel) });
    }
    if (req.method === "GET" && path === "/api/ps") {
      const list = [...loadedAt.keys()].map((n) => models.get(n)!);
      return sendJson(res, 200, {
        models: list.map((m) => ({
          ...describeModel(m),
          expires_at: new Date(loadedAt.get(m.name)! + 5 * 60_000).toISOString(),
          size_vram: describeModel(m).size,
          context_length: m.contextLength ?? (m.kind === "embedding" ? 2048 : 8192),
        })),
      });
    }
    if (req.method !== "POST") {
      res.writeHead(404, { "content-type": "text/plain" });
      return res.end("404 page not found");
    }
    const body = await readJson(req);
    switch (path) {
      case "/api/chat":
        return complete("chat", body, res, signal);
      case "/api/generate":
        return complete("generate", body, res, signal);
      case "/api/embed":
        return embed(body, res, signal);
      case "/api/show": {
        const m = requireModel(body.model ?? body.name);
        const arch = describeModel(m).details.family.replace("-", "_");
        return sendJson(res, 200, {
          modelfile: `# Modelfile of the Ollama double\nFROM ${m.name}`,
          parameters: "",
          template: "{{ .Prompt }}",
          details: describeModel(m).details,
          model_info: {
            "general.architecture": arch,
            [`${arch}.context_length`]: m.contextLength ?? (m.kind === "embedding" ? 2048 : 32768),
            ...(m.kind === "embedding" ? { [`${arch}.embedding_length`]: m.dimensions ?? 768 } : {}),
          },
          capabilities:
            m.kind === "embedding"
              ? ["embedding"]
              : m.kind === "vision"
                ? ["completion", "vision"]
                : ["completion"],
        });
      }
      default:
        res.writeHead(404, { "content-type": "text/plain" });
        return res.end("404 page not found");
    }
  }

  function stats(): DoubleStats {
    const out: Record<string, ModelStats> = {};
    let busy = 0;
    for (const [name, s] of perModel) {
      const b = slots.get(name)?.busyMs() ?? 0;
      busy += b;
      out[name] = { ...s, busySlotMs: b };
    }
    return {
      requests: { ...counts.requests },
      errors: { ...counts.errors },
      rejected,
      aborted,
      inFlight,
      queued: queuedNow(),
      maxQueued,
      parallel,
      busySlotMs: busy,
      models: out,
    };
  }

  const server = createServer((req, res) => {
    const controller = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) {
        aborted++;
        controller.abort();
        changed();
      }
    });
    route(req, res, controller.signal).catch((err: unknown) => {
      if (controller.signal.aborted) return;
      const status = err instanceof HttpError ? err.status : 500;
      counts.errors[status] = (counts.errors[status] ?? 0) + 1;
      if (res.headersSent) {
        // Mid-stream: Ollama reports the error as one more NDJSON line.
        res.end(`${JSON.stringify({ error: (err as Error).message })}\n`);
      } else sendJson(res, status, { error: (err as Error).message });
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve));
  const { address, port } = server.address() as AddressInfo;

  return {
    url: `http://${address}:${port}`,
    stats,
    until(what, check, timeoutMs = 30_000) {
      return new Promise<DoubleStats>((resolve, reject) => {
        const look = () => {
          const s = stats();
          if (!check(s)) return;
          done();
          resolve(s);
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `timed out after ${timeoutMs / 1000} s waiting for ${what}: ${JSON.stringify(stats())}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          watchers.delete(look);
        };
        watchers.add(look);
        look();
      });
    },
    setBehaviour(b) {
      Object.assign(behaviour, b);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// ---------------------------------------------------------------------------------------------- util

function now(): string {
  return new Date().toISOString();
}

function loadResponse(model: string, kind: "chat" | "generate") {
  return {
    model,
    created_at: now(),
    ...(kind === "chat" ? { message: { role: "assistant", content: "" } } : { response: "" }),
    done_reason: "load",
    done: true,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw new HttpError(400, "missing request body");
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, "invalid character in request body: not a JSON object");
  }
}

/** Roughly 4 characters per token, like most BPE tokenizers on English text. */
function tokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function digestOf(name: string): string {
  let h = 0xcbf29ce484222325n;
  const out: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const c of `${round}${name}`) h = BigInt.asUintN(64, (h ^ BigInt(c.charCodeAt(0))) * 0x100000001b3n);
    out.push(h.toString(16).padStart(16, "0"));
  }
  return out.join("");
}

/** Deterministic, L2-normalised vector: words and character trigrams hashed into `dims` buckets. */
export function hashVector(text: string, dims: number): number[] {
  const v = new Float64Array(dims);
  const lower = text.toLowerCase();
  const feats = [...(lower.match(/[\p{L}\p{N}]+/gu) ?? [])];
  for (const w of [...feats]) for (let i = 0; i + 3 <= w.length; i++) feats.push(`#${w.slice(i, i + 3)}`);
  if (feats.length === 0) feats.push("\u0000empty");
  for (const f of feats) {
    let h = 2166136261;
    for (let i = 0; i < f.length; i++) h = Math.imul(h ^ f.charCodeAt(i), 16777619);
    const idx = (h >>> 0) % dims;
    v[idx]! += (h & 0x80000000) === 0 ? 1 : -1;
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  return Array.from(v, (x) => x / norm);
}

/** Width and height of a JPEG (SOFn marker) or PNG (IHDR), else null. */
export function imageSize(buf: Buffer): { width: number; height: number } | null {
  if (buf.length > 24 && buf.readUInt32BE(0) === 0x89504e47)
    return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1]!;
    const len = buf.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
      return { height: buf.readUInt16BE(i + 5), width: buf.readUInt16BE(i + 7) };
    i += 2 + len;
  }
  return null;
}
