import { createServer } from "node:net";
import { DocumentError, FailureCode, TransientError } from "@docfleet/pipeline";
import { OllamaModels, type OllamaModelsOptions } from "@docfleet/pipeline/adapters/models/ollama";
import { afterEach, describe, expect, it } from "vitest";
import { adapterOptions, TEST_CATEGORIES as CATEGORIES, jpegHeader } from "./ollama-double/fixtures.ts";
import { type OllamaDouble, type OllamaDoubleOptions, startOllamaDouble } from "./ollama-double/index.ts";

// The Ollama adapter against the Ollama DOUBLE (tests/ollama-double): protocol, schema, retries and
// error mapping. The double is not a model: these tests say nothing about answer quality.

let double: OllamaDouble | undefined;
afterEach(async () => {
  await double?.close();
  double = undefined;
});

async function setup(opts: Partial<OllamaModelsOptions> = {}, doubleOpts: OllamaDoubleOptions = {}) {
  double = await startOllamaDouble({ timeScale: 0, ...doubleOpts });
  const models = new OllamaModels({ ...adapterOptions(double.url), ...opts });
  return { models, double };
}

const INVOICE = [
  "ACME Tools GmbH",
  "INVOICE",
  "Invoice number: INV-2024-0042",
  "Date: 14 March 2024",
  "Due date: 2024-04-13",
  "Items: 3",
  "Total due: €1.234,50",
].join("\n");

const chats = () => double!.stats().requests["/api/chat"] ?? 0;

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

describe("Ollama models adapter (against the Ollama double)", () => {
  it("classifies and extracts in one structured call: category from the tenant's, fields typed and normalised", async () => {
    const { models } = await setup();
    const u = await models.understand({ text: INVOICE, name: "inv.txt", categories: CATEGORIES });
    expect(chats()).toBe(1);
    expect(u.category).toBe("invoice");
    expect(CATEGORIES.map((c) => c.name)).toContain(u.category);
    expect(u.model).toBe("ollama:qwen2.5:7b-instruct");
    expect(u.promptVersion).toBe(models.promptVersion);
    const by = Object.fromEntries(u.fields.map((f) => [f.name, f]));
    expect(by.invoice_number).toMatchObject({ kind: "string", value: "INV-2024-0042" });
    expect(by.date).toMatchObject({ kind: "date", raw: "14 March 2024", value: "2024-03-14" });
    expect(by.due_date).toMatchObject({ kind: "date", value: "2024-04-13" });
    expect(by.total).toMatchObject({ kind: "money", value: "1234.50", currency: "EUR" });
    expect(by.items).toMatchObject({ kind: "number", value: "3" });
    // Spans point at the printed value.
    for (const f of [by.invoice_number!, by.date!, by.total!]) expect(INVOICE.slice(...f.span!)).toBe(f.raw);
    for (const f of u.fields) expect(f.confidence).toBeGreaterThanOrEqual(0);
    // Token counts from the answer (prompt_eval_count, eval_count), for the tokens metric.
    expect(u.usage?.promptTokens).toBeGreaterThan(0);
    expect(u.usage?.completionTokens).toBeGreaterThan(0);
  });

  it("sends a schema whose category is an enum of the tenant's categories, each with its own fields", async () => {
    type Schema = { enum?: unknown[]; properties: { [k: string]: Schema } };
    let sent: { format: { anyOf: Schema[] } } | undefined;
    const { models } = await setup({
      fetch: async (url, init) => {
        if (String(url).endsWith("/api/chat")) sent = JSON.parse(String(init?.body));
        return fetch(url, init);
      },
    });
    await models.understand({ text: "Dear Ann, kind regards, sincerely Bob", categories: CATEGORIES });
    const branches = sent!.format.anyOf;
    expect(branches.map((b) => b.properties.category?.enum)).toEqual([["invoice"], ["receipt"], ["letter"]]);
    const receipt = branches[1]!.properties.fields!.properties;
    expect(Object.keys(receipt)).toEqual(["total", "payment"]);
    expect(receipt.payment?.properties.value?.enum).toEqual(["cash", "card", null]);
  });

  it("retries an answer that is not JSON, then fails with MODEL_OUTPUT_INVALID", async () => {
    const { models, double } = await setup();
    double.setBehaviour({ invalidJson: 1 });
    expect((await models.understand({ text: INVOICE, categories: CATEGORIES })).category).toBe("invoice");
    expect(chats()).toBe(2);
    double.setBehaviour({ invalidJson: 3 });
    const err = await failure(models.understand({ text: INVOICE, categories: CATEGORIES }));
    expect(err).toBeInstanceOf(DocumentError);
    expect((err as DocumentError).code).toBe(FailureCode.MODEL_OUTPUT_INVALID);
    expect((err as Error).message).toMatch(/3 times.*not JSON/);
    expect(chats()).toBe(5);
  });

  it("treats JSON that breaks the schema like invalid output", async () => {
    const { models, double } = await setup({ maxRetries: 1 });
    double.setBehaviour({ schemaViolation: 2 });
    const err = await failure(models.understand({ text: INVOICE, categories: CATEGORIES }));
    expect((err as DocumentError).code).toBe(FailureCode.MODEL_OUTPUT_INVALID);
    expect((err as Error).message).toMatch(/__not_a_category__.*not one of invoice, receipt, letter/);
    expect(chats()).toBe(2);
  });

  it("fails with MODEL_UNAVAILABLE, naming the pull command, when the model is not on the server", async () => {
    const { models, double } = await setup();
    double.setBehaviour({ missing: ["qwen2.5:7b-instruct", "nomic-embed-text"] });
    const err = await failure(models.understand({ text: INVOICE, categories: CATEGORIES }));
    expect((err as DocumentError).code).toBe(FailureCode.MODEL_UNAVAILABLE);
    expect((err as Error).message).toContain(
      `model qwen2.5:7b-instruct is not available on the Ollama server at ${double.url}: run \`ollama pull qwen2.5:7b-instruct\``,
    );
    expect(((await failure(models.embed(["x"]))) as DocumentError).code).toBe(FailureCode.MODEL_UNAVAILABLE);
  });

  it("throws TransientError on 500, on a full queue (503) and when the server is unreachable", async () => {
    const { models, double } = await setup({}, { parallel: 1, maxQueue: 0 });
    double.setBehaviour({ serverErrors: 1 });
    expect(await failure(models.understand({ text: INVOICE, categories: CATEGORIES }))).toBeInstanceOf(
      TransientError,
    );

    double.setBehaviour({ extraLatencyMs: 500 });
    const first = models.understand({ text: INVOICE, categories: CATEGORIES });
    await double.until("a call in flight", (s) => s.inFlight === 1);
    const busy = await failure(models.understand({ text: INVOICE, categories: CATEGORIES }));
    expect(busy).toBeInstanceOf(TransientError);
    expect((busy as Error).message).toMatch(/503.*maximum pending requests/);
    await first;

    const port = await closedPort();
    const down = new OllamaModels({ ...optionsOf(`http://127.0.0.1:${port}`) });
    const refused = await failure(down.understand({ text: INVOICE, categories: CATEGORIES }));
    expect(refused).toBeInstanceOf(TransientError);
    expect((refused as Error).message).toMatch(/unreachable/);
  });

  it("uses the vision model, with the page images, when images are given and the text is empty", async () => {
    let sent: { model: string; messages: { images?: string[] }[] } | undefined;
    const { models, double } = await setup({
      fetch: async (url, init) => {
        sent = JSON.parse(String(init?.body));
        return fetch(url, init);
      },
    });
    const image = { page: 1, data: jpegHeader(896, 1120), width: 896, height: 1120 };
    const u = await models.understand({ text: "", categories: CATEGORIES, images: [image] });
    expect(u.model).toBe("ollama:qwen2.5vl:7b");
    expect(sent!.model).toBe("qwen2.5vl:7b");
    expect(sent!.messages[1]!.images).toEqual([image.data.toString("base64")]);
    // 896×1120 px at 28×28 px per token.
    expect(double.stats().models["qwen2.5vl:7b"]!.visionTokens).toBe(32 * 40);
    expect(models.visionPixelBudget).toBe(1_003_520);
  });

  it("keeps the start of a long text within the character budget", async () => {
    let sent = "";
    const { models } = await setup({
      maxPromptChars: 1000,
      fetch: async (url, init) => {
        sent = String(init?.body);
        return fetch(url, init);
      },
    });
    const long = `${INVOICE}\n${"Line item with some words\n".repeat(500)}`;
    const u = await models.understand({ text: long, categories: CATEGORIES });
    expect(u.category).toBe("invoice");
    expect(sent).toContain("INV-2024-0042");
    expect(sent).toMatch(/more characters not shown/);
    expect(sent.length).toBeLessThan(long.length);
  });

  it("embeds in batches of the configured size, normalised, in order", async () => {
    const { models, double } = await setup({ embedBatch: 4 });
    const texts = Array.from({ length: 10 }, (_, i) => `chunk number ${i}`);
    const vectors = await models.embed(texts);
    expect(vectors).toHaveLength(10);
    expect(double.stats().requests["/api/embed"]).toBe(3);
    for (const v of vectors) {
      expect(v).toHaveLength(768);
      expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    }
    expect(await models.embed([texts[7]!])).toEqual([vectors[7]]);
  });

  it("refuses an embedding model whose dimension differs from the configured one", async () => {
    const { models } = await setup({ embedDimensions: 1024 });
    const err = await failure(models.embed(["hello"]));
    expect((err as DocumentError).code).toBe(FailureCode.MODEL_UNAVAILABLE);
    expect((err as Error).message).toMatch(/returns 768-dimensional vectors but 1024 are configured/);
  });

  it("abandons the call when the signal aborts, freeing the server's slot", async () => {
    const { models, double } = await setup();
    double.setBehaviour({ extraLatencyMs: 60_000 });
    const controller = new AbortController();
    const call = failure(
      models.understand({ text: INVOICE, categories: CATEGORIES, signal: controller.signal }),
    );
    await double.until("a call in flight", (s) => s.inFlight === 1);
    controller.abort(new Error("stage budget spent"));
    expect(((await call) as Error).message).toBe("stage budget spent");
    await double.until("the slot freed", (s) => s.inFlight === 0);
    expect(double.stats().aborted).toBe(1);
  });

  it("turns its own per-call timeout into a TransientError", async () => {
    const { models, double } = await setup({ timeoutMs: 100 });
    double.setBehaviour({ extraLatencyMs: 60_000 });
    const err = await failure(models.embed(["x"]));
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/did not answer within 100 ms/);
  });
});

function optionsOf(url: string): OllamaModelsOptions {
  return {
    url,
    textModel: "qwen2.5:7b-instruct",
    visionModel: "qwen2.5vl:7b",
    embedModel: "nomic-embed-text",
    embedDimensions: 768,
    timeoutMs: 5000,
    maxRetries: 0,
    embedBatch: 4,
    visionPixels: 1_003_520,
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
