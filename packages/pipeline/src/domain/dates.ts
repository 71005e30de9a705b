/**
 * True for a calendar date written YYYY-MM-DD. `Date.parse` alone is not enough: it rolls 2024-02-30
 * over into March, which PostgreSQL's `date` then refuses at index or search time.
 */
export function isIsoDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
}
