/**
 * How long reading one PDF page's content (text, annotations, drawing operators) may take. A real page
 * reads in well under a second even on a loaded machine; a page still being read after this long is
 * runaway content (drawings that contain themselves or fan out exponentially from a few bytes), and the
 * document fails CORRUPT then rather than TIMEOUT or TOO_LARGE at the stage's limits. Kept apart from
 * pdf.ts so that the parse pool's watchdog can use it without loading pdf.js.
 */
export const PAGE_READ_BUDGET_MS = 20_000;
