/**
 * Confidence of each extraction rule: the precision it measured, so that "of fields given confidence
 * c, about a fraction c is right" holds and the review threshold (0.5) means something.
 *
 * Fitted and judged apart (`node --import tsx tests/bench/sroie.ts --cache DIR`): the receipt rules'
 * values are fitted on the 60 SROIE receipts as (right + m * p0) / (n + m), p0 the precision of the
 * rule's field and m the prior strength 5-fold cross-validation chose (the strongest prior within 0.001
 * of the lowest held-back Brier score; m = 4). The bench prints the reliability table and the expected
 * calibration error on the held-back folds (ECE 0.093), and the same method fitted on its 41 tuning
 * receipts and judged on its 19 held-out ones (ECE 0.105: stated 0.92 for answers right 81 % of the
 * time there; the held-out dates were harder than the tuning ones). Rules seen once or twice lean on
 * their field's precision. Measured (receipts, rules of issue 21's second pass): cash_check 26/26,
 * plain_label 8/11, strong_label 6/6, sum_only 3/3, paid_corrected 2/2, paid_only 2/2, adjusted,
 * cash_only, rounded, spaced, sum_check, sum_corrected 1/1 each; dates labelled 15/19, first 20/25,
 * ambiguous 13/13 (SROIE is day-first: kept at 0.8 for month-first writers); company legal_suffix
 * 22/31, business_word 11/18, first_line 0/11; address (exact match; OCR misreads a character in most)
 * block 7/45, partial 3/11. Invoice rules (subtotal, tax, id, due) come from 8 synthetic invoices.
 * Rules the bench never fired keep a prior (marked "prior"), set below the measured rules it resembles.
 * Re-measure after changing a rule: the table is the rule set's contract with the review threshold.
 */
export const RULE_PRECISION = {
  // Totals. cash_check: a labelled total that equals cash tendered minus change.
  "total.cash_check": 0.99,
  "total.strong_label": 0.97, // grand/nett/rounded total, total amount, amount due, total incl. tax
  "total.plain_label": 0.78, // a bare "TOTAL" line
  "total.rounded": 0.94, // labelled total plus the rounding adjustment printed under it
  "total.adjusted": 0.94, // labelled total plus the rounding adjustment under it, the result not printed
  "total.paid_corrected": 0.95, // total a rounding off cash minus change (or a digit, sum agreeing): the latter
  "total.paid_only": 0.95, // no total line: an amount equal to cash minus change
  "total.cash_only": 0.94, // no total line: cash tendered with zero change
  "total.sum_check": 0.94, // a labelled total equal to subtotal plus tax (plus service, rounding)
  "total.sum_only": 0.96, // no total line: an amount under the subtotal equal to subtotal plus tax
  "total.sum_corrected": 0.94, // total line a digit off subtotal plus tax, which the tax rate bears out
  "total.spaced": 0.94, // total line whose decimal point OCR read as a space ("RM 64 13")
  "total.no_decimal": 0.3, // total line whose amount OCR printed without its decimal point
  // Other amounts (invoices).
  "money.subtotal": 0.9,
  "money.tax": 0.9,
  "money.label": 0.6, // prior: amount after a label matching the field's name
  // Dates.
  "date.labelled": 0.8, // the first date after a "date" label
  "date.first": 0.8, // the first date in the document, unlabelled
  "date.ambiguous": 0.8, // day and month both ≤ 12: read day-first
  "date.due": 0.88, // after "due"/"payable" (or the field's own words)
  // Company.
  "company.legal_suffix": 0.69, // letterhead line with Sdn Bhd, GmbH, Ltd, Inc, ...
  "company.business_word": 0.6, // letterhead line with Enterprise, Trading, Restaurant, ...
  "company.first_line": 0.15, // first plausible name line at the top
  // Address.
  "address.block": 0.16, // street + postcode block under the letterhead
  "address.partial": 0.25, // block without a postcode, or without a street line
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
