import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The endpoint client commands use when given none. */
export const DEFAULT_ENDPOINT = "http://127.0.0.1:4000";

/**
 * The API key client commands (upload, watch, search) send: --api-key / DOCFLEET_API_KEY, else, for
 * the default local endpoint only, the admin key `docfleet serve` keeps in its data folder
 * (`$DOCFLEET_DATA_DIR/admin-key`, default `.docfleet/admin-key`) when that file exists. Another
 * endpoint never gets the local key.
 */
export function clientApiKey(given: string | undefined, endpoint: string): string | undefined {
  if (given) return given;
  if (endpoint.replace(/\/+$/, "") !== DEFAULT_ENDPOINT) return undefined;
  const file = join(process.env.DOCFLEET_DATA_DIR || ".docfleet", "admin-key");
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
