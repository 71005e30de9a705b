import { describe, expect, it } from "vitest";
import type { Category } from "../../../ports/models.ts";
import { createBuiltinModels, DEFAULT_CATEGORIES, extractFields, normaliseNumber } from "./index.ts";

const models = createBuiltinModels();
const field = (fields: { name: string; value: string }[], name: string) =>
  fields.find((f) => f.name === name)?.value;

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
    expect(u.model).toBe("builtin-rules@1");
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
  it("finds and normalises the fields of an invoice", () => {
    const text = [
      "ACME Supplies Ltd",
      "Invoice No: INV-2024-0042",
      "Invoice date: 14 March 2024",
      "Due date: 13/04/2024",
      "Contact: billing@ACME.example.com  Tel: +44 117 496 0123",
      "Subtotal   £1,280.00",
      "VAT 20%    £256.00",
      "Total due  £1,536.00",
      "IBAN: GB82 WEST 1234 5698 7654 32",
    ].join("\n");
    const fields = extractFields(text);
    expect(field(fields, "date")).toBe("2024-03-14");
    expect(field(fields, "due_date")).toBe("2024-04-13");
    expect(field(fields, "invoice_number")).toBe("INV-2024-0042");
    expect(field(fields, "email")).toBe("billing@acme.example.com");
    expect(field(fields, "phone")).toBe("+441174960123");
    expect(field(fields, "subtotal")).toBe("1280.00");
    expect(field(fields, "tax")).toBe("256.00");
    expect(fields.find((f) => f.name === "total")).toMatchObject({
      value: "1536.00",
      currency: "GBP",
      raw: "£1,536.00",
    });
    expect(field(fields, "iban")).toBe("GB82WEST12345698765432");
    expect(field(fields, "company")).toBe("ACME Supplies Ltd");
    for (const f of fields) expect(text.slice(f.span![0], f.span![1])).toBe(f.raw);
  });

  it("takes a receipt's total, not the cash tendered, and reads a total printed on the next line", () => {
    expect(field(extractFields("SUBTOTAL 24.50\nTOTAL 25.97\nCASH 30.00\nCHANGE 4.03"), "total")).toBe(
      "25.97",
    );
    expect(field(extractFields("TOTAL\n  RM 8.70\nCASH\n  10.00"), "total")).toBe("8.70");
    expect(field(extractFields("Total qty: 3\nGrand total: 1.234,50 EUR"), "total")).toBe("1234.50");
  });

  it("reads dates in the common layouts and rejects impossible ones", () => {
    const d = (s: string) => field(extractFields(`Date: ${s}`), "date");
    expect(d("2024-02-29")).toBe("2024-02-29");
    expect(d("31/12/2023")).toBe("2023-12-31");
    expect(d("12/31/2023")).toBe("2023-12-31");
    expect(d("March 5, 2024")).toBe("2024-03-05");
    expect(d("05.03.24")).toBe("2024-03-05");
    expect(d("2023-02-30")).toBeUndefined();
  });

  it("ignores an IBAN with a bad checksum and digit runs without a phone label", () => {
    const fields = extractFields("IBAN GB82 WEST 1234 5698 7654 33\nOrder 12345678901");
    expect(field(fields, "iban")).toBeUndefined();
    expect(field(fields, "phone")).toBeUndefined();
  });

  it("gives the page of fields in paged text", () => {
    const fields = extractFields("cover page\fsecond page Total: $10.00");
    expect(fields.find((f) => f.name === "total")).toMatchObject({
      value: "10.00",
      currency: "USD",
      page: 2,
    });
  });

  it("normalises number formats", () => {
    expect(normaliseNumber("1,234.56")).toBe("1234.56");
    expect(normaliseNumber("1.234,56")).toBe("1234.56");
    expect(normaliseNumber("12,5")).toBe("12.50");
    expect(normaliseNumber("1 234")).toBe("1234.00");
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
