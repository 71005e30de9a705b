import { afterEach, describe, expect, it } from "vitest";
import { type OllamaDouble, startOllamaDouble } from "./ollama-double/index.ts";

// The Ollama DOUBLE itself (tests/ollama-double): the protocol it speaks and the behaviours the
// adapter's tests and the benchmark rely on. It is not Ollama; see tests/ollama-double/README.md.

let double: OllamaDouble | undefined;
afterEach(async () => {
  await double?.close();
  double = undefined;
});

async function post(path: string, body: unknown, signal?: AbortSignal) {
  const res = await fetch(`${double!.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
  return { status: res.status, type: res.headers.get("content-type") ?? "", text: await res.text() };
}

const schema = {
  anyOf: [
    {
      type: "object",
      description: "A bill: invoice number, due date, amount due",
      properties: {
        category: { type: "string", enum: ["invoice"] },
        fields: {
          type: "object",
          properties: { invoice_number: { type: ["string", "null"] }, total: { type: ["string", "null"] } },
        },
      },
    },
    {
      type: "object",
      description: "A letter: dear, sincerely, regards",
      properties: {
        category: { type: "string", enum: ["letter"] },
        fields: { type: "object", properties: {} },
      },
    },
  ],
};
const invoiceText =
  "<document>\nINVOICE\nInvoice number: INV-0042\nDue date 2024-04-01\nAmount due: 99.50 EUR\n</document>";

describe("the Ollama double", () => {
  it("lists, shows and reports loaded models like /api/tags, /api/show and /api/ps", async () => {
    double = await startOllamaDouble({ timeScale: 0 });
    const tags = (await (await fetch(`${double.url}/api/tags`)).json()) as { models: { name: string }[] };
    expect(tags.models.map((m) => m.name)).toEqual([
      "qwen2.5:7b-instruct",
      "qwen2.5vl:7b",
      "nomic-embed-text",
    ]);
    const show = JSON.parse((await post("/api/show", { model: "nomic-embed-text" })).text);
    expect(show.capabilities).toEqual(["embedding"]);
    expect(show.model_info["nomic_bert.embedding_length"]).toBe(768);
    const before = (await (await fetch(`${double.url}/api/ps`)).json()) as { models: unknown[] };
    expect(before.models).toEqual([]);
    await post("/api/embed", { model: "nomic-embed-text", input: "hello" });
    const after = (await (await fetch(`${double.url}/api/ps`)).json()) as { models: { name: string }[] };
    expect(after.models.map((m) => m.name)).toEqual(["nomic-embed-text"]);
  });

  it("streams /api/chat as NDJSON, the last line done with counts, the content fitting the schema", async () => {
    double = await startOllamaDouble({ timeScale: 0 });
    const res = await post("/api/chat", {
      model: "qwen2.5:7b-instruct",
      messages: [{ role: "user", content: invoiceText }],
      format: schema,
    });
    expect(res.status).toBe(200);
    expect(res.type).toContain("application/x-ndjson");
    const lines = res.text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.slice(0, -1).every((l) => l.done === false && l.message.role === "assistant")).toBe(true);
    const last = lines.at(-1);
    expect(last).toMatchObject({ done: true, done_reason: "stop", message: { content: "" } });
    expect(last.eval_count).toBeGreaterThan(0);
    expect(last.prompt_eval_count).toBeGreaterThan(0);
    const answer = JSON.parse(lines.map((l) => l.message.content).join(""));
    expect(answer).toEqual({
      category: "invoice",
      fields: { invoice_number: "INV-0042", total: "99.50 EUR" },
    });
  });

  it("answers /api/generate in one object with stream:false, choosing the branch the text matches", async () => {
    double = await startOllamaDouble({ timeScale: 0 });
    const res = await post("/api/generate", {
      model: "qwen2.5:7b-instruct",
      prompt: "<document>Dear Ann, thank you for your letter. Kind regards, sincerely, Bob</document>",
      format: schema,
      stream: false,
    });
    expect(res.type).toContain("application/json");
    const body = JSON.parse(res.text);
    expect(body).toMatchObject({ model: "qwen2.5:7b-instruct", done: true });
    expect(JSON.parse(body.response)).toEqual({ category: "letter", fields: {} });
  });

  it("embeds a batch deterministically, L2-normalised, at the model's dimension", async () => {
    double = await startOllamaDouble({
      timeScale: 0,
      models: [{ name: "e", kind: "embedding", dimensions: 64 }],
    });
    const one = JSON.parse(
      (await post("/api/embed", { model: "e", input: ["alpha beta", "gamma", "alpha beta"] })).text,
    );
    expect(one.embeddings).toHaveLength(3);
    for (const v of one.embeddings as number[][]) {
      expect(v).toHaveLength(64);
      expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    }
    expect(one.embeddings[0]).toEqual(one.embeddings[2]);
    expect(one.embeddings[0]).not.toEqual(one.embeddings[1]);
    expect(double.stats().models.e!.embedInputs).toBe(3);
  });

  it("answers Ollama's error bodies and status codes", async () => {
    double = await startOllamaDouble({ timeScale: 0 });
    const missing = await post("/api/chat", { model: "llama9", messages: [{ role: "user", content: "x" }] });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.text)).toEqual({ error: 'model "llama9" not found, try pulling it first' });
    expect((await post("/api/chat", "{not json")).status).toBe(400);
    const badFormat = await post("/api/chat", {
      model: "qwen2.5:7b-instruct",
      messages: [{ role: "user", content: "x" }],
      format: "yaml",
    });
    expect(badFormat.status).toBe(400);
    expect(JSON.parse(badFormat.text).error).toMatch(/invalid format/);
    expect((await post("/api/embed", { model: "qwen2.5:7b-instruct", input: "x" })).status).toBe(400);

    double.setBehaviour({ serverErrors: 1, missing: ["nomic-embed-text"] });
    const chat = { model: "qwen2.5:7b-instruct", messages: [{ role: "user", content: "x" }], stream: false };
    expect((await post("/api/chat", chat)).status).toBe(500);
    expect((await post("/api/chat", chat)).status).toBe(200);
    expect((await post("/api/embed", { model: "nomic-embed-text", input: "x" })).status).toBe(404);
    expect(double.stats().errors).toMatchObject({ 400: 3, 404: 2, 500: 1 });
  });

  it("spoils answers on demand: cut-off JSON, then schema-violating JSON", async () => {
    double = await startOllamaDouble({ timeScale: 0 });
    double.setBehaviour({ invalidJson: 1, schemaViolation: 1 });
    const req = {
      model: "qwen2.5:7b-instruct",
      messages: [{ role: "user", content: invoiceText }],
      format: schema,
      stream: false,
    };
    const first = JSON.parse((await post("/api/chat", req)).text);
    expect(first.done_reason).toBe("length");
    expect(() => JSON.parse(first.message.content)).toThrow();
    const second = JSON.parse((await post("/api/chat", req)).text);
    expect(JSON.parse(second.message.content).category).toBe("__not_a_category__");
    const third = JSON.parse((await post("/api/chat", req)).text);
    expect(JSON.parse(third.message.content).category).toBe("invoice");
  });

  it("runs N requests at once per model, queues up to the max queue, then answers 503", async () => {
    double = await startOllamaDouble({ timeScale: 0, parallel: 2, maxQueue: 1 });
    double.setBehaviour({ extraLatencyMs: 300 });
    const req = { model: "qwen2.5:7b-instruct", messages: [{ role: "user", content: "x" }], stream: false };
    const results = await Promise.all([1, 2, 3, 4].map(() => post("/api/chat", req)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 503]);
    const rejected = results.find((r) => r.status === 503)!;
    expect(JSON.parse(rejected.text).error).toMatch(/maximum pending requests exceeded/);
    const s = double.stats();
    expect(s).toMatchObject({ rejected: 1, maxQueued: 1, inFlight: 0, queued: 0, parallel: 2 });
    // Three requests held a slot for ≥ 300 ms each.
    expect(s.models["qwen2.5:7b-instruct"]!.busySlotMs).toBeGreaterThanOrEqual(3 * 300 - 5);
  });

  it("frees the slot of a request whose client went away", async () => {
    double = await startOllamaDouble({ timeScale: 0, parallel: 1 });
    double.setBehaviour({ extraLatencyMs: 60_000 });
    const controller = new AbortController();
    const req = { model: "qwen2.5:7b-instruct", messages: [{ role: "user", content: "x" }], stream: false };
    const pending = post("/api/chat", req, controller.signal).catch((e: Error) => e);
    await double.until("the request in flight", (s) => s.inFlight === 1);
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    await double.until("the request counted as aborted", (s) => s.aborted === 1);
    double.setBehaviour({ extraLatencyMs: 0 });
    expect((await post("/api/chat", req)).status).toBe(200);
  });
});
