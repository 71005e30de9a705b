/**
 * Confidence of each extraction rule: the precision it measured, so that "of fields given confidence
 * c, about a fraction c is right" holds and the review threshold (0.5) means something.
 *
 * Fitted and judged apart (`node --import tsx tests/bench/sroie.ts --cache DIR`): the receipt rules'
 * values are fitted on the 60 SROIE receipts, read by the OCR of issue 21's second pass (looked at first,
 * small text enlarged, skew from 1 degree), as (right + m * p0) / (n + m), p0 the precision of the rule's
 * field and m the prior strength 5-fold cross-validation chose (the strongest prior within 0.001 of the
 * lowest held-back Brier score; m = 4). The bench prints the reliability table and the expected
 * calibration error on the held-back folds (ECE 0.039), and the same method fitted on its 41 tuning
 * receipts and judged on its 19 held-out ones (ECE 0.094: stated 0.72 for answers right 58 % of the time
 * there, 0.90 for 94 %). Rules seen once or twice lean on their field's precision. Measured: cash_check
 * 23/23, strong_label 8/11, plain_label 6/9, paid_only 4/4, sum_only 3/3, cash_only, paid_corrected,
 * sum_check, sum_corrected 1/1 each; dates labelled 15/16, first 21/25, ambiguous 14/15 (SROIE is
 * day-first: kept at 0.8 for month-first writers); company legal_suffix 22/30, business_word 12/20,
 * first_line 0/10; address (exact match; OCR misreads a character in most) block 11/43, partial 3/14.
 * Invoice rules (subtotal, tax, id, due) come from 8 synthetic invoices.
 * Rules the bench never fired keep a prior (marked "prior"), set below the measured rules it resembles.
 * Re-measure after changing a rule: the table is the rule set's contract with the review threshold.
 */
export const RULE_PRECISION = {
  // Totals. cash_check: a labelled total that equals cash tendered minus change.
  "total.cash_check": 0.98,
  "total.strong_label": 0.77, // grand/nett/rounded total, total amount, amount due, total incl. tax
  "total.plain_label": 0.73, // a bare "TOTAL" line
  "total.rounded": 0.94, // labelled total plus the rounding adjustment printed under it
  "total.adjusted": 0.94, // labelled total plus the rounding adjustment under it, the result not printed
  "total.paid_corrected": 0.9, // total a rounding off cash minus change (or a digit, sum agreeing): the latter
  "total.paid_only": 0.94, // no total line: an amount equal to cash minus change
  "total.cash_only": 0.9, // no total line: cash tendered with zero change
  "total.sum_check": 0.9, // a labelled total equal to subtotal plus tax (plus service, rounding)
  "total.sum_only": 0.93, // no total line: an amount under the subtotal equal to subtotal plus tax
  "total.sum_corrected": 0.9, // total line a digit off subtotal plus tax, which the tax rate bears out
  "total.spaced": 0.94, // total line whose decimal point OCR read as a space ("RM 64 13")
  "total.no_decimal": 0.3, // total line whose amount OCR printed without its decimal point
  // Other amounts (invoices).
  "money.subtotal": 0.9,
  "money.tax": 0.9,
  "money.label": 0.6, // prior: amount after a label matching the field's name
  // Dates.
  "date.labelled": 0.93, // the first date after a "date" label
  "date.first": 0.85, // the first date in the document, unlabelled
  "date.ambiguous": 0.8, // day and month both ≤ 12: read day-first
  "date.due": 0.88, // after "due"/"payable" (or the field's own words)
  // Company.
  "company.legal_suffix": 0.71, // letterhead line with Sdn Bhd, GmbH, Ltd, Inc, ...
  "company.business_word": 0.59, // letterhead line with Enterprise, Trading, Restaurant, ...
  "company.first_line": 0.16, // first plausible name line at the top
  // Address.
  "address.block": 0.26, // street + postcode block under the letterhead
  "address.partial": 0.22, // block without a postcode, or without a street line
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
