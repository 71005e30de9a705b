import type { Rule } from "./calibration.ts";
import { headLines, type Line, printedPart } from "./lines.ts";
import { repairNameWords } from "./vocabulary.ts";

export interface Span {
  raw: string;
  value: string;
  start: number;
  end: number;
  rule: Rule;
  /** Index of the (last) line it was read from, within the first page. */
  line: number;
}

/** Legal forms, as printed (OCR reads B as 8 and O as 0 often enough to allow for it). */
export const LEGAL_SUFFIX =
  /(?<![\p{L}])(?:S[DOB0]N\.?\s*[B8]H[DO0]|[B8]ERHAD|[B8]HD|S\/[B8F]|Inc|LLC|L\.L\.C|Ltd|Limited|GmbH|AG|SA|S\.A|SARL|SAS|SRL|S\.R\.L|SpA|BV|B\.V|NV|N\.V|Corp|Corporation|Co|Company|PLC|Pty|LLP|LP|KG|OHG|Oy|AB|ApS|A\/S|PTE|PT|CC)\.?(?![\p{L}])/iu;
/** Words of trading names (sole proprietors and shops print no legal form). */
const BUSINESS_WORD =
  /(?<![\p{L}])(?:enterprises?|trading|traders?|restaurants?|restoran|kedai|perniagaan|hardware|mart|market|supermarket|minimarket|store|stores|shop|cafe|café|bistro|bakery|pharmacy|farmasi|stationery|gallery|machinery|supplies|supply|services|holdings|international|industries|industry|motor|motors|electrical|electronics|station|petro|kitchen|kitchenette|delights|bookstore|books|florist|boutique|hotel|clinic|klinik|deco|pub|bar|group|studio|solutions|consulting|associates|partners|agency|works)(?![\p{L}])/iu;
/** Lines that are the document's type or its labels, not a name. */
const NOT_A_NAME =
  /\b(invoice|receipt|tax|bill|cash|date|time|tel|fax|phone|gst|sst|vat|reg|no\.?\s*:|cashier|table|order|page|welcome|thank|tq|total|qty|customer|statement|quotation|delivery|purchase|to:|from:|www|http|@)\b/i;
const STREET =
  /\b(jalan|jln|jl|lorong|taman|tmn|lot|street|st\.|road|rd\.?|avenue|ave|lane|boulevard|blvd|drive|floor|flr|level|block|blok|building|bangunan|plaza|kawasan|bandar|seksyen|suite|unit|strasse|straße|str\.|weg|platz|rue|calle|via|p\.?o\.? box)\b/i;

/**
 * The document's issuer as printed in its letterhead: the first line near the top with a legal form,
 * else with a trading word, else the first plausible name line.
 */
export function findCompany(lines: readonly Line[]): Span | undefined {
  const head = headLines(lines, 10);
  const candidates: (Span & { score: number })[] = [];
  // Past the address, a name is an advert or a "formerly known as": worth less.
  let pastAddress = false;
  head.forEach((line, i) => {
    let [s, e] = printedPart(line.text);
    let part = line.text.slice(s, e);
    let end = e;
    // A registration number in brackets after the name is not part of it.
    const reg = /\s*\((?=[^)]*\d{4})[^)]*\)?\s*\d?$/.exec(part);
    if (reg && reg.index > 0) {
      part = part.slice(0, reg.index);
      end = s + reg.index;
    }
    part = part.replace(/[\s,;:|]+$/, "");
    // A lone margin letter before the name ("X UNIHAKKA ..."); "C W KHOO" and "A ..." are names.
    const margin = /^[B-HJ-Z]\s+(?=\p{Lu}{4})/u.exec(part);
    if (margin && LEGAL_SUFFIX.test(part)) {
      part = part.slice(margin[0].length);
      s += margin[0].length;
    }
    // Margin noise after the name: a lone character, or marks after the legal form ("SDN BHD:3").
    part = part.replace(/\s+[^\s(]$/u, "");
    const legal = [...part.matchAll(new RegExp(LEGAL_SUFFIX.source, "giu"))].at(-1);
    if (legal && legal.index > 0) {
      const cut = legal.index + legal[0].length;
      if (!/\p{L}{2}|[()]/u.test(part.slice(cut))) part = part.slice(0, cut);
    }
    end = s + part.length;
    const letters = part.replace(/[^\p{L}]/gu, "").length;
    if (letters < 3 || letters < part.replace(/\s/g, "").length * 0.6) return;
    if (/^\p{Ll}[\p{Ll}\s]*$/u.test(part)) return; // handwriting-like all-lower-case notes
    // A logo or a rule OCR read as letters: a letter four times over ("MMMM"), or no word of 3 letters.
    if (/(\p{L})\1{3}/iu.test(part) || !/\p{L}{3}/u.test(part)) return;
    const suffix = LEGAL_SUFFIX.test(part) && !NOT_A_NAME.test(part);
    const business = BUSINESS_WORD.test(part);
    if (!suffix && NOT_A_NAME.test(part)) return;
    if (!suffix && (STREET.test(part) || /\d{5}/.test(part))) {
      pastAddress = true;
      return;
    }
    const words = part.split(/\s+/).filter((w) => /\p{L}{2,}/u.test(w));
    if (words.length === 0) return;
    // Under the address, a line with neither a legal form nor a trading word is its region or an advert.
    if (pastAddress && !suffix && !business) return;
    const rule: Rule = suffix
      ? "company.legal_suffix"
      : business
        ? "company.business_word"
        : "company.first_line";
    const score =
      (suffix ? 3 : business ? 2 : 1) - i * 0.1 + (words.length >= 2 ? 0.3 : 0) - (pastAddress ? 1.5 : 0);
    const value = repairNameWords(fixSuffix(part.replace(/\s+/g, " ").trim()));
    candidates.push({
      raw: part,
      value,
      start: line.start + s,
      end: line.start + end,
      rule,
      score,
      line: line.index,
    });
  });
  const best = candidates.sort((a, b) => b.score - a.score)[0];
  if (!best) return undefined;
  const { score: _score, ...span } = best;
  return span;
}

/** Undoes OCR's usual misreadings inside a legal form: "SDN 8HD" → "SDN BHD", "S0N" → "SDN". */
function fixSuffix(s: string): string {
  return s
    .replace(/(?<=\p{L}{3})\.(?=\s+S[DOB0]N\.?\s*[B8]H[DO0]\b)/gu, "") // "INTERNATIONAL. SDN BHD"
    .replace(/\bS[DOB0]N(\.?\s*)[B8]H[DO0]\b/g, "SDN$1BHD")
    .replace(/\b8H[D0O]\b/g, "BHD")
    .replace(/(?<=\s)[S§]\/[8F]$/, "S/B");
}
