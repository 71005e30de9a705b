import type { Category } from "@docfleet/pipeline";
import type { OllamaModelsOptions } from "@docfleet/pipeline/adapters/models/ollama";

/** Categories with declared fields, as a tenant would configure them (tests and the benchmark). */
export const TEST_CATEGORIES: Category[] = [
  {
    name: "invoice",
    description:
      "A bill asking to pay for goods or services: invoice number, invoice date, due date, total amount due.",
    fields: {
      type: "object",
      properties: {
        invoice_number: { type: "string", description: "the invoice's number" },
        date: { type: "string", format: "date", description: "date of issue" },
        due_date: { type: "string", format: "date" },
        total: { type: "string", format: "money", description: "total amount due" },
        items: { type: "number", description: "number of line items" },
      },
    },
  },
  {
    name: "receipt",
    description:
      "A proof of payment from a shop or restaurant: items bought, total paid, cash or card, change.",
    fields: {
      type: "object",
      properties: {
        total: { type: "string", format: "money" },
        payment: { type: "string", enum: ["cash", "card"] },
      },
    },
  },
  {
    name: "letter",
    description: "A letter or note to a person: dear, sincerely, regards, signed by its sender.",
    fields: {
      type: "object",
      properties: {
        sender: { type: "string" },
        date: { type: "string", format: "date" },
        references: { type: "array", items: { type: "string" } },
      },
    },
  },
];

/** The bytes of a JPEG header (SOI + SOF0) saying width × height: enough for a size reader. */
export function jpegHeader(width: number, height: number): Buffer {
  const sof = Buffer.from([
    0xff, 0xc0, 0x00, 0x11, 0x08, 0, 0, 0, 0, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
  ]);
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), sof, Buffer.from([0xff, 0xd9])]);
}

/** The Ollama adapter as the tests configure it, pointed at a double (or any Ollama) at `url`. */
export function adapterOptions(url: string): OllamaModelsOptions {
  return {
    url,
    textModel: "qwen2.5:7b-instruct",
    visionModel: "qwen2.5vl:7b",
    embedModel: "nomic-embed-text",
    embedDimensions: 768,
    timeoutMs: 10_000,
    maxRetries: 2,
    embedBatch: 4,
    visionPixels: 1_003_520,
  };
}
