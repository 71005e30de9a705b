import { InvalidArgumentError } from "commander";
import ms from "ms";
import { CliError, ExitCode } from "./exit-codes.ts";

// Option values checked when commander reads them: a bad one stops the command (exit 2) before it
// loads the pipeline, opens a database or contacts a gateway. Loads nothing heavy.

/** The scopes an API key may hold (the pipeline's SCOPES; `admin` implies the others). */
export const KEY_SCOPES = ["read", "upload", "admin"] as const;

/** `read,upload` → the list; an unknown or missing scope is a usage error. */
export function parseScopesArg(v: string): string[] {
  const names = v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((s) => !(KEY_SCOPES as readonly string[]).includes(s));
  if (bad.length)
    throw new InvalidArgumentError(`unknown scopes: ${bad.join(", ")} (known: ${KEY_SCOPES.join(", ")})`);
  if (names.length === 0) throw new InvalidArgumentError(`give at least one of ${KEY_SCOPES.join(", ")}`);
  return names;
}

/**
 * When a key stops working: a duration from now (`30d`, `12h`, `90m`, `2w`, as `ms` reads them) or a
 * date (`2027-01-01`, midnight UTC) or an ISO date and time.
 */
export function parseExpiry(v: string, now = new Date()): Date {
  const t = v.trim();
  if (/^\d+(\.\d+)?\s*[a-z]+$/i.test(t)) {
    const span = ms(t as ms.StringValue);
    if (typeof span === "number" && Number.isFinite(span) && span > 0) return new Date(now.getTime() + span);
  }
  const abs = /^\d{4}-\d{2}-\d{2}(T.*)?$/.test(t) ? new Date(t) : null;
  if (abs && !Number.isNaN(abs.getTime())) {
    if (abs.getTime() <= now.getTime()) throw new CliError(`--expires ${v} is in the past`, ExitCode.USAGE);
    return abs;
  }
  throw new CliError(
    `--expires must be a duration (30d, 12h, 90m, 2w) or a date (2027-01-01), got ${JSON.stringify(v)}`,
    ExitCode.USAGE,
  );
}

/** A commander parser of `--expires`: the checked value itself (the date is computed when used). */
export function expiryArg(v: string): string {
  try {
    parseExpiry(v);
    return v;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `1.5 s`, `3 min`, `2 h`: how long something took, for people. */
export function seconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  return ms(Math.round(s) * 1000, { long: true });
}
