import type { ExtractedField, FieldKind } from "../../../ports/models.ts";

/**
 * Rule-based field extraction: dates, amounts (total, subtotal, tax), e-mail addresses, phone numbers,
 * IBANs, invoice numbers and company names. Values are normalised (ISO dates, decimal strings,
 * lower-case e-mail, +digits phones, IBAN without spaces). Each field carries the printed text, its
 * character span and, for paged text (pages joined by form feeds), its page.
 */
export function extractFields(text: string): ExtractedField[] {
  const pageStarts = pageStartOffsets(text);
  const out: ExtractedField[] = [];
  const push = (
    name: string,
    kind: FieldKind,
    raw: string,
    value: string,
    start: number,
    confidence: number,
    currency?: string,
  ) => {
    const field: ExtractedField = { name, kind, raw, value, confidence, span: [start, start + raw.length] };
    if (currency) field.currency = currency;
    if (pageStarts.length > 1) field.page = pageOf(pageStarts, start);
    out.push(field);
  };

  for (const d of findDates(text)) push(d.name, "date", d.raw, d.value, d.start, d.confidence);
  for (const m of findAmounts(text)) push(m.name, "money", m.raw, m.value, m.start, m.confidence, m.currency);
  for (const m of text.matchAll(EMAIL)) push("email", "email", m[0], m[0].toLowerCase(), m.index, 0.95);
  for (const p of findPhones(text)) push(p.name, "phone", p.raw, p.value, p.start, p.confidence);
  for (const m of text.matchAll(IBAN)) {
    const value = m[0].replace(/\s+/g, "").toUpperCase();
    if (validIban(value)) push("iban", "iban", m[0], value, m.index, 0.97);
  }
  for (const m of text.matchAll(INVOICE_NUMBER)) {
    const raw = m[1]!;
    if (/\d/.test(raw))
      push("invoice_number", "invoice_number", raw, raw.toUpperCase(), m.index + m[0].lastIndexOf(raw), 0.85);
  }
  for (const m of text.matchAll(COMPANY)) {
    const raw = m[0].trim();
    push("company", "company", raw, raw.replace(/\s+/g, " "), m.index + m[0].indexOf(raw), 0.7);
  }
  return dedupe(out);
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
      `(?<![\\p{L}\\d])(\\d{1,2})(?:st|nd|rd|th)?\\.?[ \\-]${MONTH_NAME}[ \\-,]+(\\d{4})(?!\\d)`,
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
  const mo =
    MONTHS[
      month
        .normalize("NFD")
        .replace(/\p{M}+/gu, "")
        .toLowerCase()
    ];
  return mo ? { y: +y, mo, d: +d } : null;
}

const DUE_LABEL = /\b(due|payable|zahlbar|echeance|vencimiento|expir\w*)\b[^\n]{0,25}$/i;
const DATE_LABEL = /\b(date[ds]?|dated|datum|fecha|tarikh|issued|invoice date|on)\b[^\n]{0,25}$/i;

interface Found {
  name: string;
  raw: string;
  value: string;
  start: number;
  confidence: number;
  currency?: string;
}

function findDates(text: string): Found[] {
  const found: Found[] = [];
  const taken: [number, number][] = [];
  for (const { re, parse } of DATE_PATTERNS) {
    for (const m of text.matchAll(re)) {
      const start = m.index;
      const end = start + m[0].length;
      if (taken.some(([s, e]) => start < e && end > s)) continue;
      const p = parse(m as RegExpExecArray);
      if (!p || !validDate(p.y, p.mo, p.d)) continue;
      taken.push([start, end]);
      const before = text.slice(Math.max(0, start - 40), start);
      const due = DUE_LABEL.test(before);
      const labelled = due || DATE_LABEL.test(before);
      const value = `${p.y}-${pad(p.mo)}-${pad(p.d)}`;
      found.push({
        name: due ? "due_date" : "date",
        raw: m[0],
        value,
        start,
        confidence: (labelled ? 0.9 : 0.75) - (p.ambiguous ? 0.2 : 0),
      });
    }
  }
  found.sort((a, b) => a.start - b.start);
  // The main `date` is the first labelled non-due date, else the first date; the others are `other_date`.
  const main =
    found.find((f) => f.name === "date" && f.confidence >= 0.7) ?? found.find((f) => f.name === "date");
  for (const f of found) if (f.name === "date" && f !== main) f.name = "other_date";
  return found;
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
  Fr: "CHF",
};
const CURRENCY_CODES = "USD|EUR|GBP|CHF|JPY|MYR|SGD|AUD|CAD|INR|CNY|SEK|NOK|DKK|PLN|CZK|NZD|HKD";
const SYMBOL = "US\\$|S\\$|A\\$|C\\$|RM|\\$|€|£|¥|₹";
const NUMBER = "\\d{1,3}(?:[,.' ]\\d{3})+(?:[.,]\\d{1,2})?|\\d+(?:[.,]\\d{1,2})?";
const AMOUNT = new RegExp(
  `(?:(${SYMBOL}|${CURRENCY_CODES})\\s?)?(-)?(${NUMBER})(?:\\s?(${CURRENCY_CODES}|€))?(?![\\d%])`,
  "g",
);
/** Labels of amount lines, strongest first. */
const AMOUNT_LABELS: { name: string; re: RegExp; rank: number }[] = [
  {
    name: "total",
    re: /\b(grand total|total due|amount due|balance due|total amount|amount payable|total payable|total to pay|montant total|gesamtbetrag|jumlah keseluruhan)\b/i,
    rank: 3,
  },
  {
    name: "subtotal",
    re: /\b(sub[\s-]?total|zwischensumme|sous[\s-]total|net amount|total excl\w*)\b/i,
    rank: 2,
  },
  { name: "tax", re: /\b(vat|gst|sst|sales tax|tax|mwst|tva|iva)\b/i, rank: 2 },
  { name: "total", re: /\b(total|summe|jumlah|totale)\b/i, rank: 1 },
];

function findAmounts(text: string): Found[] {
  const found: Found[] = [];
  const lines = lineSpans(text);
  const candidates: (Found & { rank: number; amount: number })[] = [];
  for (let i = 0; i < lines.length; i++) {
    const [ls, le] = lines[i]!;
    const line = text.slice(ls, le);
    const label = AMOUNT_LABELS.find(
      (l) => l.re.test(line) && !(l.rank === 1 && /\btotal\s+(qty|quantity|items?|pcs|units)\b/i.test(line)),
    );
    // An explicit amount on the labelled line; else the first on the next non-empty line (tables, receipts).
    let amounts = label ? amountsIn(line, ls) : [];
    if (label) {
      const labelAt = line.search(label.re);
      amounts = amounts.filter((a) => a.start - ls > labelAt);
      if (amounts.length === 0) {
        const next = lines.slice(i + 1).find(([s, e]) => text.slice(s, e).trim() !== "");
        if (next) {
          const nextLine = text.slice(next[0], next[1]);
          if (!AMOUNT_LABELS.some((l) => l.re.test(nextLine)))
            amounts = amountsIn(nextLine, next[0]).slice(0, 1);
        }
      }
      const a = amounts[amounts.length - 1];
      if (a)
        candidates.push({
          name: label.name,
          raw: a.raw,
          value: a.value,
          start: a.start,
          currency: a.currency,
          confidence: 0.6 + 0.1 * label.rank,
          rank: label.rank,
          amount: Number(a.value),
        });
    }
  }
  const currency = documentCurrency(text);
  for (const name of ["total", "subtotal", "tax"]) {
    const of = candidates.filter((c) => c.name === name);
    if (of.length === 0) continue;
    // Highest-ranked label; among equals, the largest amount (a grand total tops partial totals).
    const best = of.reduce((a, b) => (b.rank > a.rank || (b.rank === a.rank && b.amount > a.amount) ? b : a));
    best.currency ??= currency;
    const { rank: _r, amount: _a, ...field } = best;
    found.push(field);
  }
  return found;
}

interface Amount {
  raw: string;
  value: string;
  start: number;
  currency?: string;
}

function amountsIn(line: string, offset: number): Amount[] {
  const out: Amount[] = [];
  for (const m of line.matchAll(AMOUNT)) {
    const symbol = m[1] ?? m[4];
    const digits = m[3]!;
    // Bare integers without a currency are quantities, years or codes, not amounts.
    if (!symbol && !/[.,]\d{1,2}$/.test(digits)) continue;
    const value = normaliseNumber(digits);
    if (value === null) continue;
    const raw = m[0].trim();
    out.push({
      raw,
      value: (m[2] ? "-" : "") + value,
      start: offset + m.index + m[0].indexOf(raw),
      currency: symbol ? currencyOf(symbol) : undefined,
    });
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
const INVOICE_NUMBER =
  /\b(?:invoice|inv|bill|receipt|rechnung|facture|factura|invois)\s*(?:no\.?|number|num\.?|nr\.?|n°|#|id)?\s*[:#.]?\s*([A-Z0-9][A-Z0-9\-/]{2,24})\b/gi;
const COMPANY =
  /(?<![\p{L}])(?:[A-Z][\p{L}0-9&'-]*\.?\s){1,5}(?:Inc|LLC|L\.L\.C|Ltd|Limited|GmbH|AG|SA|S\.A|SARL|SAS|BV|B\.V|NV|Corp|Corporation|Co|Company|PLC|Pty|LLP|SDN\.? BHD|Sdn\.? Bhd|BHD|Bhd)\b\.?/gu;

function findPhones(text: string): Found[] {
  const found: Found[] = [];
  for (const m of text.matchAll(PHONE)) {
    const digits = m[0].replace(/\D/g, "");
    if (digits.length < 8 || digits.length > 15) continue;
    const lineStart = text.lastIndexOf("\n", m.index) + 1;
    const before = text.slice(Math.max(lineStart, m.index - 30), m.index);
    const labelled = PHONE_LABEL.test(before);
    const international = m[1] !== undefined;
    // Unlabelled digit runs are too often account, order or receipt numbers: only with a + or 00.
    if (!labelled && !international) continue;
    const fax = /\bfax\b/i.test(before);
    found.push({
      name: fax ? "fax" : "phone",
      raw: m[0].trim(),
      value: (international ? "+" : "") + digits.replace(/^00/, ""),
      start: m.index,
      confidence: labelled ? 0.85 : 0.7,
    });
  }
  return found;
}

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

// ---------------------------------------------------------------------------------------------- util

function lineSpans(text: string): [number, number][] {
  const spans: [number, number][] = [];
  let start = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text[i];
    if (i === text.length || c === "\n" || c === "\f") {
      spans.push([start, i]);
      start = i + 1;
    }
  }
  return spans;
}

function pageStartOffsets(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\f"); i >= 0; i = text.indexOf("\f", i + 1)) starts.push(i + 1);
  return starts;
}

function pageOf(starts: number[], offset: number): number {
  let page = 1;
  while (page < starts.length && starts[page]! <= offset) page++;
  return page;
}

/** One field per (name, value): the first, most confident occurrence. */
function dedupe(fields: ExtractedField[]): ExtractedField[] {
  const seen = new Map<string, ExtractedField>();
  for (const f of fields) {
    const key = `${f.name}\u0000${f.value}`;
    const prev = seen.get(key);
    if (!prev || f.confidence > prev.confidence) seen.set(key, f);
  }
  return [...seen.values()].sort((a, b) => (a.span?.[0] ?? 0) - (b.span?.[0] ?? 0));
}
