/**
 * A document's name is a label a person reads (search hits, downloads, `docfleet upload` reports), never
 * a path: objects live under ids. So a name is refused when it is empty, very long, or when shown or
 * handed to another program it could pass for something else (a path out of a folder, a control
 * sequence, text that reads backwards). Ordinary relative names (`a/b/c.pdf`, unicode, spaces) pass.
 */

export const MAX_FILE_NAME_CHARS = 1024;

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/**
 * Bidirectional embeddings, overrides and isolates (`invoice\u202Efdp.exe` shows as `invoiceexe.pdf`), and
 * the invisible direction marks LRM, RLM and ALM, which reorder neutral characters around them.
 */
const BIDI_CONTROL = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
/** A UTF-16 surrogate without its pair: what a name that was not valid UTF-8 may decode to. */
const LONE_SURROGATE = /\p{Cs}/u;
/** `/etc`, `\\server\share`, `C:\`, `C:file`. */
const ABSOLUTE = /^(?:[/\\]|[A-Za-z]:)/;

/**
 * Why `name` cannot be a document's name, or null when it can. `name` is taken as given (the caller
 * trims it first if it trims).
 */
export function fileNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > MAX_FILE_NAME_CHARS)
    return `a file name must have 1 to ${MAX_FILE_NAME_CHARS} characters`;
  if (CONTROL.test(name)) return "a file name must not contain control characters";
  if (BIDI_CONTROL.test(name)) return "a file name must not contain bidirectional control characters";
  if (LONE_SURROGATE.test(name)) return "a file name must be valid Unicode (was it valid UTF-8?)";
  if (ABSOLUTE.test(name)) return "a file name must be relative (no leading / or \\, no drive letter)";
  if (name.split(/[/\\]/).includes("..")) return "a file name must not contain '..' segments";
  return null;
}
