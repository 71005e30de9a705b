import { describe, expect, it } from "vitest";
import type { Category, ExtractedField, FieldSchema, PageWord } from "../../../ports/models.ts";
import { RULE_PRECISION } from "./calibration.ts";
import { extractCategoryFields, normaliseNumber } from "./extractor.ts";

const category = (properties: Record<string, FieldSchema>): Category => ({
  name: "test",
  description: "test",
  fields: { type: "object", properties },
});
const money: FieldSchema = { type: "string", format: "money" };
const date: FieldSchema = { type: "string", format: "date" };
const str: FieldSchema = { type: "string" };
const value = (fields: ExtractedField[], name: string) => fields.find((f) => f.name === name)?.value;
const one = (text: string, name: string, schema: FieldSchema) =>
  value(extractCategoryFields(text, category({ [name]: schema })), name);

const INVOICE = [
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

describe("extractCategoryFields: invoices", () => {
  const invoice = category({
    vendor: str,
    invoice_number: str,
    invoice_date: date,
    due_date: date,
    subtotal: money,
    tax: money,
    amount_due: money,
    email: str,
    phone: str,
    iban: str,
  });

  it("fills each declared field by its name, normalised, with printed text and span", () => {
    const fields = extractCategoryFields(INVOICE, invoice);
    expect(Object.fromEntries(fields.map((f) => [f.name, f.value]))).toEqual({
      vendor: "ACME Supplies Ltd",
      invoice_number: "INV-2024-0042",
      invoice_date: "2024-03-14",
      due_date: "2024-04-13",
      subtotal: "1280.00",
      tax: "256.00",
      amount_due: "1536.00",
      email: "billing@acme.example.com",
      phone: "+441174960123",
      iban: "GB82WEST12345698765432",
    });
    expect(fields.find((f) => f.name === "amount_due")).toMatchObject({
      kind: "money",
      raw: "£1,536.00",
      currency: "GBP",
    });
    for (const f of fields) expect(INVOICE.slice(f.span![0], f.span![1])).toBe(f.raw);
  });

  it("tells the due date from the invoice date, whichever comes first", () => {
    const text = "Payment due: 30.06.2024\nInvoice date: 31.05.2024\nOrder date: 20.05.2024";
    const fields = extractCategoryFields(text, category({ date, due_date: date, order_date: date }));
    expect(value(fields, "date")).toBe("2024-05-31");
    expect(value(fields, "due_date")).toBe("2024-06-30");
    expect(value(fields, "order_date")).toBe("2024-05-20");
    expect(one("Invoice date: 31.05.2024", "due_date", date)).toBeUndefined();
  });

  it("reads identifiers after a label spelling the field's words", () => {
    expect(one("INVOICE INV-000912\nIssued: 2024-06-01", "invoice_number", str)).toBe("INV-000912");
    expect(one("Invoice number\nOS-55120", "invoice_number", str)).toBe("OS-55120");
    expect(one("Receipt # ; OR18030502160349", "receipt_number", str)).toBe("OR18030502160349");
    expect(one("GST Reg No: 000549584896", "tax_id", str)).toBe("000549584896");
    expect(one("Invoice Date: 2024-01-01", "invoice_number", str)).toBeUndefined();
  });

  it("reads dates in the common layouts and rejects impossible ones", () => {
    const d = (s: string) => one(`Date: ${s}`, "date", date);
    expect(d("2024-02-29")).toBe("2024-02-29");
    expect(d("31/12/2023")).toBe("2023-12-31");
    expect(d("12/31/2023")).toBe("2023-12-31");
    expect(d("March 5, 2024")).toBe("2024-03-05");
    expect(d("05.03.24")).toBe("2024-03-05");
    expect(d("12Mar 2018 18:19")).toBe("2018-03-12");
    expect(d("2023-02-30")).toBeUndefined();
  });

  it("ignores an IBAN with a bad checksum and digit runs without a phone label", () => {
    const fields = extractCategoryFields(
      "IBAN GB82 WEST 1234 5698 7654 33\nOrder 12345678901",
      category({ iban: str, phone: str }),
    );
    expect(fields).toEqual([]);
  });
});

describe("extractCategoryFields: receipts", () => {
  const total = (text: string) => one(text, "total", money);

  it("takes the total after rounding, not the subtotal, tax, cash tendered or change", () => {
    const receipt = [
      "SUBTOTAL 24.50",
      "GST 6% 1.47",
      "TOTAL 25.97",
      "ROUNDING ADJ -0.02",
      "TOTAL ROUNDED 25.95",
      "CASH 30.00",
      "CHANGE 4.05",
    ].join("\n");
    expect(total(receipt)).toBe("25.95");
    expect(
      total("Total Sales (Excluding GST) 80.91\nTotal GST 0.00\nTotal Sales (Inclusive of GST) 85.75"),
    ).toBe("85.75");
    expect(total("TOTAL\n  RM 8.70\nCASH\n  10.00")).toBe("8.70");
    expect(total("Total qty: 3\nGrand total: 1.234,50 EUR")).toBe("1234.50");
  });

  it("never takes the cash handed over or the change for the total when the receipt gives change", () => {
    // The total's amount was not read on its line: the amount under it is the cash tendered.
    expect(total("NASI LEMAK 7.50\nTEH O 1.20\nTOTAL\nCASH 20.00\nCHANGE 11.30\n8.70")).toBe("8.70");
    // OCR put the change's amount after the total label; cash minus change is printed as the item sum.
    expect(total("ITEMS 2 37.50\nTOTAL 12.50\nCASH 50.00\nCHANGE 12.50")).toBe("37.50");
    // When the total equals the change (cash twice the total), the arithmetic confirms it.
    expect(total("TOTAL 10.00\nCASH 20.00\nCHANGE 10.00")).toBe("10.00");
  });

  it("takes cash minus change where it is printed and the total line disagrees (OCR misread it)", () => {
    // The cash line's label misread ("CARH"): the amount above the change is the cash tendered; an
    // item line's "CARD" above the totals is not it.
    const misread = [
      "PRIVILEGE CARD/GD",
      "88688 1 10.00 10.00",
      "TOTAL AMT RM 40.31",
      "ROUNDING ADJ -0.0t",
      "RM 60,30",
      "CARH RM 70.30",
      "CHANGE RM 10.00",
    ].join("\n");
    const [f] = extractCategoryFields(misread, category({ total: money }));
    expect(f).toMatchObject({ value: "60.30", confidence: RULE_PRECISION["total.paid_printed"] });
    // 101.00 - 70.00 = 31.00, the item's amount: "39.00" is a misread total.
    expect(total("Plastic 2 15.50 31.00\nTotal Amount: 39.00\nCash Received 101.00\nChange : 70.00")).toBe(
      "31.00",
    );
    // Cash minus change printed nowhere else: the total line stands.
    expect(total("Item 1 39.00\nTotal Amount: 39.00\nCash Received 101.00\nChange : 70.00")).toBe("39.00");
  });

  it("takes no total under half the subtotal (a tax line whose label OCR misread)", () => {
    expect(total("SUB-TOTAL 144.68\nTOTAL TA { Vs 8.68\nCASH +0 153.35\nCHANGE : 0.00")).toBe("153.35");
  });

  it("rounds the total to 5 sen under a rounding line whose adjustment OCR could not read", () => {
    expect(total("Total Sales (Incl GST 6%) RM 64 13\nRounding Adjustment RM OQ 02\nCASH RM 100.00")).toBe(
      "64.15",
    );
    // Without a rounding line the total is as printed.
    expect(total("Total Sales (Incl GST 6%) RM 64.13\nCASH RM 100.00")).toBe("64.13");
  });

  it("applies a rounding adjustment printed under the total when the rounded amount is printed", () => {
    expect(total("TOTAL AMT RM 60.31\nROUNDING ADJ -0.01\nRM 60.30\nCASH 70.30\nCHANGE 10.00")).toBe("60.30");
  });

  it("prefers the total that cash minus change confirms, and ignores the tax summary's totals", () => {
    const receipt =
      "Total Amount: 19.60\nTotal: 57.80\nCASH 100.00\nCHANGE 42.20\nGST Summary\nTotal 54.53 3.27";
    const [f] = extractCategoryFields(receipt, category({ total: money }));
    expect(f).toMatchObject({ value: "57.80", confidence: RULE_PRECISION["total.cash_check"] });
  });

  it("checks the total against subtotal plus tax (and service charge, rounding)", () => {
    const receipt = "Sub Total 68.87\nService Charge 10% 6.89\nGST 6% 4.13\nTotal Amount 19.60\nTOTAL 79.89";
    const [f] = extractCategoryFields(receipt, category({ total: money }));
    expect(f).toMatchObject({ value: "79.89", confidence: RULE_PRECISION["total.sum_check"] });
    // Total label misread: the amount under the subtotal equal to subtotal + tax + rounding.
    const garbled =
      "SUB-TOTAL (EX) : 26.00\nTOTAL TAX 1.56\nROUNDING -0.01\nBERL Be 7 2 Re JH 27.55\nCASH 50";
    const [g] = extractCategoryFields(garbled, category({ total: money }));
    expect(g).toMatchObject({ value: "27.55", confidence: RULE_PRECISION["total.sum_only"] });
    // Cash with no change is not the total when subtotal plus tax says otherwise: with no total line
    // read, their sum (the tax 6 % of the subtotal) is, at the weaker rule's confidence; when cash is
    // a digit off their sum rounded to 5 sen, that sum is what was paid.
    const [unprinted] = extractCategoryFields(
      "Sub Total 144.68\nTotal Tax 8.68\nTOTA: io, H63.35\nCASH 500.00\nCHANGE 0.00",
      category({ total: money }),
    );
    expect(unprinted).toMatchObject({ value: "153.36", confidence: RULE_PRECISION["total.sum_unprinted"] });
    expect(total("Sub Total 144.68\nTotal Tax 8.68\nROUNDING 0.01\nTOT 2 I 5 3.35\nCASH ¥53.35")).toBe(
      "153.35",
    );
    // A tax that is no usual rate of the subtotal bears nothing out: no answer.
    expect(total("Sub Total 144.68\nTotal Tax 2.68\nTOTA: io, H63.35")).toBeUndefined();
    const [paid] = extractCategoryFields(
      "Sub Total 144.68\nTotal Tax 8.68\nTOTA: io, H63.35\nCASH /953.35\nCHANGE 0.00",
      category({ total: money }),
    );
    expect(paid).toMatchObject({ value: "153.35", confidence: RULE_PRECISION["total.paid_corrected"] });
    // A total line a digit off subtotal plus tax (amounts without their decimal points), the tax 6 %
    // of the subtotal: the sum is the total. Without the tax bearing the subtotal out, the line stands.
    const [sum] = extractCategoryFields(
      "Total Sales (Excluding GST) 5142\nTotal GST 308\nRounding 0.00\nTotal Sales (Inclusive of GST) 64.50",
      category({ total: money }),
    );
    expect(sum).toMatchObject({ value: "54.50", confidence: RULE_PRECISION["total.sum_corrected"] });
    expect(total("Sub Total 51.42\nGST 4.08\nTotal 65.50")).toBe("65.50");
    // The total line and cash minus change disagree, each a digit off the sum the tax rate bears out:
    // the sum. Cash minus change agreeing with the total line, or far from the sum, leaves the line.
    const [both] = extractCategoryFields(
      "SUB-TOTAL (EX) : 52.00\nTOTAL TAX : 3.12\nROUNDING : -0.02\nTOTAL 65.10\nCASH 85.10\nCHANGE 0.00",
      category({ total: money }),
    );
    expect(both).toMatchObject({ value: "55.10", confidence: RULE_PRECISION["total.sum_corrected"] });
    expect(total("SUB-TOTAL : 52.00\nTOTAL TAX : 3.12\nTOTAL 65.10\nCASH 65.10\nCHANGE 0.00")).toBe("65.10");
    expect(total("SUB-TOTAL : 52.00\nTOTAL TAX : 3.12\nTOTAL 65.10\nCASH 90.00\nCHANGE 1.00")).toBe("65.10");
    // A digit off cash minus change is corrected only when subtotal plus tax agrees with the latter.
    expect(total("Total Amount: $2.20\nNett Total: $8.20\nCASH $3.20\nChange $0.00")).toBe("8.20");
    expect(
      total(
        "Total Sales (Excluding GST) 95.17\nTotal GST 5.71\nRounding 0.02\nTotal Sales (Inclusive of GST) 100.80\nCASH 101.00\nChange : 0.10",
      ),
    ).toBe("100.90");
  });

  it("reads amounts through OCR noise: split decimals, look-alike letters, stray marks", () => {
    expect(total("TOTAL 9 .00")).toBe("9.00");
    expect(total("TOTAL 1O.50")).toBe("10.50");
    expect(total("TOTAL \u201cYy /18.00\nCASH 20.00\nCHANGE 2.00")).toBe("18.00");
    // "RM 64 13": the decimal point read as a space; the rounding under it applied.
    expect(total("Total Sales (Incl GST 6%) RM 64 13\nRounding Adjustment RM 0 02")).toBe("64.15");
    expect(total("SR GRAND TOTAL 10 00\nCASH 20.00 MYR 20.00")).toBe("10.00");
    // No total line read: cash minus change, printed after a colon, or with a space in it.
    expect(total("TL:RM 28.60\nCASH 100.00\nCASH CHANGE 71.40")).toBe("28.60");
    expect(total("2 x 95.00 190.00\nTotal (Inclusive of GST): fan oo\nCASH : 200. 00\nCHANGE : 10.00")).toBe(
      "190.00",
    );
  });

  it("takes the rounded total under the rounding line though OCR misread the adjustment", () => {
    expect(total("TOTAL RM 60.31\nROUNDING ADJ -0.04\nRH 60.30\nTHANK YOU")).toBe("60.30");
  });

  it("does not read a tax-code column header as the tax summary, nor an AMOUNT header as a total", () => {
    const receipt =
      "Qty U.Price Amt Inc Tax Code\n1 8.49 9.00 SR\nTotal Includes GST 6% 9.00\nCash 50.00\nChange 41.00";
    expect(total(receipt)).toBe("9.00");
    expect(total("ITEM QTY AMOUNT\nTP-24 5 1.32 6.60\nTOTAL 6.60")).toBe("6.60");
    expect(total("AMOUNT\n1.32 6.60")).toBeUndefined();
  });

  it("puts back what OCR misread in a company's legal form, trading words and margins", () => {
    const company = (text: string) => one(text, "company", str);
    expect(company("= - UNIHAKKA INTERNATIONAL. SDN BHD ; :\n12, Jalan Tampoi 7/4")).toBe(
      "UNIHAKKA INTERNATIONAL SDN BHD",
    );
    expect(company("X UNIHAKKA INTERNATIONAL SBN BHD\n12, Jalan Tampoi 7/4")).toBe(
      "UNIHAKKA INTERNATIONAL SDN BHD",
    );
    expect(company("C W KHOO HARDWARE SDN BHD\nNO.50,JALAN PBS 14/11")).toBe("C W KHOO HARDWARE SDN BHD");
    expect(company("Owner by Castle Blue S/F\n{1035683-T)")).toBe("Owner by Castle Blue S/B");
    expect(company("SIN DU RESTAURAMT\nK3-113, JL IBRAHIM SULTAN")).toBe("SIN DU RESTAURANT");
    expect(company("GOLDEN ARCHES RESTAURANTS SDN BHD\nLevel 6")).toBe("GOLDEN ARCHES RESTAURANTS SDN BHD");
    expect(company("Owner by Castle Blue §/F\n{1035683-T)")).toBe("Owner by Castle Blue S/B");
    // A singular is no misreading of the vocabulary's plural.
    expect(company("PAGOH REST AND SERVICE AREA\nLOT R1, KWS REHAT")).toBe("PAGOH REST AND SERVICE AREA");
  });

  it("takes no logo, thank-you line or region under the address for the company", () => {
    const company = (text: string) => one(text, "company", str);
    expect(
      company("ROO RERAAARRIII——w»»»mmmmmmmmmm mem ee — 47/77\n(001451637-M)\nNO. 53, JALAN BESAR\nSELANGOR"),
    ).toBeUndefined();
    expect(company("= e— Br = a\nTEO HENG STATIONERY & BOOKS\n(001451637-M)")).toBe(
      "TEO HENG STATIONERY & BOOKS",
    );
    expect(company("TQ FOR SHOPPING WITH MYNEWS.COM\nPAGOH REST AND SERVICE AREA\nLOT R1")).toBe(
      "PAGOH REST AND SERVICE AREA",
    );
  });

  it("reads the address past the registration number and what letterheads print under the name", () => {
    const address = (text: string) => one(text, "address", str);
    expect(
      address(
        "Gerbang Alaf Restaurants Sdn Bhd\n(65351-M)\nformerly known as\nGolden Arches Restaurants Sdn Bhd\nLicensee of McDonald's\nLevel 6, Bangunan TH, Damansara Uptown3\nNo.3, Jalan SS21/39,47400 Petaling Jaya\nSelangor\n(GST ID No: 000504664064)",
      ),
    ).toBe("Level 6, Bangunan TH, Damansara Uptown3 No.3, Jalan SS21/39,47400 Petaling Jaya Selangor");
    expect(address("BOOK TA .K SDN 8HD\n78911 7-W\nNO.53 JALAN SAGU 18,\n81100 JOHOR BAHRU")).toBe(
      "NO.53 JALAN SAGU 18, 81100 JOHOR BAHRU",
    );
    // "No:" before the house number is print, not margin noise.
    expect(address("LIGHTROOM GALLERY SDN BHD\nNo: 28, JALAN ASTANA 1C,\n41050 KLANG SELANGOR")).toBe(
      "No: 28, JALAN ASTANA 1C, 41050 KLANG SELANGOR",
    );
  });

  it("puts back address words, states and postcodes OCR misread by a letter", () => {
    const address = (text: string) => one(text, "address", str);
    expect(address("ABC\nNO.53 JALAN SAGU 18,\n£1100 JOHOR BAHRU")).toBe(
      "NO.53 JALAN SAGU 18, 81100 JOHOR BAHRU",
    );
    // Margin marks read as a lone digit before the house number or a letter after the state.
    expect(address("ABC SDN BHD\n1 12, Jalan Tampoi 7/4,\nTampoi,81200 Johor Bahru, Johor i")).toBe(
      "12, Jalan Tampoi 7/4, Tampoi,81200 Johor Bahru, Johor",
    );
    expect(
      address(
        "UNIHAKKA INTERNATIONAL SDN BHD\n12, Jalan Tampoi 7/4, K awasan Perindustiian\nTampoi.&1200 Johor Bahru, Johar .",
      ),
    ).toBe("12, Jalan Tampoi 7/4, Kawasan Perindustrian Tampoi.81200 Johor Bahru, Johor .");
    expect(address("LIGHTROOM SDN BHD\n28, JALAN ASTANA,\n41050 KLANG SELANGOR D.E, MALAYSTA")).toBe(
      "28, JALAN ASTANA, 41050 KLANG SELANGOR D.E, MALAYSIA",
    );
    // Names of streets and towns outside the vocabulary stay as printed, right or wrong.
    expect(address("ABC SDN BHD\n27, JALAN DEDAF 13,\n81100 JOHOR BAHRU")).toBe(
      "27, JALAN DEDAF 13, 81100 JOHOR BAHRU",
    );
  });

  it("drops margin noise after the company name", () => {
    const company = (text: string) => one(text, "company", str);
    expect(company("UNIHAKKA INTERNATIONAL SDN BHD:3\n12, Jalan Tampoi 7/4")).toBe(
      "UNIHAKKA INTERNATIONAL SDN BHD",
    );
    expect(company("UNIHAKKA INTERNATIONAL SDN BHD A\n12, Jalan Tampoi 7/4")).toBe(
      "UNIHAKKA INTERNATIONAL SDN BHD",
    );
    expect(company("PERNIAGAAN ZHENG HUI 2\nNO.59 JALAN PERMAS")).toBe("PERNIAGAAN ZHENG HUI");
    expect(company("MR D.I.Y. (M) SDN BHD\nLOT 1851-A")).toBe("MR D.I.Y. (M) SDN BHD");
  });

  it("puts back a 0 OCR misread in an impossible month or year, and says so", () => {
    const date = { type: "string", format: "date" } as const;
    const [d] = extractCategoryFields("Date : 30/03/2618 8:13 PM", category({ date }));
    expect(d).toMatchObject({ value: "2018-03-30", confidence: RULE_PRECISION["date.repaired"] });
    expect(one("PRINTED 30/63/2018 11:18", "date", date)).toBe("2018-03-30");
    // A day past the month's end is left alone (39 could be 29 or 30).
    expect(one("Date 39/03/2018", "date", date)).toBeUndefined();
  });

  it("reads dates with look-alike letters for digits", () => {
    expect(one("Date : Z5/12/2018 8:13:39 PM", "date", date)).toBe("2018-12-25");
    expect(one("Date:25/12/2O18", "date", date)).toBe("2018-12-25");
  });

  it("finds the company by its legal form, under OCR noise, and the printed address under it", () => {
    const receipt = [
      "tan woon yann",
      "BOOK TA .K (TAMAN DAYA) SDN 8HD",
      "789417-W",
      "NO.53 55,57 & 59, JALAN SAGU 18,",
      "TAMAN DAYA,",
      "81100 JOHOR BAHRU,",
      "JOHOR.",
      "Document No: TDD1167104",
      "Date 25/12/2018 8:13:39 PM",
      "Total 9.00",
    ].join("\n");
    const fields = extractCategoryFields(
      receipt,
      category({
        company: { type: "string", description: "the shop that issued the receipt" },
        address: str,
        date,
        total: money,
      }),
    );
    expect(Object.fromEntries(fields.map((f) => [f.name, f.value]))).toEqual({
      company: "BOOK TA .K (TAMAN DAYA) SDN BHD",
      address: "NO.53 55,57 & 59, JALAN SAGU 18, TAMAN DAYA, 81100 JOHOR BAHRU, JOHOR.",
      date: "2018-12-25",
      total: "9.00",
    });
  });

  it.each([
    ["Müller & Söhne GmbH\nHauptstraße 5", "Müller & Söhne GmbH"],
    ["Receipt\nNorthwind Traders Inc.\n12 Main St", "Northwind Traders Inc."],
    ["MR D.I.Y. (M) SDN BHD (CO.REG :860671-D)\nLOT 1851-A", "MR D.I.Y. (M) SDN BHD"],
    ["  YONGFATT ENTERPRISE\n(IMO517726)\nNO.122.124. JALAN DEDAP 13", "YONGFATT ENTERPRISE"],
    ["Le Petit Atelier SARL\n3 rue des Fleurs, 75004 Paris", "Le Petit Atelier SARL"],
  ])("reads the company of %j", (text, expected) => {
    expect(one(text, "merchant", str)).toBe(expected);
  });

  it("reads a multi-line street address with postcode, region and branch name", () => {
    const text = [
      "MR D.I.Y. (JOHOR) SDN BHD",
      "(CO.REG :933109-X)",
      "LOT 1851-A & 1851-B, JALAN KPB 6,",
      "KAWASAN PERINDUSTRIAN BALAKONG,",
      "43300 SERI KEMBANGAN, SELANGOR",
      "(MR DIY TESCO TERBAU)",
      "-INVOICE-",
    ].join("\n");
    expect(one(text, "vendor_address", str)).toBe(
      "LOT 1851-A & 1851-B, JALAN KPB 6, KAWASAN PERINDUSTRIAN BALAKONG, 43300 SERI KEMBANGAN, SELANGOR (MR DIY TESCO TERBAU)",
    );
    expect(
      one("Acme Ltd\n400 Market St, Suite 200\nSan Francisco, CA 94105\nTel 555 0100", "address", str),
    ).toBe("400 Market St, Suite 200 San Francisco, CA 94105");
  });
});

describe("extractCategoryFields: other field types", () => {
  it("fills an enum with the member the text names", () => {
    const schema: FieldSchema = { type: "string", enum: ["cash", "credit_card", "bank_transfer"] };
    expect(one("Paid by Credit Card on 3 May", "payment_method", schema)).toBe("credit_card");
    expect(one("nothing here", "payment_method", schema)).toBeUndefined();
  });

  it("fills a number from the label spelling the field's name", () => {
    expect(one("Guests: 4\nTable No: 12", "guests", { type: "number" })).toBe("4");
    expect(one("Total weight (kg) 1,250.5", "total_weight", { type: "number" })).toBe("1250.5");
  });

  it("fills an array field with every match, in order", () => {
    const fields = extractCategoryFields(
      "Contacts: a@x.example, b@y.example\nShipped 01/02/2024, delivered 03/02/2024",
      category({
        emails: { type: "array", items: { type: "string" } },
        dates: { type: "array", items: date },
      }),
    );
    expect(fields.map((f) => [f.name, f.value])).toEqual([
      ["emails", "a@x.example"],
      ["emails", "b@y.example"],
      ["dates", "2024-02-01"],
      ["dates", "2024-02-03"],
    ]);
  });

  it("reads any other string after a label spelling its name", () => {
    expect(one("Project Name: Apollo Phase 2\nClient: Contoso", "project_name", str)).toBe("Apollo Phase 2");
  });

  it("fills nothing for a category without fields", () => {
    expect(extractCategoryFields(INVOICE, { name: "x", description: "x" })).toEqual([]);
  });
});

describe("extractCategoryFields: pages, boxes, confidence", () => {
  it("gives the page from form feeds", () => {
    const [f] = extractCategoryFields("cover page\fsecond page Total: $10.00", category({ total: money }));
    expect(f).toMatchObject({ value: "10.00", currency: "USD", page: 2 });
  });

  it("gives the box of the OCR words covering the value", () => {
    const text = "SHOP SDN BHD\fTOTAL RM 12.50\nCASH 20.00";
    const words: PageWord[] = [
      { text: "SHOP", page: 1, bbox: [10, 10, 50, 20], confidence: 0.9 },
      { text: "SDN", page: 1, bbox: [55, 10, 80, 20], confidence: 0.9 },
      { text: "BHD", page: 1, bbox: [85, 10, 110, 20], confidence: 0.9 },
      { text: "TOTAL", page: 2, bbox: [10, 40, 60, 52], confidence: 0.9 },
      { text: "RM", page: 2, bbox: [70, 40, 90, 52], confidence: 0.9 },
      { text: "12.50", page: 2, bbox: [95, 41, 140, 53], confidence: 0.9 },
      { text: "CASH", page: 2, bbox: [10, 60, 50, 72], confidence: 0.9 },
      { text: "20.00", page: 2, bbox: [95, 60, 140, 72], confidence: 0.9 },
    ];
    const fields = extractCategoryFields(text, category({ company: str, total: money }), words);
    expect(fields.find((f) => f.name === "company")).toMatchObject({ page: 1, bbox: [10, 10, 110, 20] });
    expect(fields.find((f) => f.name === "total")).toMatchObject({
      value: "12.50",
      page: 2,
      bbox: [70, 40, 140, 53],
    });
  });

  it("gives each field its rule's measured precision, lower for weaker rules", () => {
    const strong = extractCategoryFields("Grand total: 12.00", category({ total: money }))[0]!;
    const weak = extractCategoryFields("Blue Heron\nsome text", category({ company: str }))[0]!;
    expect(strong.confidence).toBe(RULE_PRECISION["total.strong_label"]);
    expect(weak.confidence).toBeLessThan(0.5);
    for (const p of Object.values(RULE_PRECISION)) {
      expect(p).toBeGreaterThan(0);
      expect(p).toBeLessThan(1);
    }
  });

  it("normalises number formats", () => {
    expect(normaliseNumber("1,234.56")).toBe("1234.56");
    expect(normaliseNumber("1.234,56")).toBe("1234.56");
    expect(normaliseNumber("12,5")).toBe("12.50");
    expect(normaliseNumber("1 234")).toBe("1234.00");
  });
});
