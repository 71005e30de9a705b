import { describe, expect, it } from "vitest";
import type { Category } from "../../../ports/models.ts";
import { createBuiltinModels, DEFAULT_CATEGORIES } from "./index.ts";

const models = createBuiltinModels();

describe("built-in classifier", () => {
  const cases: [string, string][] = [
    [
      "invoice",
      "INVOICE\nInvoice number: INV-2024-001\nBill to: Foo Ltd\nDue date: 2024-05-01\nSubtotal 100.00\nVAT 20.00\nAmount due 120.00",
    ],
    [
      "receipt",
      "SUPERMART\nCashier: 3\n2 x milk 4.00\nTOTAL 4.00\nCASH 10.00\nCHANGE 6.00\nThank you, please come again",
    ],
    [
      "contract",
      "This Agreement is made between the parties. Whereas the Supplier shall provide services, the parties hereby agree. Termination: either party may terminate. Governing law: England.",
    ],
    [
      "letter",
      "Dear Mr Smith,\n\nI am writing to let you know that the meeting moved. I look forward to seeing you.\n\nYours sincerely,\nJane",
    ],
    [
      "scientific_paper",
      "Abstract\nWe propose a new method. 1 Introduction\nRelated work ... Experiments on the dataset show ... Conclusion\nReferences\n[1] Smith et al. Proceedings of ...",
    ],
    [
      "report",
      "Quarterly Report Q3\nExecutive summary\nRevenue grew; key metrics and findings follow. Recommendations: ...",
    ],
    [
      "form",
      "APPLICATION FORM\nPlease complete in block capitals.\nFirst name: ____  Surname: ____\nDate of birth: ____\nSignature: ____",
    ],
  ];
  it.each(cases)("classifies a typical %s", async (expected, text) => {
    const u = await models.understand({ text, categories: DEFAULT_CATEGORIES });
    expect(u.category).toBe(expected);
    expect(u.confidence).toBeGreaterThan(0.5);
    expect(u.model).toBe("builtin-rules@2");
  });

  it("falls back to other, with middling confidence, when nothing matches", async () => {
    const u = await models.understand({ text: "zzz qqq", categories: DEFAULT_CATEGORIES });
    expect(u).toMatchObject({ category: "other", confidence: 0.5 });
  });

  it("answers only with a category it was given", async () => {
    const only = DEFAULT_CATEGORIES.filter((c) => c.name === "letter" || c.name === "report");
    const u = await models.understand({ text: "INVOICE amount due 120.00", categories: only });
    expect(["letter", "report"]).toContain(u.category);
    expect(u.confidence).toBeLessThan(0.5);
  });

  it("scores custom categories without keywords on their description", async () => {
    const custom: Category[] = [
      { name: "medical", description: "Medical records: patient, diagnosis, prescription, clinic" },
      { name: "shipping", description: "Shipping notes: consignment, carrier, tracking, parcel" },
    ];
    const u = await models.understand({
      text: "The carrier picked up the parcel; tracking number 12345.",
      categories: custom,
    });
    expect(u.category).toBe("shipping");
  });

  it("uses the file name as a hint", async () => {
    const u = await models.understand({
      text: "Please see attached.",
      name: "invoice_march.txt",
      categories: DEFAULT_CATEGORIES,
    });
    expect(u.category).toBe("invoice");
  });
});

describe("built-in extraction", () => {
  // The rules themselves are tested in extractor.test.ts; here: understand() fills the declared fields.
  it("fills the declared fields of the category it chose", async () => {
    const invoice: Category = {
      name: "invoice",
      description: "A bill for goods or services",
      keywords: ["invoice", "amount due"],
      fields: {
        type: "object",
        properties: {
          invoice_number: { type: "string" },
          due_date: { type: "string", format: "date" },
          total: { type: "string", format: "money" },
        },
      },
    };
    const u = await models.understand({
      text: "INVOICE\nInvoice No: INV-7\nDate: 01/03/2024\nDue date: 31/03/2024\nAmount due: EUR 120.00",
      categories: [invoice, { name: "letter", description: "A personal letter" }],
    });
    expect(u.category).toBe("invoice");
    expect(u.fields.map((f) => [f.name, f.value])).toEqual([
      ["invoice_number", "INV-7"],
      ["due_date", "2024-03-31"],
      ["total", "120.00"],
    ]);
  });
});

describe("built-in embedder", () => {
  const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

  it("returns one unit vector of the stated length per text, deterministically", async () => {
    const [a, b, empty] = await models.embed(["the termination clause", "the termination clause", ""]);
    expect(a).toHaveLength(models.embeddingDimensions);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 9);
    expect(Math.hypot(...empty!)).toBeCloseTo(1, 9);
    expect(a).toEqual(b);
  });

  it("puts texts that share words and stems closer than unrelated ones", async () => {
    const [q, near, far] = await models.embed([
      "termination of the service agreement",
      "Either party may terminate this Service Agreement with 30 days notice.",
      "Revenue grew 12% in the third quarter, driven by new customers.",
    ]);
    expect(cos(q!, near!)).toBeGreaterThan(cos(q!, far!) + 0.2);
  });
});
