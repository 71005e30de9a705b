/**
 * Confidence of each extraction rule: the precision it measured, so that "of fields given confidence
 * c, about a fraction c is right" holds and the review threshold (0.5) means something.
 *
 * Figures: `npm run bench -- tests/bench/sroie.ts` prints, per rule, right/total over the 60 SROIE
 * receipts (tesseract.js OCR of the raw images) and 8 synthetic invoices; the value below is the
 * Laplace-smoothed precision (right + 1) / (total + 2), rounded, so that a rule seen a few times is not
 * given 1.0. Measured so (SROIE + invoices): cash_check 26/26, sum_check 6/6, strong_label 9/10,
 * plain_label 8/11, sum_only 3/3, paid_only 2/2, paid_corrected 1/1, rounded 1/1, adjusted 1/1,
 * spaced 1/1, cash_only 1/1; dates labelled 21/25, first 20/25, ambiguous 16/16 (SROIE is day-first;
 * kept at 0.8 for month-first writers), due 6/6; company legal_suffix 27/38, business_word 11/18,
 * first_line 0/12; address (exact match; OCR misreads a character in most) block 5/44, partial 2/11;
 * subtotal 8/8, tax 8/8, id 8/8 (synthetic invoices only).
 * Rules the bench never fired keep a prior (marked "prior"), set below the measured rules it resembles.
 * Re-measure after changing a rule: the table is the rule set's contract with the review threshold.
 */
export const RULE_PRECISION = {
  // Totals. cash_check: a labelled total that equals cash tendered minus change.
  "total.cash_check": 0.96,
  "total.strong_label": 0.83, // grand/nett/rounded total, total amount, amount due, total incl. tax
  "total.plain_label": 0.69, // a bare "TOTAL" line
  "total.rounded": 0.67, // labelled total plus the rounding adjustment printed under it
  "total.adjusted": 0.67, // labelled total plus the rounding adjustment under it, the result not printed
  "total.paid_corrected": 0.67, // total a rounding off cash minus change (or a digit, sum agreeing): the latter
  "total.paid_only": 0.75, // no total line: an amount equal to cash minus change
  "total.cash_only": 0.67, // no total line: cash tendered with zero change
  "total.sum_check": 0.88, // a labelled total equal to subtotal plus tax (plus service, rounding)
  "total.sum_only": 0.8, // no total line: an amount under the subtotal equal to subtotal plus tax
  "total.spaced": 0.67, // total line whose decimal point OCR read as a space ("RM 64 13")
  "total.no_decimal": 0.3, // total line whose amount OCR printed without its decimal point
  // Other amounts (invoices).
  "money.subtotal": 0.9,
  "money.tax": 0.9,
  "money.label": 0.6, // prior: amount after a label matching the field's name
  // Dates.
  "date.labelled": 0.81, // the first date after a "date" label
  "date.first": 0.78, // the first date in the document, unlabelled
  "date.ambiguous": 0.8, // day and month both ≤ 12: read day-first
  "date.due": 0.88, // after "due"/"payable" (or the field's own words)
  // Company.
  "company.legal_suffix": 0.7, // letterhead line with Sdn Bhd, GmbH, Ltd, Inc, ...
  "company.business_word": 0.6, // letterhead line with Enterprise, Trading, Restaurant, ...
  "company.first_line": 0.07, // first plausible name line at the top
  // Address.
  "address.block": 0.13, // street + postcode block under the letterhead
  "address.partial": 0.23, // block without a postcode, or without a street line
  // Identifiers and contact details.
  "id.label": 0.9, // code after "invoice no", "receipt #", "reg no" ...
  email: 0.95, // prior
  "phone.label": 0.85, // prior
  "phone.international": 0.7, // prior
  iban: 0.97, // prior: checksum-verified
  // Generic.
  "enum.single": 0.8, // prior: exactly one member of the enum occurs
  "enum.first": 0.55, // prior: several occur; the first is taken
  "number.label": 0.7, // prior
  "string.label": 0.6, // prior: "Field Name: value"
} as const;

export type Rule = keyof typeof RULE_PRECISION;

/** A rule's confidence. */
export function confidenceOf(rule: Rule): number {
  return RULE_PRECISION[rule];
}
