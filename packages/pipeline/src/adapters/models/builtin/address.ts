import type { Rule } from "./calibration.ts";
import type { Span } from "./company.ts";
import { headLines, type Line, printedPart } from "./lines.ts";
import { repairAddressWords } from "./vocabulary.ts";

const STREET =
  /(?<![\p{L}])(jalan|jln|jl|lorong|lrg|persiaran|lebuhraya|taman|tmn|lot|kampung|kg|batu|street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|drive|dr|highway|hwy|way|court|ct|place|pl|square|sq|floor|flr|fl|level|block|blk|blok|building|bldg|bangunan|plaza|mall|centre|center|kawasan|bandar|seksyen|section|suite|ste|unit|strasse|straße|str|weg|gasse|allee|platz|ring|damm|rue|avenue|boulevard|chemin|calle|avenida|plaza|via|viale|piazza|corso|p\.?\s?o\.?\s?box|postfach)(?![\p{L}])/iu;
const HOUSE_NUMBER = /^(?:no\.?\s*:?\s*)?\d{1,5}[A-Z]?(?:[-/]\d+[A-Z]?)*(?:[,.\s]|$)|^no\.?\s*:?\s*\w/i;
/** Postcodes: 5 digits (MY, DE, FR, US, IT, ES), 4 digits + letters (NL), UK, Canadian. */
const POSTCODE =
  /(?<![\w-])(?:\d{5}(?:-\d{4})?|\d{4}\s?[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}|[A-Z]\d[A-Z]\s\d[A-Z]\d)(?![\w-])|(?<=[,\s])\d{4}(?=\s+\p{Lu}\p{L}+)/u;
const REGION =
  /(?<![\p{L}])(johor|selangor|kuala lumpur|kl|pahang|perak|penang|pulau pinang|melaka|malacca|sabah|sarawak|kedah|kelantan|terengganu|negeri sembilan|perlis|putrajaya|labuan|darul ehsan|malaysia|singapore|indonesia|thailand|usa|united states|uk|united kingdom|england|scotland|wales|ireland|germany|deutschland|france|spain|españa|italy|italia|netherlands|belgium|switzerland|schweiz|suisse|austria|österreich|canada|australia|new zealand|[A-Z]{2}\s\d{5})(?![\p{L}])/iu;
/** A company registration number alone on its line: "(65351-M)", "78911 7-W", "(SA0264195-T)". */
const REGISTRATION = /^\(?\s*[A-Z]{0,3}\d[\d\s]{3,11}-?\s?[A-Z]\s*\)?[\s.,;:]*$/;
/** What letterheads print between the name and the address. */
const PRELUDE =
  /\b(formerly|known as|licensee|owned by|owner by|a member of|subsidiary|franchisee?)\b|^(?=.*\p{L}{3}).*\b(s[dn]n\.?\s*b[h8][dn]|berhad|bhd|s\/b)\.?\s*$/iu;
/** Lines after the address: contact details, tax ids, the document's type. */
const STOP =
  /\b(tel|telephone|phone|fax|hp|mobile|e-?mail|www|http|gst|sst|vat|tax|reg|registration|company\s*no|co\.?\s*no|invoice|receipt|bill|cashier|date|time|order|table)\b|@|\d{2,4}[-\s]\d{3,4}[-\s]?\d{3,4}|\d{1,2}:\d{2}|\d{1,2}[-/.\s](\d{1,2}|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*[-/.\s]\d{2,4}\b/i;

/**
 * The issuer's postal address under its letterhead: the run of lines with street words, house
 * numbers, a postcode or a region, ending at the postcode line (plus a region or a bracketed branch
 * name printed under it). Lines are joined with a space, as printed.
 */
export function findAddress(lines: readonly Line[], company?: Span): Span | undefined {
  const head = headLines(lines, 16);
  const from = company ? head.findIndex((l) => l.index > company.line) : 0;
  if (from < 0) return undefined;
  const parts: { line: Line; s: number; e: number }[] = [];
  let street = false;
  let postcode = false;
  let skipped = 0;
  for (let i = from; i < head.length && parts.length < 6; i++) {
    const line = head[i]!;
    const [s, e] = printedPart(line.text);
    const text = line.text.slice(s, e);
    if (STOP.test(text)) {
      if (parts.length > 0) break;
      continue;
    }
    // Before the address: the company's registration number ("(65351-M)", "78911 7-W") and what
    // letterheads print under the name ("formerly known as ...", "licensee of ...") are passed over.
    if (parts.length === 0 && (REGISTRATION.test(text) || PRELUDE.test(text))) {
      skipped++;
      continue;
    }
    const isStreet = STREET.test(text) || HOUSE_NUMBER.test(text);
    const isPostcode = POSTCODE.test(text);
    const isRegion = REGION.test(text);
    const prev = parts[parts.length - 1];
    const continues = prev !== undefined && /,\s*$/.test(prev.line.text.slice(prev.s, prev.e));
    if (parts.length === 0) {
      // The address starts within a few lines of the name.
      if (!(isStreet || isPostcode)) {
        if (i - from - skipped >= 3) break;
        continue;
      }
    } else if (postcode) {
      // After the postcode line only a region or a bracketed branch name still belongs to it.
      const bracketed = /^\(.*\)?$/.test(text) && !/\d{4}/.test(text);
      if (!((isRegion && text.split(/\s+/).length <= 4) || bracketed)) break;
    } else if (!(isStreet || isPostcode || isRegion || (continues && text.split(/\s+/).length <= 5))) {
      break;
    }
    parts.push({ line, s, e });
    street ||= isStreet;
    postcode ||= isPostcode;
  }
  if (parts.length === 0) return undefined;
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  let value = repairAddressWords(
    parts
      .map((p) => p.line.text.slice(p.s, p.e))
      .join(" ")
      .replace(/\s+/g, " ")
      .trim(),
  );
  // Margin marks OCR read as a lone digit or letter: before the house number ("1 12 JALAN"), after
  // the town or state that ends a block with a postcode ("JOHOR I").
  value = value.replace(/^\d\s(?=\d)/, "");
  if (postcode) value = value.replace(/(?<=\p{L}{3}[.,]?)\s[\p{L}\d]$/u, "");
  if (value.length < 8) return undefined;
  const rule: Rule = street && postcode ? "address.block" : "address.partial";
  const start = first.line.start + first.s;
  const end = last.line.start + last.e;
  return { raw: value, value, start, end, rule, line: last.line.index };
}
