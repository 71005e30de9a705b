/** NUL, or any UTF-16 surrogate (paired ones are sorted out by the replacement below). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const SUSPECT = /[\u0000\ud800-\udfff]/;
const LONE_SURROGATE = /\p{Cs}/gu;

/**
 * `text` as PostgreSQL stores it in `text` and `jsonb` columns: NUL removed (no text value can hold it)
 * and unpaired UTF-16 surrogates replaced by U+FFFD (jsonb refuses their `\ud800` escapes). Whatever a
 * document's bytes or a parser's error message hold must pass through it before the database sees it,
 * or a write that can never succeed is retried until the document is lost in limbo.
 */
export function storable(text: string): string {
  if (!SUSPECT.test(text)) return text;
  return text.replaceAll("\u0000", "").replace(LONE_SURROGATE, "\ufffd");
}
