/** Exponential backoff with full jitter: attempt 1 → up to 1 s, 2 → up to 2 s, ... capped at `maxMs`. */
export function backoffMs(attempt: number, baseMs = 1000, maxMs = 60_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
