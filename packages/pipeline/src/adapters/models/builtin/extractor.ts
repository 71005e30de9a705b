import { escapeRegExp, fold } from "../../../domain/words.ts";
import type { Category, ExtractedField, FieldKind, FieldSchema, PageWord } from "../../../ports/models.ts";
import { findAddress } from "./address.ts";
import { confidenceOf, type Rule } from "./calibration.ts";
import { findCompany, type Span } from "./company.ts";
import { type Line, splitLines } from "./lines.ts";

/**
 * Fills a category's declared fields from a document's text with rules. Each declared field is mapped
 * to a rule by its name, type/format and description (a money field named total → the document's
 * total, a date named due_date → the date labelled "due", a string named company → the letterhead's
 * name, anything else → the value after a label spelling the field's name). Values are normalised as
 * the port says; confidences are the rules' measured precisions (calibration.ts). Pages come from
 * form feeds; with OCR `words`, each value gets the box of the words it was read from.
 */
export function extractCategoryFields(
  text: string,
  category: Category,
  words?: readonly PageWord[],
): ExtractedField[] {
  return explainCategoryFields(text, category, words).map((e) => e.field);
}

/** extractCategoryFields with the rule behind each field (benchmarks measure rules with it). */
export function explainCategoryFields(
  text: string,
  category: Category,
  words?: readonly PageWord[],
): { field: ExtractedField; rule: Rule }[] {
  const doc = new Doc(text, words);
  const out: { field: ExtractedField; rule: Rule }[] = [];
  for (const [name, schema] of Object.entries(category.fields?.properties ?? {})) {
    const item = schema.type === "array" ? schema.items : schema;
    const kind = kindOf(item);
    const description = `${schema.description ?? ""} ${item.description ?? ""}`;
    let found = resolve(doc, name, kind, item, description);
    if (schema.type !== "array") found = found.slice(0, 1);
    else found = dedupeFound(found).sort((a, b) => a.start - b.start);
    for (const f of found) out.push({ field: doc.toField(name, kind, f), rule: f.rule });
  }
  return out;
}

function kindOf(schema: Exclude<FieldSchema, { type: "array" }>): FieldKind {
  if (schema.type === "number") return "number";
  if (schema.enum) return "enum";
  return schema.format ?? "string";
}

/** A value found by a rule: printed text, normalised value, where, and which rule. */
interface Found {
  raw: string;
  value: string;
  start: number;
  end: number;
  rule: Rule;
  currency?: string;
}

// -------------------------------------------------------------------------------------- the mapping

/** Field-name words that say which date, amount or string a field wants. */
const COMPANY_NAME =
  /^(company|vendor|merchant|seller|supplier|issuer|shop|store|business|biller|payee|retailer|from|sender|organi[sz]ation|firm|brand)$/;
const TOTAL_NAME = /^(total|amount|grand|due|paid|payable|balance|sum|gross|final)$/;
const SUBTOTAL_NAME = /^(subtotal|sub|net)$/;
const TAX_NAME = /^(tax|vat|gst|sst|mwst|tva|iva)$/;
const DOC_DATE_NAME =
  /^(date|invoice|receipt|document|doc|issue|issued|transaction|purchase|bill|tax|point)$/;
const ID_NAME = /^(number|no|num|nr|id|ref|reference|code)$/;

function resolve(
  doc: Doc,
  name: string,
  kind: FieldKind,
  schema: Exclude<FieldSchema, { type: "array" }>,
  description: string,
): Found[] {
  const nameWords = splitName(name);
  const has = (re: RegExp) => nameWords.some((w) => re.test(w));
  const desc = fold(description);
  switch (kind) {
    case "date": {
      const own = nameWords.filter((w) => !DOC_DATE_NAME.test(w));
      if (own.length === 0) return doc.documentDates();
      return doc.datesLabelled(own);
    }
    case "money": {
      if (has(SUBTOTAL_NAME)) return doc.labelledAmounts(SUBTOTAL_LABEL, "money.subtotal");
      if (has(TAX_NAME)) return doc.labelledAmounts(TAX_LABEL, "money.tax");
      if (has(TOTAL_NAME) || /\btotal\b/.test(desc)) return doc.totals();
      return doc.labelledAmounts(labelRegExp(nameWords), "money.label");
    }
    case "number":
      return doc.labelledValue(nameWords, NUMBER_VALUE, "number.label");
    case "enum":
      return doc.enumMembers(schema.type === "string" ? (schema.enum ?? []) : []);
    default:
      break;
  }
  if (has(/^e?-?mail$/)) return doc.emails();
  if (has(/^(phone|telephone|tel|mobile|fax|contact)$/)) return doc.phones(has(/^fax$/));
  if (has(/^iban$/)) return doc.ibans();
  if (has(/^address$/) && !has(/^(customer|billing|shipping|buyer|recipient|delivery|client)$/)) {
    const a = doc.address();
    return a ? [a] : doc.labelledValue(nameWords, TEXT_VALUE, "string.label");
  }
  if (
    has(COMPANY_NAME) ||
    (nameWords.length === 1 &&
      /^(name)$/.test(nameWords[0]!) &&
      /\b(shop|business|company|issuer|merchant)\b/.test(desc))
  ) {
    const c = doc.company();
    return c ? [c] : [];
  }
  if (has(ID_NAME) || /\b(number|identifier|id)\b/.test(desc)) {
    const own = nameWords.filter((w) => !ID_NAME.test(w));
    // "Invoice No: X" and "INVOICE X" both: the number word is optional after the field's own words.
    return doc.labelledValue(own.length > 0 ? [...own, "number?"] : ["number"], ID_VALUE, "id.label");
  }
  return doc.labelledValue(nameWords, TEXT_VALUE, "string.label");
}

/** "invoice_number" / "dueDate" / "Total Amount" → ["invoice", "number"] / ["due", "date"] / [...]. */
function splitName(name: string): string[] {
  return fold(name.replace(/([a-z])([A-Z])/g, "$1 $2"))
    .split(/[^a-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.replace(/(?<=[a-z]{2}[^s])s$/, "")); // plurals of array fields: emails → email
}

/** How a name word may be printed as a label. */
const LABEL_SYNONYMS: Record<string, string> = {
  number: "(?:no\\.?|number|num\\.?|nr\\.?|n°|#|id)",
  due: "(?:due|payable|zahlbar|f[aä]llig|[ée]ch[ée]ance|vencimiento|pay\\s*by)",
  no: "(?:no\\.?|number|num\\.?|nr\\.?|n°|#)",
  num: "(?:no\\.?|number|num\\.?|nr\\.?|n°|#)",
  nr: "(?:no\\.?|number|num\\.?|nr\\.?|n°|#)",
  id: "(?:id|no\\.?|number|#)",
  ref: "(?:ref\\.?|reference)",
  reference: "(?:ref\\.?|reference)",
  reg: "(?:reg\\.?|registration)",
  registration: "(?:reg\\.?|registration)",
  tax: "(?:tax|gst|vat|sst)",
  vat: "(?:vat|tax|gst)",
  invoice: "(?:invoice|inv\\.?|invois|rechnung|facture|factura)",
  receipt: "(?:receipt|rcpt\\.?|rec\\.?)",
  document: "(?:document|doc\\.?)",
  doc: "(?:document|doc\\.?)",
  company: "(?:company|co\\.?)",
  order: "(?:order|ord\\.?|po)",
  purchase: "(?:purchase|p\\.?)",
  customer: "(?:customer|cust\\.?|client)",
  account: "(?:account|acct?\\.?|a\\/c)",
};

/** A label spelling the given name words, as printed: "invoice_number" matches "Invoice No." too. */
function labelRegExp(words: readonly string[]): RegExp {
  const parts = words.map((w) => {
    const optional = w.endsWith("?");
    const word = optional ? w.slice(0, -1) : w;
    const part = LABEL_SYNONYMS[word] ?? `${escapeRegExp(word)}\\w{0,3}`;
    return optional ? `(?:[\\s._-]*${part})?` : part;
  });
  const joined = parts.reduce(
    (re, p) => (p.startsWith("(?:[") || re === "" ? re + p : `${re}[\\s._-]*${p}`),
    "",
  );
  return new RegExp(`(?<![\\p{L}])${joined}(?![\\p{L}])`, "iu");
}

// Label words between the field's words and the value are skipped: "Tax id" reads "GST Reg No: X".
const ID_VALUE =
  /^[\s:#.]*(?:(?:reg\w*|no|number|id|nr|num)\.?[\s:#.]*){0,3}([A-Za-z0-9][A-Za-z0-9\-/.]{1,30}[A-Za-z0-9])/i;
// A unit in brackets may sit between label and number: "Weight (kg) 12.5".
const NUMBER_VALUE = /^[\s:#=]*(?:\([^)]{0,10}\)[\s:#=]*)?(-?\d[\d,.' ]*\d|\d)(?!\d)/;
const TEXT_VALUE = /^\s*[:=-]\s*(\S.*?)\s*$|^\s+(\S.*?)\s*$/;

const SUBTOTAL_LABEL =
  /\b(sub[\s-]?total|zwischensumme|sous[\s-]total|net amount|total\s*(sales\s*)?\(?excl\w*)/i;
const TAX_LABEL =
  /\b(vat|gst|sst|sales tax|tax|mwst|tva|iva)\b(?!\s*(invoice|id|no|reg|number|summary|code))/i;

// ----------------------------------------------------------------------------------------- document

/** One document's text with what the rules found in it, each computed once on first use. */
class Doc {
  readonly lines: Line[];
  private readonly pageStarts: number[];
  private readonly placed: { start: number; end: number; word: PageWord }[] = [];
  private cache = new Map<string, unknown>();

  constructor(
    readonly text: string,
    words?: readonly PageWord[],
  ) {
    this.lines = splitLines(text);
    this.pageStarts = [0];
    for (let i = text.indexOf("\f"); i >= 0; i = text.indexOf("\f", i + 1)) this.pageStarts.push(i + 1);
    if (words?.length) this.placeWords(words);
  }

  private once<T>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }

  toField(name: string, kind: FieldKind, f: Found): ExtractedField {
    const field: ExtractedField = {
      name,
      kind,
      raw: f.raw,
      value: f.value,
      confidence: 0,
      span: [f.start, f.end],
    };
    if (f.currency) field.currency = f.currency;
    const page = this.pageOf(f.start);
    if (this.pageStarts.length > 1) field.page = page;
    const covering = this.placed.filter((p) => p.start < f.end && p.end > f.start);
    if (covering.length > 0) {
      field.page = page;
      const boxes = covering.map((c) => c.word.bbox);
      field.bbox = [
        Math.min(...boxes.map((b) => b[0])),
        Math.min(...boxes.map((b) => b[1])),
        Math.max(...boxes.map((b) => b[2])),
        Math.max(...boxes.map((b) => b[3])),
      ];
    }
    field.confidence = confidenceOf(f.rule);
    return field;
  }

  private pageOf(offset: number): number {
    let page = 1;
    while (page < this.pageStarts.length && this.pageStarts[page]! <= offset) page++;
    return page;
  }

  /** Finds each OCR word in the text, in reading order, page by page (OCR text is built from them). */
  private placeWords(words: readonly PageWord[]) {
    const cursors = new Map<number, number>();
    for (const word of words) {
      const w = word.text.trim();
      if (!w) continue;
      const pageStart = this.pageStarts[word.page - 1];
      if (pageStart === undefined) continue;
      const pageEnd = this.pageStarts[word.page] ?? this.text.length + 1;
      const cursor = cursors.get(word.page) ?? pageStart;
      const at = this.text.indexOf(w, cursor);
      // A word not found close ahead was not printed into the text (or differently): skip it.
      if (at < 0 || at + w.length > pageEnd || at - cursor > 200) continue;
      this.placed.push({ start: at, end: at + w.length, word });
      cursors.set(word.page, at + w.length);
    }
  }

  found(start: number, end: number, rule: Rule, value?: string, currency?: string): Found {
    const raw = this.text.slice(start, end);
    const f: Found = { raw, value: value ?? raw.replace(/\s+/g, " ").trim(), start, end, rule };
    if (currency) f.currency = currency;
    return f;
  }

  // ------------------------------------------------------------------------------------ letterhead

  company(): Found | undefined {
    return this.once("company", () => {
      const c = findCompany(this.lines);
      return c && this.found(c.start, c.end, c.rule, c.value);
    });
  }

  address(): Found | undefined {
    return this.once("address", () => {
      const a = findAddress(this.lines, this.companySpan());
      return a && this.found(a.start, a.end, a.rule, a.value);
    });
  }

  private companySpan(): Span | undefined {
    return this.once("companySpan", () => findCompany(this.lines));
  }

  // ----------------------------------------------------------------------------------------- dates

  private dates(): DateFound[] {
    return this.once("dates", () => findDates(this.text, this.lines));
  }

  /** The document's own date first (labelled "date", else the first not labelled as another date). */
  documentDates(): Found[] {
    const all = this.dates();
    const own = all.filter((d) => !OTHER_DATE_LABEL.test(d.label));
    const labelled = own.find((d) => DOC_DATE_LABEL.test(d.label));
    const best = labelled ?? own[0] ?? all[0];
    if (!best) return [];
    const rule: Rule = best.repaired
      ? "date.repaired"
      : best.ambiguous
        ? "date.ambiguous"
        : labelled
          ? "date.labelled"
          : "date.first";
    return [
      { ...best, rule },
      ...all.filter((d) => d !== best).map((d) => ({ ...d, rule: "date.first" as Rule })),
    ];
  }

  /** Dates whose label spells the given words ("due" → "Due date:", "Payable by"). */
  datesLabelled(words: readonly string[]): Found[] {
    const re = labelRegExp(words);
    return this.dates()
      .filter((d) => re.test(d.label))
      .map((d) => ({ ...d, rule: d.ambiguous ? "date.ambiguous" : "date.due" }));
  }

  // --------------------------------------------------------------------------------------- amounts

  private amounts(line: Line): Amount[] {
    return amountsIn(line.text, line.start);
  }

  /** The amount of each line carrying the label: after the label, else alone on the next line. */
  labelledAmounts(label: RegExp, rule: Rule): Found[] {
    const out: Found[] = [];
    const currency = this.currency();
    this.lines.forEach((line, i) => {
      const m = label.exec(line.text);
      if (!m) return;
      const a = this.amountAfter(i, m.index + m[0].length);
      if (a) out.push(this.found(a.start, a.end, rule, a.value, a.currency ?? currency));
    });
    return out;
  }

  private amountAfter(i: number, labelEnd: number): Amount | undefined {
    const line = this.lines[i]!;
    const after = this.amounts(line).filter((a) => a.start - line.start >= labelEnd);
    if (after.length > 0) return after[after.length - 1];
    // Label alone on its line (a short line: not a table header) → the amount printed under it.
    if (line.text.trim().split(/\s+/).length > 4) return undefined;
    const next = this.lines.slice(i + 1, i + 3).find((l) => l.text.trim() !== "");
    if (!next || /\p{L}{3,}/u.test(next.text.replace(/\b(RM|MYR|USD|EUR|GBP|SGD)\b/g, ""))) return undefined;
    return this.amounts(next)[0];
  }

  private currency(): string | undefined {
    return this.once("currency", () => documentCurrency(this.text));
  }

  /**
   * The total paid. Candidates are the amounts of total lines (not subtotal, quantity, tax or
   * exclusive-of-tax lines); one equal to cash tendered minus change wins, then one equal to subtotal
   * plus tax (plus service charge, plus rounding), then the strongest label (grand/nett/rounded total,
   * amount due, total incl. tax), then the one printed most often, then the last. A rounding
   * adjustment printed under a plain total is applied when the result is printed too. Without a total
   * line, an amount equal to cash minus change, or to subtotal plus tax, is taken.
   */
  totals(): Found[] {
    return this.once("totals", () => {
      const currency = this.currency();
      const lines = this.lines;
      const cands: { a: Amount; strength: number; i: number; score: number; rule: Rule }[] = [];
      let cash: Amount | undefined;
      // Read above every total and subtotal: an item line's "CARD" or a "CASH SALE" heading, which a
      // tendered line further down replaces.
      let cashEarly = false;
      let change: Amount | undefined;
      // The last amount on a line no label claimed: the cash handed over when its label is misread.
      let unlabelled: { i: number; a: Amount } | undefined;
      const rounding: { i: number; a: Amount }[] = [];
      const roundingLines: number[] = [];
      let roundingLine = -1;
      let summary = false;
      // Parts of the sum: subtotal, then tax and service charge printed under it.
      let subtotal: { i: number; a: Amount } | undefined;
      const addends: Amount[] = [];
      const rates: number[] = [];
      lines.forEach((line, i) => {
        const t = line.text;
        // The tax summary under the total repeats totals of its own (net, tax per rate); a column
        // header "Tax Code" above the items is not it.
        summary ||=
          (cands.length > 0 || cash !== undefined || change !== undefined || subtotal !== undefined) &&
          SUMMARY_LABEL.test(t);
        if (summary) return;
        if (CHANGE_LABEL.test(t)) {
          if (change === undefined) {
            change = this.amounts(line).at(-1);
            // Receipts print the cash tendered right above the change: with its label misread
            // ("CARH 70.30"), the amount on the line above, when larger than the change, is it.
            if (
              (!cash || cashEarly) &&
              change &&
              unlabelled &&
              unlabelled.i >= i - 2 &&
              Number(unlabelled.a.value) > Number(change.value)
            )
              cash = unlabelled.a;
          }
          return;
        }
        if (ROUNDING_LABEL.test(t) && !/\btotal\b/i.test(t)) {
          const a = this.amounts(line).at(-1);
          if (a) rounding.push({ i, a });
          roundingLine = i;
          roundingLines.push(i);
          return;
        }
        if (TENDERED_LABEL.test(t) && !TOTAL_LABEL.test(t)) {
          if (!cash || cashEarly) {
            const a = this.amountAfter(i, t.search(TENDERED_LABEL));
            if (a) {
              cash = a;
              cashEarly = cands.length === 0 && subtotal === undefined;
            }
          }
          return;
        }
        if (SUBTOTAL_LABEL.test(t) && !INCLUSIVE.test(t)) {
          const a = this.amounts(line).at(-1) ?? bareCents(line);
          if (a && !subtotal && cands.length === 0) subtotal = { i, a };
        } else if (subtotal && cands.length === 0 && ADDEND_LABEL.test(t) && !INCLUSIVE.test(t)) {
          const m = ADDEND_LABEL.exec(t)!;
          const a =
            this.amounts(line)
              .filter((x) => x.start - line.start >= m.index + m[0].length)
              .at(-1) ?? bareCents(line);
          if (a && addends.length < 3) {
            addends.push(a);
            if (m[3]) rates.push(Number.parseFloat(m[3]) / 100);
          }
        }
        const excluded = NOT_TOTAL_LABEL.test(t) && !INCLUSIVE.test(t);
        if (excluded) return;
        const strong = STRONG_TOTAL_LABEL.exec(t);
        const plain = strong ?? TOTAL_LABEL.exec(t);
        if (!plain) {
          const a = this.amounts(line).at(-1);
          if (a && !SUBTOTAL_LABEL.test(t) && !ADDEND_LABEL.test(t)) unlabelled = { i, a };
          return;
        }
        const labelEnd = plain.index + plain[0].length;
        // A lone "AMOUNT" is a column header: only an amount on its own line counts.
        const header = !strong && /^amount$/i.test(plain[0]);
        const a = header
          ? this.amounts(line)
              .filter((x) => x.start - line.start >= labelEnd)
              .at(-1)
          : this.amountAfter(i, labelEnd);
        if (a) {
          // A total printed after the rounding line is the rounded one, the amount paid.
          cands.push({
            a,
            strength: (strong ? 2 : 1) + (roundingLine >= 0 ? 1.5 : 0),
            i,
            score: 0,
            rule: strong ? "total.strong_label" : "total.plain_label",
          });
          return;
        }
        const rest = t.slice(labelEnd);
        // OCR reads the decimal point as a space: "TOTAL RM 64 13".
        const spaced = /(?<![\d.,])(\d{1,4}) (\d{2})\s*\W{0,2}$/.exec(rest);
        if (spaced) {
          const start = line.start + labelEnd + spaced.index;
          const raw = spaced[0].replace(/[^\d]+$/, "");
          cands.push({
            a: { raw, value: `${Number(spaced[1])}.${spaced[2]}`, start, end: start + raw.length },
            strength: (strong ? 1.5 : 0.5) + (roundingLine >= 0 ? 1.5 : 0),
            i,
            score: 0,
            rule: "total.spaced",
          });
          return;
        }
        // OCR drops decimal points: "TOTAL 1000" on a receipt is 10.00.
        const bare = /(?<![\d.,])(\d{3,5})\s*\W{0,2}$/.exec(rest);
        if (bare) {
          const start = line.start + labelEnd + bare.index;
          const digits = bare[1]!;
          const value = `${Number(digits.slice(0, -2))}.${digits.slice(-2)}`;
          cands.push({
            a: { raw: digits, value, start, end: start + digits.length },
            strength: 0,
            i,
            score: 0,
            rule: "total.no_decimal",
          });
        }
      });
      const paid =
        cash && change && Number(cash.value) > Number(change.value)
          ? (Number(cash.value) - Number(change.value)).toFixed(2)
          : undefined;
      // Subtotal plus tax (and service charge), and that plus the rounding adjustment.
      const sums = new Set<string>();
      if (subtotal && addends.length > 0) {
        const sum = addends.reduce((acc, x) => acc + Number(x.value), Number(subtotal.a.value));
        sums.add(sum.toFixed(2));
        const r = rounding.find((r) => r.i > subtotal!.i);
        if (r) sums.add((sum + Number(r.a.value)).toFixed(2));
        // Rounded to the 5 sen cash is paid in (the rounding line is often misread or not printed).
        sums.add((Math.round(sum * 20) / 20).toFixed(2));
      }
      // Subtotal and tax bear each other out: the tax is the printed rate (else a usual one) of the
      // subtotal. Then their sum outweighs a total line one misread digit away from it.
      const taxAgrees =
        subtotal !== undefined &&
        addends.length === 1 &&
        (rates.length > 0 ? rates : USUAL_TAX_RATES).some(
          (rate) => Math.abs(Number(subtotal!.a.value) * rate - Number(addends[0]!.value)) <= 0.011,
        );
      const count = new Map<string, number>();
      for (const line of lines)
        for (const a of this.amounts(line)) count.set(a.value, (count.get(a.value) ?? 0) + 1);
      for (const c of cands) {
        const matchesPaid = paid !== undefined && c.a.value === paid;
        const matchesSum = sums.has(c.a.value) && Number(c.a.value) > 0;
        const repeated = Math.min((count.get(c.a.value) ?? 1) - 1, 2);
        // The receipt's own arithmetic: with change given, the cash handed over and the change are
        // never the total (a total line whose amount OCR took from the cash or change line below it).
        const givesChange = change !== undefined && Number(change.value) > 0;
        const isCash = givesChange && cash !== undefined && c.a.value === cash.value;
        const isChange = givesChange && c.a.value === change!.value;
        // Under half the subtotal is a tax or a discount line whose label OCR misread ("TOTAL TA 8.68").
        const underSubtotal =
          subtotal !== undefined && c.i > subtotal.i && Number(c.a.value) < Number(subtotal.a.value) / 2;
        const contradicted = !matchesPaid && !matchesSum && (isCash || isChange || underSubtotal);
        c.score =
          c.strength +
          (matchesPaid ? 3 : 0) +
          (matchesSum ? 2 : 0) +
          0.3 * repeated +
          0.001 * c.i -
          (contradicted ? 5 : 0);
        if (matchesPaid) c.rule = "total.cash_check";
        else if (matchesSum) c.rule = "total.sum_check";
      }
      cands.sort((x, y) => y.score - x.score);
      const out: Found[] = [];
      // Every candidate contradicts cash and change: what they say was paid is the total.
      if (paid !== undefined && cands.length > 0 && cands.every((c) => c.score < -1)) cands.length = 0;
      const best = cands[0];
      const confirmed = best && (best.rule === "total.cash_check" || best.rule === "total.sum_check");
      // Cash minus change printed as an amount of its own (the rounded total, an item's line) outweighs
      // a total line that disagrees with both: OCR misread the total's digits.
      const paidPrinted =
        paid !== undefined && best && !confirmed
          ? lines
              .flatMap((line) => this.amounts(line))
              .find(
                (x) =>
                  x.value === paid &&
                  x.start !== cash?.start &&
                  x.start !== change?.start &&
                  x.start !== best.a.start,
              )
          : undefined;
      if (paidPrinted && Math.abs(Number(best!.a.value) - Number(paid)) > 0.05)
        out.push(
          this.found(
            paidPrinted.start,
            paidPrinted.end,
            "total.paid_printed",
            paid!,
            paidPrinted.currency ?? currency,
          ),
        );
      if (
        out.length === 0 &&
        paid !== undefined &&
        best &&
        !confirmed &&
        (Math.abs(Number(best.a.value) - Number(paid)) <= 0.05 ||
          (sums.has(paid) && nearMiss(best.a.value, paid)))
      ) {
        // OCR misread the total's rounding (or a digit, which subtotal plus tax confirms): cash minus
        // change says what was paid.
        out.push(
          this.found(best.a.start, best.a.end, "total.paid_corrected", paid, best.a.currency ?? currency),
        );
      }
      if (best && !confirmed && taxAgrees && out.length === 0) {
        const sum = [...sums].find((x) => x !== best.a.value && nearMiss(best.a.value, x));
        // With change given, cash minus change must disagree with the total line and be a misread
        // digit off the sum too ("TOTAL 6510", "CASH 85.10", change 0.00, subtotal and tax making
        // 55.10): two misreadings that disagree, each a digit from the sum the tax rate bears out.
        const paidAgrees =
          paid === undefined || (sum !== undefined && paid !== best.a.value && nearMiss(paid, sum));
        if (sum && paidAgrees && Math.abs(Number(sum) - Number(best.a.value)) > 0.05)
          out.push(
            this.found(best.a.start, best.a.end, "total.sum_corrected", sum, best.a.currency ?? currency),
          );
      }
      if (best && !confirmed && out.length === 0) {
        // A rounding adjustment under the chosen total, and the rounded amount printed under it (OCR
        // misreads the adjustment's digits more often than the total's: within 0.05 will do).
        const r = rounding.find((r) => r.i > best.i && r.i <= best.i + 3 && Number(r.a.value) !== 0);
        if (r) {
          const rounded = Number(best.a.value) + Number(r.a.value);
          for (const line of lines.slice(r.i + 1, r.i + 3)) {
            const a = this.amounts(line).find(
              (x) =>
                x.value !== best.a.value &&
                Math.abs(Number(x.value) - rounded) <= 0.05 &&
                Math.abs(Number(x.value) - Number(best.a.value)) <= 0.05,
            );
            if (a) {
              out.push(this.found(a.start, a.end, "total.rounded", a.value, a.currency ?? currency));
              break;
            }
          }
          // Not printed (or not read), and no total after the rounding line: total plus adjustment,
          // when that lands on the 5 sen the rounding is for.
          const cents = Math.round(rounded * 100);
          if (out.length === 0 && !cands.some((c) => c.i > r.i) && cents % 5 === 0 && cents > 0) {
            const value = (cents / 100).toFixed(2);
            out.push(
              this.found(best.a.start, best.a.end, "total.adjusted", value, best.a.currency ?? currency),
            );
          }
        }
        // A rounding line under the total whose adjustment OCR could not read, and no total after
        // it: the total rounded to the 5 sen the adjustment is for.
        const unread = roundingLines.find(
          (l) => l > best.i && l <= best.i + 3 && !rounding.some((x) => x.i === l),
        );
        const cents = Math.round(Number(best.a.value) * 100);
        if (
          out.length === 0 &&
          !r &&
          unread !== undefined &&
          !cands.some((c) => c.i > unread) &&
          cents % 5 !== 0
        ) {
          const value = (Math.round(cents / 5) * 0.05).toFixed(2);
          out.push(
            this.found(best.a.start, best.a.end, "total.adjusted", value, best.a.currency ?? currency),
          );
        }
      }
      for (const c of cands)
        out.push(this.found(c.a.start, c.a.end, c.rule, c.a.value, c.a.currency ?? currency));
      if (out.length === 0 && paid !== undefined) {
        // No total line read, but cash minus change is printed elsewhere (a misread label).
        for (const line of lines) {
          const a = this.amounts(line).find((x) => x.value === paid);
          if (a && a.start !== cash?.start) {
            out.push(this.found(a.start, a.end, "total.paid_only", a.value, a.currency ?? currency));
            break;
          }
        }
      }
      if (out.length === 0 && subtotal && sums.size > 0) {
        // No total line read, but subtotal plus tax is printed under the subtotal (a misread label).
        for (const line of lines.slice(subtotal.i + 1)) {
          const a = this.amounts(line).find((x) => sums.has(x.value) && Number(x.value) > 0);
          if (a) {
            out.push(this.found(a.start, a.end, "total.sum_only", a.value, a.currency ?? currency));
            break;
          }
        }
      }
      // Cash tendered with no change is the total, unless subtotal plus tax says otherwise.
      const sumAgrees =
        sums.size === 0 || [...sums].some((x) => Math.abs(Number(x) - Number(cash?.value)) <= 0.05);
      if (out.length === 0 && cash && (!change || Number(change.value) === 0) && sumAgrees)
        out.push(this.found(cash.start, cash.end, "total.cash_only", cash.value, cash.currency ?? currency));
      // Cash with no change one misread digit from subtotal plus tax: that sum is what was paid.
      const tendered = cash?.value;
      const nearSum =
        tendered !== undefined &&
        change !== undefined &&
        Number(change.value) === 0 &&
        [...sums].find((x) => nearMiss(tendered, x));
      if (out.length === 0 && cash && nearSum)
        out.push(
          this.found(cash.start, cash.end, "total.paid_corrected", nearSum, cash.currency ?? currency),
        );
      // Nothing printed reads as the total, but subtotal and tax bear each other out: their sum (to
      // the 5 sen cash is rounded to, when a rounding line is printed) is what was paid.
      if (out.length === 0 && subtotal && taxAgrees) {
        const sum = addends.reduce((acc, x) => acc + Number(x.value), Number(subtotal.a.value));
        const rounded = roundingLines.some((l) => l > subtotal!.i) ? Math.round(sum * 20) / 20 : sum;
        out.push(
          this.found(
            subtotal.a.start,
            subtotal.a.end,
            "total.sum_unprinted",
            rounded.toFixed(2),
            subtotal.a.currency ?? currency,
          ),
        );
      }
      return out;
    });
  }

  // ----------------------------------------------------------------------------------- labelled text

  /** The value after a label spelling `words`, on its line, or on the next line when the label ends it. */
  labelledValue(words: readonly string[], value: RegExp, rule: Rule): Found[] {
    const label = labelRegExp(words);
    const out: Found[] = [];
    this.lines.forEach((line, i) => {
      const m = label.exec(line.text);
      if (!m) return;
      let at = line.start + m.index + m[0].length;
      let rest = line.text.slice(m.index + m[0].length);
      if (/^[\s:#.=;-]*$/.test(rest)) {
        const next = this.lines.slice(i + 1, i + 3).find((l) => l.text.trim() !== "");
        if (!next) return;
        at = next.start;
        rest = ` ${next.text}`;
        at -= 1;
      }
      const v = value.exec(rest.replace(/;/g, ":"));
      const printed = v && (v[1] ?? v[2]);
      if (!printed) return;
      // Columns: a value ends at a wide gap.
      const cut = printed.split(/\s{2,}|\t/)[0]!.trim();
      if (value === ID_VALUE && !/\d/.test(cut)) return;
      const start = at + rest.indexOf(cut, v.index);
      let normalised = cut;
      if (value === NUMBER_VALUE) {
        const n = normaliseNumber(cut.replace(/\s/g, ""));
        if (n === null) return;
        normalised = n.replace(/\.?0+$/, "");
      }
      out.push(this.found(start, start + cut.length, rule, normalised));
    });
    return out;
  }

  enumMembers(members: readonly string[]): Found[] {
    const hits: { member: string; start: number; end: number }[] = [];
    const folded = fold(this.text);
    for (const member of members) {
      const pattern = fold(member)
        .split(/[\s_-]+/)
        .map(escapeRegExp)
        .join("[\\s_-]+");
      const re = new RegExp(`(?<![\\p{L}\\p{N}])${pattern}(?![\\p{L}\\p{N}])`, "gu");
      // fold keeps offsets except for ß; close enough for a span.
      for (const m of folded.matchAll(re)) hits.push({ member, start: m.index, end: m.index + m[0].length });
    }
    hits.sort((a, b) => a.start - b.start);
    const distinct = new Set(hits.map((h) => h.member));
    const rule: Rule = distinct.size === 1 ? "enum.single" : "enum.first";
    const seen = new Set<string>();
    return hits
      .filter((h) => !seen.has(h.member) && seen.add(h.member))
      .map((h) => this.found(h.start, h.end, rule, h.member));
  }

  // ----------------------------------------------------------------------------------- patterns

  emails(): Found[] {
    return [...this.text.matchAll(EMAIL)].map((m) =>
      this.found(m.index, m.index + m[0].length, "email", m[0].toLowerCase()),
    );
  }

  phones(fax: boolean): Found[] {
    const out: Found[] = [];
    for (const m of this.text.matchAll(PHONE)) {
      const digits = m[0].replace(/\D/g, "");
      if (digits.length < 8 || digits.length > 15) continue;
      const lineStart = this.text.lastIndexOf("\n", m.index) + 1;
      const before = this.text.slice(Math.max(lineStart, m.index - 30), m.index);
      const labelled = PHONE_LABEL.test(before);
      const international = m[1] !== undefined;
      // Unlabelled digit runs are too often account, order or receipt numbers: only with a + or 00.
      if (!labelled && !international) continue;
      if (/\bfax\b/i.test(before) !== fax) continue;
      const raw = m[0].trim();
      const start = m.index + m[0].indexOf(raw);
      const value = (international ? "+" : "") + digits.replace(/^00/, "");
      out.push(
        this.found(start, start + raw.length, labelled ? "phone.label" : "phone.international", value),
      );
    }
    return out;
  }

  ibans(): Found[] {
    const out: Found[] = [];
    for (const m of this.text.matchAll(IBAN)) {
      const value = m[0].replace(/\s+/g, "").toUpperCase();
      if (validIban(value)) out.push(this.found(m.index, m.index + m[0].length, "iban", value));
    }
    return out;
  }
}

function dedupeFound(found: Found[]): Found[] {
  const seen = new Set<string>();
  return found.filter((f) => !seen.has(f.value) && seen.add(f.value));
}

// ---------------------------------------------------------------------------------------- totals

/** Labels of the amount paid, strongest first in the alternation. */
const STRONG_TOTAL_LABEL =
  /\b(grand\s*t[o0a]t[a4][l1!i|]|nett?\s*t[o0a]t[a4][l1!i|]|t[o0a]t[a4][l1!i|]\s*(rounded|after\s*adj\w*|payable|due|to\s*pay|amount|amt|sales\s*\(?incl\w*|incl\w*|\((rm|myr|\$)\))|rounded\s*total|round\w*\s*d\s*total|amount\s*(due|payable|paid)|balance\s*due|total\s*\(incl\w*|montant\s*total|gesamtbetrag|jumlah\s*(keseluruhan|besar))/i;
// OCR reads "TOTAL" as "TOTA!", "T0TAL", "Tatal".
const TOTAL_LABEL = /\b(t[o0a]t[a4][l1!i|]|summe|jumlah|totale|amount)(?![\p{L}])/iu;
const SUMMARY_LABEL = /\b(gst|tax|sst|vat)\s*(summary|code|analysis)\b|\bsummary\b/i;

/** Tax rates to check a subtotal's tax against when the receipt prints none (GST, SST, VAT). */
const USUAL_TAX_RATES = [0.06, 0.1, 0.05, 0.07, 0.08];

/** A label's amount printed without its decimal point at the end of the line: "Total GST 308" → 3.08. */
function bareCents(line: Line): Amount | undefined {
  const m = /(?<![\d.,])(\d{3,5})\s*\W{0,2}$/.exec(line.text);
  if (!m) return undefined;
  const digits = m[1]!;
  const start = line.start + m.index;
  return {
    raw: digits,
    value: `${Number(digits.slice(0, -2))}.${digits.slice(-2)}`,
    start,
    end: start + digits.length,
  };
}

/** Two amounts that differ by one misread digit, or by a rounding (≤ 0.05). */
function nearMiss(a: string, b: string): boolean {
  if (Math.abs(Number(a) - Number(b)) <= 0.05) return true;
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff++;
  return diff === 1;
}
/** Lines that say "total" but are not the total paid. */
const NOT_TOTAL_LABEL =
  /\b(sub[\s-]?total|total\s*(qty|quantity|items?|pcs|units|disc\w*|savings?|gst|tax|vat|sst|excl\w*|gross|weight|points?)|qty|excl\w*|before|service\s*charge|savings?|summary|discount|deposit|tax\s*amt|description|price)\b/i;
const INCLUSIVE = /\bincl(usive|udes?|\.)?\b/i;
const TENDERED_LABEL =
  /\b(cash|tunai|tendered|received|payment|paid|visa|master\w*|credit|debit|card|amex|e-?wallet)\b/i;
const CHANGE_LABEL = /\b(change|baki|kembalian)\b/i;
/** Lines added to the subtotal to make the total: tax, service charge. */
const ADDEND_LABEL =
  /\b(gst|tax|sst|vat|service\s*(charge|chrg|chg)|svc\.?\s*(charge|chg))\b[^\d]*?(\d{1,2}(\.\d)?\s*%)?/i;
const ROUNDING_LABEL = /\b(round\w*|adj\w*)\b/i;

/** Labels of the document's own date, and of the other dates a document carries. */
const DOC_DATE_LABEL = /\b(date|dated|dt|datum|fecha|tarikh|issued|date of issue)\b|date\b/i;
const OTHER_DATE_LABEL =
  /\b(due|payable|expir\w*|valid\w*|deliver\w*|ship\w*|order\w*|birth|dob|until|period|start|end|print\w*|pay\s*by|zahlbar|f[aä]llig)\b/i;

type DateFound = Omit<Found, "rule"> & { label: string; ambiguous: boolean; repaired: boolean };

/**
 * An impossible date whose month or year OCR read a 0 of as 6, 8 or 9 ("30/63/2018", "30/03/2618"):
 * that digit put back, when only that makes it a date. Days are left alone (39 could be 29 or 30).
 */
function repairDate(p: { y: number; mo: number; d: number }): { y: number; mo: number; d: number } | null {
  let { y, mo } = p;
  if (y > 2100 && y < 3000 && /^2[5-9]/.test(String(y))) y = 2000 + (y % 100);
  if (mo > 12 && /^[689]\d$/.test(String(mo))) mo %= 10;
  return y === p.y && mo === p.mo ? null : { y, mo, d: p.d };
}

function findDates(printed: string, lines: readonly Line[]): DateFound[] {
  const found: DateFound[] = [];
  const taken: [number, number][] = [];
  const text = digitise(printed, DATE_TOKEN, 4);
  for (const { re, parse } of DATE_PATTERNS) {
    for (const m of text.matchAll(re)) {
      const start = m.index;
      const end = start + m[0].length;
      if (taken.some(([s, e]) => start < e && end > s)) continue;
      let p = parse(m as RegExpExecArray);
      let repaired = false;
      if (p && !validDate(p.y, p.mo, p.d)) {
        const fixed = repairDate(p);
        p = fixed && validDate(fixed.y, fixed.mo, fixed.d) ? fixed : null;
        repaired = p !== null;
      }
      if (!p) continue;
      taken.push([start, end]);
      found.push({
        raw: printed.slice(start, end),
        value: `${p.y}-${pad(p.mo)}-${pad(p.d)}`,
        start,
        end,
        label: dateLabel(text, lines, start),
        ambiguous: p.ambiguous === true,
        repaired,
      });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

/** The words before a date on its line, or the line above when the date starts its line. */
function dateLabel(text: string, lines: readonly Line[], at: number): string {
  const li = lines.findIndex((l) => l.start <= at && at <= l.end);
  const line = lines[li];
  if (!line) return "";
  const before = text.slice(Math.max(line.start, at - 30), at);
  if (/[\p{L}]/u.test(before)) return before;
  const prev = lines
    .slice(0, li)
    .reverse()
    .find((l) => l.text.trim() !== "");
  return prev && prev.text.trim().split(/\s+/).length <= 4 ? prev.text : before;
}

// ---------------------------------------------------------------------------------------------- dates

const MONTHS: Record<string, number> = {
  jan: 1,
  january: 1,
  januar: 1,
  janvier: 1,
  enero: 1,
  januari: 1,
  feb: 2,
  february: 2,
  februar: 2,
  fevrier: 2,
  febrero: 2,
  februari: 2,
  mar: 3,
  march: 3,
  marz: 3,
  mars: 3,
  marzo: 3,
  mac: 3,
  apr: 4,
  april: 4,
  avril: 4,
  abril: 4,
  may: 5,
  mai: 5,
  mayo: 5,
  mei: 5,
  jun: 6,
  june: 6,
  juni: 6,
  juin: 6,
  junio: 6,
  jul: 7,
  july: 7,
  juli: 7,
  juillet: 7,
  julio: 7,
  julai: 7,
  aug: 8,
  august: 8,
  aout: 8,
  agosto: 8,
  ogos: 8,
  sep: 9,
  sept: 9,
  september: 9,
  septembre: 9,
  septiembre: 9,
  oct: 10,
  october: 10,
  oktober: 10,
  octobre: 10,
  octubre: 10,
  nov: 11,
  november: 11,
  novembre: 11,
  noviembre: 11,
  dec: 12,
  december: 12,
  dezember: 12,
  decembre: 12,
  diciembre: 12,
  disember: 12,
};
const MONTH_NAME = "([A-Za-zÀ-ÿ]{3,9})\\.?";
const DATE_PATTERNS: {
  re: RegExp;
  parse: (m: RegExpExecArray) => { y: number; mo: number; d: number; ambiguous?: boolean } | null;
}[] = [
  // 2024-03-15, 2024/03/15
  {
    re: /(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)/g,
    parse: (m) => ({ y: +m[1]!, mo: +m[2]!, d: +m[3]! }),
  },
  // 15/03/2024, 03/15/2024, 15.03.2024, 15-03-24
  {
    re: /(?<![\d/.-])(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?![\d/.-]?\d)/g,
    parse: (m) => {
      const a = +m[1]!;
      const b = +m[2]!;
      const y = year(m[3]!);
      if (a > 12 && b <= 12) return { y, mo: b, d: a };
      if (b > 12 && a <= 12) return { y, mo: a, d: b };
      // Both could be the month: day-first, as most of the world writes it, flagged ambiguous.
      return { y, mo: b, d: a, ambiguous: a !== b };
    },
  },
  // 15 March 2024, 15-Mar-2024, 15. März 2024
  {
    re: new RegExp(
      `(?<![\\p{L}\\d])(\\d{1,2})(?:st|nd|rd|th)?\\.?[ \\-]?${MONTH_NAME}[ \\-,]+(\\d{4})(?!\\d)`,
      "gu",
    ),
    parse: (m) => monthDate(m[3]!, m[2]!, m[1]!),
  },
  // March 15, 2024; Mar 15 2024
  {
    re: new RegExp(`(?<![\\p{L}])${MONTH_NAME} (\\d{1,2})(?:st|nd|rd|th)?,? (\\d{4})(?!\\d)`, "gu"),
    parse: (m) => monthDate(m[3]!, m[1]!, m[2]!),
  },
];

function year(s: string): number {
  const n = +s;
  return s.length === 2 ? (n < 70 ? 2000 + n : 1900 + n) : n;
}

function monthDate(y: string, month: string, d: string) {
  const mo = MONTHS[fold(month)];
  return mo ? { y: +y, mo, d: +d } : null;
}

function validDate(y: number, mo: number, d: number): boolean {
  if (y < 1900 || y > 2100 || mo < 1 || mo > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

// -------------------------------------------------------------------------------------------- amounts

const CURRENCY_SYMBOLS: Record<string, string> = {
  $: "USD",
  "€": "EUR",
  "£": "GBP",
  "¥": "JPY",
  "₹": "INR",
  RM: "MYR",
  S$: "SGD",
  A$: "AUD",
  C$: "CAD",
  US$: "USD",
};
const CURRENCY_CODES = "USD|EUR|GBP|CHF|JPY|MYR|SGD|AUD|CAD|INR|CNY|SEK|NOK|DKK|PLN|CZK|NZD|HKD";
const SYMBOL = "US\\$|S\\$|A\\$|C\\$|RM|\\$|€|£|¥|₹";
// Thousands grouped by , . or ' (by a space only before a decimal comma: "1 150.00" is qty + price).
// OCR puts a space beside the decimal point ("9 .00", "200. 00"): read as one amount.
const NUMBER =
  "\\d{1,3}(?:[,.']\\d{3})+(?:[.,]\\d{1,2})?|\\d{1,3}(?: \\d{3})+,\\d{2}|\\d+(?: [.,]|[.,] )\\d{2}(?!\\d)|\\d+(?:[.,]\\d{1,2})?";
const AMOUNT = new RegExp(
  `(?:(${SYMBOL}|${CURRENCY_CODES})\\s?)?(-)?(${NUMBER})(?:\\s?(${CURRENCY_CODES}|€))?(?![\\d%])`,
  "g",
);

interface Amount {
  raw: string;
  value: string;
  start: number;
  end: number;
  currency?: string;
}

/** Letters OCR reads for digits ("1O.00", "Z5/12/2018"); replaced one for one, keeping offsets. */
const DIGIT_LOOKALIKES: Record<string, string> = {
  O: "0",
  o: "0",
  D: "0",
  Z: "2",
  z: "2",
  S: "5",
  l: "1",
  I: "1",
  B: "8",
};
const LOOKALIKE = "[\\dOoDZzSlIB]";
const AMOUNT_TOKEN = new RegExp(
  `(?<![\\p{L}\\d])${LOOKALIKE}*\\d${LOOKALIKE}*[.,]${LOOKALIKE}{2}(?![\\p{L}\\d])`,
  "gu",
);
const DATE_TOKEN = new RegExp(
  `(?<![\\p{L}\\d])${LOOKALIKE}{1,2}[/.-]${LOOKALIKE}{1,2}[/.-]${LOOKALIKE}{2,4}(?![\\p{L}\\d])`,
  "gu",
);

/** Replaces look-alike letters by digits inside tokens shaped as `token` that carry enough digits. */
function digitise(text: string, token: RegExp, minDigits: number): string {
  return text.replace(token, (t) =>
    (t.match(/\d/g)?.length ?? 0) >= minDigits ? t.replace(/[A-Za-z]/g, (c) => DIGIT_LOOKALIKES[c] ?? c) : t,
  );
}

function amountsIn(printed: string, offset: number): Amount[] {
  const out: Amount[] = [];
  const line = digitise(printed, AMOUNT_TOKEN, 2);
  for (const m of line.matchAll(AMOUNT)) {
    const symbol = m[1] ?? m[4];
    const digits = m[3]!.replace(/ (?=[.,])|(?<=[.,]) /g, "");
    // Bare integers without a currency are quantities, years or codes, not amounts.
    if (!symbol && !/[.,]\d{1,2}$/.test(digits)) continue;
    // "RM 64 13": after a currency, OCR read the decimal point as a space.
    const cents =
      symbol && !m[4] && /^\d+$/.test(digits)
        ? /^ (\d{2})(?![\d.,])/.exec(line.slice(m.index + m[0].length))
        : null;
    // Part of a date or a time (25.12.2018, 12.30.45).
    if (/^[.,/:-]\d/.test(line.slice(m.index + m[0].length))) continue;
    // After a digit and a slash or colon (a date, a time); "TL:RM 28.60", "TOTAL /18.00" are amounts.
    if (m.index > 0 && /\d[/:]?$/.test(line.slice(0, m.index))) continue;
    const value = normaliseNumber(cents ? `${digits}.${cents[1]}` : digits);
    if (value === null) continue;
    const raw = printed.slice(m.index, m.index + m[0].length + (cents ? cents[0].length : 0)).trim();
    const start = offset + m.index + (m[0].length - m[0].trimStart().length);
    const amount: Amount = { raw, value: (m[2] ? "-" : "") + value, start, end: start + raw.length };
    if (symbol) amount.currency = currencyOf(symbol);
    out.push(amount);
  }
  return out;
}

/** "1,234.56" / "1.234,56" / "1 234,5" / "12,50" → "1234.56" / "1234.56" / "1234.50" / "12.50". */
export function normaliseNumber(s: string): string | null {
  const lastSep = Math.max(s.lastIndexOf("."), s.lastIndexOf(","));
  let intPart = s;
  let frac = "";
  if (lastSep >= 0 && s.length - lastSep - 1 <= 2) {
    intPart = s.slice(0, lastSep);
    frac = s.slice(lastSep + 1);
  }
  intPart = intPart.replace(/[,.' ]/g, "");
  if (!/^\d+$/.test(intPart) || (frac && !/^\d+$/.test(frac))) return null;
  return `${BigInt(intPart)}.${frac.padEnd(2, "0")}`;
}

function currencyOf(symbol: string): string {
  return CURRENCY_SYMBOLS[symbol] ?? symbol.toUpperCase();
}

/** The currency most amounts of the document carry, for amounts printed without one. */
function documentCurrency(text: string): string | undefined {
  const counts = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`(${SYMBOL}|\\b(?:${CURRENCY_CODES})\\b)`, "g"))) {
    const c = currencyOf(m[1]!);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

// ----------------------------------------------------------------------------------- other patterns

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const PHONE = /(?<![\w+])(\+|00)?\(?\d[\d\s().-]{6,18}\d(?![\w])/g;
const PHONE_LABEL =
  /\b(tel|telephone|phone|ph|fax|mobile|mob|cell|hp|telefon|telefono|tél)\b\.?\s*(no\.?|number|#)?\s*[:.]?\s*$/i;
const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g;

function validIban(iban: string): boolean {
  if (iban.length < 15 || iban.length > 34) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const v = /\d/.test(ch) ? ch : String(ch.charCodeAt(0) - 55);
    for (const digit of v) rem = (rem * 10 + Number(digit)) % 97;
  }
  return rem === 1;
}
